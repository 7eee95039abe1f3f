"""Free-form message kinds beyond text and media: ``interactive`` (reply buttons, list, CTA
URL), ``location``, ``contacts`` and ``reaction``, checked at the door as Meta checks them.

Meta refuses a send that breaks these limits with 131008/131009 after the message has been
queued and attempted; refusing it here answers the tenant at once with the field's path.
The limits are those of Meta's pages under
developers.facebook.com/documentation/business-messaging/whatsapp/messages/: "Interactive
messages" (reply buttons, list, CTA URL button), "Location messages", "Contacts messages"
and "Reaction messages". What is accepted is carried to Meta in Meta's own shape.

Like text and media, these kinds reach a user only inside the 24h window their last
message opened (the dispatcher fails them with 131047 outside it); a template starts a
conversation.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

FREE_FORM_KINDS: Final = ("interactive", "location", "contacts", "reaction")
"""The request fields of these kinds, in the order error messages list them."""

# "Interactive messages": the limits Meta documents for each part.
BODY_TEXT: Final = 1024
LIST_BODY_TEXT: Final = 4096
HEADER_TEXT: Final = 60
FOOTER_TEXT: Final = 60
MAX_REPLY_BUTTONS: Final = 3
REPLY_ID: Final = 256
REPLY_TITLE: Final = 20
LIST_BUTTON: Final = 20
MAX_SECTIONS: Final = 10
MAX_ROWS: Final = 10
"""Rows in all sections together."""
ROW_ID: Final = 200
ROW_TITLE: Final = 24
ROW_DESCRIPTION: Final = 72
SECTION_TITLE: Final = 24
CTA_DISPLAY_TEXT: Final = 20
HTTP_URL: Final = r"^https?://\S+$"
WAMID: Final = r"^wamid\.\S+$"
"""A WhatsApp message id as Meta issues it (``wamid.HBgL…``)."""


def at(path: str, kind: str, message: str) -> PydanticCustomError:
    """An error located ``path`` below the model that raises it (dotted, list indexes as
    numbers): the API appends ``ctx.path`` to the error's location, so a rule spanning
    several items names the offending one (``action.buttons.1.reply.id``)."""
    return PydanticCustomError(kind, message, {"path": path})


class Body(BaseModel):
    """A part of a message: unknown keys are refused, as everywhere in a request (the
    request itself refuses text that cannot be stored, and free-form JSON no parser carries,
    in every part)."""

    model_config = ConfigDict(extra="forbid")


def _text(limit: int, description: str, *, optional: bool = False) -> Any:
    """A non-empty string of at most ``limit`` characters (Meta counts an empty one as
    missing); ``optional``: it may be left out. Used with :data:`Text`, which refuses a
    text of spaces only as empty too."""
    default = None if optional else ...
    return Field(default, min_length=1, max_length=limit, description=description)


def _not_blank(value: str) -> str:
    """A text of white space only shows nothing: Meta refuses it as a missing parameter
    (131008), after the send was queued; refused here as empty."""
    if not value.strip():
        raise PydanticCustomError("string_blank", "may not be empty or white space only")
    return value


Text = Annotated[str, AfterValidator(_not_blank)]
"""A text the user sees: not empty, not spaces only."""


# --- interactive ----------------------------------------------------------------------------


class InteractiveBody(Body):
    text: Text = _text(BODY_TEXT, f"≤ {BODY_TEXT} characters.")


class ListBody(Body):
    text: Text = _text(LIST_BODY_TEXT, f"≤ {LIST_BODY_TEXT} characters (a list's body).")


class Footer(Body):
    text: Text = _text(FOOTER_TEXT, f"≤ {FOOTER_TEXT} characters.")


class HeaderMedia(Body):
    """An uploaded media ``id`` or a public ``link`` (exactly one), as media messages."""

    id: str | None = Field(default=None, min_length=1, max_length=256)
    link: str | None = Field(default=None, max_length=2048, pattern=HTTP_URL)
    filename: str | None = Field(default=None, max_length=240, description="Documents only.")

    @model_validator(mode="after")
    def _one_source(self) -> HeaderMedia:
        if (self.id is None) == (self.link is None):
            raise ValueError("exactly one of id or link is required")
        return self


class Header(Body):
    """A text header, or an image, video or document one (reply buttons and CTA URL)."""

    type: Literal["text", "image", "video", "document"]
    text: Text | None = _text(
        HEADER_TEXT, f"With type text: ≤ {HEADER_TEXT} characters.", optional=True
    )
    image: HeaderMedia | None = None
    video: HeaderMedia | None = None
    document: HeaderMedia | None = None

    @model_validator(mode="after")
    def _as_typed(self) -> Header:
        """The part its ``type`` names is required, and no other is given."""
        for part in ("text", "image", "video", "document"):
            given = getattr(self, part) is not None
            if part == self.type and not given:
                raise at(part, "missing", f"a {self.type} header needs {part}")
            if part != self.type and given:
                raise at(part, "extra_forbidden", f"a {self.type} header takes no {part}")
        media = getattr(self, self.type)
        if (
            isinstance(media, HeaderMedia)
            and media.filename is not None
            and self.type != "document"
        ):
            raise at(f"{self.type}.filename", "extra_forbidden", "filename is only for documents")
        return self


class ListHeader(Body):
    """A list message takes a text header only."""

    type: Literal["text"]
    text: Text = _text(HEADER_TEXT, f"≤ {HEADER_TEXT} characters.")


def _first_repeat(values: list[str]) -> int | None:
    """The index of the first value seen before, if any."""
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            return index
        seen.add(value)
    return None


class Reply(Body):
    id: Text = _text(REPLY_ID, f"Returned when the user taps it; ≤ {REPLY_ID} characters.")
    title: Text = _text(REPLY_TITLE, f"≤ {REPLY_TITLE} characters.")


class ReplyButton(Body):
    type: Literal["reply"]
    reply: Reply


class ReplyButtonsAction(Body):
    buttons: list[ReplyButton] = Field(min_length=1, max_length=MAX_REPLY_BUTTONS)

    @model_validator(mode="after")
    def _unique(self) -> ReplyButtonsAction:
        """Meta refuses two buttons with the same id, or the same title."""
        for part in ("id", "title"):
            repeat = _first_repeat([getattr(b.reply, part) for b in self.buttons])
            if repeat is not None:
                raise at(
                    f"buttons.{repeat}.reply.{part}",
                    "not_unique",
                    f"button {part}s must be unique within the message",
                )
        return self


class ListRow(Body):
    id: Text = _text(ROW_ID, f"Returned when the user picks it; ≤ {ROW_ID} characters.")
    title: Text = _text(ROW_TITLE, f"≤ {ROW_TITLE} characters.")
    description: Text | None = _text(
        ROW_DESCRIPTION, f"≤ {ROW_DESCRIPTION} characters.", optional=True
    )


class ListSection(Body):
    title: Text | None = _text(
        SECTION_TITLE,
        f"≤ {SECTION_TITLE} characters; required when there are several sections.",
        optional=True,
    )
    rows: list[ListRow] = Field(min_length=1, max_length=MAX_ROWS)


class ListAction(Body):
    button: Text = _text(
        LIST_BUTTON, f"The button that opens the list; ≤ {LIST_BUTTON} characters."
    )
    sections: list[ListSection] = Field(min_length=1, max_length=MAX_SECTIONS)

    @model_validator(mode="after")
    def _whole_list(self) -> ListAction:
        """Rules across sections: titles once there are several, at most ``MAX_ROWS`` rows
        in all, row ids unique within the message."""
        if len(self.sections) > 1:
            for index, section in enumerate(self.sections):
                if section.title is None:
                    raise at(
                        f"sections.{index}.title",
                        "missing",
                        "a section title is required when a list has more than one section",
                    )
        rows = [(s, r) for s, section in enumerate(self.sections) for r in range(len(section.rows))]
        if len(rows) > MAX_ROWS:
            raise at(
                "sections",
                "too_long",
                f"a list holds at most {MAX_ROWS} rows in all sections, not {len(rows)}",
            )
        ids = [self.sections[s].rows[r].id for s, r in rows]
        repeat = _first_repeat(ids)
        if repeat is not None:
            s, r = rows[repeat]
            raise at(f"sections.{s}.rows.{r}.id", "not_unique", "row ids must be unique")
        return self


class CtaUrlParameters(Body):
    display_text: Text = _text(CTA_DISPLAY_TEXT, f"The button's text; ≤ {CTA_DISPLAY_TEXT}.")
    url: str = Field(pattern=HTTP_URL, description="An http or https URL the button opens.")


class CtaUrlAction(Body):
    name: Literal["cta_url"]
    parameters: CtaUrlParameters


class ReplyButtonsMessage(Body):
    """Up to three reply buttons ("Interactive reply buttons messages")."""

    type: Literal["button"]
    header: Header | None = None
    body: InteractiveBody
    footer: Footer | None = None
    action: ReplyButtonsAction


class ListMessage(Body):
    """A menu of up to ten rows in up to ten sections ("Interactive list messages")."""

    type: Literal["list"]
    header: ListHeader | None = None
    body: ListBody
    footer: Footer | None = None
    action: ListAction


class CtaUrlMessage(Body):
    """One button that opens a URL ("Interactive CTA URL button messages")."""

    type: Literal["cta_url"]
    header: Header | None = None
    body: InteractiveBody
    footer: Footer | None = None
    action: CtaUrlAction


INTERACTIVE: Final[dict[str, type[Body]]] = {
    "button": ReplyButtonsMessage,
    "list": ListMessage,
    "cta_url": CtaUrlMessage,
}


def _by_type(value: Any) -> Any:
    """Validated as the model its ``type`` names, so an error's path is the request's own
    (``interactive.action.buttons.0.reply.title``), without a union member's name in it."""
    if not isinstance(value, dict):
        return value  # the union below refuses it
    kind = value.get("type")
    model = INTERACTIVE.get(kind) if isinstance(kind, str) else None
    if model is None:
        if kind is None:
            raise at("type", "missing", "interactive.type is required: button, list or cta_url")
        raise at("type", "literal_error", "interactive.type must be button, list or cta_url")
    return model.model_validate(value)


