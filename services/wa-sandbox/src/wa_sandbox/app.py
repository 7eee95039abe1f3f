"""The sandbox HTTP app: Meta's send endpoint, its template catalogue and phone-number
reads, and the ``/_sandbox`` control API.

aiohttp rather than FastAPI here: a fault injector must be able to reset a connection
(only a raw transport can), and the sandbox has to outrun the system it tests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import random
import socket
import struct
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from wa_sandbox import inbound as incoming
from wa_sandbox import management, meta
from wa_sandbox import media as media_store
from wa_sandbox.config import SandboxConfig, Sender
from wa_sandbox.errors import SendRejected, invalid, missing, no_object
from wa_sandbox.limits import MessagingLimitCounter, PairLimits, SenderLimits
from wa_sandbox.media import Media
from wa_sandbox.metrics import REGISTRY, SENDS
from wa_sandbox.state import SandboxState
from wa_sandbox.validation import (
    BSUID,
    ValidSend,
    normalise_wa_id,
    validate,
)
from wa_sandbox.webhooks import WebhookScheduler

DUPLICATE_SPREAD = 0.5
"""A duplicated status arrives again within this many (sandbox) seconds."""
REDELIVERY_DELAY = 0.1
"""A user's message delivered twice (``"duplicate": true``) comes again this many
(sandbox) seconds after the first, in a POST of its own."""
REACTION_MAX_AGE = 30 * 86_400
"""Meta: a reaction to a message more than 30 days old is not delivered (131009)."""


class Sandbox:
    """State, limiters and webhook scheduler behind one running app."""

    def __init__(self, config: SandboxConfig) -> None:
        self.initial = config
        self.config = config
        self.state = SandboxState()
        self.sender_limits = SenderLimits()
        self.pair_limits = PairLimits()
        self.messaging_limits = MessagingLimitCounter()
        self.webhooks: WebhookScheduler | None = None
        self.random = random.Random()  # noqa: S311 - fault sampling, not security

    def reset(self) -> None:
        self.config = self.initial
        self.state.clear()
        self.sender_limits.reset()
        self.pair_limits.reset()
        self.messaging_limits.reset()
        if self.webhooks is not None:
            self.webhooks.clear()

    # --- send -----------------------------------------------------------------------------

    def authenticate_token(self, token: str) -> Sender:
        """The sender whose access token this is: 190 for an unknown or expired one."""
        owner = next((s for s in self.config.senders if s.access_token == token), None)
        if owner is None:
            raise SendRejected(
                401, 190, "Invalid OAuth access token - Cannot parse access token", "Invalid token"
            )
        if owner.token_expired:
            raise SendRejected(
                401,
                190,
                "Error validating access token: Session has expired",
                "The access token has expired",
                subcode=463,
            )
        return owner

    def authenticate(self, phone_number_id: str, authorization: str | None) -> Sender:
        token = (authorization or "").removeprefix("Bearer ").strip()
        self.authenticate_token(token)
        sender = self.config.sender(phone_number_id)
        if sender is None or sender.access_token != token:
            raise SendRejected(
                400,
                100,
                "Invalid parameter",
                f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation",
                subcode=33,
            )
        if not sender.registered:
            raise SendRejected(
                400, 133010, "Account not registered", "The phone number is not registered"
            )
        return sender

    def wa_id(self, number: str) -> str:
        """The id Meta knows a number (any of its forms, digits) by: the key of the window,
        the pair limit and the policy lists, and what webhooks and responses report."""
        return normalise_wa_id("".join(ch for ch in number if ch.isdigit()), self.config.identity)

    def identity(self, value: str) -> str:
        """A recipient's key: a BSUID as it is, a number as its WhatsApp id."""
        return value if BSUID.match(value) else self.wa_id(value)

    def recipient_key(self, send: ValidSend) -> str:
        """Whom a send's window and pair limit belong to: the BSUID it went to, or the
        WhatsApp id of its number."""
        return send.recipient if send.by_user_id else self.wa_id(send.recipient)

    def admit(self, sender: Sender, send: ValidSend, now: float) -> bool:
        """Rate limits and the 24h window; returns whether the window was open."""
        if not self.sender_limits.allow(sender.phone_number_id, sender.throughput_mps):
            raise SendRejected(
                400,
                130429,
                "Rate limit hit",
                f"Cloud API message throughput ({sender.throughput_mps:g} mps) has been reached",
            )
        pair = self.config.pair_limit
        key = self.recipient_key(send)
        if not self.pair_limits.allow(sender.phone_number_id, key, pair.per_seconds, pair.burst):
            raise SendRejected(
                400,
                131056,
                "(Business Account, Consumer Account) pair rate limit hit",
                "Message failed to send because there were too many messages sent from this "
                "phone number to the same phone number in a short period of time",
            )
        in_window = self.state.in_window(sender.phone_number_id, key, now)
        policy = self.config.policy
        if (
            send.kind != "template"
            and not in_window
            and policy.window_enforced
            and policy.window_failure == "sync"
        ):
            raise SendRejected(
                400,
                131047,
                "Re-engagement message",
                "More than 24 hours have passed since the recipient last replied",
            )
        return in_window

    def accept(
        self, sender: Sender, send: ValidSend, body: dict[str, Any], now: float, in_window: bool
    ) -> dict[str, Any]:
        wamid = meta.new_wamid()
        key = self.recipient_key(send)
        given = body["recipient"] if send.by_user_id else body["to"]
        self.state.messages.append(
            {
                "wamid": wamid,
                "phone_number_id": sender.phone_number_id,
                "to": key,
                "input": given,
                "type": send.kind,
                "biz_opaque_callback_data": send.callback,
                "received_at": datetime.fromtimestamp(now, UTC).isoformat(),
                "body": body,
            }
        )
        self.state.accepted += 1
        SENDS.labels(outcome="accepted").inc()
        if send.kind == "template" and not in_window:  # business-initiated
            self.messaging_limits.record(
                self.config.waba_of(sender),
                key,
                sender.messaging_limit,
                now,
                self.config.policy.messaging_limit_window_seconds,
            )
        if send.by_user_id:
            # Meta answers the BSUID path without the phone number, even one it knows.
            recipient = meta.Recipient(user_id=key, wa_id=self.state.users.get(key))
            answer = meta.success_body(given, wamid, user_id=key, template=send.kind == "template")
        else:
            recipient = meta.Recipient(wa_id=key)
            answer = meta.success_body(given, wamid, wa_id=key, template=send.kind == "template")
        self._schedule_statuses(sender, send, wamid, recipient, in_window)
        return answer

    def _schedule_statuses(
        self,
        sender: Sender,
        send: ValidSend,
        wamid: str,
        recipient: meta.Recipient,
        in_window: bool,
    ) -> None:
        assert self.webhooks is not None
        cfg = self.config.webhooks
        category = send.template.category if send.template else "service"
        failure = self._async_failure(sender, send, recipient, in_window)
        now = time.time()

        def emit(status: str, delay: float, error: dict[str, Any] | None = None) -> None:
            item = meta.status_item(
                wamid,
                status,
                recipient,
                now + delay * cfg.time_scale,
                callback=send.callback,
                category=category,
                error=error,
            )
            assert self.webhooks is not None
            self.webhooks.schedule(delay, sender.phone_number_id, "statuses", item)
            if self.random.random() < cfg.duplicate_ratio:
                extra = self.random.uniform(0, DUPLICATE_SPREAD)
                self.webhooks.schedule(delay + extra, sender.phone_number_id, "statuses", item)

        if failure is not None:
            emit("failed", cfg.sent_delay, failure)
            return
        if send.kind == "reaction":  # Meta: a reaction gets a sent status only
            emit("sent", cfg.sent_delay)
            return
        sent_at, delivered_at = cfg.sent_delay, cfg.delivered_delay
        if self.random.random() < cfg.reorder_ratio:
            sent_at, delivered_at = delivered_at, sent_at
        emit("sent", sent_at)
        emit("delivered", delivered_at)
        if self.random.random() < cfg.read_ratio:
            emit("read", cfg.read_delay)

    def _async_failure(
        self, sender: Sender, send: ValidSend, recipient: meta.Recipient, in_window: bool
    ) -> dict[str, Any] | None:
        """The failed status Meta sends later, if any. The policy lists name numbers or
        BSUIDs; a BSUID user who shared a number is that number too."""
        policy = self.config.policy
        keys = {k for k in (recipient.wa_id, recipient.user_id) if k is not None}
        unknown_user = recipient.user_id is not None and recipient.user_id not in self.state.users
        if (
            unknown_user
            or keys & {self.identity(n) for n in policy.undeliverable}
            or (recipient.wa_id or "").startswith(tuple(policy.undeliverable_prefixes))
        ):
            # A BSUID the sandbox never heard from is no user of this business: Meta's code
            # for a recipient it cannot deliver to is 131026, "Message undeliverable" (Cloud
            # API error codes: developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
            return meta.status_error(
                131026, "Message undeliverable", "The recipient is not a valid WhatsApp user"
            )
        if (
            send.template is not None
            and send.template.category == "marketing"
            and keys & {self.identity(n) for n in policy.marketing_opt_outs}
        ):
            return meta.status_error(
                131050,
                "Unable to deliver the message. This recipient has chosen to stop receiving "
                "marketing messages on WhatsApp from your business",
                "The recipient opted out of marketing messages",
            )
        if send.kind != "template" and not in_window and policy.window_enforced:
            return meta.status_error(
                131047,
                "Re-engagement message",
                "More than 24 hours have passed since the recipient last replied",
            )
        held = self.state.media.get(send.media_id) if send.media_id is not None else None
        if send.media_id is not None and (
            held is None or held.phone_number_id != sender.phone_number_id
        ):
            # Meta: 131053 "Media upload error", the media could not be processed. An id
            # of another number fails too: Meta serves a media id only to the number it
            # was uploaded on ("Media": phone_number_id), and AWS's WhatsApp API documents
            # that only the uploading number may send it (PostWhatsAppMessageMedia).
            return meta.status_error(
                131053,
                "Media upload error",
                f"Unable to retrieve media {send.media_id}: the id is unknown, expired, "
                "deleted, or not of this phone number",
            )
        if send.reacts_to is not None and not self._reactable(sender, send.reacts_to, keys):
            # Meta: "Reaction messages": not delivered, with 131009, when the message is
            # more than 30 days old, not in the conversation, or deleted.
            return meta.status_error(
                131009,
                "Parameter value is not valid",
                f"Message {send.reacts_to} is more than 30 days old, does not exist in this "
                "conversation, or was deleted",
            )
        return None

    def _reactable(self, sender: Sender, wamid: str, keys: set[str]) -> bool:
        """Whether the business may react to ``wamid``: a user's message to this number,
        from the recipient, at most 30 days old."""
        record = self.state.inbound.get(wamid)
        return (
            record is not None
            and record["phone_number_id"] == sender.phone_number_id
            and bool({record["wa_id"], record["user_id"]} & keys)
            and time.time() - record["received_at"] <= REACTION_MAX_AGE
        )

    # --- read receipts ----------------------------------------------------------------------

    def mark_read(self, sender: Sender, body: dict[str, Any]) -> dict[str, Any]:
        """Meta's "Mark messages as read" and "Typing indicators": ``{"status": "read",
        "message_id", "typing_indicator"?: {"type": "text"}}`` → ``{"success": true}``. A
        message id this number never received is 100 (assumed: Meta documents no code)."""
        if body.get("messaging_product") != "whatsapp":
            raise invalid("The parameter messaging_product is required and must be 'whatsapp'")
        if body.get("status") != "read":
            raise invalid(f"status must be 'read', not {body.get('status')!r}")
        message_id = body.get("message_id")
        if message_id is None or message_id == "":
            raise missing("The parameter message_id is required")
        record = self.state.inbound.get(message_id) if isinstance(message_id, str) else None
        if record is None or record["phone_number_id"] != sender.phone_number_id:
            raise invalid(f"Invalid message_id: {message_id!r} is no message this number received")
        typing = body.get("typing_indicator")
        if typing is not None and typing != {"type": "text"}:
            raise invalid('typing_indicator must be {"type": "text"}')
        self.state.reads.append(
            {
                "message_id": message_id,
                "phone_number_id": sender.phone_number_id,
                "typing_indicator": typing,
                "at": datetime.now(UTC).isoformat(),
            }
        )
        return {"success": True}

    # --- inbound --------------------------------------------------------------------------

    def inbound(
        self,
        sender: Sender,
        wa_id: str | None,
        text: str,
        name: str | None,
        user_id: str | None = None,
        username: str | None = None,
    ) -> str:
        """A user's text message."""
        message = self.receive(
            sender, wa_id, name, "text", {"body": text}, user_id=user_id, username=username
        )
        return str(message["id"])

    def receive(
        self,
        sender: Sender,
        wa_id: str | None,
        name: str | None,
        kind: str,
        value: Any,
        *,
        user_id: str | None = None,
        username: str | None = None,
        context_id: str | None = None,
        duplicate: bool = False,
    ) -> dict[str, Any]:
        """A user's message of any kind (``value`` is its ``<kind>`` object), delivered by
        webhook (twice with ``duplicate``), opening the 24h window. A username user may come
        with a BSUID and no phone number: then ``from`` is left out and the BSUID keys the
        window. A reply names the message replied to in ``context``."""
        assert self.webhooks is not None
        now = time.time()
        for key in (wa_id, user_id):  # a send by number or by BSUID finds the window
            if key is not None:
                self.state.last_inbound[(sender.phone_number_id, key)] = now
        if user_id is not None:  # a user of this business, by BSUID from now on
            self.state.users[user_id] = wa_id or self.state.users.get(user_id)
        wamid = meta.new_wamid()
        context = None
        if context_id is not None:
            context = {"from": sender.display_phone_number, "id": context_id}
        message = incoming.item(
            wamid, int(now), kind, value, wa_id=wa_id, user_id=user_id, context=context
        )
        profile: dict[str, Any] = {"name": name or "Sandbox User"}
        contact: dict[str, Any] = {"profile": profile}
        if wa_id is not None:
            contact["wa_id"] = wa_id
        if user_id is not None:
            contact["user_id"] = user_id
        if username is not None:
            profile["username"] = username
        self.state.inbound[wamid] = {
            "phone_number_id": sender.phone_number_id,
            "wa_id": wa_id,
            "user_id": user_id,
            "received_at": now,
            "message": message,
        }
        self.webhooks.schedule(0, sender.phone_number_id, "messages", message, contact)
        if duplicate:  # Meta redelivers: the same item again, in a POST of its own
            cfg = self.config.webhooks
            again = REDELIVERY_DELAY + 2 * cfg.batch_window
            self.webhooks.schedule(again, sender.phone_number_id, "messages", message, contact)
        return message

    def store_media(
        self,
        sender: Sender,
        content: bytes,
        mime_type: str,
        ttl: float,
        filename: str | None = None,
    ) -> Media:
        return self.state.media.add(sender.phone_number_id, content, mime_type, ttl, filename)

    def visible_media(self, token_owner: Sender, media_id: str) -> Media | None:
        """The media, if it lives and belongs to a number of the token's business account."""
        media = self.state.media.get(media_id)
        owner = self.config.sender(media.phone_number_id) if media is not None else None
        if owner is None or self.config.waba_of(owner) != self.config.waba_of(token_owner):
            return None
        return media

    def number_changed(self, sender: Sender, old: str, new: str, name: str | None) -> str:
        """Meta's ``user_changed_number`` system message (no contacts array). The person's
        open window goes with them to the new id, as the service assumes (docs/recipients.md
        lists it as uncertain)."""
        assert self.webhooks is not None
        opened = self.state.last_inbound.pop((sender.phone_number_id, old), None)
        if opened is not None:
            key = (sender.phone_number_id, new)
            self.state.last_inbound[key] = max(opened, self.state.last_inbound.get(key, opened))
        wamid = meta.new_wamid()
        message = {
            "from": old,
            "id": wamid,
            "timestamp": str(int(time.time())),
            "type": "system",
            "system": {
                "body": f"User {name or 'Sandbox User'} changed from {old} to {new}",
                "wa_id": new,
                "type": "user_changed_number",
            },
        }
        self.webhooks.schedule(0, sender.phone_number_id, "messages", message)
        return wamid


