"""`anthropic_otel.testing.Recording`: the in-memory providers the tests (and users' tests) read telemetry from."""

from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
import threading
from collections.abc import Sequence
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Recording, Simulator
from support import API_KEY, client_options, messages


def test_the_docstring_example_runs() -> None:
    """The example in `Recording`'s docstring is a test: run it as written, so the documentation stays true."""
    # Python 3.13 strips the docstring's indentation when compiling, earlier versions keep it: clean it either way.
    doc = inspect.cleandoc(Recording.__doc__ or "")
    example = textwrap.dedent(doc.split("In a test of your own::\n", 1)[1].split("\n\n`span_exporter`", 1)[0])
    namespace: dict[str, Any] = {}
    exec(compile(example, "Recording.__doc__", "exec"), namespace)
    tests = [f for name, f in namespace.items() if name.startswith("test_")]
    assert len(tests) == 1
    tests[0]()


def _call_and_abandon_a_stream(rec: Recording, sim: Simulator) -> Any:
    """One call, and one stream read in part and kept (the caller drops it); instrumented while it runs."""
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider)
    try:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, **client_options(rec, native=False))
        client.messages.create(**messages())
        stream = client.messages.create(**messages(stream=True))
        next(iter(stream))
        return stream
    finally:
        instrumentor.uninstrument()


def test_spans_points_open_spans_and_clear(simulator: Simulator) -> None:
    with Recording() as rec:
        stream = _call_and_abandon_a_stream(rec, simulator)
        assert [s.name for s in rec.spans()] == ["POST /v1/messages", "chat claude-sonnet-5-5", "POST /v1/messages"]
        assert rec.left_open(collect_garbage=False) == ["chat claude-sonnet-5-5"], "the stream's call is not over"
        del stream
        assert rec.left_open() == [], "collected, the dropped stream ended its spans"
        assert len(rec.spans()) == 4

        assert rec.total("anthropic.client.calls") == 2
        points = rec.points("anthropic.client.calls")
        assert sum(p.value for _, p in points) == 2 and all("anthropic.call.outcome" in a for a, _ in points)
        assert rec.total("anthropic.client.calls", {"anthropic.call.outcome": "no-such-outcome"}) == 0
        assert rec.points("no.such.metric") == []
        names = {name for name, _, _ in rec.series()}
        assert {"anthropic.client.calls", "anthropic.client.attempts", "gen_ai.client.operation.duration"} <= names

        rec.clear()
        assert rec.spans() == []
        assert rec.total("anthropic.client.calls") == 2, "metrics are cumulative: clear() keeps them"


class _Counting(SpanExporter):
    def __init__(self) -> None:
        self.names: list[str] = []
        self.threads: set[int] = set()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.names += [s.name for s in spans]
        self.threads.add(threading.get_ident())
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def test_own_span_exporter_gets_every_span_synchronously(simulator: Simulator) -> None:
    exporter = _Counting()
    with Recording(exporter) as rec:
        stream = _call_and_abandon_a_stream(rec, simulator)
        assert exporter.threads == {threading.get_ident()}, "exported inside the call that ends the span"
        assert rec.left_open(collect_garbage=False) == ["chat claude-sonnet-5-5"]
        del stream
        assert rec.left_open() == []
        assert sorted(exporter.names) == sorted(["POST /v1/messages", "chat claude-sonnet-5-5"] * 2)
        with pytest.raises(TypeError, match="_Counting"):
            rec.spans()


def test_the_simulator_needs_no_opentelemetry_sdk() -> None:
    """`Recording` and `OpenSpans` are imported on first use: the simulator alone imports no OpenTelemetry SDK."""
    code = (
        "import sys, anthropic_otel.testing as t; "
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')], 'imported too early'; "
        "assert t.Recording.__name__ == 'Recording' and t.OpenSpans.__name__ == 'OpenSpans'; "
        "assert 'opentelemetry.sdk.trace' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        import anthropic_otel.testing as testing

        _ = testing.Nothing
