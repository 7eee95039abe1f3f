"""Meta's JSON shapes: success bodies, error bodies, webhook envelopes, signatures."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any


def new_wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(24)).decode().rstrip("=")


def fbtrace_id() -> str:
    return base64.b64encode(secrets.token_bytes(9)).decode()


def error_body(
    code: int,
    message: str,
    details: str,
    *,
    subcode: int | None = None,
    error_type: str = "OAuthException",
) -> dict[str, Any]:
    """``{"error":{message,type,code,error_data{details},fbtrace_id}}`` as Meta sends it."""
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}",
        "type": error_type,
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": fbtrace_id(),
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    return {"error": error}


@dataclass(frozen=True)
class Recipient:
    """Who a message went to, as statuses name them: the WhatsApp id (``recipient_id``),
    the business-scoped user id (``recipient_user_id``), or both."""

    wa_id: str | None = None
    user_id: str | None = None


def success_body(
    given: str,
    wamid: str,
    *,
    template: bool,
    wa_id: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """``contacts[{input, wa_id}]`` for a send by number; ``contacts[{input, user_id}]``
    for one by BSUID, whose answer leaves the phone number out (partners' reading of Meta,
    docs/recipients.md)."""
    message: dict[str, Any] = {"id": wamid}
    if template:
        message["message_status"] = "accepted"
    contact: dict[str, Any] = {"input": given}
    if wa_id is not None:
        contact["wa_id"] = wa_id
    if user_id is not None:
        contact["user_id"] = user_id
    return {"messaging_product": "whatsapp", "contacts": [contact], "messages": [message]}


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


def change_envelope(waba_id: str, field: str, value: dict[str, Any], at: float) -> dict[str, Any]:
    """A WhatsApp Business Account change other than ``messages`` (template status, template
    category, phone number quality, account update): ``value`` is the object itself, and the
    entry carries the trigger ``time``, as Meta's webhook references show."""
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": waba_id,
                "time": int(at),
                "changes": [{"value": value, "field": field}],
            }
        ],
    }


def sign(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value for exactly these bytes."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def status_item(
    wamid: str,
    status: str,
    recipient: Recipient,
    at: float,
    *,
    callback: str | None,
    category: str | None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One ``statuses[]`` entry, with ``pricing`` and ``conversation`` on non-failed ones.
    ``recipient_id`` is left out when Meta withholds the number of a BSUID user."""
    item: dict[str, Any] = {"id": wamid, "status": status, "timestamp": str(int(at))}
    if recipient.wa_id is not None:
        item["recipient_id"] = recipient.wa_id
    if recipient.user_id is not None:
        item["recipient_user_id"] = recipient.user_id
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
            "id": hashlib.sha256(
                f"{recipient.wa_id or recipient.user_id}:{category}".encode()
            ).hexdigest()[:32],
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
