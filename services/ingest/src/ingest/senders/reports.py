"""Meta's reports of a number's or an account's standing, read from webhook items.

- ``phone_number_quality_update`` (Meta: "Webhooks reference: phone_number_quality_update",
  developers.facebook.com/documentation/business-messaging/whatsapp/webhooks/reference/
  phone_number_quality_update): ``{"display_phone_number", "event", "old_limit"?,
  "current_limit", "max_daily_conversations_per_business"}`` under ``entry[].id`` = the
  business account. ``event`` is ONBOARDING, THROUGHPUT_UPGRADE, or in older payloads
  FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE. The limits are tiers (TIER_50, TIER_250, TIER_1K,
  TIER_2K, TIER_10K, TIER_100K, TIER_UNLIMITED, TIER_NOT_SET); ``current_limit`` is being
  removed in favour of ``max_daily_conversations_per_business``, the business portfolio's
  limit. The number is named only by its display number, so the item also asks for the
  account's numbers to be read again (quality rating and throughput level come from there).
- ``account_update`` (Meta: "Webhooks reference: account_update"): ``{"event",
  "ban_info"?: {"waba_ban_state", "waba_ban_date"}, "restriction_info"?:
  [{"restriction_type", "expiration"}], "violation_info"?: {"violation_type"}}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MAX_ID = 256
QUALITY_FIELD = "phone_number_quality_update"
ACCOUNT_FIELD = "account_update"
_TIER = re.compile(r"^TIER_[0-9A-Z_]{1,16}$")
_NAME = re.compile(r"^[A-Z0-9_]{1,64}$")


@dataclass(frozen=True)
class NumberReport:
    """A ``phone_number_quality_update`` item: ``messaging_limit`` None when it names none;
    ``reported_at`` Meta's ``entry[].time`` (None when absent): an older report than the
    one stored changes nothing (Meta redelivers late)."""

    waba_id: str
    display_digits: str
    event: str
    messaging_limit: str | None
    reported_at: datetime | None = None


@dataclass(frozen=True)
class Restriction:
    type: str
    expiration: datetime | None
    """None: Meta gave none we could read (taken as in force)."""


@dataclass(frozen=True)
class AccountReport:
    """An ``account_update`` item; a field the item does not carry is None (unchanged)."""

    waba_id: str
    event: str
    ban_state: str | None
    restrictions: tuple[Restriction, ...] | None
    violation_type: str | None
    reported_at: datetime | None = None


def _name(value: Any) -> str | None:
    """An upper-case enum value of Meta's, or None for anything else."""
    if not isinstance(value, str):
        return None
    upper = value.strip().upper()
    return upper if _NAME.match(upper) else None


def _waba(value: Any) -> str:
    text = str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if not text.isdigit() or len(text) > MAX_ID:
        raise ValueError("the item's business account is not an id")
    return text


def digits(display_phone_number: str) -> str:
    """The digits of a display number: the webhook's ``15550783881`` and the API's
    ``+1 555-078-3881`` name the same number."""
    return "".join(ch for ch in display_phone_number if "0" <= ch <= "9")


def number_report(waba_id: Any, value: dict[str, Any], time: Any = None) -> NumberReport:
    """Raises ValueError for an item without business account, number or event."""
    display = value.get("display_phone_number")
    number = digits(str(display)) if isinstance(display, str | int) else ""
    event = _name(value.get("event"))
    if not number or len(number) > 20 or event is None:
        raise ValueError("a quality item needs its number and event")
    limit = next(
        (
            tier
            for tier in (
                value.get("max_daily_conversations_per_business"),
                value.get("current_limit"),
            )
            if isinstance(tier, str) and _TIER.match(tier.strip().upper())
        ),
        None,
    )
    return NumberReport(
        _waba(waba_id),
        number,
        event,
        limit.strip().upper() if limit is not None else None,
        _entry_time(time),
    )


def _entry_time(value: Any) -> datetime | None:
    """``entry[].time``: Unix seconds; None for anything else."""
    return _expiration(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _expiration(value: Any) -> datetime | None:
    """Meta writes ``2026-04-19T13:59:20+0000``; Unix seconds are read too."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            parsed = datetime.strptime(value.strip(), "%Y-%m-%dT%H:%M:%S%z")
            return parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def account_report(waba_id: Any, value: dict[str, Any], time: Any = None) -> AccountReport:
    """Raises ValueError for an item without business account or event."""
    event = _name(value.get("event"))
    if event is None:
        raise ValueError("an account item needs its event")
    ban = value.get("ban_info")
    violation = value.get("violation_info")
    restrictions: tuple[Restriction, ...] | None = None
    info = value.get("restriction_info")
    if isinstance(info, list):
        restrictions = tuple(
            Restriction(kind, _expiration(item.get("expiration")))
            for item in info[:32]
            if isinstance(item, dict) and (kind := _name(item.get("restriction_type")))
        )
    return AccountReport(
        waba_id=_waba(waba_id),
        event=event,
        ban_state=_name(ban.get("waba_ban_state")) if isinstance(ban, dict) else None,
        restrictions=restrictions,
        violation_type=_name(violation.get("violation_type"))
        if isinstance(violation, dict)
        else None,
        reported_at=_entry_time(time),
    )
