"""Validation of a send request, as the Cloud API does it, ending in Meta's error codes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from wa_sandbox import freeform
from wa_sandbox.config import Component, Identity, Policy, SandboxConfig, Template
from wa_sandbox.errors import SendRejected, invalid, missing

MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
FREEFORM_TYPES = frozenset({"interactive", "location", "contacts", "reaction"})
SUPPORTED_TYPES = frozenset({"text", "template"}) | MEDIA_TYPES | FREEFORM_TYPES
CAPTIONED = frozenset({"image", "video", "document"})
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 512
BODY_PARAMETER_TYPES = frozenset({"text", "currency", "date_time"})
BUTTON_PARAMETER_TYPES = {"url": "text", "quick_reply": "payload", "copy_code": "coupon_code"}
KNOWN_COMPONENTS = frozenset({"header", "body", "footer", "button"})
"""Send components the sandbox checks; others (``limited_time_offer``, ``carousel``, …)
are left alone, as Meta's template types the sandbox does not model."""
ACTION_BUTTONS = frozenset({"flow", "catalog", "mpm"})
"""Buttons whose one parameter is an ``action`` object (optional but for ``mpm``)."""
_DIGITS = re.compile(r"[\s()\-.+]")
_LOOSE_WHITESPACE = re.compile(r"[\n\r\t]| {5,}")
"""What Meta refuses in a body or header text parameter: a newline or tab, or more than
four consecutive spaces."""


BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
"""A business-scoped user id (``US.13491208655302741918``; ``ENT.`` marks a parent BSUID)."""


@dataclass(frozen=True)
class ValidSend:
    kind: str
    recipient: str
    """The recipient's digits as given, or the BSUID of a send by ``recipient``."""
    template: Template | None
    callback: str | None
    by_user_id: bool = False
    """Addressed by ``recipient`` (a BSUID or parent BSUID), without ``to``."""
    media_id: str | None = None
    """The uploaded media a media message names by ``id``."""
    reacts_to: str | None = None
    """The wamid a reaction is applied to."""


_BRAZIL_MOBILE = re.compile(r"^55(\d{2})(9?)([6-9]\d{7})$")
_MEXICO_MOBILE = re.compile(r"^52(\d{10})$")
_ARGENTINA_MOBILE = re.compile(r"^54(\d{10})$")


def normalise_wa_id(digits: str, identity: Identity | None = None) -> str:
    """The WhatsApp id Meta reports for a number (digits, any form of it), as Meta does:
    Brazilian mobiles of the configured area codes without the ninth digit (and with it
    below them), Mexican mobiles as ``521`` + 10 digits, Argentine ones as ``549`` + 10."""
    rules = identity or Identity()
    brazil = _BRAZIL_MOBILE.match(digits)
    if brazil:
        area, _, local = brazil.groups()
        nine = "" if int(area) >= rules.brazil_nine_less_from_area_code else "9"
        return f"55{area}{nine}{local}"
    mexico = _MEXICO_MOBILE.match(digits)
    if mexico and rules.mexico_mobile_ids_with_1:
        return "521" + mexico.group(1)
    argentina = _ARGENTINA_MOBILE.match(digits)
    if argentina and rules.argentina_mobile_ids_with_9:
        return "549" + argentina.group(1)
    return digits


