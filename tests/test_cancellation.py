"""A call the application stops (asyncio or trio cancellation, KeyboardInterrupt, SystemExit, GeneratorExit) at any
phase — while an attempt waits for its response, during the SDK's retry backoff, mid-stream — is recorded as
outcome `cancelled`: no failure, no `error.type` and status UNSET on the call span (ours, or the SDK's native one
exactly as the SDK leaves it), `error.type=cancelled` on the metrics only, and no status of an error it was about
to retry. See docs/reliability.md, "What a cancelled call records"."""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from opentelemetry.trace import StatusCode

from anthropic_otel.testing import Simulator
from support import Telemetry, messages

# A backoff the SDK sleeps (retry-after, in seconds) and server waits, long enough that the cancellation, sent a
# fraction of a second after the request, always lands in the phase under test.
BACKOFF = "rate_limit:retry_after=5,ok"
WAITING = "stall:delay=5"  # nothing at all (not even headers) for 5 s
MID_STREAM = "slow_stream:interval=3:deltas=3"  # head events at once, then a delta every 3 s
CANCEL_AFTER = 0.4


def assert_cancelled(telemetry: Telemetry, *, stream: bool, attempts: int = 1) -> None:
    """The one verdict for a cancelled call, whatever the phase and whether the SDK's native span is on."""
    assert telemetry.counter("anthropic.client.calls") == 1, "finished exactly once"
    ((attrs, _),) = [(a, p) for a, p in telemetry.points("anthropic.client.calls")]
    assert attrs["anthropic.call.outcome"] == "cancelled"
    assert attrs["error.type"] == "cancelled"
    assert attrs["gen_ai.request.stream"] is stream
    # Never the status of the error the SDK was about to retry (the retries-exhausted and server-failure SLIs).
    assert attrs.get("http.response.status_code") in (None, 200)
    durations = telemetry.points("gen_ai.client.operation.duration")
    assert [a.get("error.type") for a, _ in durations] == ["cancelled"], "no fast success in the latency SLO"

    span = telemetry.call_span()
    span_attrs = dict(span.attributes or {})
    assert span_attrs["anthropic.call.outcome"] == "cancelled"
    assert "error.type" not in span_attrs
    assert span.status.status_code is StatusCode.UNSET, span.status
    assert span_attrs.get("http.response.status_code") in (None, 200)
    assert len(telemetry.attempt_spans()) == attempts
    for attempt in telemetry.attempt_spans():
        if (attempt.attributes or {}).get("http.response.status_code") is None:  # the one the cancellation stopped
            assert attempt.status.status_code is StatusCode.UNSET
            assert "error.type" not in (attempt.attributes or {})


def _attempt_error_types(telemetry: Telemetry) -> list[Any]:
    return sorted(str(a.get("error.type")) for a, _ in telemetry.points("anthropic.client.attempts"))


# --- asyncio ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_asyncio_cancelled_during_backoff(make_client: Any, telemetry: Telemetry, stream: bool) -> None:
    client = make_client(BACKOFF, async_=True)

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.messages.create(**messages(stream=stream)), CANCEL_AFTER)

    asyncio.run(main())
    assert_cancelled(telemetry, stream=stream)
    assert _attempt_error_types(telemetry) == ["rate_limit_error"]  # the retried 429, and no attempt after it


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_asyncio_cancelled_waiting_for_the_response(make_client: Any, telemetry: Telemetry, stream: bool) -> None:
    client = make_client(WAITING, async_=True)

    async def main() -> None:
        task = asyncio.ensure_future(client.messages.create(**messages(stream=stream)))
        await asyncio.sleep(CANCEL_AFTER)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert_cancelled(telemetry, stream=stream)
    assert _attempt_error_types(telemetry) == ["cancelled"]


def test_asyncio_cancelled_mid_stream(make_client: Any, telemetry: Telemetry) -> None:
    client = make_client(MID_STREAM, async_=True)

    async def main() -> None:
        async def read() -> None:
            async with client.messages.stream(**messages()) as stream:
                async for _ in stream:
                    pass

        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(read(), 3 * CANCEL_AFTER)

    asyncio.run(main())
    assert_cancelled(telemetry, stream=True)
    assert telemetry.call_span().attributes["anthropic.stream.partial"] is True  # type: ignore[index]


def test_closing_a_stream_is_not_a_cancellation(make_client: Any, telemetry: Telemetry) -> None:
    """The application's own `break` and `close()`: the stream was closed, not cancelled (as before)."""
    stream = make_client("ok:deltas=5").messages.create(**messages(stream=True))
    for event in stream:
        if event.type == "content_block_delta":
            break
    stream.close()
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="ok") == 1
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="cancelled") == 0


