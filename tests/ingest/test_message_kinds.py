"""The free-form kinds interactive, location, contacts and reaction at the door: what Meta
accepts is accepted and carried to Meta as given; what Meta refuses is a 422 naming the
field's path, as the API reports it. The sandbox, which checks these kinds as Meta does, is
the reference: it accepts every send the door accepts, refuses those the door refuses for
Meta's limits, and shares the door's limits and emoji rule. And the dispatcher holds these
kinds to the 24h window, as every kind but a template."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from dispatcher import decisions
from dispatcher.cloud_api import CloudApi
from dispatcher.decisions import CloseWindow, LeaveToMeta
from dispatcher.recipients import RecipientFacts
from ingest.api import message_kinds
from ingest.api.errors import validation_fields
from ingest.api.schemas import NotificationRequest
from notif_core.events import AcceptedPayload, NotificationAccepted
from wa_sandbox import freeform
from wa_sandbox.config import load
from wa_sandbox.errors import SendRejected
from wa_sandbox.validation import validate

TO = "+14155550101"
WAMID = "wamid.HBgLMTQxNTU1NTAxMDEVAgASGBQzQTdCNTg5RjY1MEMyRkU1MjlBNgA="


def reply(i: int, title: str | None = None, rid: str | None = None) -> dict[str, Any]:
    return {"type": "reply", "reply": {"id": rid or f"id-{i}", "title": title or f"Option {i}"}}


def buttons(*items: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return {"type": "button", "body": {"text": "Pick one"}, "action": {"buttons": list(items)}} | (
        parts
    )


def row(i: int, **parts: Any) -> dict[str, Any]:
    return {"id": f"row-{i}", "title": f"Row {i}"} | parts


def section(*rows: dict[str, Any], title: str | None = None) -> dict[str, Any]:
    return {"rows": list(rows)} | ({"title": title} if title is not None else {})


def menu(*sections: dict[str, Any], button: str = "Choose", **parts: Any) -> dict[str, Any]:
    action = {"button": button, "sections": list(sections)}
    return {"type": "list", "body": {"text": "Our menu"}, "action": action} | parts


def cta(display_text: str = "Track", url: str = "https://example.com/t/1", **parts: Any) -> Any:
    action = {"name": "cta_url", "parameters": {"display_text": display_text, "url": url}}
    return {"type": "cta_url", "body": {"text": "Your parcel"}, "action": action} | parts


def with_(kind: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``kind`` with the dotted ``path`` set to ``value`` (a deep copy)."""
    out = copy.deepcopy(kind)
    *parents, last = path.split(".")
    target: Any = out
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return out


def without(kind: dict[str, Any], path: str) -> dict[str, Any]:
    out = copy.deepcopy(kind)
    *parents, last = path.split(".")
    target: Any = out
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    del target[last]
    return out


BUTTONS = buttons(reply(0), reply(1), reply(2))
MENU = menu(section(row(0), row(1), title="Mains"), section(row(2), title="Desserts"))
CTA = cta()
IMAGE_HEADER = {"type": "image", "image": {"link": "https://example.com/a.png"}}
LOCATION = {"latitude": 37.44216251868683, "longitude": -122.16153582049394}
CONTACT = {"name": {"formatted_name": "Ana Silva"}}
REACTION = {"message_id": WAMID, "emoji": "👍"}

