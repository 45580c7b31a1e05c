"""A stream is observed to its end whatever carries its body and whatever happens after it began: bodies already in
memory (mock, replay and caching transports), streams abandoned part-way (only usage that is known, and the same
`anthropic.stream.partial` with native tracing on and off), and an `uninstrument()` before the first read."""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import json
from typing import Any

import anthropic
import pytest

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Simulator
from support import API_KEY, HAS_NATIVE_TRACING, SDK_VERSION, Telemetry, messages

# SDK >= 1.0 sends through httpx2, older ones through httpx.
httpx: Any = importlib.import_module("httpx2" if SDK_VERSION >= (1, 0) else "httpx")

ASYNC = pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _message_start() -> bytes:
    message = {
        "id": "msg_in_memory",
        "type": "message",
        "role": "assistant",
        "model": "claude-replayed",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 11, "output_tokens": 1},
    }
    return _sse("message_start", {"type": "message_start", "message": message})


def _deltas(count: int) -> bytes:
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "word "}}
    return _sse("content_block_start", block) + _sse("content_block_delta", delta) * count


OK_BODY = (
    _message_start()
    + _deltas(3)
    + _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    + _sse(
        "message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}
    )
    + _sse("message_stop", {"type": "message_stop"})
)
ERROR_BODY = (
    _message_start()
    + _deltas(2)
    + _sse("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
)


def _in_memory_client(telemetry: Telemetry, native: bool, body: bytes, async_: bool) -> Any:
    """A real SDK client whose transport answers every request with `body`, a response already in memory."""

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers={"content-type": "text/event-stream", "request-id": "req_mem"}, content=body)

    transport = httpx.MockTransport(handler)
    http_client = httpx.AsyncClient(transport=transport) if async_ else httpx.Client(transport=transport)
    cls = anthropic.AsyncAnthropic if async_ else anthropic.Anthropic
    return cls(api_key=API_KEY, http_client=http_client, max_retries=0, **telemetry.client_options(native))


def _read(client: Any, async_: bool) -> list[str]:
    async def read_async() -> list[str]:
        return [event.type async for event in await client.messages.create(**messages(stream=True))]

    if async_:
        return asyncio.run(read_async())
    return [event.type for event in client.messages.create(**messages(stream=True))]


def _output_points(telemetry: Telemetry) -> list[int]:
    return [int(p.sum) for a, p in telemetry.points("gen_ai.client.token.usage") if a["gen_ai.token.type"] == "output"]


def _only_call(telemetry: Telemetry) -> dict[str, Any]:
    assert telemetry.counter("anthropic.client.calls") == 1, "finished exactly once"
    return dict(telemetry.call_span().attributes or {})


# --- bodies already in memory -------------------------------------------------------------------------------------


@ASYNC
def test_in_memory_stream_is_observed(telemetry: Telemetry, native: bool, async_: bool) -> None:
    events = _read(_in_memory_client(telemetry, native, OK_BODY, async_), async_)
    assert events[0] == "message_start" and events[-1] == "message_stop"
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "ok"
    assert attrs["anthropic.message.stop_reason"] == "end_turn"
    assert attrs["gen_ai.usage.input_tokens"] == 11
    assert attrs["gen_ai.usage.output_tokens"] == 7
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert "anthropic.stream.partial" not in attrs
    assert telemetry.counter("anthropic.client.calls", anthropic__message__stop_reason="end_turn") == 1
    assert _output_points(telemetry) == [7]
    ((_, ttfc),) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1


