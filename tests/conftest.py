"""Shared fixtures: the real SDK against the simulator over loopback, and what the OpenTelemetry SDK exports.

Spans go to an in-memory exporter, metrics to an in-memory reader. On SDKs with native tracing (>= 1.14) the
`native` fixture runs a test twice: with the SDK's own call span on (given our tracer provider) and off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Simulator
from anthropic_otel.testing._metrics import metric_points
from anthropic_otel.testing._spans import OpenSpans

SDK_VERSION = tuple(int(p) for p in anthropic.__version__.split(".")[:2])
HAS_NATIVE_TRACING = SDK_VERSION >= (1, 14)
API_KEY = "sk-ant-test-SECRET-KEY-0123456789"
PROMPT = "PROMPT-TEXT-must-never-appear-in-telemetry"
MODEL = "claude-sonnet-5-5"


@dataclass
class Telemetry:
    spans_exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    _metrics: Any = field(default=None)

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def call_spans(self) -> list[ReadableSpan]:
        """Call spans: ours or the SDK's native ones (both carry `gen_ai.operation.name`)."""
        return [s for s in self.spans() if not _is_attempt(s)]

    def attempt_spans(self) -> list[ReadableSpan]:
        return sorted((s for s in self.spans() if _is_attempt(s)), key=lambda s: s.start_time or 0)

    def call_span(self) -> ReadableSpan:
        calls = self.call_spans()
        assert len(calls) == 1, [s.name for s in calls]
        return calls[0]

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) for every point of metric `name`, freshly collected."""
        return metric_points(self.reader, name)

    def counter(self, name: str, **match: Any) -> int:
        """Sum of counter `name` over points whose attributes include `match` (dots spelled as `__`)."""
        want = {k.replace("__", "."): v for k, v in match.items()}
        return sum(p.value for attrs, p in self.points(name) if all(attrs.get(k) == v for k, v in want.items()))


def _is_attempt(span: ReadableSpan) -> bool:
    scope = span.instrumentation_scope
    return (
        scope is not None and scope.name == "anthropic_otel" and "gen_ai.operation.name" not in (span.attributes or {})
    )


def recording_tracer_provider() -> tuple[TracerProvider, InMemorySpanExporter, OpenSpans]:
    """A tracer provider exporting to memory, and tracking the spans it has not ended yet."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    open_spans = OpenSpans()
    tracer_provider.add_span_processor(open_spans)
    return tracer_provider, exporter, open_spans


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    tracer_provider, exporter, open_spans = recording_tracer_provider()
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield Telemetry(exporter, reader, tracer_provider, meter_provider)
        gc.collect()  # streams dropped by the test end their spans when collected
        assert open_spans.open == {}, f"spans left open: {sorted(open_spans.open.values())}"
    finally:
        instrumentor.uninstrument()
        meter_provider.shutdown()
        tracer_provider.shutdown()


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


@pytest.fixture(params=[True, False] if HAS_NATIVE_TRACING else [False], ids=lambda v: "native" if v else "own")
def native(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def client_options(telemetry: Telemetry, native: bool) -> dict[str, Any]:
    if not HAS_NATIVE_TRACING:
        return {}
    if native:
        return {"open_telemetry": {"tracer_provider": telemetry.tracer_provider}}
    return {"open_telemetry": False}


@pytest.fixture
def make_client(simulator: Simulator, telemetry: Telemetry, native: bool) -> Any:
    """`make_client(scenario, async_=False, **options)`: a real SDK client pointed at the simulator."""

    clients: list[Any] = []

    def make(scenario: str = "ok", *, async_: bool = False, **options: Any) -> Any:
        options.setdefault("max_retries", 2)
        options.setdefault("timeout", 10.0)
        headers = {"x-sim-scenario": scenario, **options.pop("default_headers", {})}
        cls = anthropic.AsyncAnthropic if async_ else anthropic.Anthropic
        client = cls(
            api_key=API_KEY,
            base_url=simulator.base_url,
            default_headers=headers,
            **client_options(telemetry, native),
            **options,
        )
        clients.append(client)
        return client

    return make


def messages(**extra: Any) -> dict[str, Any]:
    """The arguments of a small Messages call."""
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}], **extra}
