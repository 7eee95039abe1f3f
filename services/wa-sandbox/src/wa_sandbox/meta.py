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


def status_item(
    wamid: str,
    status: str,
    recipient: str,
    at: float,
    *,
    callback: str | None,
    category: str | None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``statuses[]`` entry, with ``pricing`` and ``conversation`` on non-failed ones."""
    item: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(at)),
        "recipient_id": recipient,
    }
    if callback is not None:
        item["biz_opaque_callback_data"] = callback
    if status == "failed":
        item["errors"] = [error or {}]
    elif category is not None:
        billable = category != "service"
        item["pricing"] = {
            "billable": billable,
            "pricing_model": "PMP",
            "category": category,
            "type": "regular" if billable else "free_customer_service",
        }
        item["conversation"] = {
            "id": hashlib.sha256(f"{recipient}:{category}".encode()).hexdigest()[:32],
            "origin": {"type": category},
            **({"expiration_timestamp": str(int(at) + 86_400)} if status == "sent" else {}),
        }
    return item


def status_error(code: int, title: str, details: str) -> dict[str, Any]:
    return {
        "code": code,
        "title": title,
        "message": title,
        "error_data": {"details": details},
        "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
    }