@ASYNC
def test_in_memory_stream_error_event(telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = _in_memory_client(telemetry, native, ERROR_BODY, async_)
    with pytest.raises(anthropic.APIStatusError):
        _read(client, async_)
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "failed"
    assert attrs["error.type"] == "overloaded_error"
    assert attrs["anthropic.stream.partial"] is True
    assert (
        telemetry.counter("anthropic.client.calls", anthropic__call__outcome="failed", error__type="overloaded_error")
        == 1
    )


def test_in_memory_stream_abandoned(telemetry: Telemetry, native: bool) -> None:
    stream = _in_memory_client(telemetry, native, OK_BODY, False).messages.create(**messages(stream=True))
    for event in stream:
        if event.type == "content_block_delta":
            break
    stream.close()
    del stream, event
    gc.collect()
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "ok"
    assert attrs["anthropic.stream.partial"] is True
    assert attrs["gen_ai.usage.input_tokens"] == 11
    assert _output_points(telemetry) == []


# --- abandoned streams ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "drop"])
def test_abandoned_stream_reports_no_placeholder_and_is_partial(
    make_client: Any, telemetry: Telemetry, native: bool, how: str
) -> None:
    client = make_client("ok:deltas=400")
    stream = client.messages.create(**messages(stream=True))
    seen = 0
    for event in stream:
        seen += event.type == "content_block_delta"
        if seen == 3:
            break
    assert telemetry.counter("anthropic.client.calls") == 0, "not finished while the stream is open"
    if how == "close":
        stream.close()
    del stream, event
    gc.collect()

    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "ok"
    assert attrs["anthropic.stream.partial"] is True
    # message_start's output_tokens (1) is a placeholder; the server had not sent the real count yet.
    assert attrs.get("gen_ai.usage.output_tokens") != 1
    if not native:
        assert "gen_ai.usage.output_tokens" not in attrs
    assert attrs["gen_ai.usage.input_tokens"] > 0
    assert _output_points(telemetry) == []
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="ok", gen_ai__request__stream=True) == 1