# --- trio (through anyio, as the SDK runs on it) -------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["backoff", "waiting", "mid_stream"])
def test_trio_cancel_scope(make_client: Any, telemetry: Telemetry, phase: str) -> None:
    scenario = {"backoff": BACKOFF, "waiting": WAITING, "mid_stream": MID_STREAM}[phase]
    client = make_client(scenario, async_=True)

    async def main() -> None:
        with anyio.move_on_after(CANCEL_AFTER * (3 if phase == "mid_stream" else 1)) as scope:
            if phase == "mid_stream":
                async with client.messages.stream(**messages()) as stream:
                    async for _ in stream:
                        pass
            else:
                await client.messages.create(**messages())
        assert scope.cancelled_caught

    anyio.run(main, backend="trio")
    assert_cancelled(telemetry, stream=phase == "mid_stream")


# --- KeyboardInterrupt, SystemExit, GeneratorExit (sync) ----------------------------------------------------------


@pytest.fixture(autouse=True)
def _python_sigint_handler() -> Iterator[None]:
    """Ctrl-C raises KeyboardInterrupt only under Python's default SIGINT handler: whatever an earlier test or
    library left installed (an event loop's, say), these tests simulate a terminal's Ctrl-C on a plain program."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _interrupt_main_when(ready: Callable[[], bool]) -> threading.Thread:
    """Ctrl-C, as the terminal sends it: SIGINT to the main thread (where the test runs) once `ready()` holds."""
    assert threading.current_thread() is threading.main_thread()

    def run() -> None:
        deadline = time.monotonic() + 5
        while not ready() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(CANCEL_AFTER)
        _thread.interrupt_main()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _interrupted(call: Callable[[], object], thread: threading.Thread) -> None:
    """Run `call`, which the interrupt must stop; an interrupt that comes after it still lands in this test."""
    try:
        call()
    except KeyboardInterrupt:
        thread.join(5)
        return
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(10)
    pytest.fail("the call ended before the interrupt")


def _requests_received(simulator: Simulator, n: int) -> Callable[[], bool]:
    return lambda: len(simulator.requests) >= n


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_keyboard_interrupt_during_backoff(
    make_client: Any, telemetry: Telemetry, simulator: Simulator, stream: bool
) -> None:
    client = make_client(BACKOFF)
    thread = _interrupt_main_when(_requests_received(simulator, 1))
    _interrupted(lambda: client.messages.create(**messages(stream=stream)), thread)
    assert_cancelled(telemetry, stream=stream)


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_keyboard_interrupt_waiting_for_the_response(
    make_client: Any, telemetry: Telemetry, simulator: Simulator, stream: bool
) -> None:
    client = make_client(WAITING)
    thread = _interrupt_main_when(_requests_received(simulator, 1))
    _interrupted(lambda: client.messages.create(**messages(stream=stream)), thread)
    assert_cancelled(telemetry, stream=stream)
    assert _attempt_error_types(telemetry) == ["cancelled"]


def test_keyboard_interrupt_mid_stream(make_client: Any, telemetry: Telemetry) -> None:
    started = threading.Event()
    thread = _interrupt_main_when(started.is_set)

    def read() -> None:
        with make_client(MID_STREAM).messages.stream(**messages()) as stream:
            for event in stream:
                if event.type == "content_block_delta":
                    started.set()  # the first delta came at once; the next read waits 3 s

    _interrupted(read, thread)
    assert_cancelled(telemetry, stream=True)


@pytest.mark.parametrize("exc_type", [SystemExit, GeneratorExit])
def test_system_exit_and_generator_exit_from_inside_the_call(
    make_client: Any, telemetry: Telemetry, exc_type: type[BaseException]
) -> None:
    """Raised by the application's own code inside the call (an httpx event hook of its client)."""

    def hook(response: Any) -> None:
        raise exc_type()

    client = make_client("ok")
    client._client.event_hooks = {"request": [], "response": [hook]}
    with pytest.raises(exc_type):
        client.messages.create(**messages())
    assert_cancelled(telemetry, stream=False)


def test_a_cancelled_call_next_to_a_completed_one(make_client: Any, telemetry: Telemetry) -> None:
    """A cancelled async call next to a completed one: each keeps its own verdict."""
    slow = make_client(WAITING, async_=True)
    fast = make_client("ok", async_=True)

    async def main() -> None:
        task = asyncio.ensure_future(slow.messages.create(**messages()))
        await fast.messages.create(**messages())
        await asyncio.sleep(CANCEL_AFTER)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="ok") == 1
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="cancelled") == 1
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="failed") == 0