Interactive = Annotated[
    ReplyButtonsMessage | ListMessage | CtaUrlMessage,
    Field(discriminator="type"),
    BeforeValidator(_by_type),
]


# --- location -------------------------------------------------------------------------------

_WAMID = re.compile(WAMID)
_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
"""Matched whole (``fullmatch``): ``$`` would let a trailing newline through to Meta."""
MAX_COORDINATE: Final = 32
"""Characters in a coordinate given as a string: 17 significant digits are all a double
holds (far below a millimetre), so a longer string only carries bulk to Meta as is."""


def coordinate_text_ok(value: str) -> bool:
    """A decimal string short enough to be a coordinate (shared with the template check)."""
    return len(value) <= MAX_COORDINATE and _DECIMAL.fullmatch(value) is not None


def _coordinate(bound: int) -> PlainValidator:
    """A JSON number, or a decimal string (Meta's examples send strings) of at most
    :data:`MAX_COORDINATE` characters, within ±``bound``; kept as given."""

    def check(value: Any) -> float | int | str:
        number: float | None = None
        if (isinstance(value, int | float) and not isinstance(value, bool)) or (
            isinstance(value, str) and coordinate_text_ok(value)
        ):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond any float: off the globe
                number = None
        if number is None or not math.isfinite(number) or abs(number) > bound:
            raise PydanticCustomError(
                "coordinate",
                "must be a number from {low} to {bound} (as a string: a decimal of at most "
                "{chars} characters)",
                {"low": -bound, "bound": bound, "chars": MAX_COORDINATE},
            )
        return value  # type: ignore[no-any-return]

    return PlainValidator(check, json_schema_input_type=float | str)


