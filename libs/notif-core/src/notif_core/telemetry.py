"""Tracing with OpenTelemetry: one trace per notification, across services, through SQS.

Configured only by the standard ``OTEL_*`` variables (``OTEL_EXPORTER_OTLP_ENDPOINT``,
``OTEL_TRACES_EXPORTER``, ``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``…) and off when none
is set: then every call here is a no-op and costs next to nothing.

SQS carries no trace context by itself. Each event carries its W3C ``traceparent`` (also
sent as an SQS message attribute); a consumer starts its span as a child of it, so one trace
spans ingest → dispatcher → Meta call → ledger → customer callback. aiobotocore is not
covered by the botocore instrumentation (it overrides the call path with coroutines), which
is why the SQS hops are carried by hand here. Database spans come from the psycopg
instrumentation: the SQLAlchemy one refuses SQLAlchemy 2.1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from notif_core import __version__

if TYPE_CHECKING:
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

TRACER = "whatsapp-notif"
_PROPAGATOR = TraceContextTextMapPropagator()
_SWITCHES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracing_configured(env: Mapping[str, str] = os.environ) -> bool:
    """True when the standard variables ask for traces to be exported somewhere."""
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none" or env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    return bool(exporter) or any(env.get(name) for name in _SWITCHES)


def setup_tracing(service: str, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Install a tracer provider and the client instrumentations, or do nothing.

    ``exporter`` is for tests (an in-memory exporter); otherwise the OTLP exporter reads its
    endpoint, headers and protocol from the ``OTEL_EXPORTER_OTLP_*`` variables."""
    if exporter is None and not tracing_configured():
        return None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create(
        {
            "service.name": os.environ.get("OTEL_SERVICE_NAME", f"whatsapp-notif-{service}"),
            "service.version": __version__,
        }
    )
    provider = TracerProvider(resource=resource)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor

    PsycopgInstrumentor().instrument(enable_commenter=False, skip_dep_check=True)
    return provider


def tracing_active() -> bool:
    """True once a real tracer provider is installed (by :func:`setup_tracing`)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def aiohttp_trace_configs() -> list[Any]:
    """Client spans (and ``traceparent`` injection) for one aiohttp session: the Cloud API
    one. Not global: aiobotocore speaks aiohttp too, and each SQS long poll would otherwise
    open a trace of its own."""
    if not tracing_active():
        return []
    from opentelemetry.instrumentation.aiohttp_client import create_trace_config

    return [create_trace_config()]


def instrument_httpx(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Client spans and ``traceparent`` on this client's requests (the callback client)."""
    if tracing_active():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(client)
    return client


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER, __version__)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the active span, to put on an event; None outside one."""
    if not tracing_active():
        return None
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def current_trace_id() -> str | None:
    """The active trace id in hex, for log lines; None outside a recorded span."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


@contextmanager
def continued(name: str, traceparent: str | None, **attributes: str) -> Iterator[Span]:
    """A consumer span, child of the producer's ``traceparent`` (a new trace without one).
    With tracing off, nothing at all: this runs for every message."""
    if not tracing_active():
        yield trace.INVALID_SPAN
        return
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    with tracer().start_as_current_span(
        name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


@contextmanager
def batch_spans(name: str, traceparents: list[str | None]) -> Iterator[None]:
    """One consumer span per message of a batch, each a child of its own producer: a batch
    mixes many traces, and every one of them should show this step. With tracing off,
    nothing at all: this runs for every event."""
    if not tracing_active():
        yield
        return
    spans = [
        tracer().start_span(
            name,
            context=_PROPAGATOR.extract({"traceparent": tp}) if tp else None,
            kind=SpanKind.CONSUMER,
        )
        for tp in traceparents
    ]
    try:
        yield
    finally:
        for span in spans:
            span.end()