def test_abandoned_async_stream_is_partial(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("ok:deltas=400", async_=True)

    async def read() -> None:
        stream = await client.messages.create(**messages(stream=True))
        seen = 0
        async for event in stream:
            seen += event.type == "content_block_delta"
            if seen == 3:
                break
        await stream.close()

    asyncio.run(read())
    gc.collect()
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "ok"
    assert attrs["anthropic.stream.partial"] is True
    assert attrs.get("gen_ai.usage.output_tokens") != 1
    assert _output_points(telemetry) == []


def test_stream_read_to_the_end_has_the_real_count(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    for _ in make_client("ok:deltas=5").messages.create(**messages(stream=True)):
        pass
    attrs = _only_call(telemetry)
    assert "anthropic.stream.partial" not in attrs
    assert attrs["gen_ai.usage.output_tokens"] == _output_points(telemetry)[0] > 1


# SDK >= 1.14 iterates a copy of a stream (`_iterator`, made on first use), so nothing the stream keeps refers back to
# it and a dropped stream's response is closed by reference counting at once; older SDKs keep a generator of the
# stream itself, a cycle that waits for the garbage collector with or without us.
SDK_CLOSES_DROPPED_STREAMS = isinstance(vars(anthropic.Stream).get("_iterator"), functools.cached_property)


@pytest.mark.skipif(not SDK_CLOSES_DROPPED_STREAMS, reason="this SDK leaves a dropped stream to the garbage collector")
@pytest.mark.parametrize("held", ["stream", "iter(stream)"])
def test_dropped_stream_is_closed_at_once(make_client: Any, telemetry: Telemetry, native: bool, held: str) -> None:
    """No reference of ours makes a cycle with a stream: dropped part-way with the garbage collector off, its
    response is closed at once and the call finished, as without us."""
    client = make_client("ok:deltas=50")
    gc.disable()
    try:
        stream = client.messages.create(**messages(stream=True))
        response = stream.response
        items = stream if held == "stream" else iter(stream)
        while next(items).type != "content_block_delta":
            pass
        del stream, items
        assert response.is_closed
        assert telemetry.counter("anthropic.client.calls") == 1
    finally:
        gc.enable()
    assert _only_call(telemetry)["anthropic.stream.partial"] is True


@pytest.mark.parametrize("read", [0, 3], ids=["unread", "part-read"])
def test_stream_dropped_in_a_cycle_ends_its_call(
    make_client: Any, telemetry: Telemetry, native: bool, read: int
) -> None:
    """A stream the garbage collector frees (it was in a reference cycle) still ends its call span, the SDK's
    native one included: the collector clears weak references before it runs finalizers, so nothing of ours on the
    end-of-body path may hold the SDK's objects only weakly."""
    client = make_client("ok:deltas=50")
    stream = client.messages.create(**messages(stream=True))
    for _ in range(read):
        next(stream)
    cycle: list[Any] = [stream]
    cycle.append(cycle)
    del stream, cycle
    gc.collect()
    assert telemetry.left_open() == []
    assert telemetry.counter("anthropic.client.calls") == 1
    if native:
        (span,) = [s for s in telemetry.spans() if s.instrumentation_scope.name.startswith("com.anthropic.sdk")]
        assert span.end_time is not None


@pytest.mark.skipif(not SDK_CLOSES_DROPPED_STREAMS, reason="this SDK leaves a dropped stream to the garbage collector")
@pytest.mark.parametrize("held", ["stream", "aiter(stream)"])
def test_dropped_async_stream_is_closed_by_the_loop(
    make_client: Any, telemetry: Telemetry, native: bool, held: str
) -> None:
    """The async twin: the event loop closes a dropped async stream's response (its finalizer hook runs
    `aclose()`), with the garbage collector off."""
    client = make_client("ok:deltas=50", async_=True)

    async def drop() -> bool:
        stream = await client.messages.create(**messages(stream=True))
        response = stream.response
        items = stream if held == "stream" else aiter(stream)
        while (await anext(items)).type != "content_block_delta":
            pass
        del stream, items
        for _ in range(500):  # bounded: a few loop turns suffice
            if response.is_closed:
                return True
            await asyncio.sleep(0.01)
        return False

    gc.disable()
    try:
        assert asyncio.run(drop()), "the dropped stream's response was left open"
    finally:
        gc.enable()
    assert _only_call(telemetry)["anthropic.stream.partial"] is True


@pytest.mark.skipif(not HAS_NATIVE_TRACING, reason="the SDK has no native tracing before 1.14")
@ASYNC
def test_native_span_keeps_the_content_of_the_sdks_stream_helper(
    simulator: Simulator, telemetry: Telemetry, async_: bool
) -> None:
    """The SDK's stream helpers find the recorder of their content through the body's end-of-body observer, by its
    class: the `end` we hook on that observer leaves the observer itself in place, so the SDK's own content capture
    (`content_mode: content`) still writes the streamed output onto its span."""
    option = {"tracer_provider": telemetry.tracer_provider, "traces": {"content_mode": "content"}}
    headers = {"x-sim-scenario": "ok:deltas=4"}
    kwargs = {"api_key": API_KEY, "base_url": simulator.base_url, "default_headers": headers, "open_telemetry": option}

    async def read_async() -> None:
        async with anthropic.AsyncAnthropic(**kwargs) as client, client.messages.stream(**messages()) as stream:
            await stream.until_done()

    if async_:
        asyncio.run(read_async())
    else:
        with anthropic.Anthropic(**kwargs) as client, client.messages.stream(**messages()) as stream:
            stream.until_done()

    span = telemetry.call_span()
    assert span.instrumentation_scope is not None and span.instrumentation_scope.name.startswith("com.anthropic.sdk")
    output = json.loads(str((span.attributes or {})["gen_ai.output.messages"]))
    assert output[0]["parts"][0]["type"] == "text" and output[0]["parts"][0]["content"]
    assert (span.attributes or {})["anthropic.call.outcome"] == "ok"  # and ours is there too


# --- uninstrument() while a stream is open -----------------------------------------------------------------------


@ASYNC
def test_uninstrument_before_the_first_read(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client("max_tokens:deltas=5", async_=async_)

    async def read_async() -> list[str]:
        stream = await client.messages.create(**messages(stream=True))
        AnthropicInstrumentor().uninstrument()
        return [event.type async for event in stream]

    def read() -> list[str]:
        stream = client.messages.create(**messages(stream=True))
        AnthropicInstrumentor().uninstrument()
        return [event.type for event in stream]

    events = asyncio.run(read_async()) if async_ else read()
    assert events[-1] == "message_stop"
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "ok"
    assert attrs["anthropic.message.stop_reason"] == "max_tokens"
    assert attrs["gen_ai.usage.output_tokens"] == 64
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert "anthropic.stream.partial" not in attrs
    ((_, ttfc),) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1
    assert _output_points(telemetry) == [64]
    assert telemetry.left_open() == []
    if not async_:  # calls made after uninstrument() are not ours any more
        _read(client, async_)
        assert telemetry.counter("anthropic.client.calls") == 1


def test_uninstrument_before_reading_a_stream_helper(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    with make_client("tool_use").messages.stream(**messages()) as stream:
        AnthropicInstrumentor().uninstrument()
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    attrs = _only_call(telemetry)
    assert attrs["anthropic.message.stop_reason"] == "tool_use"
    assert attrs["gen_ai.usage.output_tokens"] == final.usage.output_tokens