def validate(body: Any, config: SandboxConfig) -> ValidSend:
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    if body.get("messaging_product") != "whatsapp":
        raise invalid("The parameter messaging_product is required and must be 'whatsapp'")
    if body.get("recipient_type", "individual") != "individual":
        raise invalid("recipient_type must be 'individual'")
    recipient, by_user_id = _recipient(body)
    kind = body.get("type", "text")
    if not isinstance(kind, str) or kind not in SUPPORTED_TYPES:
        raise SendRejected(
            400, 131051, "Unsupported message type", f"Message type {kind!r} is not supported"
        )
    obj = body.get(kind)
    if kind == "contacts":
        freeform.check_contacts(obj)
        obj = {}
    elif not isinstance(obj, dict):
        raise invalid(f"The parameter {kind} is required and must be an object")
    callback = body.get("biz_opaque_callback_data")
    if callback is not None and (
        not isinstance(callback, str) or len(callback.encode()) > MAX_CALLBACK_BYTES
    ):
        raise invalid("biz_opaque_callback_data must be a string of at most 512 bytes")
    context = body.get("context")
    if context is not None and not (
        isinstance(context, dict) and isinstance(context.get("message_id"), str)
    ):
        raise invalid("context.message_id must be a string")
    template = None
    media_id = reacts_to = None
    if kind == "text":
        _text(obj)
    elif kind == "interactive":
        freeform.check_interactive(obj)
    elif kind == "location":
        freeform.check_location(obj)
    elif kind == "reaction":
        reacts_to = freeform.check_reaction(obj)
    elif kind == "template":
        template = _template(obj, config)
        if by_user_id and needs_phone_number(template):
            raise SendRejected(
                400,
                131062,
                "Business-scoped User ID recipients are not supported for this message",
                "One-tap, zero-tap and copy-code authentication templates must be sent to a "
                "phone number",
            )
    elif kind in MEDIA_TYPES:
        _media(kind, obj)
        media_id = obj.get("id")
    return ValidSend(
        kind=kind,
        recipient=recipient,
        template=template,
        callback=callback,
        by_user_id=by_user_id,
        media_id=media_id,
        reacts_to=reacts_to,
    )


def _recipient(body: dict[str, Any]) -> tuple[str, bool]:
    """The phone number's digits from ``to``, or the BSUID from ``recipient``; ``to`` wins
    when both are present, as partners document Meta's rule (docs/recipients.md)."""
    to = body.get("to")
    if to is None and "recipient" in body:
        bsuid = body["recipient"]
        if not isinstance(bsuid, str) or not BSUID.fullmatch(bsuid):
            raise invalid(
                f"The parameter recipient is not a valid business-scoped user id: {bsuid!r}"
            )
        return bsuid, True
    if not isinstance(to, str) or not to.strip():
        raise invalid("The parameter to is required")
    digits = _DIGITS.sub("", to)
    if not digits.isdigit() or not 7 <= len(digits) <= 15:
        raise invalid(f"The parameter to is not a valid phone number: {to!r}")
    return digits, False


def needs_phone_number(template: Template) -> bool:
    """Whether Meta refuses the template to a BSUID (131062): one-tap, zero-tap and
    copy-code authentication templates still need a phone number. Every button of an
    authentication template is such a one-time-password button."""
    return template.category == "authentication" and any(
        c.type == "button" for c in template.components
    )


def _text(obj: dict[str, Any]) -> None:
    text = obj.get("body")
    if not isinstance(text, str) or not text:
        raise invalid("text.body is required")
    if len(text) > MAX_TEXT:
        raise invalid(f"text.body is longer than {MAX_TEXT} characters")
    if not isinstance(obj.get("preview_url", False), bool):
        raise invalid("text.preview_url must be a boolean")


def _media(kind: str, obj: dict[str, Any]) -> None:
    has_id, has_link = isinstance(obj.get("id"), str), isinstance(obj.get("link"), str)
    if has_id == has_link:
        raise invalid(f"{kind} needs exactly one of id or link")
    if has_link and not str(obj["link"]).startswith(("https://", "http://")):
        raise invalid(f"{kind}.link must be an http(s) URL")
    if "caption" in obj and kind not in CAPTIONED:
        raise invalid(f"{kind} does not take a caption")


def _template(obj: dict[str, Any], config: SandboxConfig) -> Template:
    name = obj.get("name")
    language = obj.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not isinstance(code, str):
        raise invalid("template.name and template.language.code are required")
    template = config.template(name, code)
    if template is None or template.status in ("PENDING", "REJECTED"):
        # Meta answers a template it has not approved as one it does not have.
        raise SendRejected(
            404,
            132001,
            "Template name does not exist in the translation",
            f"template name ({name}) does not exist in {code}",
        )
    if template.status == "PAUSED":
        raise SendRejected(
            400,
            132015,
            "Template is Paused",
            f"Template {name} is paused due to low quality so it cannot be sent in a "
            "template message",
        )
    if template.status == "DISABLED":
        raise SendRejected(
            400,
            132016,
            "Template has been disabled",
            f"Template {name} has been paused too many times due to low quality and is now "
            "permanently disabled",
        )
    components = obj.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise invalid("template.components must be a list of objects")
    _check_components(template, components, config.policy)
    return template


