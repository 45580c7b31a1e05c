"""A span processor that raises (in `on_start` or `on_end`), or a metric reader that raises when collected, costs
at most the signal that raised: the call's metrics are recorded, nothing is ended twice, no OpenTelemetry warning
about an ended span, and the application gets what it gets without us."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Simulator
from support import API_KEY, HAS_NATIVE_TRACING, Telemetry, messages

SCENARIO = "overloaded:retry_after_ms=1,ok:deltas=3"


class Injected(Exception):
    pass


class RaisingProcessor(SpanProcessor):
    """Raises in `on_start` or `on_end`; counts the ends it saw per span (an end twice would show)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.ends: dict[int, int] = {}

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.where == "on_start":
            raise Injected("on_start")

    def on_end(self, span: ReadableSpan) -> None:
        key = span.context.span_id if span.context is not None else id(span)
        self.ends[key] = self.ends.get(key, 0) + 1
        if self.where == "on_end":
            raise Injected("on_end")


class RaisingReader(InMemoryMetricReader):
    def _receive_metrics(self, *args: Any, **kwargs: Any) -> None:
        raise Injected("collect")


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


def _run(simulator: Simulator, telemetry: Telemetry | None, native: bool, stream: bool) -> str:
    """One retried call, read to the end; instrumented when `telemetry` is given."""
    instrumentor = AnthropicInstrumentor()
    if telemetry is not None:
        instrumentor.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        client = anthropic.Anthropic(
            api_key=API_KEY,
            base_url=simulator.base_url,
            max_retries=2,
            default_headers={"x-sim-scenario": SCENARIO},
            **(telemetry.client_options(native) if telemetry is not None else {}),
        )
        if stream:
            with client.messages.stream(**messages()) as s:
                return s.get_final_text()
        return "".join(block.text for block in client.messages.create(**messages()).content)
    finally:
        if telemetry is not None:
            instrumentor.uninstrument()


def _assert_metrics(telemetry: Telemetry) -> None:
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="recovered") == 1
    assert telemetry.counter("anthropic.client.attempts") == 2
    assert [p.count for _, p in telemetry.points("gen_ai.client.operation.duration")] == [1]
    assert {a["gen_ai.token.type"] for a, _ in telemetry.points("gen_ai.client.token.usage")} == {"input", "output"}
    assert [p.count for _, p in telemetry.points("anthropic.client.retry.delay")] == [1]


NATIVE = [True, False] if HAS_NATIVE_TRACING else [False]


@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
@pytest.mark.parametrize("where", ["on_start", "on_end"])
def test_a_raising_span_processor_costs_only_spans(
    simulator: Simulator, caplog: pytest.LogCaptureFixture, where: str, stream: bool, native: bool
) -> None:
    with Simulator() as plain_sim:
        expected = _run(plain_sim, None, native=False, stream=stream)

    with Telemetry() as telemetry:
        processor = RaisingProcessor(where)
        telemetry.tracer_provider.add_span_processor(processor)  # after the exporter's: spans are exported first
        caplog.set_level(logging.WARNING)
        assert _run(simulator, telemetry, native, stream) == expected
        _assert_metrics(telemetry)
        assert all(n == 1 for n in processor.ends.values()), "a span ended twice"
        assert not [r for r in caplog.records if "ended span" in r.getMessage()], "OpenTelemetry warned"
        if where == "on_end":
            spans = telemetry.spans()
            assert len([s for s in spans if "gen_ai.operation.name" not in (s.attributes or {})]) == 2  # attempts
            assert len(processor.ends) == len(spans) == 3


def test_a_raising_metric_reader_costs_only_its_collection(simulator: Simulator) -> None:
    with Telemetry() as telemetry:
        raising = RaisingReader()
        telemetry.metric_reader = InMemoryMetricReader()  # (a reader belongs to one provider)
        telemetry.meter_provider = MeterProvider(metric_readers=[telemetry.metric_reader, raising])
        assert _run(simulator, telemetry, native=False, stream=True)
        with pytest.raises(Injected):
            raising.get_metrics_data()
        _assert_metrics(telemetry)
        assert len(telemetry.spans()) == 3
