"""Faults in our own code never reach the application.

Each of our hooks' collaborators is forced to raise (at entry: the worst case, nothing of its work done) while a
workload of every kind of call runs through the real SDK against the simulator: sync and async, streamed and not,
retried and not, raw and streaming responses. The application must see exactly what it sees without us; our
logger says WARNING once per kind of failure (not once per call); no span is left open.

Then exporters that raise or block: calls must not break, nor slow down beyond what the OpenTelemetry SDK itself
does with the same exporter when our instrumentation is off (ratios of timings, never absolute times).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from _helpers import (
    HAS_NATIVE_TRACING,
    Harness,
    harness,
    new_client,
    run_async_workload,
    run_sync_workload,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter, SpanExportResult

from anthropic_otel import _attempt, _call, _emit, _hooks, _streams
from anthropic_otel.testing import Simulator


class Injected(RuntimeError):
    """The failure we inject into our own code."""


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise Injected("injected fault")


class _RaisingInstrument:
    """Stands in for a metric instrument whose every method raises."""

    def __getattr__(self, name: str) -> Any:
        return _boom


class _RaisingTracer:
    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise Injected("injected fault")

    start_as_current_span = start_span


def _telemetry(h: Harness) -> Any:
    hooks = h.instrumentor._hooks
    assert hooks is not None
    return hooks.telemetry


# name -> function(monkeypatch, harness) that injects the fault.
FAULTS: dict[str, Callable[[pytest.MonkeyPatch, Harness], None]] = {
    "Call.__init__": lambda mp, h: mp.setattr(_call.Call, "__init__", _boom),
    "Call.start_attempt": lambda mp, h: mp.setattr(_call.Call, "start_attempt", _boom),
    "Call.attempt_responded": lambda mp, h: mp.setattr(_call.Call, "attempt_responded", _boom),
    "Call.attempt_raised": lambda mp, h: mp.setattr(_call.Call, "attempt_raised", _boom),
    "Call.finish": lambda mp, h: mp.setattr(_call.Call, "finish", _boom),
    "Call.retry_delay": lambda mp, h: mp.setattr(_call.Call, "retry_delay", _boom),
    "Call.sse_event": lambda mp, h: mp.setattr(_call.Call, "sse_event", _boom),
    "Call.read_message": lambda mp, h: mp.setattr(_call.Call, "read_message", _boom),
    "Attempt.responded": lambda mp, h: mp.setattr(_attempt.Attempt, "responded", _boom),
    "_attempt._read_ratelimits": lambda mp, h: mp.setattr(_attempt, "_read_ratelimits", _boom),
    "_emit.attempt_done": lambda mp, h: mp.setattr(_emit, "attempt_done", _boom),
    "_emit.end_*_span": lambda mp, h: _break_call_span_end(mp),
    "_emit.call_metrics": lambda mp, h: mp.setattr(_emit, "call_metrics", _boom),
    "Call.collect_json": lambda mp, h: mp.setattr(_call.Call, "collect_json", _boom),
    "_streams.attach": lambda mp, h: mp.setattr(_streams, "attach", _boom),
    "Call.first_chunk": lambda mp, h: mp.setattr(_call.Call, "first_chunk", _boom),
    "_hooks._peek_error_body": lambda mp, h: mp.setattr(_hooks, "_peek_error_body", _boom),
    "tracer.start_span": lambda mp, h: mp.setattr(_telemetry(h), "tracer", _RaisingTracer()),
    "attempts.add": lambda mp, h: mp.setattr(_telemetry(h), "attempts", _RaisingInstrument()),
    "calls.add": lambda mp, h: mp.setattr(_telemetry(h), "calls", _RaisingInstrument()),
    "duration.record": lambda mp, h: mp.setattr(_telemetry(h), "duration", _RaisingInstrument()),
    "retry_delay.record": lambda mp, h: mp.setattr(_telemetry(h), "retry_delay", _RaisingInstrument()),
    "token_usage.record": lambda mp, h: mp.setattr(_telemetry(h), "token_usage", _RaisingInstrument()),
    "time_to_first_chunk.record": lambda mp, h: mp.setattr(_telemetry(h), "time_to_first_chunk", _RaisingInstrument()),
    "rate-limit gauges": lambda mp, h: _break_ratelimit_gauges(mp, h),
}


def _break_call_span_end(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(_emit, "end_own_span", _boom)
    mp.setattr(_emit, "end_native_span", _boom)


def _break_ratelimit_gauges(mp: pytest.MonkeyPatch, h: Harness) -> None:
    tel = _telemetry(h)
    if hasattr(tel, "ratelimits"):  # the last values, reported by observable-gauge callbacks
        mp.setattr(tel.ratelimits, "set", _boom)
    else:  # synchronous gauges
        mp.setattr(tel, "ratelimit_remaining", _RaisingInstrument())
        mp.setattr(tel, "ratelimit_limit", _RaisingInstrument())


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


@pytest.fixture(scope="module")
def baseline(sim: Simulator) -> dict[str, list[Any]]:
    """What the application sees with no instrumentation at all."""
    return {
        "sync": run_sync_workload(new_client(sim.base_url, None)),
        "async": run_async_workload(new_client(sim.base_url, None, async_=True)),
    }


NATIVE = [True, False] if HAS_NATIVE_TRACING else [False]


def test_baseline_covers_every_path(baseline: dict[str, list[Any]]) -> None:
    """The workload really goes through successes, recoveries, errors, connection failures and every stream end."""
    kinds = {item[0] for item in baseline["sync"]}
    assert {"message", "raised", "events", "helper", "raw", "bytes", "count"} <= kinds
    assert ("raised", "APIConnectionError", None, None) in baseline["sync"]
    assert any(item[:2] == ("raised", "APIStatusError") and item[2] == 200 for item in baseline["sync"])
    assert baseline["sync"] == baseline["async"]


@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_fault_of_ours_never_reaches_the_application(
    fault: str, native: bool, sim: Simulator, baseline: dict[str, list[Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    with harness() as h:
        FAULTS[fault](monkeypatch, h)
        seen_sync = run_sync_workload(new_client(sim.base_url, h, native=native))
        seen_async = run_async_workload(new_client(sim.base_url, h, native=native, async_=True))
        monkeypatch.undo()
        left_open = h.left_open()
        warnings = h.warnings.messages()

    assert seen_sync == baseline["sync"], f"{fault}: the application saw something else (sync)"
    assert seen_async == baseline["async"], f"{fault}: the application saw something else (async)"
    assert warnings, f"{fault}: the injected fault was never hit, or failed silently"
    assert len(warnings) == len(set(warnings)), f"{fault}: more than one WARNING per kind of failure: {warnings}"
    assert all(w.startswith("anthropic-otel: ") for w in warnings)
    assert left_open == [], f"{fault}: spans left open: {left_open}"


# --- exporters that raise or block -------------------------------------------------------------------------


class _RaisingExporter(SpanExporter):
    def __init__(self) -> None:
        self.calls = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.calls += 1
        raise Injected("exporter down")

    def shutdown(self) -> None:
        pass


class _SlowExporter(SpanExporter):
    """Blocks 0.5 s per export, as an exporter does whose collector is unreachable."""

    def __init__(self) -> None:
        self.exported = 0
        self._stop = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._stop.wait(0.5)
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._stop.set()

    release = shutdown  # lets the provider's shutdown flush at once instead of 0.5 s per batch


def _timed_calls(sim: Simulator, provider: TracerProvider, instrumented: bool, calls: int, native: bool) -> float:
    import logging

    from anthropic_otel import AnthropicInstrumentor

    instrumentor = AnthropicInstrumentor()
    if instrumented:
        instrumentor.instrument(tracer_provider=provider)
    # The OpenTelemetry SDK logs every failed export with a traceback: identical on both sides, so keep it quiet.
    export_logger = logging.getLogger("opentelemetry.sdk")
    level = export_logger.level
    export_logger.setLevel(logging.CRITICAL)
    try:
        options = {"open_telemetry": {"tracer_provider": provider} if native else False} if HAS_NATIVE_TRACING else {}
        client = new_client(sim.base_url, None, **options)
        client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "warm up"}])
        start = time.perf_counter()
        for _ in range(calls):
            message = client.messages.create(model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
            assert message.stop_reason == "end_turn"
            stream = client.messages.create(
                model="m", max_tokens=8, messages=[{"role": "user", "content": "hi"}], stream=True
            )
            assert [e.type for e in stream][-1] == "message_stop"
        return time.perf_counter() - start
    finally:
        export_logger.setLevel(level)
        if instrumented:
            instrumentor.uninstrument()


def _ratio(
    sim: Simulator,
    make_provider: Callable[[], TracerProvider],
    native: bool,
    release: Callable[[], None] = lambda: None,
    calls: int = 30,
) -> float:
    """Instrumented time / uninstrumented time with the same exporter, best of 3 interleaved rounds each."""
    on, off = [], []
    for _ in range(3):
        for instrumented, times in ((False, off), (True, on)):
            provider = make_provider()
            times.append(_timed_calls(sim, provider, instrumented, calls, native))
            release()
            provider.shutdown()
    return min(on) / min(off)


@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
def test_an_exporter_that_raises_breaks_nothing(sim: Simulator, native: bool) -> None:
    exporters: list[_RaisingExporter] = []

    def make() -> TracerProvider:
        exporters.append(_RaisingExporter())
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporters[-1]))
        return provider

    with harness(instrument=False) as h:  # only for our WARNING records
        ratio = _ratio(sim, make, native)
        warnings = h.warnings.messages()
    assert warnings == []
    assert sum(e.calls for e in exporters) > 0, "the exporter was used"
    # Our spans add exports (and the SDK's logged tracebacks) to every call; it must stay in proportion.
    assert ratio < 2.0, f"calls with a raising exporter are {ratio:.2f}x slower with our instrumentation"


@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
def test_an_exporter_that_blocks_does_not_slow_calls(sim: Simulator, native: bool) -> None:
    exporters: list[_SlowExporter] = []

    def make() -> TracerProvider:
        exporters.append(_SlowExporter())
        provider = TracerProvider()
        provider.add_span_processor(
            BatchSpanProcessor(exporters[-1], schedule_delay_millis=50, max_queue_size=256, max_export_batch_size=64)
        )
        return provider

    def release() -> None:
        for exporter in exporters:
            exporter.release()

    with harness(instrument=False) as h:
        ratio = _ratio(sim, make, native, release)
        warnings = h.warnings.messages()
    assert warnings == []
    assert sum(e.exported for e in exporters) > 0, "the exporter was used"
    assert ratio < 2.0, f"calls with a blocking exporter are {ratio:.2f}x slower with our instrumentation"