def _parameters(component: dict[str, Any]) -> list[dict[str, Any]]:
    params = component.get("parameters", [])
    if not isinstance(params, list) or not all(isinstance(p, dict) for p in params):
        raise invalid("parameters must be a list of objects")
    return params


def _mismatch(template: Template, where: str, expected: int, got: int) -> SendRejected:
    return SendRejected(
        400,
        132000,
        "Number of parameters does not match the expected number of params",
        f"{where}: number of localizable_params ({got}) does not match the expected number "
        f"of params ({expected}) of template {template.name}",
    )


def _format(template: Template, where: str, details: str) -> SendRejected:
    title = "Parameter format does not match format in the created template"
    return SendRejected(400, 132012, title, f"{where} of template {template.name}: {details}")


def _parameter_issue(template: Template, where: str, details: str) -> SendRejected:
    title = "There's an issue with the parameters in your template"
    return SendRejected(400, 132018, title, f"{where} of template {template.name}: {details}")


def _key(component: dict[str, Any]) -> tuple[str, str | None, int | None]:
    """A sent component's ``type``, and a button's ``sub_type`` and ``index``.

    ``type`` and ``sub_type`` are read in any case: Meta's examples write them in lower
    case and no refusal of another case is documented (assumed accepted). ``index`` is
    required on a button (Meta: "Required if type is button"): missing, 131008; anything
    but a number under 100, as an integer or ASCII digits, 100 invalid parameter, as the
    sandbox answers other malformed fields. Meta allows up to 10 buttons (0-9); 10-99 are
    left to the template check (assumed)."""
    ctype = str(component.get("type", "")).lower()
    if ctype != "button":
        return ctype, None, None
    sub_type = component.get("sub_type")
    index = component.get("index")
    if index is None:
        raise missing("The parameter index is required for a button component")
    if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 100:
        number = index
    elif isinstance(index, str) and index.isascii() and index.isdigit() and len(index) <= 2:
        number = int(index)
    else:
        raise invalid(f"button index must be a number from 0 to 99, not {index!r}")
    return ctype, None if sub_type is None else str(sub_type).lower(), number


def _spec_key(spec: Component) -> tuple[str, str | None, int | None]:
    if spec.type != "button":
        return spec.type, None, None
    return spec.type, spec.sub_type, spec.index or 0


def _check_components(template: Template, sent: list[dict[str, Any]], policy: Policy) -> None:
    """Every configured component against what was sent for it. A sent component the
    template does not configure is refused only when it carries parameters (132000: the
    template has no variable for them); with none it passes, as Meta takes a bare
    ``body`` or ``footer``. A button sent at the index of a configured button of another
    ``sub_type`` is 132012."""
    expected = {_spec_key(c): c for c in template.components}
    given = {key: c for c in sent if (key := _key(c))[0] in KNOWN_COMPONENTS}
    for key in given.keys() - expected.keys():
        params = _parameters(given[key])
        if key[0] == "button":
            other = next(
                (c for c in template.components if c.type == "button" and (c.index or 0) == key[2]),
                None,
            )
            if other is not None:
                raise _format(
                    template, f"button {key[2]}", f"the button is a {other.sub_type} button"
                )
        if params:
            where = key[0] if key[0] != "button" else f"button {key[2]}"
            raise _mismatch(template, where, 0, len(params))
    for key, spec in expected.items():
        params = _parameters(given[key]) if key in given else []
        _check_component(template, spec, params, policy)