SANDBOX = web.AppKey("sandbox", Sandbox)

VERSION = r"/{version:v\d+\.\d+}"
"""A Graph API version segment (``v21.0``)."""


# --- HTTP handlers ------------------------------------------------------------------------


def _error(exc: SendRejected) -> web.Response:
    return web.json_response(
        meta.error_body(
            exc.code, exc.message, exc.details, subcode=exc.subcode, error_type=exc.error_type
        ),
        status=exc.status,
    )


def _reject(exc: SendRejected) -> web.Response:
    SENDS.labels(outcome=str(exc.code)).inc()
    return _error(exc)


async def _fault(sb: Sandbox, request: web.Request) -> web.StreamResponse | None:
    """Latency first, then at most one injected fault."""
    latency = sb.config.latency
    if latency.fixed_ms or latency.jitter_ms:
        await asyncio.sleep((latency.fixed_ms + sb.random.uniform(0, latency.jitter_ms)) / 1000)
    faults = sb.config.faults
    roll = sb.random.random()
    if roll < faults.error_500:
        sb.state.rejected[131000] += 1
        return _reject(SendRejected(500, 131000, "Something went wrong", "Internal error"))
    roll -= faults.error_500
    if roll < faults.error_503:
        sb.state.rejected[131016] += 1
        return _reject(SendRejected(503, 131016, "Service unavailable", "Try again later"))
    roll -= faults.error_503
    if roll < faults.connection_reset:
        _reset(request)
        raise asyncio.CancelledError  # nothing more is written to a reset connection
    roll -= faults.connection_reset
    if roll < faults.timeout:
        await asyncio.sleep(faults.timeout_seconds)
        _reset(request)
        raise asyncio.CancelledError
    return None


