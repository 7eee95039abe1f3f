"""Meta's JSON shapes: success bodies, error bodies, webhook envelopes, signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any


def new_wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(24)).decode().rstrip("=")


def fbtrace_id() -> str:
    return base64.b64encode(secrets.token_bytes(9)).decode()


def error_body(
    code: int, message: str, details: str, *, subcode: int | None = None
) -> dict[str, Any]:
    """``{"error":{message,type,code,error_data{details},fbtrace_id}}`` as Meta sends it."""
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": fbtrace_id(),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


def success_body(to: str, wa_id: str, wamid: str, *, template: bool) -> dict[str, Any]:
    message: dict[str, Any] = {"id": wamid}
    if template:
        message["message_status"] = "accepted"
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": wa_id}],
        "messages": [message],
    }


def webhook_envelope(
    waba_id: str, display_phone_number: str, phone_number_id: str, value: dict[str, Any]
) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": display_phone_number,
                                "phone_number_id": phone_number_id,
                            },
                            **value,
                        },
                    }
                ],
            }
        ],
    }


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for exactly these bytes."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
