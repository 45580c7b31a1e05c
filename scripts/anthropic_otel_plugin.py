"""A pytest plugin that runs a test suite with anthropic-otel instrumenting the `anthropic` SDK.

Load it with `-p anthropic_otel_plugin` (this directory on `PYTHONPATH`). At configure time, in the controller and
in every xdist worker, it:

- sets the providers of an `anthropic_otel.testing.Recording` as the global ones: a real OpenTelemetry SDK
  `TracerProvider` (spans to a counting exporter through a `SimpleSpanProcessor`, so every span is exported
  synchronously inside the call that ends it) and a `MeterProvider` (an in-memory reader), so the SDK's own native
  tracing is on for every client that is not told otherwise;
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
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Recording

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
    recording = Recording(exporter)
    trace.set_tracer_provider(recording.tracer_provider)
    metrics.set_meter_provider(recording.meter_provider)
    warnings = _Warnings()
    logging.getLogger("anthropic_otel").addHandler(warnings)
    instrumentor = AnthropicInstrumentor()
    if os.environ.get("ANTHROPIC_OTEL_PLUGIN_INSTRUMENT", "1") != "0":
        instrumentor.instrument(tracer_provider=recording.tracer_provider, meter_provider=recording.meter_provider)
    _STATE.update(
        exporter=exporter,
        recording=recording,
        warnings=warnings,
        instrumentor=instrumentor,
        active=instrumentor.is_instrumented_by_opentelemetry,
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    if not _STATE:
        return
    report_dir = os.environ.get("ANTHROPIC_OTEL_PLUGIN_REPORT")
    if not report_dir:
        return
    recording: Recording = _STATE["recording"]
    report = {
        "worker": os.environ.get("PYTEST_XDIST_WORKER", "controller"),
        "instrumented": bool(_STATE["active"]),
        "spans_by_scope": dict(_STATE["exporter"].by_scope),
        "spans_left_open": sorted(set(recording.left_open())),  # after gc.collect()
        "calls": int(recording.total("anthropic.client.calls")),
        "attempts": int(recording.total("anthropic.client.attempts")),
        "warnings": _STATE["warnings"].messages,
    }
    path = Path(report_dir) / f"{os.getpid()}.json"
    path.write_text(json.dumps(report, indent=1))