def _reset(request: web.Request) -> None:
    """Close the connection with a TCP RST (SO_LINGER 0), as a dropped connection looks."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def send_message(request: web.Request) -> web.StreamResponse:
    sb = request.app[SANDBOX]
    faulted = await _fault(sb, request)
    if faulted is not None:
        return faulted
    try:
        sender = sb.authenticate(
            request.match_info["phone_number_id"], request.headers.get("Authorization")
        )
        try:
            body = await request.json()
        except ValueError:
            raise SendRejected(400, 100, "Invalid parameter", "The body is not JSON") from None
        if isinstance(body, dict) and "status" in body:  # a read receipt, not a message
            return web.json_response(sb.mark_read(sender, body))
        send = validate(body, sb.config)
        now = time.time()
        in_window = sb.admit(sender, send, now)
    except SendRejected as exc:
        sb.state.rejected[exc.code] += 1
        return _reject(exc)
    return web.json_response(sb.accept(sender, send, body, now, in_window))


def _page_size(value: str | None) -> int:
    """``limit``: 25 when absent, at most 100 (larger values are capped, as Meta does)."""
    if value is None:
        return management.DEFAULT_PAGE
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise SendRejected(400, 100, "Invalid parameter", "limit must be a positive integer")
    return min(limit, management.MAX_PAGE)


def _read_token(request: web.Request) -> str:
    """A Graph API read's token: the bearer header, or the ``access_token`` parameter."""
    authorization = request.headers.get("Authorization", "")
    return authorization.removeprefix("Bearer ").strip() or request.query.get("access_token", "")