def _check_component(
    template: Template, spec: Component, params: list[dict[str, Any]], policy: Policy
) -> None:
    where = spec.type if spec.type != "button" else f"button {spec.index or 0}"
    if spec.type == "header" and spec.format not in (None, "text"):
        if len(params) != 1:
            raise _mismatch(template, where, 1, len(params))
        if params[0].get("type") != spec.format:
            raise _format(template, where, f"expected a {spec.format} parameter")
        if spec.format == "location":
            _check_location_header(template, params[0].get("location"), where)
        return
    if spec.type == "button":
        _check_button(template, spec, params, policy, where)
        return
    wanted = len(spec.named) if spec.named is not None else spec.parameters
    if len(params) != wanted:
        raise _mismatch(template, where, wanted, len(params))
    if any(p.get("type") not in BODY_PARAMETER_TYPES for p in params):
        raise _format(template, where, "parameters must be text, currency or date_time")
    names = [p.get("parameter_name") for p in params]
    if spec.named is not None and sorted(map(str, names)) != sorted(spec.named):
        raise _format(template, where, f"expected named parameters {spec.named}")
    if spec.named is None and any(n is not None for n in names):
        raise _format(template, where, "this template takes positional parameters")
    texts = [p.get("text") for p in params if p.get("type") == "text"]
    if policy.reject_parameter_whitespace and any(
        isinstance(t, str) and _LOOSE_WHITESPACE.search(t) for t in texts
    ):
        raise _parameter_issue(
            template,
            where,
            "Param text cannot have new-line/tab characters or more than 4 consecutive spaces",
        )
    if template.category == "authentication" and spec.type == "body":
        for i, t in enumerate(texts):
            if isinstance(t, str) and len(t) > policy.otp_code_max_length:
                raise _parameter_issue(
                    template,
                    where,
                    f"template parameter at index {i} exceeds the maximum length in the "
                    f"AUTHENTICATION category ({policy.otp_code_max_length} characters)",
                )


def _check_location_header(template: Template, location: Any, where: str) -> None:
    """A location header's coordinates, held to a location message's rules (finite
    numbers, or strings holding one, within ±90 and ±180; assumed, Meta documents no
    separate answer for a template's)."""
    if not isinstance(location, dict):
        raise _format(template, where, "expected a location object")
    freeform.check_location(location)


def _check_button(
    template: Template,
    spec: Component,
    params: list[dict[str, Any]],
    policy: Policy,
    where: str,
) -> None:
    """A quick-reply button takes at most its payload; a URL button its suffix; a copy-code
    button its code; the one-time-password button of an authentication template (sent as a
    URL button) the code; flow, catalog and multi-product buttons an ``action``."""
    sub_type = spec.sub_type or ""
    if sub_type in ACTION_BUTTONS:
        _check_action_button(template, sub_type, params, where)
        return
    if sub_type == "quick_reply":
        if len(params) > 1:
            raise _mismatch(template, where, 1, len(params))
        if params and not (
            params[0].get("type") == "payload" and isinstance(params[0].get("payload"), str)
        ):
            raise _format(template, where, "expected a payload parameter")
        return
    if len(params) != spec.parameters:
        raise _mismatch(template, where, spec.parameters, len(params))
    ptype = BUTTON_PARAMETER_TYPES.get(sub_type, "text")
    if any(p.get("type") != ptype or not isinstance(p.get(ptype), str) for p in params):
        raise _format(template, where, f"expected {ptype} parameters")
    if sub_type == "copy_code":
        limit, what = policy.coupon_code_max_length, "coupon_code"
    elif template.category == "authentication":
        limit, what = policy.otp_code_max_length, "one-time password"
    else:
        return
    for p in params:
        if len(p[ptype]) > limit:
            raise _parameter_issue(template, where, f"the {what} is longer than {limit} characters")


def _check_action_button(
    template: Template, sub_type: str, params: list[dict[str, Any]], where: str
) -> None:
    """Meta's send shapes: a flow button may carry ``{"type": "action", "action":
    {"flow_token", "flow_action_data"}}`` ("Flows templates" guide), a catalog button
    ``{"type": "action", "action": {"thumbnail_product_retailer_id"}}`` ("Catalog
    templates"); a multi-product button must carry one whose action names
    ``thumbnail_product_retailer_id`` and non-empty ``sections`` of ``product_items``
    ("Multi-product message templates"). Missing where required: 132000; another shape:
    132012 (assumed, as for other button parameters). Finer limits (30 products, 10
    sections) are left unchecked (assumed)."""
    required = sub_type == "mpm"
    if len(params) > 1 or (required and not params):
        raise _mismatch(template, where, 1, len(params))
    if not params:
        return
    action = params[0].get("action")
    if params[0].get("type") != "action" or not isinstance(action, dict):
        raise _format(template, where, "expected an action parameter")
    if not required:
        return
    thumbnail = action.get("thumbnail_product_retailer_id")
    if not isinstance(thumbnail, str) or not thumbnail:
        raise _format(template, where, "the action needs a thumbnail_product_retailer_id")
    sections = action.get("sections")
    if not isinstance(sections, list) or not sections:
        raise _format(template, where, "the action needs at least one section of products")