class Location(Body):
    """A map pin ("Location messages")."""

    latitude: Annotated[float | int | str, _coordinate(90)] = Field(examples=[37.4421625])
    longitude: Annotated[float | int | str, _coordinate(180)] = Field(examples=[-122.1624])
    name: str | None = None
    address: str | None = None


# --- contacts -------------------------------------------------------------------------------


class ContactName(Body):
    formatted_name: Text = Field(min_length=1, description="Required: the name as shown.")
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    suffix: str | None = None
    prefix: str | None = None


class Contact(Body):
    """One contact card ("Contacts messages"); the parts beyond the name are Meta's objects,
    carried as given."""

    name: ContactName
    birthday: str | None = Field(default=None, examples=["1999-01-23"])
    org: dict[str, Any] | None = None
    addresses: list[dict[str, Any]] | None = None
    emails: list[dict[str, Any]] | None = None
    phones: list[dict[str, Any]] | None = None
    urls: list[dict[str, Any]] | None = None


# --- reaction -------------------------------------------------------------------------------

_ZWJ, _VS16, _KEYCAP = 0x200D, 0xFE0F, 0x20E3
_MODIFIERS = range(0x1F3FB, 0x1F400)
_TAGS = range(0xE0020, 0xE0080)
_FLAGS = range(0x1F1E6, 0x1F200)
_EMOJI_RANGES = (
    range(0x1F000, 0x1FB00),
    range(0x2600, 0x27C0),
    range(0x2300, 0x2400),
    range(0x2B00, 0x2C00),
    range(0x2190, 0x2200),
)
_EMOJI_SINGLES = frozenset({0xA9, 0xAE, 0x203C, 0x2049, 0x2122, 0x2139, 0x3030, 0x303D})