def _fields(request: web.Request) -> set[str]:
    return {f.strip() for f in request.query.get("fields", "").split(",") if f.strip()}


def _select(data: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """Meta's field selection, loosely: only the fields asked for, the id always; every
    field when none is asked for."""
    if not fields:
        return data
    return {k: v for k, v in data.items() if k in fields or k == "id"}


def _paging(
    request: web.Request, limit: int, first: str, last: str, has_previous: bool, has_next: bool
) -> dict[str, Any]:
    """Graph API paging: both cursors, and absolute ``previous``/``next`` links while there
    are more pages that way."""
    paging: dict[str, Any] = {"cursors": {"before": first, "after": last}}
    query = {k: v for k, v in request.query.items() if k not in ("after", "before")}
    query["limit"] = str(limit)
    if has_previous:
        paging["previous"] = str(request.url.with_query({**query, "before": first}))
    if has_next:
        paging["next"] = str(request.url.with_query({**query, "after": last}))
    return paging


T = TypeVar("T")


def _listing(
    request: web.Request,
    items: list[T],
    key: Callable[[T], str],
    cursor: str,
    render: Callable[[T], dict[str, Any]],
) -> web.Response:
    """One page of a Graph API list of the account in the path: the token checked, an
    account the sandbox does not know answered as Meta answers it (100, subcode 33), then
    ``limit`` items after (or before) the cursor, with the ``fields`` asked for."""
    sb = request.app[SANDBOX]
    waba_id = request.match_info["waba_id"]
    try:
        sb.authenticate_token(_read_token(request))
        if waba_id not in sb.config.wabas():
            raise no_object(waba_id)
        limit = _page_size(request.query.get("limit"))
        found = management.page(
            items,
            key,
            cursor,
            limit,
            after=request.query.get("after"),
            before=request.query.get("before"),
        )
        if found is None:
            raise SendRejected(400, 100, "Invalid parameter", "The cursor is not valid")
    except SendRejected as exc:
        return _error(exc)
    if not found.items:
        return web.json_response({"data": []})
    paging = _paging(
        request,
        limit,
        management.encode_cursor(cursor, key(found.items[0])),
        management.encode_cursor(cursor, key(found.items[-1])),
        found.has_previous,
        found.has_next,
    )
    fields = _fields(request)
    data = [_select(render(item), fields) for item in found.items]
    return web.json_response({"data": data, "paging": paging})


async def message_templates(request: web.Request) -> web.Response:
    """Meta's ``GET /{version}/{waba_id}/message_templates``: the configured templates in
    config order, ``limit`` per page, cursor-paged with ``after`` and ``before``, with the
    ``fields`` asked for (all of them by default). Every business account the sandbox
    knows shares its one catalogue (assumed: templates are configured globally)."""
    templates = request.app[SANDBOX].config.templates
    return _listing(
        request,
        templates,
        lambda t: t.id,
        management.TEMPLATE_CURSOR,
        management.definition,
    )


async def phone_numbers(request: web.Request) -> web.Response:
    """Meta's ``GET /{version}/{waba_id}/phone_numbers`` (Meta: WhatsApp Business Account >
    Phone Numbers API): the account's senders in config order, paged and field-selected as
    the template catalogue is; a known account without numbers lists none."""
    config = request.app[SANDBOX].config
    waba_id = request.match_info["waba_id"]
    senders = [s for s in config.senders if config.waba_of(s) == waba_id]
    return _listing(
        request,
        senders,
        lambda s: s.phone_number_id,
        management.PHONE_NUMBER_CURSOR,
        management.phone_number,
    )


async def graph_object(request: web.Request) -> web.Response:
    """Meta's ``GET /{version}/{id}``: a phone number, with the ``fields`` asked for (Meta:
    WhatsApp Business Phone Number API), or a media's URL and facts (Meta: "Media",
    Retrieve media URL; ``phone_number_id`` limits it to that number's media). Any other
    id, an expired or deleted media id included, is unknown (100, subcode 33)."""
    sb = request.app[SANDBOX]
    object_id = request.match_info["object_id"]
    try:
        owner = sb.authenticate_token(_read_token(request))
        sender = sb.config.sender(object_id)
        if sender is not None:
            return web.json_response(_select(management.phone_number(sender), _fields(request)))
        media = _media_of(request, owner, object_id)
    except SendRejected as exc:
        return _error(exc)
    url = sb.state.media.url(_origin(request), media, sb.config.media.url_ttl_seconds)
    return web.json_response(
        {
            "messaging_product": "whatsapp",
            "url": url,
            "mime_type": media.mime_type,
            "sha256": media.sha256,
            "file_size": len(media.content),
            "id": media.id,
        }
    )


def _media_of(request: web.Request, owner: Sender, media_id: str, method: str = "get") -> Media:
    sb = request.app[SANDBOX]
    media = sb.visible_media(owner, media_id)
    only = request.query.get("phone_number_id")
    if media is None or (only is not None and only != media.phone_number_id):
        raise no_object(media_id, method)
    return media


def _origin(request: web.Request) -> str:
    return str(request.url.origin())


async def delete_object(request: web.Request) -> web.Response:
    """Meta's ``DELETE /{version}/{media_id}`` → ``{"success": true}``; an unknown id is
    100, subcode 33."""
    sb = request.app[SANDBOX]
    media_id = request.match_info["object_id"]
    try:
        owner = sb.authenticate_token(_read_token(request))
        media = _media_of(request, owner, media_id, "delete")
    except SendRejected as exc:
        return _error(exc)
    sb.state.media.delete(media.id)
    return web.json_response({"success": True})


async def upload_media(request: web.Request) -> web.Response:
    """Meta's ``POST /{version}/{phone_number_id}/media``: multipart ``file`` (its part's
    Content-Type is the media type, as Meta reads it), ``type`` and
    ``messaging_product=whatsapp`` → ``{"id"}``. Authenticated as a send is. The body is
    streamed, so the app's request size cap does not apply; nothing past the largest
    allowed file (100 MB) is read."""
    sb = request.app[SANDBOX]
    try:
        sender = sb.authenticate(
            request.match_info["phone_number_id"], request.headers.get("Authorization")
        )
        content, mime_type, filename = await media_store.read_upload(request)
        media_store.check_upload(mime_type, len(content))
    except SendRejected as exc:
        return _error(exc)
    ttl = sb.config.media.upload_ttl_seconds
    media = sb.store_media(sender, content, mime_type, ttl, filename)
    return web.json_response({"id": media.id})


async def download_media(request: web.Request) -> web.StreamResponse:
    """A media URL the sandbox handed out: the bytes, with the Bearer token of a sender
    of the media's business account (Meta requires the token; without a valid one, 401
    and 190). An expired or forged URL, or deleted media: 404 (assumed)."""
    sb = request.app[SANDBOX]
    authorization = request.headers.get("Authorization", "")
    try:
        owner = sb.authenticate_token(authorization.removeprefix("Bearer ").strip())
    except SendRejected as exc:
        return _error(exc)
    media_id = request.match_info["media_id"]
    media = sb.state.media.by_url(
        media_id, request.query.get("ext", ""), request.query.get("hash", "")
    )
    if media is None or sb.visible_media(owner, media_id) is None:
        return _error(
            SendRejected(404, 100, "Invalid parameter", "The URL is unknown or has expired")
        )
    headers = {"Content-Type": media_store.header_safe(media.mime_type)}
    if media.filename:
        headers["Content-Disposition"] = media_store.content_disposition(media.filename)
    return web.Response(body=media.content, headers=headers)


async def list_reads(request: web.Request) -> web.Response:
    """The read receipts (and typing indicators) the business sent, in order."""
    return web.json_response({"reads": request.app[SANDBOX].state.reads})


async def list_messages(request: web.Request) -> web.Response:
    sb = request.app[SANDBOX]
    to = request.query.get("to")
    wa_id = sb.identity(to) if to else None
    callback = request.query.get("biz_opaque_callback_data")
    found = [
        m
        for m in sb.state.messages
        if (wa_id is None or m["to"] == wa_id)
        and (callback is None or m["biz_opaque_callback_data"] == callback)
    ]
    return web.json_response({"messages": found})


async def stats(request: web.Request) -> web.Response:
    sb = request.app[SANDBOX]
    assert sb.webhooks is not None
    window = sb.config.policy.messaging_limit_window_seconds
    return web.json_response(
        {
            **sb.state.stats(sb.webhooks.pending),
            "messaging_limits": sb.messaging_limits.snapshot(time.time(), window),
        }
    )


async def get_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[SANDBOX].config.model_dump(mode="json"))


