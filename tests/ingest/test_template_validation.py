"""Template sends checked against Meta-format definitions: each case names the path the
refusal points at, or None when Meta would take the send."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.templates.definition import Definition
from ingest.templates.validation import Mismatch, check


def definition(name: str, components: list[dict[str, Any]], **extra: Any) -> Definition:
    fields: dict[str, Any] = {"category": "UTILITY", "status": "APPROVED"} | extra
    return Definition("200000000000001", name, "en_US", components=components, **fields)


ORDER = definition("order_update", [{"type": "BODY", "text": "Order {{1}} is {{2}}."}])
NAMED = definition(
    "order_named",
    [{"type": "BODY", "text": "Hi {{customer}}, order {{order_id}} shipped."}],
    parameter_format="NAMED",
)
SHIPPED = definition(
    "order_shipped",
    [
        {"type": "HEADER", "format": "IMAGE"},
        {"type": "BODY", "text": "Order {{1}}"},
        {"type": "FOOTER", "text": "Thanks"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "URL", "text": "Track", "url": "https://example.com/t/{{1}}"},
                {"type": "QUICK_REPLY", "text": "Stop"},
                {"type": "PHONE_NUMBER", "text": "Call", "phone_number": "+15550001111"},
            ],
        },
    ],
)
REMINDER = definition(
    "appointment_reminder",
    [
        {"type": "HEADER", "format": "TEXT", "text": "Appointment {{1}}"},
        {"type": "BODY", "text": "Total {{1}} on {{2}}"},
    ],
)
COUPON = definition(
    "coupon_offer",
    [
        {"type": "BODY", "text": "Save with {{1}}"},
        {"type": "BUTTONS", "buttons": [{"type": "COPY_CODE", "example": "SAVE10"}]},
    ],
    category="MARKETING",
)
OTP = definition(
    "otp_code",
    [
        {"type": "BODY", "text": "{{1}} is your verification code."},
        {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE"}]},
    ],
    category="AUTHENTICATION",
)
HELLO = definition("hello_world", [{"type": "BODY", "text": "Hello World"}])
AUTH_URL = definition(
    "otp_stored",
    [
        {"type": "BODY", "text": "*{{1}}* is your verification code."},
        {
            "type": "BUTTONS",
            "buttons": [
                {
                    "type": "URL",
                    "text": "Copy code",
                    "url": "https://www.whatsapp.com/otp/code/?otp_type=COPY_CODE&code=otp{{1}}",
                }
            ],
        },
    ],
    category="AUTHENTICATION",
)
DOCUMENT = definition(
    "invoice", [{"type": "HEADER", "format": "DOCUMENT"}, {"type": "BODY", "text": "Your invoice"}]
)
VIDEO = definition("clip", [{"type": "HEADER", "format": "VIDEO"}])
PLACE = definition(
    "pickup", [{"type": "HEADER", "format": "LOCATION"}, {"type": "BODY", "text": "Pick up here"}]
)
OFFER = definition(
    "limited_offer",
    [
        {
            "type": "LIMITED_TIME_OFFER",
            "limited_time_offer": {"text": "Expiring!", "has_expiration": True},
        },
        {"type": "BODY", "text": "Good news, {{1}}!"},
        {
            "type": "BUTTONS",
            "buttons": [
                {"type": "COPY_CODE", "example": "SAVE10"},
                {"type": "URL", "text": "Book now", "url": "https://example.com/o/{{1}}"},
            ],
        },
    ],
    category="MARKETING",
)
CAROUSEL = definition(
    "summer_carousel",
    [
        {"type": "BODY", "text": "Rare finds for you, {{1}}"},
        {
            "type": "CAROUSEL",
            "cards": [
                {
                    "components": [
                        {"type": "HEADER", "format": "IMAGE"},
                        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "More"}]},
                    ]
                }
            ],
        },
    ],
    category="MARKETING",
)
PRODUCT = definition(
    "one_product",
    [{"type": "HEADER", "format": "PRODUCT"}, {"type": "BODY", "text": "Back in stock: {{1}}"}],
    category="MARKETING",
)


def text(value: str, name: str | None = None) -> dict[str, Any]:
    return {"type": "text", "text": value} | ({"parameter_name": name} if name else {})


def body(*parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "body", "parameters": list(parameters)}


def button(sub_type: str, index: Any, *parameters: dict[str, Any]) -> dict[str, Any]:
    return {"type": "button", "sub_type": sub_type, "index": index, "parameters": list(parameters)}


def header(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"type": "header", "parameters": [{"type": kind, kind: value}]}


def money(**changes: Any) -> dict[str, Any]:
    fields = {"fallback_value": "$10", "code": "USD", "amount_1000": 10000} | changes
    return {"type": "currency", "currency": fields}


IMAGE = {"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/i.png"}}]}
CURRENCY = {
    "type": "currency",
    "currency": {"fallback_value": "$10", "code": "USD", "amount_1000": 10000},
}
WHEN = {"type": "date_time", "date_time": {"fallback_value": "May 1, 2026"}}
C0 = "template.components[0]"
C1 = "template.components[1]"

CASES: list[tuple[str, Definition, list[dict[str, Any]], str | None]] = [
    ("positional", ORDER, [body(text("A-1"), text("late"))], None),
    ("one parameter short", ORDER, [body(text("A-1"))], f"{C0}.parameters"),
    ("no body", ORDER, [], "template.components"),
    ("currency and date_time", ORDER, [body(CURRENCY, WHEN)], None),
    (
        "bad currency code",
        ORDER,
        [
            body(
                CURRENCY | {"currency": {"fallback_value": "$1", "code": "US", "amount_1000": 1}},
                WHEN,
            )
        ],
        f"{C0}.parameters[0].currency.code",
    ),
    (
        "float amount",
        ORDER,
        [
            body(
                {
                    "type": "currency",
                    "currency": {"fallback_value": "$1", "code": "USD", "amount_1000": 1.5},
                },
                WHEN,
            )
        ],
        f"{C0}.parameters[0].currency.amount_1000",
    ),
    (
        "an image in the body",
        ORDER,
        [body(text("A"), {"type": "image", "image": {"id": "1"}})],
        f"{C0}.parameters[1].type",
    ),
    ("newline", ORDER, [body(text("A\n1"), text("x"))], f"{C0}.parameters[0].text"),
    ("tab", ORDER, [body(text("A"), text("x\ty"))], f"{C0}.parameters[1].text"),
    ("five spaces", ORDER, [body(text("A     1"), text("x"))], f"{C0}.parameters[0].text"),
    ("four spaces", ORDER, [body(text("A    1"), text("x"))], None),
    ("empty", ORDER, [body(text(""), text("x"))], f"{C0}.parameters[0].text"),
    ("two bodies", ORDER, [body(text("a"), text("b")), body(text("a"), text("b"))], C1),
    ("named", NAMED, [body(text("Ana", "customer"), text("A-1", "order_id"))], None),
    ("named, any order", NAMED, [body(text("A-1", "order_id"), text("Ana", "customer"))], None),
    (
        "named, one unnamed",
        NAMED,
        [body(text("Ana", "customer"), text("A-1"))],
        f"{C0}.parameters[1].parameter_name",
    ),
    (
        "named, twice",
        NAMED,
        [body(text("Ana", "customer"), text("Bo", "customer"))],
        f"{C0}.parameters[1].parameter_name",
    ),
    (
        "named, unknown name",
        NAMED,
        [body(text("Ana", "customer"), text("A-1", "order"))],
        f"{C0}.parameters[1].parameter_name",
    ),
    (
        "media header and url suffix",
        SHIPPED,
        [IMAGE, body(text("A-1")), button("url", "0", text("A-1"))],
        None,
    ),
    (
        "quick reply payload",
        SHIPPED,
        [
            IMAGE,
            body(text("A-1")),
            button("url", 0, text("A-1")),
            button("quick_reply", "1", {"type": "payload", "payload": "STOP"}),
        ],
        None,
    ),
    (
        "quick reply, two payloads",
        SHIPPED,
        [
            IMAGE,
            body(text("A-1")),
            button("url", 0, text("A-1")),
            button(
                "quick_reply",
                "1",
                {"type": "payload", "payload": "S"},
                {"type": "payload", "payload": "T"},
            ),
        ],
        "template.components[3].parameters",
    ),
    (
        "no header",
        SHIPPED,
        [body(text("A-1")), button("url", "0", text("A-1"))],
        "template.components",
    ),
    (
        "video for an image header",
        SHIPPED,
        [
            {"type": "header", "parameters": [{"type": "video", "video": {"id": "7"}}]},
            body(text("A-1")),
            button("url", "0", text("A-1")),
        ],
        f"{C0}.parameters[0].type",
    ),
    (
        "image without id or link",
        SHIPPED,
        [
            {"type": "header", "parameters": [{"type": "image", "image": {"caption": "x"}}]},
            body(text("A-1")),
            button("url", "0", text("A-1")),
        ],
        f"{C0}.parameters[0].image",
    ),
    ("no url suffix", SHIPPED, [IMAGE, body(text("A-1"))], "template.components"),
    (
        "url button as quick reply",
        SHIPPED,
        [IMAGE, body(text("A-1")), button("quick_reply", "0", text("A-1"))],
        "template.components[2].sub_type",
    ),
    (
        "button without index",
        SHIPPED,
        [
            IMAGE,
            body(text("A-1")),
            {"type": "button", "sub_type": "url", "parameters": [text("x")]},
        ],
        "template.components[2].index",
    ),
    (
        "parameters for the phone button",
        SHIPPED,
        [
            IMAGE,
            body(text("A-1")),
            button("url", "0", text("A-1")),
            button("phone_number", "2", text("x")),
        ],
        "template.components[3].parameters",
    ),
    (
        "text header",
        REMINDER,
        [{"type": "header", "parameters": [text("May 1")]}, body(CURRENCY, WHEN)],
        None,
    ),
    (
        "text header parameter over 60",
        REMINDER,
        [{"type": "header", "parameters": [text("x" * 61)]}, body(CURRENCY, WHEN)],
        f"{C0}.parameters[0].text",
    ),
    (
        "an image in a text header",
        REMINDER,
        [{"type": "header", "parameters": [IMAGE["parameters"][0]]}, body(CURRENCY, WHEN)],
        f"{C0}.parameters[0].type",
    ),
    (
        "coupon",
        COUPON,
        [
            body(text("a")),
            button("copy_code", "0", {"type": "coupon_code", "coupon_code": "SAVE10"}),
        ],
        None,
    ),
    (
        "coupon of 16",
        COUPON,
        [
            body(text("a")),
            button("copy_code", "0", {"type": "coupon_code", "coupon_code": "X" * 16}),
        ],
        f"{C1}.parameters[0].coupon_code",
    ),
    (
        "coupon as text",
        COUPON,
        [body(text("a")), button("copy_code", "0", text("SAVE10"))],
        f"{C1}.parameters[0].type",
    ),
    ("otp", OTP, [body(text("123456")), button("url", "0", text("123456"))], None),
    ("otp without button", OTP, [body(text("123456"))], "template.components"),
    (
        "otp button code of 16",
        OTP,
        [body(text("123456")), button("url", "0", text("1" * 16))],
        f"{C1}.parameters[0].text",
    ),
    (
        "superscript index",
        SHIPPED,
        [IMAGE, body(text("A-1")), button("url", "²", text("x"))],
        "template.components[2].index",
    ),
    (
        "arabic-indic index",
        SHIPPED,
        [IMAGE, body(text("A-1")), button("url", "٣", text("x"))],
        "template.components[2].index",
    ),
    (
        "huge index",
        SHIPPED,
        [IMAGE, body(text("A-1")), button("url", "9" * 5000, text("x"))],
        "template.components[2].index",
    ),
    ("no variables", HELLO, [], None),
    ("parameters for no variables", HELLO, [body(text("x"))], f"{C0}.parameters"),
    ("an empty body for no variables", HELLO, [body()], None),
    ("no components for a template needing some", SHIPPED, [], "template.components"),
    ("carriage return", ORDER, [body(text("A\r1"), text("x"))], f"{C0}.parameters[0].text"),
    (
        "carriage return in a header",
        REMINDER,
        [{"type": "header", "parameters": [text("May\r1")]}, body(CURRENCY, WHEN)],
        f"{C0}.parameters[0].text",
    ),
    ("spaces only", ORDER, [body(text(" "), text("x"))], None),
    (
        "parameter_name on a positional template",
        ORDER,
        [body(text("A-1", "order_id"), text("late"))],
        f"{C0}.parameters[0].parameter_name",
    ),
    (
        "parameter_name null on a positional template",
        ORDER,
        [body(text("A-1") | {"parameter_name": None}, text("late"))],
        None,
    ),
    ("otp body of 15", OTP, [body(text("1" * 15)), button("url", "0", text("1" * 15))], None),
    (
        "otp body of 16",
        OTP,
        [body(text("1" * 16)), button("url", "0", text("123456"))],
        f"{C0}.parameters[0].text",
    ),
    (
        "otp button stored as a url button, code of 16",
        AUTH_URL,
        [body(text("123456")), button("url", "0", text("1" * 16))],
        f"{C1}.parameters[0].text",
    ),
    (
        "otp button stored as a url button",
        AUTH_URL,
        [body(text("123456")), button("url", "0", text("123456"))],
        None,
    ),
    ("body over 1,024 once filled", ORDER, [body(text("x" * 1000), text("y" * 100))], None),
    ("body over 1,024 UTF-16 units", ORDER, [body(text("\U0001f600" * 1000), text("y"))], None),
    (
        "body parameter over 32,768",
        ORDER,
        [body(text("x" * 32769), text("y"))],
        f"{C0}.parameters[0].text",
    ),
    (
        "text header over 60 once filled",
        REMINDER,
        [{"type": "header", "parameters": [text("x" * 50)]}, body(CURRENCY, WHEN)],
        None,
    ),
    (
        "currency and date_time in a text header",
        REMINDER,
        [{"type": "header", "parameters": [WHEN]}, body(CURRENCY, WHEN)],
        None,
    ),
    (
        "currency code in lower case",
        ORDER,
        [body(money(code="usd"), WHEN)],
        None,
    ),
    ("integral float amount", ORDER, [body(money(amount_1000=10000.0), WHEN)], None),
    ("amount as a digit string", ORDER, [body(money(amount_1000="10000"), WHEN)], None),
    (
        "amount as a boolean",
        ORDER,
        [body(money(amount_1000=True), WHEN)],
        f"{C0}.parameters[0].currency.amount_1000",
    ),
    (
        "currency without fallback",
        ORDER,
        [body({"type": "currency", "currency": {"code": "USD", "amount_1000": 1}}, WHEN)],
        f"{C0}.parameters[0].currency.fallback_value",
    ),
    (
        "date_time with Meta's component fields",
        ORDER,
        [
            body(
                text("A-1"),
                {
                    "type": "date_time",
                    "date_time": {
                        "fallback_value": "February 25, 1977",
                        "day_of_week": 5,
                        "year": 1977,
                        "month": 2,
                        "day_of_month": 25,
                        "hour": 15,
                        "minute": 33,
                        "calendar": "GREGORIAN",
                    },
                },
            )
        ],
        None,
    ),
    (
        "date_time by timestamp",
        ORDER,
        [
            body(
                text("A-1"),
                {
                    "type": "date_time",
                    "date_time": {"fallback_value": "x", "timestamp": 1485470276},
                },
            )
        ],
        None,
    ),
    (
        "date_time fallback with five spaces",
        ORDER,
        [
            body(
                text("A-1"),
                {"type": "date_time", "date_time": {"fallback_value": "May 1,     2026"}},
            )
        ],
        None,
    ),
    (
        "date_time without fallback",
        ORDER,
        [body(text("A-1"), {"type": "date_time", "date_time": {"timestamp": 1485470276}})],
        f"{C0}.parameters[1].date_time.fallback_value",
    ),
    (
        "image with id and link",
        SHIPPED,
        [
            header("image", {"id": "7", "link": "https://x/i.png"}),
            body(text("A-1")),
            button("url", "0", text("A-1")),
        ],
        None,
    ),
    (
        "image by a numeric id",
        SHIPPED,
        [header("image", {"id": 1234567890}), body(text("A-1")), button("url", "0", text("A-1"))],
        None,
    ),
    (
        "document by id with a filename",
        DOCUMENT,
        [header("document", {"id": "42", "filename": "invoice.pdf"})],
        None,
    ),
    ("document by link", DOCUMENT, [header("document", {"link": "https://x/d.pdf"})], None),
    (
        "document with an empty link",
        DOCUMENT,
        [header("document", {"link": ""})],
        f"{C0}.parameters[0].document",
    ),
    ("video by link", VIDEO, [header("video", {"link": "https://x/v.mp4"})], None),
    (
        "location as Meta's example sends it",
        PLACE,
        [
            header(
                "location",
                {
                    "latitude": "37.483307",
                    "longitude": "122.148981",
                    "name": "Pablo Morales",
                    "address": "1 Hacker Way, Menlo Park, CA 94025",
                },
            )
        ],
        None,
    ),
    (
        "location off the globe",
        PLACE,
        [header("location", {"latitude": 91, "longitude": 0})],
        f"{C0}.parameters[0].location.latitude",
    ),
    (
        "upper-case component type",
        ORDER,
        [{"type": "BODY", "parameters": [text("A"), text("b")]}],
        None,
    ),
    (
        "upper-case sub_type",
        SHIPPED,
        [IMAGE, body(text("A-1")), button("URL", "0", text("A-1"))],
        None,
    ),
    (
        "product header",
        PRODUCT,
        [header("product", {"product_retailer_id": "SKU-1", "catalog_id": "99"}), body(text("A"))],
        None,
    ),
    (
        "limited-time offer",
        OFFER,
        [
            {
                "type": "limited_time_offer",
                "parameters": [
                    {
                        "type": "limited_time_offer",
                        "limited_time_offer": {"expiration_time_ms": 1209600000},
                    }
                ],
            },
            body(text("Ana")),
            button("copy_code", "0", {"type": "coupon_code", "coupon_code": "SAVE10"}),
            button("url", "1", text("n3mtql")),
        ],
        None,
    ),
    (
        "limited-time offer without its coupon",
        OFFER,
        [body(text("Ana")), button("url", "1", text("n3mtql"))],
        "template.components",
    ),
    (
        "carousel",
        CAROUSEL,
        [
            body(text("Ana")),
            {
                "type": "carousel",
                "cards": [
                    {
                        "card_index": 0,
                        "components": [
                            header("image", {"id": "24230790383178626"}),
                            button("quick_reply", "0", {"type": "payload", "payload": "more"}),
                        ],
                    }
                ],
            },
        ],
        None,
    ),
    (
        "parameters for the footer",
        ORDER,
        [body(text("A"), text("b")), {"type": "footer", "parameters": [text("x")]}],
        f"{C1}.parameters",
    ),
]


@pytest.mark.parametrize(
    ("template", "components", "path"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_a_send_fits_its_template_or_is_refused_at_the_path(
    template: Definition, components: list[dict[str, Any]], path: str | None
) -> None:
    fits_or_is_refused_at(template, components, path)


def fits_or_is_refused_at(
    template: Definition, components: list[dict[str, Any]], path: str | None
) -> None:
    """``components`` pass the check (``path`` None), or are refused at ``path``."""
    if path is None:
        check(template, components)
        return
    with pytest.raises(Mismatch) as refused:
        check(template, components)
    assert refused.value.path == path, refused.value.message


NOT_ON_THE_GLOBE = ["nan", "NaN", "-nan", " nan ", "inf", "-Infinity", "1e999", 10**400, True]


@pytest.mark.parametrize("value", NOT_ON_THE_GLOBE, ids=lambda v: repr(v)[:12])
@pytest.mark.parametrize("axis", ["latitude", "longitude"])
def test_a_coordinate_float_reads_as_nan_or_infinite_is_off_the_globe(
    axis: str, value: Any
) -> None:
    """``float()`` reads NaN and the infinities in many spellings, and NaN compares false
    with any bound: such a coordinate is refused, never carried to Meta."""
    location = {"latitude": "37.48", "longitude": "-122.14"} | {axis: value}
    fits_or_is_refused_at(
        PLACE, [header("location", location)], f"{C0}.parameters[0].location.{axis}"
    )


@pytest.mark.parametrize("amount", ["10000\n", "nan", "inf", "1e3", float("nan"), True])
def test_an_amount_is_an_integer_in_full(amount: Any) -> None:
    """``amount_1000`` given as a string is all digits: no trailing newline, no float
    spelling."""
    fits_or_is_refused_at(
        ORDER,
        [body(money(amount_1000=amount), WHEN)],
        f"{C0}.parameters[0].currency.amount_1000",
    )
    fits_or_is_refused_at(ORDER, [body(money(amount_1000="-10000"), WHEN)], None)


def test_a_currency_code_is_three_letters_in_full() -> None:
    fits_or_is_refused_at(
        ORDER, [body(money(code="USD\n"), WHEN)], f"{C0}.parameters[0].currency.code"
    )