VALID: list[tuple[str, str, Any]] = [
    ("one button", "interactive", buttons(reply(0))),
    ("three buttons", "interactive", BUTTONS),
    (
        "button limits",
        "interactive",
        buttons(reply(0, title="T" * 20, rid="i" * 256), reply(1, title="Ü" * 20)),
    ),
    (
        "button parts at their limits",
        "interactive",
        buttons(
            reply(0),
            header={"type": "text", "text": "H" * 60},
            body={"text": "B" * 1024},
            footer={"text": "F" * 60},
        ),
    ),
    ("image header", "interactive", buttons(reply(0), header=IMAGE_HEADER)),
    (
        "video header by id",
        "interactive",
        buttons(reply(0), header={"type": "video", "video": {"id": "1234567890"}}),
    ),
    (
        "document header with its filename",
        "interactive",
        cta(
            header={
                "type": "document",
                "document": {"link": "https://example.com/a.pdf", "filename": "a.pdf"},
            }
        ),
    ),
    ("list of two sections", "interactive", MENU),
    ("one section needs no title", "interactive", menu(section(row(0)))),
    (
        "ten rows in one section",
        "interactive",
        menu(section(*(row(i) for i in range(10)))),
    ),
    (
        "ten sections of one row",
        "interactive",
        menu(*(section(row(i), title=f"Section {i}") for i in range(10))),
    ),
    (
        "list limits",
        "interactive",
        menu(
            section(
                row(0, id="r" * 200, title="T" * 24, description="D" * 72),
                title="S" * 24,
            ),
            section(row(1), title="Other"),
            button="B" * 20,
            body={"text": "L" * 4096},
            header={"type": "text", "text": "H" * 60},
            footer={"text": "F" * 60},
        ),
    ),
    ("cta url", "interactive", CTA),
    ("cta http url, 20 characters", "interactive", cta("D" * 20, "http://example.com")),
    ("location", "location", LOCATION),
    ("location at the bounds", "location", {"latitude": -90, "longitude": 180}),
    (
        "coordinates as 32-character strings",
        "location",
        {"latitude": "-1." + "1" * 29, "longitude": "100." + "0" * 28},
    ),
    (
        "location as Meta's examples write it",
        "location",
        {"latitude": "37.4421", "longitude": "-122.1615", "name": "HQ", "address": "1 Hacker Way"},
    ),
    ("one contact", "contacts", [CONTACT]),
    (
        "a full contact and another",
        "contacts",
        [
            {
                "name": {"formatted_name": "Ana Silva", "first_name": "Ana", "last_name": "Silva"},
                "birthday": "1990-01-23",
                "org": {"company": "Acme", "title": "Buyer"},
                "phones": [{"phone": "+1 415 555 0101", "type": "WORK", "wa_id": "14155550101"}],
                "emails": [{"email": "ana@example.com", "type": "WORK"}],
                "urls": [{"url": "https://example.com", "type": "WORK"}],
                "addresses": [{"city": "Menlo Park", "country_code": "US", "type": "WORK"}],
            },
            {"name": {"formatted_name": "Bo"}},
        ],
    ),
    ("reaction", "reaction", REACTION),
    ("reaction removed", "reaction", {"message_id": WAMID, "emoji": ""}),
    ("reaction with a skin tone", "reaction", {"message_id": WAMID, "emoji": "👍🏽"}),
    ("reaction with a flag", "reaction", {"message_id": WAMID, "emoji": "🇧🇷"}),
    ("reaction with a keycap", "reaction", {"message_id": WAMID, "emoji": "1️⃣"}),
    ("reaction with a ZWJ family", "reaction", {"message_id": WAMID, "emoji": "👨‍👩‍👧"}),
    ("reaction with a heart", "reaction", {"message_id": WAMID, "emoji": "❤️"}),
]


def request(kind: str, value: Any, **extra: Any) -> NotificationRequest:
    return NotificationRequest.model_validate({"to": TO, kind: value} | extra)


