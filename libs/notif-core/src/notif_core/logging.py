"""JSON logs to stdout, one line per event, through structlog.

Keys named like phone numbers are masked on the way out, so a careless ``log.info(to=...)``
cannot leak a full number; free text (messages, exceptions, errors) has phone numbers and
secrets masked, and every other string has API keys and callback secrets masked. Each line
carries the active trace id, so logs and traces meet.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from notif_core.privacy import mask_phone, scrub_secrets, scrub_text
from notif_core.telemetry import current_trace_id

_PHONE_KEYS = frozenset({"to", "phone", "recipient", "from_", "wa_id", "recipient_id"})
_FREE_TEXT_KEYS = frozenset({"event", "exception", "error", "message", "detail", "body"})


def _scrub_values(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub_text(value) if key in _FREE_TEXT_KEYS else scrub_secrets(value)
    return event_dict


def _add_trace_id(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    trace_id = current_trace_id()
    if trace_id is not None:
        event_dict.setdefault("trace_id", trace_id)
    return event_dict


def _mask_phone_fields(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in _PHONE_KEYS & event_dict.keys():
        value = event_dict[key]
        if isinstance(value, str):
            event_dict[key] = mask_phone(value)
    return event_dict


def _json_text(value: Any, **kwargs: Any) -> str:
    """orjson for the stdlib handler too (it wants text), so every line looks the same."""
    return orjson.dumps(value, **kwargs).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    """Set up structlog and route stdlib logging (uvicorn, alembic) through the same JSON."""
    log_level = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)

    def add_service(
        _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    shared: list[structlog.types.Processor] = [
        add_service,
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_id,
        _mask_phone_fields,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            _scrub_values,
            # orjson to bytes: a third of the cost of json.dumps and print, on every request
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(log_level),
        logger_factory=structlog.BytesLoggerFactory(sys.stdout.buffer),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _scrub_values,
                structlog.processors.JSONRenderer(serializer=_json_text),
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(log_level)
    for noisy in ("botocore", "aiobotocore", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(log_level, logging.WARNING))


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    """A structlog logger; bind notification ids and masked numbers on it."""
    return structlog.get_logger(name)  # type: ignore[no-any-return]
