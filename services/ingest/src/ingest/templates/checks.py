"""The door's check of a template send: 422 with a stable code, or nothing.

- ``unknown_template``: no template of that name in that language in the sender's business
  account (Meta would answer 132001); the message lists the languages it exists in.
- ``template_not_approved``: the template exists but Meta would not send it now (status
  PENDING, REJECTED, PAUSED, DISABLED, IN_APPEAL; Meta: 132001, 132015, 132016). Under
  ``TEMPLATE_UNAVAILABLE=hold`` a PAUSED template's sends are accepted all the same: Meta
  lifts a pause by itself, and the dispatcher holds them until it does.
- ``invalid_template_parameters``: a component does not fit the definition (Meta: 132000,
  132012, 132018); ``field`` is the path of the part at fault.

A business account whose catalogue was never synced, a catalogue that cannot be read, and a
sender number whose business account the settings do not name (``SENDER_WABAS`` set and
not listing it) pass the send through unchecked (``ingest_template_checks{outcome="skipped"}``).
"""

from __future__ import annotations

from ingest.api.errors import ApiError
from ingest.api.schemas import Template
from ingest.metrics import TEMPLATE_CHECKS
from ingest.settings import IngestSettings
from ingest.templates.catalogue import Catalogue, Unavailable, Unknown
from ingest.templates.definition import Definition
from ingest.templates.validation import Mismatch, check

SENDABLE = frozenset({"APPROVED"})


def language_code(template: Template) -> str:
    return template.language if isinstance(template.language, str) else template.language.code


async def check_send(
    catalogue: Catalogue, settings: IngestSettings, sender: str, template: Template
) -> Definition | None:
    """The template's definition the send was checked against (its category is Meta's),
    None when it went unchecked; raises :class:`ApiError` (422) for a send Meta would
    refuse (see the module)."""
    if not settings.template_validation:
        return None
    waba_id = settings.waba_of(sender)
    language = language_code(template)
    found = (
        Unavailable()
        if waba_id is None
        else await catalogue.lookup(waba_id, template.name, language)
    )
    if isinstance(found, Unavailable):
        TEMPLATE_CHECKS.labels(outcome="skipped").inc()
        return None
    if isinstance(found, Unknown):
        TEMPLATE_CHECKS.labels(outcome="refused").inc()
        elsewhere = f"; it exists in {', '.join(found.languages)}" if found.languages else ""
        raise ApiError(
            422,
            "unknown_template",
            f"No template {template.name!r} in {language!r} in this sender's business "
            f"account{elsewhere}.",
            field="template.language" if found.languages else "template.name",
        )
    held = settings.template_unavailable == "hold" and found.status == "PAUSED"
    if found.status not in SENDABLE and not held:
        TEMPLATE_CHECKS.labels(outcome="refused").inc()
        raise ApiError(
            422,
            "template_not_approved",
            f"Template {template.name!r} ({language}) is {found.status}; Meta sends only "
            "APPROVED templates.",
            field="template.name",
            template_status=found.status,
        )
    try:
        check(found, template.components)
    except Mismatch as exc:
        TEMPLATE_CHECKS.labels(outcome="refused").inc()
        raise ApiError(422, "invalid_template_parameters", exc.message, field=exc.path) from None
    TEMPLATE_CHECKS.labels(outcome="passed").inc()
    return found