def _base(cp: int) -> bool:
    return cp in _EMOJI_SINGLES or any(cp in r for r in _EMOJI_RANGES)


def is_single_emoji(text: str) -> bool:
    """One emoji: a base emoji with its modifiers, a ZWJ sequence of them, a flag (two
    regional indicators) or a keycap. An approximation of Unicode's emoji grammar, the
    same as the sandbox's, so the door refuses exactly what it refuses."""
    cps = [ord(c) for c in text]
    if len(cps) == 2 and all(cp in _FLAGS for cp in cps):
        return True
    if len(cps) in (2, 3) and chr(cps[0]) in "0123456789#*" and cps[-1] == _KEYCAP:
        return len(cps) == 2 or cps[1] == _VS16
    for part in text.split(chr(_ZWJ)):
        part_cps = [ord(c) for c in part]
        if not part_cps or not _base(part_cps[0]) or part_cps[0] in _FLAGS:
            return False
        if any(cp != _VS16 and cp not in _MODIFIERS and cp not in _TAGS for cp in part_cps[1:]):
            return False
    return True


class Reaction(Body):
    """An emoji on a message the user sent ("Reaction messages"). Meta delivers no
    reaction to a message over 30 days old (the notification ends ``failed``, 131009)."""

    message_id: str = Field(
        max_length=256,
        json_schema_extra={"pattern": WAMID},
        description="The wamid of the user's message (GET /v1/inbound lists it as wamid), "
        "not the inbound id.",
        examples=["wamid.HBgLMTY0NjcwNDM1OTUVAgASGBQzQTdCNTg5RjY1MEMyRkU1MjlBNgA="],
    )
    emoji: str = Field(
        max_length=32, description='One emoji, or "" to remove the reaction.', examples=["👍"]
    )

    @field_validator("message_id")
    @classmethod
    def _wamid(cls, value: str) -> str:
        """Meta names the message by its wamid; our inbound id (a UUID) is refused here
        rather than failed by Meta later."""
        if not _WAMID.fullmatch(value):
            raise PydanticCustomError(
                "wamid",
                "must be the wamid (wamid.…) of the user's message, as GET /v1/inbound lists "
                "it, not the inbound id",
            )
        return value

    @model_validator(mode="after")
    def _one_emoji(self) -> Reaction:
        if self.emoji != "" and not is_single_emoji(self.emoji):
            raise at("emoji", "emoji", 'must be a single emoji, or "" to remove the reaction')
        return self