async def update_config(request: web.Request) -> web.Response:
    sb = request.app[SANDBOX]
    try:
        changes = await request.json()
        if not isinstance(changes, dict):
            raise ValueError("the body must be a JSON object")
        sb.config = sb.config.merged(changes)
    except ValidationError as exc:
        errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
        return web.json_response({"error": "invalid_config", "details": errors}, status=400)
    except ValueError as exc:
        return web.json_response({"error": "invalid_config", "details": str(exc)}, status=400)
    return web.json_response(sb.config.model_dump(mode="json"))


async def reset(request: web.Request) -> web.Response:
    request.app[SANDBOX].reset()
    return web.json_response({"status": "reset"})


def _text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) and value.strip() else None


def _inbound_sender(sb: Sandbox, body: dict[str, Any]) -> Sender:
    phone_number_id = body.get("to_phone_number_id") or sb.config.senders[0].phone_number_id
    sender = sb.config.sender(str(phone_number_id))
    if sender is None:
        raise management.ControlError(404, "unknown to_phone_number_id")
    return sender


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise management.ControlError(400, f"'{name}' must be a boolean")
    return value


async def inbound(request: web.Request) -> web.Response:
    """A user writes to a business number: inbound webhook, and the 24h window opens.

    ``from`` in any form of the number (it becomes the WhatsApp id); ``user_id`` (a BSUID)
    with or without ``from`` (a username user); ``text``, or ``message`` ``{"type",
    "<type>": {…}}`` of any kind Meta delivers, with ``context_id`` for a reply and
    ``media`` (``content_base64``, ``mime_type``, ``filename``) for a media kind;
    ``duplicate`` delivers the webhook twice; ``changed_number_to`` sends a
    ``user_changed_number`` system message instead."""
    sb = request.app[SANDBOX]
    try:
        body = await _object(request)
        number, user_id = _text(body, "from"), _text(body, "user_id")
        if number is None and user_id is None:
            raise management.ControlError(400, "'from' or 'user_id' is required")
        sender = _inbound_sender(sb, body)
        wa_id = sb.wa_id(number) if number is not None else None
        if wa_id == "":
            raise management.ControlError(400, "'from' must be a phone number (it has no digits)")
        changed_to = _text(body, "changed_number_to")
        if changed_to is not None:
            if wa_id is None:
                raise management.ControlError(400, "'from' is required")
            new = sb.wa_id(changed_to)
            if not new:
                raise management.ControlError(400, "'changed_number_to' has no digits")
            wamid = sb.number_changed(sender, wa_id, new, _text(body, "name"))
            return web.json_response({"wamid": wamid, "wa_id": new})
        kind, value, media = _inbound_content(request, sb, sender, body)
        context_id = body.get("context_id")
        if context_id is not None and not (isinstance(context_id, str) and context_id):
            raise management.ControlError(400, "'context_id' must be a wamid")
        duplicate = _flag(body, "duplicate")
    except management.ControlError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    message = sb.receive(
        sender,
        wa_id,
        _text(body, "name"),
        kind,
        value,
        user_id=user_id,
        username=_text(body, "username"),
        context_id=context_id,
        duplicate=duplicate,
    )
    answer: dict[str, Any] = {
        "wamid": message["id"],
        "wa_id": wa_id,
        "window_open_until": time.time() + 86_400,
        "message": message,
    }
    if media is not None:
        answer["media_id"] = media.id
    return web.json_response(answer)


