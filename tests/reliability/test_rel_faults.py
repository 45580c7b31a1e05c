"""Faults in our own code never reach the application.

Each of our hooks' collaborators is forced to raise (at entry: the worst case, nothing of its work done) while a
workload of every kind of call runs through the real SDK against the simulator: sync and async, streamed and not,
retried and not, raw and streaming responses. The application must see exactly what it sees without us; our
logger says WARNING once per kind of failure (not once per call); no span is left open.

Then exporters that raise or block: calls must not break, every span is exported once as with a working exporter,
and no call waits for a blocked exporter (all of them complete while it is still blocked). What instrumentation
costs in time is measured in benchmarks/, not asserted here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from anthropic_otel import AnthropicInstrumentor, _attempt, _call, _emit, _hooks, _streams
from anthropic_otel.testing import Recording, Simulator
from support import client_options


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
    "RateLimitGauges.record": lambda mp, h: mp.setattr(_telemetry(h).ratelimits, "record", _boom),
    "_emit.attempt_done": lambda mp, h: mp.setattr(_emit, "attempt_done", _boom),
    "_emit.end_*_span": lambda mp, h: _break_call_span_end(mp),
    "_emit.call_metrics": lambda mp, h: mp.setattr(_emit, "call_metrics", _boom),
    "Call.collect_json": lambda mp, h: mp.setattr(_call.Call, "collect_json", _boom),
    "_streams.attach": lambda mp, h: mp.setattr(_streams, "attach", _boom),
    "Call.first_chunk": lambda mp, h: mp.setattr(_call.Call, "first_chunk", _boom),
    "_hooks._error_body_in_memory": lambda mp, h: mp.setattr(_hooks, "_error_body_in_memory", _boom),
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


class _BlockedExporter(SpanExporter):
    """Blocks in `export` until released, as an exporter does whose collector is unreachable."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.exported = 0
        self.threads: set[int] = set()
        self._released = threading.Event()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.threads.add(threading.get_ident())
        self.entered.set()
        self._released.wait(60)  # bounded only so that a failing test cannot hang
        self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._released.set()

    release = shutdown


class _WatchedBatchProcessor(BatchSpanProcessor):
    """A batch span processor that counts the flushes asked of it: the only way a call could wait for its exporter
    (ending a span only queues it)."""

    flushes = 0

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        self.flushes += 1
        return super().force_flush(timeout_millis) if timeout_millis is not None else super().force_flush()


CALLS = 10


def _calls(client: Any, calls: int) -> list[tuple[str | None, str]]:
    """What the application sees of `calls` times one call and one stream: (stop reason, last event)."""
    args: dict[str, Any] = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    seen = []
    for _ in range(calls):
        message = client.messages.create(**args)
        stream = client.messages.create(**args, stream=True)
        seen.append((message.stop_reason, [e.type for e in stream][-1]))
    return seen


@contextmanager
def _instrumented_client(sim: Simulator, rec: Recording, native: bool) -> Iterator[Any]:
    """A client of `sim`, with our instrumentation (and the SDK's native call span when `native`) recording to `rec`;
    the OpenTelemetry SDK's own log of failed exports (a traceback each, with or without us) kept quiet."""
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider)
    export_logger = logging.getLogger("opentelemetry.sdk")
    level = export_logger.level
    export_logger.setLevel(logging.CRITICAL)
    client = new_client(sim.base_url, None, **client_options(rec, native))
    try:
        yield client
    finally:
        client.close()
        export_logger.setLevel(level)
        instrumentor.uninstrument()


@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
def test_an_exporter_that_raises_breaks_nothing(sim: Simulator, native: bool) -> None:
    """Every export raises: the calls see what they see with a working exporter, and every span is exported once,
    as it is with a working exporter (no export retried, no span added or lost on our side)."""
    exporter = _RaisingExporter()
    with harness(instrument=False) as h:  # only for our WARNING records
        with Recording() as working, _instrumented_client(sim, working, native) as client:
            seen_working = _calls(client, CALLS)
            expected_exports = len(working.spans())
        with Recording(exporter) as failing, _instrumented_client(sim, failing, native) as client:
            seen = _calls(client, CALLS)
            left_open = failing.left_open()
        warnings = h.warnings.messages()
    assert seen == seen_working == [("end_turn", "message_stop")] * CALLS
    assert expected_exports == 2 * 2 * CALLS, "a call span and an attempt span per call and per stream"
    assert exporter.calls == expected_exports
    assert left_open == []
    assert warnings == []


@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
def test_an_exporter_that_blocks_does_not_block_calls(sim: Simulator, native: bool) -> None:
    """A batch span processor whose exporter is blocked: every call completes while the exporter is still blocked, and
    nothing flushes the processor (so no call waits for the exporter); once released it gets every span."""
    exporter = _BlockedExporter()
    processor = _WatchedBatchProcessor(exporter, schedule_delay_millis=10, max_queue_size=2048, max_export_batch_size=8)
    with harness(instrument=False) as h:
        with Recording() as rec:
            rec.tracer_provider.add_span_processor(processor)  # beside the recording's in-memory exporter
            with _instrumented_client(sim, rec, native) as client:
                seen = _calls(client, 1)
                assert exporter.entered.wait(30), "the batch processor never began an export"
                seen += _calls(client, CALLS)
                blocked_meanwhile = exporter.exported == 0
                flushes = processor.flushes
            exporter.release()
        # Leaving the block shut the provider down: the batch processor has flushed its queue.
        warnings = h.warnings.messages()
    assert seen == [("end_turn", "message_stop")] * (CALLS + 1)
    assert blocked_meanwhile, "the exporter returned before the calls ended"
    assert flushes == 0, "a call flushed the span processor (and waited for the exporter, up to a timeout)"
    assert exporter.exported == len(rec.spans()) == 2 * 2 * (CALLS + 1)
    assert threading.get_ident() not in exporter.threads, "an export ran on the application's thread"
    assert warnings == []
