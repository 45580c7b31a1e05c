"""`instrument()`/`uninstrument()` from any thread at any time, and a fork while another thread holds a lock of ours.

Lazy set-up in request handlers calls `instrument()` from several threads at once; gunicorn and multiprocessing
fork whatever state the parent's other threads were in.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest
import wrapt

from anthropic_otel import AnthropicInstrumentor, _instrumentor, _log, _sdk, _telemetry
from anthropic_otel.testing import Simulator
from support import API_KEY, MODEL, Telemetry, messages

# Every attribute we may hook, optional ones included.
HOOKED = [(p.module, p.owner, p.name) for p in (*_sdk.HOOK_POINTS, *_sdk.OPTIONAL_HOOK_POINTS)]


def _owner(module: str, cls: str) -> Any:
    mod = importlib.import_module(module)
    return getattr(mod, cls) if cls else mod


def _hooked() -> dict[tuple[str, str, str], Any]:
    return {(m, c, n): _owner(m, c).__dict__.get(n) for m, c, n in HOOKED}


def _fresh_telemetry() -> Telemetry:
    return Telemetry()


@contextlib.contextmanager
def _fast_thread_switches() -> Iterator[None]:
    """Switch threads every microsecond instead of every 5 ms, so races show up in a short test."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def test_concurrent_instrument_and_uninstrument_leave_no_wrapper_and_no_duplicate(simulator: Simulator) -> None:
    originals = _hooked()
    shared = _fresh_telemetry()
    errors: list[BaseException] = []
    stop = threading.Event()

    def toggle() -> None:
        try:
            for _ in range(150):
                AnthropicInstrumentor().instrument(
                    tracer_provider=shared.tracer_provider, meter_provider=shared.meter_provider
                )
                AnthropicInstrumentor().uninstrument()
        except BaseException as exc:
            errors.append(exc)

    def call() -> None:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, max_retries=0)
        try:
            while not stop.is_set():
                client.messages.create(**messages())
                with client.messages.stream(**messages()) as stream:
                    stream.get_final_message()
        except BaseException as exc:
            errors.append(exc)
        finally:
            client.close()

    callers = [threading.Thread(target=call) for _ in range(2)]
    togglers = [threading.Thread(target=toggle) for _ in range(3)]
    with _fast_thread_switches():
        for thread in (*callers, *togglers):
            thread.start()
        for thread in togglers:
            thread.join(timeout=90)
        stop.set()
        for thread in callers:
            thread.join(timeout=30)
    assert not any(t.is_alive() for t in (*callers, *togglers)), "a thread hung"
    AnthropicInstrumentor().uninstrument()  # whatever state the race left, this is the application's last word
    assert errors == [], errors[:3]
    left = {k: v for k, v in _hooked().items() if v is not originals[k]}
    assert left == {}, f"still wrapped after uninstrument(): {sorted(left)}"

    # One call after one more instrument(): exactly one of everything.
    final = _fresh_telemetry()
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=final.tracer_provider, meter_provider=final.meter_provider)
    try:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, max_retries=0)
        client.messages.create(**messages())
        client.close()
    finally:
        instrumentor.uninstrument()
    assert len(final.call_spans()) == 1 and len(final.attempt_spans()) == 1
    calls = final.points("anthropic.client.calls")
    assert [p.value for _, p in calls] == [1], calls
    assert _hooked() == originals
    shared.meter_provider.shutdown()
    final.meter_provider.shutdown()