def _inbound_content(
    request: web.Request, sb: Sandbox, sender: Sender, body: dict[str, Any]
) -> tuple[str, Any, Media | None]:
    """The kind, its webhook object and any stored media of an inbound control call."""
    message = body.get("message")
    if message is None:  # the original form: a text (Meta delivers no empty text)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise management.ControlError(
                400, "'text' (a non-empty string) or 'message' is required"
            )
        return "text", {"body": text}, None
    if not isinstance(message, dict) or message.get("type") not in incoming.KINDS:
        raise management.ControlError(400, f"message.type must be one of {sorted(incoming.KINDS)}")
    kind = str(message["type"])
    given = message.get(kind, {} if kind in incoming.MEDIA_KINDS | {"unsupported"} else None)
    if kind not in incoming.MEDIA_KINDS:
        return kind, incoming.content(kind, given), None
    if not isinstance(given, dict):
        raise management.ControlError(400, f"message.{kind} must be an object")
    media = _inbound_media(sb, sender, kind, given, body.get("media"))
    url = sb.state.media.url(_origin(request), media, sb.config.media.url_ttl_seconds)
    return kind, incoming.media_content(kind, given, media, url), media


def _inbound_media(
    sb: Sandbox, sender: Sender, kind: str, given: dict[str, Any], spec: Any
) -> Media:
    """The bytes a user sends, stored for the media API: ``content_base64`` if given, else
    a small deterministic payload; the type from the message object, ``media``, or the
    kind's usual one (``audio/ogg; codecs=opus`` for a voice note)."""
    spec = {} if spec is None else spec
    if not isinstance(spec, dict):
        raise management.ControlError(400, "'media' must be an object")
    encoded = spec.get("content_base64")
    try:
        content = (
            base64.b64decode(encoded, validate=True)
            if isinstance(encoded, str)
            else media_store.placeholder(kind, f"{sender.phone_number_id}:{len(sb.state.media)}")
        )
    except binascii.Error:
        raise management.ControlError(400, "media.content_base64 is not base64") from None
    voice = kind == "audio" and given.get("voice") is True
    default = "audio/ogg; codecs=opus" if voice else media_store.DEFAULT_MIME[kind]
    mime_type = given.get("mime_type") or spec.get("mime_type") or default
    filename = spec.get("filename") or given.get("filename")
    if not isinstance(mime_type, str) or not (filename is None or isinstance(filename, str)):
        raise management.ControlError(400, "mime_type and filename must be strings")
    ttl = sb.config.media.inbound_ttl_seconds
    return sb.store_media(sender, content, mime_type, ttl, filename)