@pytest.mark.parametrize(("kind", "value"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_what_meta_accepts_is_carried_to_meta_as_given(kind: str, value: Any) -> None:
    message = request(kind, value).cloud_api_message()
    assert message == {"type": kind, kind: value}


@pytest.mark.parametrize(("kind", "value"), [c[1:] for c in VALID], ids=[c[0] for c in VALID])
def test_the_sandbox_accepts_what_the_door_accepts(kind: str, value: Any) -> None:
    message = request(kind, value).cloud_api_message()
    body = CloudApi.message_body(TO, message, str(uuid.uuid4()))
    send = validate(body, load(env={}))
    assert send.kind == kind
    assert send.reacts_to == (WAMID if kind == "reaction" else None)


# (id, kind, value, the API's field path, whether the sandbox, as Meta, refuses it too:
# False where the door is stricter than Meta's documented limits, e.g. unknown keys)
INVALID: list[tuple[str, str, Any, str, bool]] = [
    ("interactive not an object", "interactive", "buttons", "interactive", True),
    ("interactive without type", "interactive", without(BUTTONS, "type"), "interactive.type", True),
    (
        "interactive of an unknown type",
        "interactive",
        with_(BUTTONS, "type", "buttons"),
        "interactive.type",
        True,
    ),
    ("interactive flow", "interactive", {"type": "flow"}, "interactive.type", False),
    ("without body", "interactive", without(BUTTONS, "body"), "interactive.body", True),
    ("empty body", "interactive", with_(BUTTONS, "body.text", ""), "interactive.body.text", True),
    (
        "body over 1024",
        "interactive",
        with_(BUTTONS, "body.text", "B" * 1025),
        "interactive.body.text",
        True,
    ),
    (
        "cta body over 1024",
        "interactive",
        with_(CTA, "body.text", "B" * 1025),
        "interactive.body.text",
        True,
    ),
    ("without action", "interactive", without(BUTTONS, "action"), "interactive.action", True),
    (
        "no buttons",
        "interactive",
        buttons(),
        "interactive.action.buttons",
        True,
    ),
    (
        "four buttons",
        "interactive",
        buttons(*(reply(i) for i in range(4))),
        "interactive.action.buttons",
        True,
    ),
    (
        "button id over 256",
        "interactive",
        buttons(reply(0, rid="i" * 257)),
        "interactive.action.buttons.0.reply.id",
        True,
    ),
    (
        "empty button id",
        "interactive",
        with_(BUTTONS, "action.buttons.1.reply.id", ""),
        "interactive.action.buttons.1.reply.id",
        True,
    ),
    (
        "button title over 20",
        "interactive",
        buttons(reply(0), reply(1, title="T" * 21)),
        "interactive.action.buttons.1.reply.title",
        True,
    ),
    (
        "button without title",
        "interactive",
        without(BUTTONS, "action.buttons.2.reply.title"),
        "interactive.action.buttons.2.reply.title",
        True,
    ),
    (
        "button ids repeated",
        "interactive",
        buttons(reply(0, rid="same"), reply(1), reply(2, rid="same")),
        "interactive.action.buttons.2.reply.id",
        True,
    ),
    (
        "button titles repeated",
        "interactive",
        buttons(reply(0, title="Yes"), reply(1, title="Yes")),
        "interactive.action.buttons.1.reply.title",
        True,
    ),
    (
        "button of another type",
        "interactive",
        with_(BUTTONS, "action.buttons.0.type", "url"),
        "interactive.action.buttons.0.type",
        True,
    ),
    (
        "button without reply",
        "interactive",
        without(BUTTONS, "action.buttons.0.reply"),
        "interactive.action.buttons.0.reply",
        True,
    ),
    (
        "header text over 60",
        "interactive",
        buttons(reply(0), header={"type": "text", "text": "H" * 61}),
        "interactive.header.text",
        True,
    ),
    (
        "header without type",
        "interactive",
        buttons(reply(0), header={"text": "Hi"}),
        "interactive.header.type",
        True,
    ),
    (
        "header of a location",
        "interactive",
        buttons(reply(0), header={"type": "location", "location": LOCATION}),
        "interactive.header.type",
        True,
    ),
    (
        "image header without its image",
        "interactive",
        buttons(reply(0), header={"type": "image"}),
        "interactive.header.image",
        True,
    ),
    (
        "image header with neither id nor link",
        "interactive",
        buttons(reply(0), header={"type": "image", "image": {}}),
        "interactive.header.image",
        True,
    ),
    (
        "text header with an image too",
        "interactive",
        buttons(reply(0), header={"type": "text", "text": "Hi"} | IMAGE_HEADER | {"type": "text"}),
        "interactive.header.image",
        False,
    ),
    (
        "filename on a video header",
        "interactive",
        buttons(reply(0), header={"type": "video", "video": {"id": "1", "filename": "clip.mp4"}}),
        "interactive.header.video.filename",
        False,
    ),
    (
        "footer over 60",
        "interactive",
        buttons(reply(0), footer={"text": "F" * 61}),
        "interactive.footer.text",
        True,
    ),
    (
        "empty footer",
        "interactive",
        buttons(reply(0), footer={"text": ""}),
        "interactive.footer.text",
        True,
    ),
    (
        "unknown key",
        "interactive",
        buttons(reply(0), note="x"),
        "interactive.note",
        False,
    ),
    (
        "list body over 4096",
        "interactive",
        with_(MENU, "body.text", "L" * 4097),
        "interactive.body.text",
        True,
    ),
    (
        "list with an image header",
        "interactive",
        with_(MENU, "header", IMAGE_HEADER),
        "interactive.header.type",
        True,
    ),
    (
        "list button over 20",
        "interactive",
        with_(MENU, "action.button", "B" * 21),
        "interactive.action.button",
        True,
    ),
    (
        "list without button",
        "interactive",
        without(MENU, "action.button"),
        "interactive.action.button",
        True,
    ),
    ("list without sections", "interactive", menu(), "interactive.action.sections", True),
    (
        "eleven sections",
        "interactive",
        menu(*(section(row(i), title=f"S{i}") for i in range(11))),
        "interactive.action.sections",
        True,
    ),
    (
        "section without rows",
        "interactive",
        menu(section(title="Empty")),
        "interactive.action.sections.0.rows",
        True,
    ),
    (
        "eleven rows in one section",
        "interactive",
        menu(section(*(row(i) for i in range(11)))),
        "interactive.action.sections.0.rows",
        True,
    ),
    (
        "eleven rows in all",
        "interactive",
        menu(
            section(*(row(i) for i in range(5)), title="A"),
            section(*(row(i) for i in range(5, 11)), title="B"),
        ),
        "interactive.action.sections",
        True,
    ),
    (
        "second section without title",
        "interactive",
        menu(section(row(0), title="A"), section(row(1))),
        "interactive.action.sections.1.title",
        True,
    ),
    (
        "section title over 24",
        "interactive",
        menu(section(row(0), title="S" * 25)),
        "interactive.action.sections.0.title",
        True,
    ),
    (
        "row id over 200",
        "interactive",
        menu(section(row(0, id="r" * 201))),
        "interactive.action.sections.0.rows.0.id",
        True,
    ),
    (
        "row title over 24",
        "interactive",
        menu(section(row(0), row(1, title="T" * 25))),
        "interactive.action.sections.0.rows.1.title",
        True,
    ),
    (
        "row without title",
        "interactive",
        without(MENU, "action.sections.1.rows.0.title"),
        "interactive.action.sections.1.rows.0.title",
        True,
    ),
    (
        "row description over 72",
        "interactive",
        menu(section(row(0, description="D" * 73))),
        "interactive.action.sections.0.rows.0.description",
        True,
    ),
    (
        "empty row description",
        "interactive",
        menu(section(row(0, description=""))),
        "interactive.action.sections.0.rows.0.description",
        True,
    ),
    (
        "row ids repeated across sections",
        "interactive",
        menu(section(row(0), title="A"), section(row(1, id="row-0"), title="B")),
        "interactive.action.sections.1.rows.0.id",
        True,
    ),
    (
        "cta of another name",
        "interactive",
        with_(CTA, "action.name", "url"),
        "interactive.action.name",
        True,
    ),
    (
        "cta display text over 20",
        "interactive",
        cta("D" * 21),
        "interactive.action.parameters.display_text",
        True,
    ),
    (
        "cta url not http",
        "interactive",
        cta(url="ftp://example.com/a"),
        "interactive.action.parameters.url",
        True,
    ),
    (
        "cta without url",
        "interactive",
        without(CTA, "action.parameters.url"),
        "interactive.action.parameters.url",
        True,
    ),
    (
        "cta without parameters",
        "interactive",
        without(CTA, "action.parameters"),
        "interactive.action.parameters",
        True,
    ),
    (
        "latitude over 90",
        "location",
        with_(LOCATION, "latitude", 90.0001),
        "location.latitude",
        True,
    ),
    (
        "longitude under -180",
        "location",
        with_(LOCATION, "longitude", "-180.5"),
        "location.longitude",
        True,
    ),
    (
        "latitude not a number",
        "location",
        with_(LOCATION, "latitude", "north"),
        "location.latitude",
        True,
    ),
    (
        "latitude a boolean",
        "location",
        with_(LOCATION, "latitude", True),
        "location.latitude",
        True,
    ),
    (
        "latitude NaN",
        "location",
        with_(LOCATION, "latitude", float("nan")),
        "location.latitude",
        True,
    ),
    ("without longitude", "location", without(LOCATION, "longitude"), "location.longitude", True),
    ("location name a number", "location", LOCATION | {"name": 3}, "location.name", True),
    ("no contacts", "contacts", [], "contacts", True),
    ("contacts not a list", "contacts", CONTACT, "contacts", True),
    ("contact without name", "contacts", [CONTACT, {"phones": []}], "contacts.1.name", True),
    (
        "name without formatted_name",
        "contacts",
        [{"name": {"first_name": "Ana"}}],
        "contacts.0.name.formatted_name",
        True,
    ),
    (
        "empty formatted_name",
        "contacts",
        [{"name": {"formatted_name": ""}}],
        "contacts.0.name.formatted_name",
        True,
    ),
    (
        "phones not a list",
        "contacts",
        [CONTACT | {"phones": {"phone": "1"}}],
        "contacts.0.phones",
        True,
    ),
    (
        "a phone not an object",
        "contacts",
        [CONTACT | {"phones": ["+1 415"]}],
        "contacts.0.phones.0",
        True,
    ),
    (
        "a number no parser carries",
        "contacts",
        [CONTACT | {"phones": [{"phone": "1", "n": 2**60}]}],
        "contacts.0.phones.0.n",
        False,
    ),
    (
        "unknown contact key",
        "contacts",
        [CONTACT | {"nickname": "A"}],
        "contacts.0.nickname",
        False,
    ),
    (
        "our inbound id instead of the wamid",
        "reaction",
        with_(REACTION, "message_id", str(uuid.uuid4())),
        "reaction.message_id",
        False,
    ),
    (
        "reaction without message_id",
        "reaction",
        without(REACTION, "message_id"),
        "reaction.message_id",
        True,
    ),
    ("reaction without emoji", "reaction", without(REACTION, "emoji"), "reaction.emoji", True),
    ("emoji a word", "reaction", with_(REACTION, "emoji", "ok"), "reaction.emoji", True),
    ("two emoji", "reaction", with_(REACTION, "emoji", "👍👍"), "reaction.emoji", True),
    ("emoji with a letter", "reaction", with_(REACTION, "emoji", "👍a"), "reaction.emoji", True),
    ("emoji null", "reaction", with_(REACTION, "emoji", None), "reaction.emoji", True),
    *[
        (f"{where} of spaces only", kind, with_(value, path, blank), f"{kind}.{path}", True)
        for where, kind, value, path in [
            ("body text", "interactive", BUTTONS, "body.text"),
            ("list body text", "interactive", MENU, "body.text"),
            ("cta body text", "interactive", CTA, "body.text"),
            ("footer", "interactive", with_(BUTTONS, "footer", {"text": "x"}), "footer.text"),
            (
                "text header",
                "interactive",
                with_(BUTTONS, "header", {"type": "text", "text": "x"}),
                "header.text",
            ),
            (
                "list header",
                "interactive",
                with_(MENU, "header", {"type": "text", "text": "x"}),
                "header.text",
            ),
            ("button title", "interactive", BUTTONS, "action.buttons.0.reply.title"),
            ("button id", "interactive", BUTTONS, "action.buttons.0.reply.id"),
            ("list button", "interactive", MENU, "action.button"),
            ("section title", "interactive", MENU, "action.sections.0.title"),
            ("row title", "interactive", MENU, "action.sections.0.rows.0.title"),
            ("row id", "interactive", MENU, "action.sections.0.rows.0.id"),
            ("display text", "interactive", CTA, "action.parameters.display_text"),
        ]
        for blank in (" ", "\t\n ", "\u00a0\u3000")
    ],
    *[
        (
            "contact name of spaces only",
            "contacts",
            [with_(CONTACT, "name.formatted_name", blank)],
            "contacts.0.name.formatted_name",
            True,
        )
        for blank in (" ", "\u2003")
    ],
    *[
        (
            f"{axis} {len(text)} characters",
            "location",
            with_(LOCATION, axis, text),
            f"location.{axis}",
            False,
        )
        for axis in ("latitude", "longitude")
        for text in ("1." + "0" * 31, "-0." + "1" * 4000, "0" * 33)
    ],
]


def refused(kind: str, value: Any) -> list[Any]:
    with pytest.raises(ValidationError) as info:
        request(kind, value)
    return info.value.errors()


def path_of(error: Any) -> str:
    """The field an error names: its location, then the path inside it that a rule
    spanning several items gives (``ctx.path``), dotted."""
    inner = (error.get("ctx") or {}).get("path")
    return ".".join([str(p) for p in error["loc"]] + ([str(inner)] if inner else []))


@pytest.mark.parametrize(
    ("kind", "value", "field"), [c[1:4] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_what_meta_refuses_is_refused_naming_the_field(kind: str, value: Any, field: str) -> None:
    errors = refused(kind, value)
    assert path_of(errors[0]) == field
    if "body" not in field.split("."):  # see the test below
        assert validation_fields(errors)[0]["field"] == field


def test_the_api_names_an_interactive_body_by_its_path() -> None:
    errors = refused("interactive", with_(BUTTONS, "body.text", "B" * 1025))
    assert validation_fields(errors)[0]["field"] == "interactive.body.text"


META_REFUSES = [c for c in INVALID if c[4]]


@pytest.mark.parametrize(
    ("kind", "value"), [c[1:3] for c in META_REFUSES], ids=[c[0] for c in META_REFUSES]
)
def test_the_sandbox_refuses_it_too(kind: str, value: Any) -> None:
    """The door refuses nothing Meta would send for a limit the sandbox does not hold."""
    body = {"messaging_product": "whatsapp", "to": TO.lstrip("+"), "type": kind, kind: value}
    with pytest.raises(SendRejected) as info:
        validate(body, load(env={}))
    assert info.value.code in {100, 131008, 131009}


def test_the_door_s_limits_are_the_sandbox_s() -> None:
    mk, sb = message_kinds, freeform
    door = {
        "body": (mk.BODY_TEXT, mk.LIST_BODY_TEXT, mk.BODY_TEXT),
        "header, footer": (mk.HEADER_TEXT, mk.FOOTER_TEXT),
        "reply buttons": (mk.REPLY_ID, mk.REPLY_TITLE, mk.MAX_REPLY_BUTTONS),
        "list": (mk.LIST_BUTTON, mk.MAX_SECTIONS, mk.MAX_ROWS),
        "rows": (mk.ROW_ID, mk.ROW_TITLE, mk.ROW_DESCRIPTION, mk.SECTION_TITLE),
        "cta": (mk.CTA_DISPLAY_TEXT,),
        "types": set(mk.INTERACTIVE),
    }
    sandbox = {
        "body": (sb.BODY_LIMIT["button"], sb.BODY_LIMIT["list"], sb.BODY_LIMIT["cta_url"]),
        "header, footer": (sb.HEADER_TEXT, sb.FOOTER_TEXT),
        "reply buttons": (sb.REPLY_ID, sb.REPLY_TITLE, sb.MAX_REPLY_BUTTONS),
        "list": (sb.LIST_BUTTON, sb.MAX_SECTIONS, sb.MAX_ROWS),
        "rows": (sb.ROW_ID, sb.ROW_TITLE, sb.ROW_DESCRIPTION, sb.SECTION_TITLE),
        "cta": (sb.CTA_DISPLAY_TEXT,),
        "types": set(sb.BODY_LIMIT),
    }
    assert door == sandbox


def _emoji_corpus() -> list[str]:
    singles = [chr(cp) for cp in range(0x20, 0x3100, 7)] + [
        chr(cp) for cp in range(0x1F000, 0x1FC00, 3)
    ]
    sequences = [
        "👍🏽",
        "🇧🇷",
        "🇧",
        "🇧🇷🇧",
        "1️⃣",
        "1⃣",
        "1x⃣",
        "#️⃣",
        "👨‍👩‍👧",
        "👨‍",
        "‍👨",
        "❤️",
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿",
        "👍👍",
        "a👍",
        "👍a",
        "",
        "ok",
    ]
    return singles + sequences


def test_the_door_reads_an_emoji_as_the_sandbox_does() -> None:
    corpus = _emoji_corpus()
    ours = [message_kinds.is_single_emoji(t) for t in corpus]
    assert ours == [freeform.is_single_emoji(t) for t in corpus]
    assert any(ours)
    assert not all(ours)


@pytest.mark.parametrize(
    "extra",
    [
        {"text": {"body": "hi"}},
        {"location": LOCATION},
        {"template": {"name": "hello_world", "language": "en_US"}},
        {"image": {"link": "https://example.com/a.png"}},
    ],
)
def test_a_new_kind_is_one_kind_among_all(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        request("interactive", BUTTONS, **extra)
    message = info.value.errors()[0]["msg"]
    assert "interactive, location, contacts, reaction" in message


def test_an_interactive_reply_carries_its_context() -> None:
    message = request("interactive", BUTTONS, context={"message_id": WAMID}).cloud_api_message()
    assert message == {
        "type": "interactive",
        "interactive": BUTTONS,
        "context": {"message_id": WAMID},
    }


def test_a_text_value_that_cannot_be_stored_is_refused_in_every_kind() -> None:
    with pytest.raises(ValidationError, match="NUL"):
        request("contacts", [{"name": {"formatted_name": "Ana\x00"}}])


def test_the_openapi_schema_documents_the_kinds() -> None:
    schema = NotificationRequest.model_json_schema()
    properties = schema["properties"]
    assert {"interactive", "location", "contacts", "reaction"} <= set(properties)
    union = properties["interactive"]["anyOf"][0]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == {"button", "list", "cta_url"}


# --- the 24h window: these kinds are free-form, as text and media ---------------------------

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
CERTAIN_AFTER = 180.0
KINDS = [
    ("interactive", BUTTONS),
    ("interactive", MENU),
    ("interactive", CTA),
    ("location", LOCATION),
    ("contacts", [CONTACT]),
    ("reaction", REACTION),
]


def command(kind: str, value: Any, accepted_ago: float) -> NotificationAccepted:
    """The dispatch command ingest would queue for this request."""
    return NotificationAccepted(
        notification_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        producer="ingest",
        occurred_at=NOW - timedelta(seconds=accepted_ago),
        payload=AcceptedPayload(to=TO, message=request(kind, value).cloud_api_message()),
    )


def seen(ago: float | None) -> RecipientFacts:
    """The ledger's read of the recipient: its last inbound ``ago`` seconds before now."""
    at = None if ago is None else NOW - timedelta(seconds=ago)
    return RecipientFacts(suppressed=False, projected_inbound_at=at)


@pytest.mark.parametrize(
    ("kind", "value"), KINDS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(KINDS)]
)
def test_the_dispatcher_holds_these_kinds_to_the_24h_window(kind: str, value: Any) -> None:
    def verdict(accepted_ago: float, inbound_ago: float | None) -> object:
        cmd = command(kind, value, accepted_ago)
        return decisions.on_recipient(cmd, seen(inbound_ago), NOW, "enforce", CERTAIN_AFTER)

    assert verdict(3600, None) == CloseWindow()  # nobody ever wrote: 131047, Meta never called
    assert verdict(3600, 25 * 3600) == CloseWindow()  # wrote over 24 h ago
    assert verdict(10, None) == LeaveToMeta(10.0)  # too fresh to be sure: Meta decides
    assert verdict(3600, 60) is None  # inside the window: sent
    assert not decisions.business_initiated(command(kind, value, 0), seen(None), NOW)


@pytest.mark.parametrize("axis", ["latitude", "longitude"])
def test_a_template_location_header_holds_coordinates_to_the_same_length(axis: str) -> None:
    """A template's location header takes coordinates by the location message's rule: a
    decimal string of thousands of digits is refused, not carried to Meta as given."""
    from ingest.templates import validation

    fits = {"latitude": "-1." + "1" * 29, "longitude": "100." + "0" * 28}
    validation._location(fits, "header")
    for text in ("1." + "0" * 31, "-0." + "1" * 4000, " 12", "1e1", "1_0"):
        with pytest.raises(validation.Mismatch) as info:
            validation._location(fits | {axis: text}, "header")
        assert info.value.path == f"header.{axis}"
    assert message_kinds.MAX_COORDINATE == validation.MAX_COORDINATE
