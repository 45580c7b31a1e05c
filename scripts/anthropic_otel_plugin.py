"""A pytest plugin that runs a test suite with anthropic-otel instrumenting the `anthropic` SDK.

Load it with `-p anthropic_otel_plugin` (this directory on `PYTHONPATH`). At configure time, in the controller and
in every xdist worker, it:

- sets a real OpenTelemetry SDK `TracerProvider` (spans to a counting exporter through a `SimpleSpanProcessor`, so
  every span is exported synchronously inside the call that ends it) and a `MeterProvider` (an in-memory reader) as
  the global providers, so the SDK's own native tracing is on for every client that is not told otherwise;
- calls `AnthropicInstrumentor().instrument(tracer_provider=..., meter_provider=...)`, unless
  `ANTHROPIC_OTEL_PLUGIN_INSTRUMENT=0` (the baseline: the same providers and native tracing, without us);
- counts the WARNING records of logger `anthropic_otel` (our own failures).

If `ANTHROPIC_OTEL_PLUGIN_REPORT` names a directory, each process writes `<pid>.json` there at the end: spans
exported by scope, spans started but never ended, `anthropic.client.calls`/`attempts` totals and the warnings, so
the driver script can show that the instrumentation was really active and never failed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing._spans import OpenSpans

_STATE: dict[str, Any] = {}


class _CountingExporter(SpanExporter):
    """Keeps counts only, so a suite of thousands of tests does not accumulate spans in memory."""

    def __init__(self) -> None:
        self.by_scope: Counter[str] = Counter()
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                scope = span.instrumentation_scope
                self.by_scope[scope.name if scope is not None else "?"] += 1
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def pytest_configure(config: pytest.Config) -> None:
    if _STATE:
        return
    exporter = _CountingExporter()
    open_spans = OpenSpans()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer_provider.add_span_processor(open_spans)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    warnings = _Warnings()
    logging.getLogger("anthropic_otel").addHandler(warnings)
    instrumentor = AnthropicInstrumentor()
    if os.environ.get("ANTHROPIC_OTEL_PLUGIN_INSTRUMENT", "1") != "0":
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    _STATE.update(
        exporter=exporter,
        open_spans=open_spans,
        reader=reader,
        warnings=warnings,
        instrumentor=instrumentor,
        active=instrumentor.is_instrumented_by_opentelemetry,
    )


def _counter_total(reader: InMemoryMetricReader, name: str) -> int:
    data = reader.get_metrics_data()
    total = 0
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                if metric.name == name:
                    total += sum(int(p.value) for p in metric.data.data_points)
    return total


def pytest_unconfigure(config: pytest.Config) -> None:
    if not _STATE:
        return
    report_dir = os.environ.get("ANTHROPIC_OTEL_PLUGIN_REPORT")
    if not report_dir:
        return
    import gc

    gc.collect()
    reader: InMemoryMetricReader = _STATE["reader"]
    report = {
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "controller"),
        "instrumented": bool(_STATE["active"]),
        "spans_by_scope": dict(_STATE["exporter"].by_scope),
        "spans_left_open": sorted(set(_STATE["open_spans"].open.values())),
        "calls": _counter_total(reader, "anthropic.client.calls"),
        "attempts": _counter_total(reader, "anthropic.client.attempts"),
        "warnings": _STATE["warnings"].messages,
    }
    path = Path(report_dir) / f"{os.getpid()}.json"
    path.write_text(json.dumps(report, indent=1))