async def inbound_button(request: web.Request) -> web.Response:
    """The recipient of a template the sandbox sent taps its quick-reply button ``index``:
    a ``button`` message whose ``text`` is the button's label and ``payload`` the
    ``payload`` parameter the send gave that button, else the label (Meta's behaviour),
    with ``context.id`` the template's wamid. 404 when the wamid is not a template the
    sandbox sent or it has no quick-reply button there."""
    sb = request.app[SANDBOX]
    try:
        body = await _object(request)
        index = body.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise management.ControlError(400, "'index' must be a button index (0, 1, …)")
        to_wamid = body.get("to_wamid")
        if not isinstance(to_wamid, str) or not to_wamid:
            raise management.ControlError(
                400, "'to_wamid' (the wamid of a template message the sandbox sent) is required"
            )
        sent = next((m for m in sb.state.messages if m["wamid"] == to_wamid), None)
        if sent is None or sent["type"] != "template":
            raise management.ControlError(404, f"no template message {to_wamid!r} was sent")
        label, payload = incoming.quick_reply(sb.config, sent, index)
        sender = sb.config.sender(sent["phone_number_id"])
        if sender is None:
            raise management.ControlError(404, "the sender of that message is gone")
        duplicate = _flag(body, "duplicate")
    except management.ControlError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    who = sent["to"]
    user_id = who if BSUID.match(who) else None
    wa_id = sb.state.users.get(who) if user_id is not None else who
    message = sb.receive(
        sender,
        wa_id,
        _text(body, "name"),
        "button",
        {"payload": payload, "text": label},
        user_id=user_id,
        context_id=sent["wamid"],
        duplicate=duplicate,
    )
    return web.json_response({"wamid": message["id"], "wa_id": wa_id, "message": message})


