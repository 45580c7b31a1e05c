"""Streamed Messages calls: the call is finished exactly once however the stream ends, with TTFC, usage and
stop_reason from the events, and mid-stream failures after HTTP 200 classified from the `error` event."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import anthropic
import pytest

from support import Telemetry, messages


def _only_call(telemetry: Telemetry) -> dict[str, Any]:
    assert telemetry.counter("anthropic.client.calls") == 1, "finished exactly once"
    return dict(telemetry.call_span().attributes or {})


def test_create_stream_read_to_the_end(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    stream = make_client("max_tokens:deltas=5").messages.create(**messages(stream=True))
    assert telemetry.counter("anthropic.client.calls") == 0, "not finished before the stream is read"
    events = [event.type for event in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"

    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "ok"
    assert attrs["anthropic.message.stop_reason"] == "max_tokens"
    assert attrs["gen_ai.usage.output_tokens"] == 64  # from message_delta, not message_start's 1
    assert attrs["gen_ai.response.time_to_first_chunk"] > 0
    assert "anthropic.stream.partial" not in attrs
    assert (
        telemetry.counter(
            "anthropic.client.calls", anthropic__message__stop_reason="max_tokens", gen_ai__request__stream=True
        )
        == 1
    )
    ((_, ttfc),) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.count == 1
    output = [p.sum for a, p in telemetry.points("gen_ai.client.token.usage") if a["gen_ai.token.type"] == "output"]
    assert output == [64]


def test_stream_helper(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("overloaded:retry_after_ms=1,tool_use")
    with client.messages.stream(**messages()) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "recovered"
    assert attrs["anthropic.message.stop_reason"] == "tool_use"
    assert len(telemetry.attempt_spans()) == 2


def test_stream_helper_text_stream(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    with make_client("ok:deltas=4").messages.stream(**messages()) as stream:
        text = "".join(stream.text_stream)
    assert text
    assert _only_call(telemetry)["anthropic.message.stop_reason"] == "end_turn"


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_sse_error_after_200(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client("stream_error:after=3", async_=async_)
    seen: list[str] = []

    async def read_async() -> None:
        stream = await client.messages.create(**messages(stream=True))
        async for event in stream:
            seen.append(event.type)

    def read() -> None:
        for event in client.messages.create(**messages(stream=True)):
            seen.append(event.type)

    with pytest.raises(anthropic.APIStatusError) as caught:
        asyncio.run(read_async()) if async_ else read()
    assert caught.value.status_code == 200
    assert seen.count("content_block_delta") == 3

    span = telemetry.call_span()
    attrs = dict(span.attributes or {})
    assert span.status.status_code.name == "ERROR"
    assert attrs["error.type"] == "overloaded_error"
    assert attrs["anthropic.call.outcome"] == "failed"
    assert attrs["anthropic.stream.partial"] is True
    assert (
        telemetry.counter(
            "anthropic.client.calls",
            error__type="overloaded_error",
            anthropic__call__outcome="failed",
            http__response__status_code=200,
        )
        == 1
    )
    # The attempt itself succeeded (HTTP 200): the failure belongs to the call.
    (attempt,) = telemetry.attempt_spans()
    assert "error.type" not in (attempt.attributes or {})


def test_sse_error_before_output_is_not_partial(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    with pytest.raises(anthropic.APIStatusError):
        for _ in make_client("stream_error:after=0").messages.create(**messages(stream=True)):
            pass
    attrs = _only_call(telemetry)
    assert attrs["error.type"] == "overloaded_error"
    assert "anthropic.stream.partial" not in attrs


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_stream_cut_without_message_stop(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client("stream_cut", async_=async_)

    async def read_async() -> list[str]:
        return [e.type async for e in await client.messages.create(**messages(stream=True))]

    events = asyncio.run(read_async()) if async_ else [e.type for e in client.messages.create(**messages(stream=True))]
    assert "message_stop" not in events
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "failed"
    assert attrs["error.type"] == "api_error"
    assert attrs["anthropic.stream.partial"] is True


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_connection_dropped_mid_stream(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client("drop_mid_stream:after=2", async_=async_)

    async def read_async() -> None:
        async for _ in await client.messages.create(**messages(stream=True)):
            pass

    def read() -> None:
        for _ in client.messages.create(**messages(stream=True)):
            pass

    with pytest.raises(Exception) as caught:
        asyncio.run(read_async()) if async_ else read()
    assert "Protocol" in type(caught.value).__name__ or isinstance(caught.value, anthropic.APIConnectionError)
    attrs = _only_call(telemetry)
    assert attrs["error.type"] == "connection_error"
    assert attrs["anthropic.call.outcome"] == "failed"
    assert attrs["anthropic.stream.partial"] is True


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_break_and_close_is_not_an_error(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client("ok:deltas=10", async_=async_)

    async def read_async() -> None:
        stream = await client.messages.create(**messages(stream=True))
        async for event in stream:
            if event.type == "content_block_delta":
                break
        assert telemetry.counter("anthropic.client.calls") == 0, "not finished while the stream is open"
        await stream.close()

    if async_:
        asyncio.run(read_async())
    else:
        stream = client.messages.create(**messages(stream=True))
        for event in stream:
            if event.type == "content_block_delta":
                break
        assert telemetry.counter("anthropic.client.calls") == 0, "not finished while the stream is open"
        stream.close()
    span = telemetry.call_span()
    attrs = dict(span.attributes or {})
    assert span.status.status_code.name != "ERROR"
    assert attrs["anthropic.call.outcome"] == "ok"
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="ok") == 1


def test_stream_context_manager_exit_early(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    with make_client("ok:deltas=10").messages.stream(**messages()) as stream:
        for _ in stream:
            break
    assert _only_call(telemetry)["anthropic.call.outcome"] == "ok"


def test_dropped_without_reading(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    stream = make_client("ok").messages.create(**messages(stream=True))
    del stream
    gc.collect()
    assert _only_call(telemetry)["anthropic.call.outcome"] == "ok"


def test_slow_first_token(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    for _ in make_client("slow_first_token:delay=0.3").messages.create(**messages(stream=True)):
        pass
    ((_, ttfc),) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert ttfc.sum >= 0.3
    ((_, duration),) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.sum >= ttfc.sum


def test_async_stream_helper(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("refusal", async_=True)

    async def run() -> str | None:
        async with client.messages.stream(**messages()) as stream:
            async for _ in stream.text_stream:
                pass
            return (await stream.get_final_message()).stop_reason

    assert asyncio.run(run()) == "refusal"
    attrs = _only_call(telemetry)
    assert attrs["anthropic.message.stop_reason"] == "refusal"
    assert telemetry.counter("anthropic.client.calls", anthropic__message__stop_reason="refusal") == 1


def test_raw_streaming_response(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("ok:deltas=3")
    with client.messages.with_streaming_response.create(**messages(stream=True)) as response:
        lines = list(response.iter_lines())
    assert any("message_stop" in line for line in lines)
    assert _only_call(telemetry)["anthropic.call.outcome"] == "ok"


def test_raw_response_stream_parse(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    raw = make_client("max_tokens").messages.with_raw_response.create(**messages(stream=True))
    events = [e.type for e in raw.parse()]
    assert events[-1] == "message_stop"
    assert _only_call(telemetry)["anthropic.message.stop_reason"] == "max_tokens"


def test_no_span_left_open(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("ok")
    for _ in range(3):
        for _ in client.messages.create(**messages(stream=True)):
            pass
    client.messages.create(**messages())
    gc.collect()
    assert telemetry.counter("anthropic.client.calls") == 4
    assert len(telemetry.call_spans()) == 4
    assert len(telemetry.attempt_spans()) == 4


class _EventWithoutPrivateName:
    """A server-sent event as another decoder could make it: `event` and `data`, but no `_event` behind them."""

    def __init__(self, sse: Any) -> None:
        self.event, self.data, self.id, self.retry = sse.event, sse.data, sse.id, sse.retry
        self.json = sse.json


def test_events_without_the_private_name_attribute(
    make_client: Any, telemetry: Telemetry, native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event observer reads `_event` (cheaper than the `event` property) and falls back to `event`."""
    decode = anthropic._streaming.SSEDecoder.decode

    def without_private_name(self: Any, line: str) -> Any:
        sse = decode(self, line)
        return None if sse is None else _EventWithoutPrivateName(sse)

    monkeypatch.setattr(anthropic._streaming.SSEDecoder, "decode", without_private_name)
    events = [e.type for e in make_client("max_tokens:deltas=5").messages.create(**messages(stream=True))]
    assert events[-1] == "message_stop"
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "ok" and attrs["anthropic.message.stop_reason"] == "max_tokens"
    assert attrs["gen_ai.usage.output_tokens"] == 64 and attrs["gen_ai.response.time_to_first_chunk"] > 0


def test_closed_from_another_thread_while_being_read(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    """A stream the application closes from another thread while a reader is inside it ended as closed, whatever
    the reader then sees."""
    import threading

    stream = make_client("slow_stream:interval=0.2:deltas=20").messages.create(**messages(stream=True))
    first_delta = threading.Event()
    outcome: list[str] = []

    def read() -> None:
        try:
            for event in stream:
                if event.type == "content_block_delta":
                    first_delta.set()
            outcome.append("read to the end")
        except Exception as exc:
            outcome.append(type(exc).__name__)
        finally:
            first_delta.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first_delta.wait(10)
    stream.close()
    reader.join(10)
    assert not reader.is_alive() and outcome
    attrs = _only_call(telemetry)
    assert attrs["anthropic.call.outcome"] == "ok", (attrs, outcome)
    assert "error.type" not in attrs