def test_a_stale_wrapper_under_someone_elses_passes_through(simulator: Simulator) -> None:
    """Something wrapped on top of our hooks, so `uninstrument()` can only disable ours, and the application
    instruments again: the disabled hooks (every one of them: call, attempt, retry delay, stream events) must
    add nothing to the calls the new ones record."""
    originals = _hooked()
    first = _fresh_telemetry()
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=first.tracer_provider, meter_provider=first.meter_provider)
    foreign: list[tuple[Any, str]] = []
    try:
        for module, cls, name in HOOKED:
            owner = _owner(module, cls)
            if name in owner.__dict__:
                wrapt.wrap_function_wrapper(owner, name, lambda wrapped, _i, args, kwargs: wrapped(*args, **kwargs))
                foreign.append((owner, name))
        instrumentor.uninstrument()
        second = _fresh_telemetry()
        instrumentor.instrument(tracer_provider=second.tracer_provider, meter_provider=second.meter_provider)
        try:
            client = anthropic.Anthropic(
                api_key=API_KEY,
                base_url=simulator.base_url,
                max_retries=1,
                default_headers={"x-sim-scenario": "overloaded:retry_after_ms=1,ok"},
            )
            client.messages.create(**messages())
            with client.messages.stream(**messages()) as stream:
                stream.get_final_message()
            client.close()
        finally:
            instrumentor.uninstrument()
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        for key, original in originals.items():  # the foreign wrappers, and our disabled ones under them
            if original is not None:
                setattr(_owner(key[0], key[1]), key[2], original)
    assert first.spans() == [] and first.points("anthropic.client.calls") == []
    assert len(second.call_spans()) == 2
    assert len(second.attempt_spans()) == 4, [s.attributes for s in second.attempt_spans()]
    assert sum(p.count for _, p in second.points("anthropic.client.retry.delay")) == 2
    assert sum(p.value for _, p in second.points("anthropic.client.calls")) == 2
    ttfc = second.points("gen_ai.client.operation.time_to_first_chunk")
    assert sum(p.count for _, p in ttfc) == 1, ttfc


# --- fork while another thread holds a lock of ours -------------------------------------------------------------


def _gauges_lock(instrumentor: AnthropicInstrumentor) -> Any:
    return _telemetry._gauges_lock


def _series_lock(instrumentor: AnthropicInstrumentor) -> Any:
    hooks = instrumentor._hooks
    assert hooks is not None
    return hooks.telemetry.ratelimits._lock


def _log_lock(instrumentor: AnthropicInstrumentor) -> Any:
    return _log._lock


def _instrument_lock(instrumentor: AnthropicInstrumentor) -> Any:
    return _instrumentor._lock


LOCKS: dict[str, Callable[[AnthropicInstrumentor], Any]] = {
    "ratelimit-series": _series_lock,
    "ratelimit-gauges-by-meter": _gauges_lock,
    "internal-error-log": _log_lock,
    "instrument": _instrument_lock,
}


def _child(simulator: Simulator, instrumentor: AnthropicInstrumentor, telemetry: Telemetry) -> int:
    """In the forked child: what the application would do next. Returns the exit status (0: all worked)."""
    client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, max_retries=0)
    client.messages.create(**messages(model="claude-forked-child-1"))  # a new model: a new rate-limit series
    remaining = telemetry.points("anthropic.ratelimit.remaining")
    if not any(a.get("gen_ai.request.model") == "claude-forked-child-1" for a, _ in remaining):
        return 3
    try:
        raise RuntimeError("an internal failure in the child")
    except RuntimeError:
        _log.internal_error("forked child")
    instrumentor.uninstrument()
    again = _fresh_telemetry()
    instrumentor.instrument(tracer_provider=again.tracer_provider, meter_provider=again.meter_provider)
    client.messages.create(**messages(model="claude-forked-child-2"))
    if len(again.call_spans()) != 1:
        return 4
    client.close()
    return 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("lock_name", list(LOCKS))
def test_fork_while_another_thread_holds_a_lock_of_ours(
    lock_name: str, simulator: Simulator, telemetry: Telemetry
) -> None:
    instrumentor = AnthropicInstrumentor()
    # A first call so the parent's state is warm (a known series, a logged internal-error kind).
    client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, max_retries=0)
    client.messages.create(**messages(model=MODEL))
    client.close()
    lock = LOCKS[lock_name](instrumentor)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status only
        status = 1
        try:
            status = _child(simulator, instrumentor, telemetry)
        finally:
            os._exit(status)
    release.set()
    holder.join(10)
    deadline = time.monotonic() + 20
    status = None
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"the forked child hung (lock {lock_name} held by another thread at fork)")
    assert os.waitstatus_to_exitcode(status) == 0, f"child exit status {os.waitstatus_to_exitcode(status)}"