async def _object(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise management.ControlError(400, "a JSON object is required")
    return body


def _invalid_request(exc: ValidationError) -> web.Response:
    errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
    return web.json_response({"error": "invalid_request", "details": errors}, status=400)


async def _apply(
    request: web.Request, build: Callable[[SandboxConfig, dict[str, Any]], management.Change]
) -> web.Response:
    """Run a control request: the changed config takes effect and its webhook is scheduled
    at once; the answer (202) is the change that will be delivered."""
    sb = request.app[SANDBOX]
    assert sb.webhooks is not None
    try:
        change = build(sb.config, await _object(request))
    except management.ControlError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)
    except ValidationError as exc:
        return _invalid_request(exc)
    sb.config = change.config
    sb.webhooks.schedule_change(0, change.field, change.value, change.phone_number_id)
    return web.json_response(change.scheduled(), status=202)


async def template_status(request: web.Request) -> web.Response:
    """``message_template_status_update``: the template's status changes (PAUSED and
    DISABLED sends fail with 132015 and 132016, PENDING and REJECTED ones with 132001)."""
    return await _apply(
        request,
        lambda config, body: management.template_status(
            config, management.TemplateStatusChange.model_validate(body)
        ),
    )


async def template_category(request: web.Request) -> web.Response:
    """``template_category_update``: the template's category (and its pricing) changes."""
    return await _apply(
        request,
        lambda config, body: management.template_category(
            config, management.TemplateCategoryChange.model_validate(body)
        ),
    )


async def sender_quality(request: web.Request) -> web.Response:
    """``phone_number_quality_update``: the sender's messaging limit, quality rating and
    (with ``throughput_mps``) its 130429 cap change."""
    phone_number_id = request.match_info["phone_number_id"]
    return await _apply(
        request,
        lambda config, body: management.phone_number_quality(
            config, phone_number_id, management.QualityChange.model_validate(body)
        ),
    )


async def account(request: web.Request) -> web.Response:
    """``account_update``: the event and whatever else the body holds, as the value."""
    return await _apply(request, management.account_update)


async def health(_request: web.Request) -> web.Response:
    return web.json_response({"status": "healthy"})


async def metrics(_request: web.Request) -> web.Response:
    return web.Response(
        body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


def create_app(config: SandboxConfig) -> web.Application:
    app = web.Application(client_max_size=4 * 1024 * 1024)
    sandbox = Sandbox(config)
    app[SANDBOX] = sandbox

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=100)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            sandbox.webhooks = WebhookScheduler(lambda: sandbox.config, sandbox.state, session)
            sandbox.webhooks.start()
            yield
            await sandbox.webhooks.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post("/{version}/{phone_number_id}/messages", send_message)
    app.router.add_get("/{version}/{waba_id}/message_templates", message_templates)
    app.router.add_get("/_sandbox/messages", list_messages)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_get("/_sandbox/config", get_config)
    app.router.add_post("/_sandbox/config", update_config)
    app.router.add_post("/_sandbox/reset", reset)
    app.router.add_post("/_sandbox/inbound", inbound)
    app.router.add_post("/_sandbox/inbound/button", inbound_button)
    app.router.add_get("/_sandbox/reads", list_reads)
    app.router.add_get("/_media/{media_id}", download_media)
    app.router.add_post(VERSION + "/{phone_number_id}/media", upload_media)
    app.router.add_post("/_sandbox/templates/status", template_status)
    app.router.add_post("/_sandbox/templates/category", template_category)
    app.router.add_post("/_sandbox/senders/{phone_number_id}/quality", sender_quality)
    app.router.add_post("/_sandbox/account", account)
    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    # Graph API reads last, and only under a version segment, so that they shadow nothing.
    app.router.add_get(VERSION + "/{waba_id}/phone_numbers", phone_numbers)
    app.router.add_get(VERSION + "/{object_id}", graph_object)
    app.router.add_delete(VERSION + "/{object_id}", delete_object)
    return app


class RunningSandbox:
    """The sandbox in the current event loop, for tests: ``async with RunningSandbox(cfg)``."""

    def __init__(self, config: SandboxConfig, port: int = 0) -> None:
        self.app = create_app(config)
        self._runner = web.AppRunner(self.app, access_log=None)
        self._port = port
        self.url = ""

    @property
    def sandbox(self) -> Sandbox:
        sandbox: Sandbox = self.app[SANDBOX]
        return sandbox

    async def __aenter__(self) -> RunningSandbox:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self._port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        port = server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._runner.cleanup()
