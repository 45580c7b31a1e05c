"""OpenTelemetry SDK providers that record in memory, for tests: what the instrumentation exported, and what it left
open.

Needs `opentelemetry-sdk` (the tests' dependency, not the instrumentation's); imported only when used.
"""

from __future__ import annotations

import gc
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ._metrics import metric_points
from ._spans import OpenSpans

_R = TypeVar("_R", bound="Recording")


class Recording:
    """A `TracerProvider` and a `MeterProvider` that keep what they get in memory, to assert on in a test.

    Spans go through a `SimpleSpanProcessor` (exported synchronously, inside the call that ends them) to an
    `InMemorySpanExporter`, and through `OpenSpans` (which spans were started and not ended); metrics go to an
    `InMemoryMetricReader`, collected afresh by every accessor. In a test of your own::

        import anthropic
        from anthropic_otel import AnthropicInstrumentor
        from anthropic_otel.testing import Recording, Simulator

        def test_a_retried_call_is_recorded() -> None:
            with Recording() as rec, Simulator("overloaded:retry_after_ms=1,ok") as sim:
                instrumentor = AnthropicInstrumentor()
                instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider)
                try:
                    client = anthropic.Anthropic(base_url=sim.base_url, api_key="sk-ant-test")
                    client.messages.create(
                        model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
                    )
                finally:
                    instrumentor.uninstrument()
                assert rec.total("anthropic.client.attempts") == 2
                assert rec.total("anthropic.client.calls", {"anthropic.call.outcome": "recovered"}) == 1
                assert [s.name for s in rec.spans()].count("POST /v1/messages") == 2
                assert rec.left_open() == []

    `span_exporter`: export spans there instead (e.g. one that only counts them, for a long run); `spans()` then
    raises `TypeError`. `resource`: the providers' resource (default: the SDK's default resource).
    Leaving the `with` block (or `shutdown()`) shuts both providers down.
    """

    def __init__(self, span_exporter: SpanExporter | None = None, *, resource: Resource | None = None) -> None:
        self.span_exporter: SpanExporter = span_exporter if span_exporter is not None else InMemorySpanExporter()
        self.open_spans = OpenSpans()
        self.metric_reader = InMemoryMetricReader()
        resource_args: dict[str, Any] = {} if resource is None else {"resource": resource}
        self.tracer_provider = TracerProvider(**resource_args)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.tracer_provider.add_span_processor(self.open_spans)
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader], **resource_args)

    # --- spans ---------------------------------------------------------------------------------------------

    def spans(self) -> list[ReadableSpan]:
        """The finished spans, in the order they ended."""
        if not isinstance(self.span_exporter, InMemorySpanExporter):
            raise TypeError(f"spans go to {type(self.span_exporter).__name__}, not kept in memory")
        return list(self.span_exporter.get_finished_spans())

    def left_open(self, *, collect_garbage: bool = True) -> list[str]:
        """Names of the spans started and not ended yet, sorted. Runs `gc.collect()` first unless told not to: a
        stream the application dropped without closing ends its span when it is collected."""
        if collect_garbage:
            gc.collect()
        return sorted(self.open_spans.open.values())

    # --- metrics -------------------------------------------------------------------------------------------

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        """(attributes, data point) for every point of metric `name`: a histogram point has `count`, `sum` and
        `bucket_counts`, a counter or gauge point `value`."""
        return metric_points(self.metric_reader, name)

    def series(self) -> list[tuple[str, dict[str, Any], Any]]:
        """(metric name, attributes, data point) for every point of every metric: one per time series."""
        data = self.metric_reader.get_metrics_data()
        found: list[tuple[str, dict[str, Any], Any]] = []
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    found += [(metric.name, dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found

    def total(self, name: str, attributes: Mapping[str, Any] | None = None) -> int | float:
        """The sum of counter `name` over the points whose attributes include `attributes` (all points if none)."""
        want = dict(attributes or {})
        total: int | float = sum(p.value for a, p in self.points(name) if all(a.get(k) == v for k, v in want.items()))
        return total

    # --- life cycle ----------------------------------------------------------------------------------------

    def clear(self) -> None:
        """Forgets the finished spans. Metrics are cumulative: they keep counting from where they are."""
        if isinstance(self.span_exporter, InMemorySpanExporter):
            self.span_exporter.clear()

    def shutdown(self) -> None:
        """Shuts both providers down (flushing the span processor); the accessors stay usable for spans."""
        self.meter_provider.shutdown()
        self.tracer_provider.shutdown()

    def __enter__(self: _R) -> _R:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.shutdown()
