"""Observing a response body that the application reads after the call returned — from below.

Nothing the application holds is replaced: the `Stream`, `MessageStream` or raw response it gets is the
SDK's own object. We wrap the transport-level body (`response.stream`, an httpx byte stream) to learn when
reading it ends, fails, is closed or is dropped, and the SDK's server-sent-event iterator to learn the few
events that matter (`message_start`, `message_delta`, `message_stop`, `error`) plus the time of the first
content delta. Per event that is one generator step and one string comparison; nothing is recorded before
the end of the stream.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from ._call import Call
from ._log import internal_error

_CALL_ATTR = "_anthropic_otel_call"
_RARE_EVENTS = frozenset(("message_start", "message_delta", "message_stop", "error"))


def call_of(response: object) -> Call | None:
    call = getattr(response, _CALL_ATTR, None)
    return call if isinstance(call, Call) else None


def attach(response: Any, call: Call) -> None:
    """Finish `call` when the application has read, closed or dropped the unread body of `response`."""
    body = response.stream
    response.stream = _wrapper_class(response, body)(body, call)
    setattr(response, _CALL_ATTR, call)
    call.body_pending = True
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        call.expect_json_body()


def _finish(call: Call, error: BaseException | None, how: str) -> None:
    try:
        call.finish(error, how)
    except Exception:
        internal_error("finishing a streamed call")
        call.abandon()


def _collect(call: Call, chunk: bytes) -> None:
    """Keep a chunk of a JSON body for the usage; a failure of ours never reaches the application's read."""
    try:
        call.collect_json(chunk)
    except Exception:
        call._json_chunks = None
        internal_error("reading a response body")


class _Body:
    """Common part of the body wrappers: delegate everything we do not observe to the wrapped body."""

    def __init__(self, body: Any, call: Call) -> None:
        self._otel_body = body
        self._otel_call = call
        # The SDK (>= 1.14) looks this up on the body for every event; a real attribute spares the
        # `__getattr__` fallback (and its AttributeError) per event.
        self.stream_observer = getattr(body, "stream_observer", None)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._otel_body, name)

    def __del__(self) -> None:
        # The application dropped the response without reading or closing it.
        call = self.__dict__.get("_otel_call")
        if call is not None:
            _finish(call, None, "dropped")


class _SyncBody(_Body):
    def __iter__(self) -> Iterator[bytes]:
        call = self._otel_call
        try:
            if call._json_chunks is None:
                yield from self._otel_body
            else:
                for chunk in self._otel_body:
                    _collect(call, chunk)
                    yield chunk
        except Exception as exc:
            _finish(call, exc, "failed")
            raise
        _finish(call, None, "read")

    def close(self) -> None:
        try:
            self._otel_body.close()
        finally:
            _finish(self._otel_call, None, "closed")


class _AsyncBody(_Body):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        call = self._otel_call
        chunks = self._otel_body.__aiter__()
        try:
            async for chunk in chunks:
                if call._json_chunks is not None:
                    _collect(call, chunk)
                yield chunk
        except Exception as exc:
            _finish(call, exc, "failed")
            raise
        finally:
            # Close the body's own generator when ours is closed (a stream read in part and closed or dropped), in
            # this task, as the SDK does: left to the garbage collector it may be finalized in another thread after
            # its event loop has closed ("async generator already executing").
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        _finish(call, None, "read")

    async def aclose(self) -> None:
        try:
            await self._otel_body.aclose()
        finally:
            _finish(self._otel_call, None, "closed")


class _FailingSync:
    def __init__(self, error: BaseException) -> None:
        self._error = error

    def __iter__(self) -> Iterator[bytes]:
        raise self._error

    def close(self) -> None:
        pass


class _FailingAsync:
    def __init__(self, error: BaseException) -> None:
        self._error = error

    async def __aiter__(self) -> AsyncIterator[bytes]:
        raise self._error
        yield b""  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        pass


def replay_failure(response: Any, error: BaseException) -> None:
    """Our read of an error body failed: make the SDK's own read of it fail with the same exception, as it would
    have without us (instead of `ResponseNotRead` or a status error without a body)."""
    try:
        httpx = sys.modules[type(response).__module__.partition(".")[0]]
        body = response.stream
        bases: list[type] = []
        if isinstance(body, httpx.SyncByteStream):
            bases += [_FailingSync, httpx.SyncByteStream]
        if isinstance(body, httpx.AsyncByteStream):
            bases += [_FailingAsync, httpx.AsyncByteStream]
        response.stream = type("FailedBody", tuple(bases), {})(error)
        # httpx closed the response when the read failed; the SDK reads only a response that is not closed.
        response.is_stream_consumed = False
        response.is_closed = False
    except Exception:
        internal_error("replaying a failed read")


_classes: dict[tuple[type, ...], type] = {}


def _wrapper_class(response: object, body: object) -> type:
    """A wrapper of the same httpx kind(s) as `body`, so httpx's own isinstance checks still hold.

    httpx (SDK < 1.0) and httpx2 (SDK >= 1.0) are found through the response, never imported here.
    """
    httpx = sys.modules[type(response).__module__.partition(".")[0]]
    bases: list[type] = []
    if isinstance(body, httpx.SyncByteStream):
        bases += [_SyncBody, httpx.SyncByteStream]
    if isinstance(body, httpx.AsyncByteStream):
        bases += [_AsyncBody, httpx.AsyncByteStream]
    key = tuple(bases)
    cls = _classes.get(key)
    if cls is None:
        cls = _classes[key] = type("ObservedBody", key, {})
    return cls


# SDK < 1.0 names every Bedrock stream event `completion`; the Messages event type is the data's `type`.
_EVENT_TYPE = re.compile(r'\{\s*"type"\s*:\s*"([a-z_]+)"')


def _completion_event_name(data: str) -> str:
    match = _EVENT_TYPE.match(data)
    return match.group(1) if match is not None else "completion"


def observe_events(events: Iterator[Any], call: Call) -> Iterator[Any]:
    """Pass the server-sent events of a streamed body through, noting the ones that matter. A decoder that
    raises (SDK < 1.0 raises ValueError for a Bedrock exception frame) fails the call."""
    call.sse_seen = True
    first = True
    capture = call.capture_limit > 0
    try:
        for sse in events:
            try:
                name = sse.event
                if name == "completion":
                    name = _completion_event_name(sse.data)
                if name in _RARE_EVENTS:
                    call.sse_event(name, sse.data)
                elif first and name == "content_block_delta":
                    call.first_chunk_ns = time.time_ns()
                    first = False
                    if capture:
                        call.stream_delta(sse.data)
                elif capture and name == "content_block_delta":
                    call.stream_delta(sse.data)
            except Exception:
                internal_error("reading a stream event")
            yield sse
    except Exception as exc:
        _finish(call, exc, "failed")
        raise


async def observe_events_async(events: AsyncIterator[Any], call: Call) -> AsyncIterator[Any]:
    call.sse_seen = True
    first = True
    capture = call.capture_limit > 0
    try:
        async for sse in events:
            try:
                name = sse.event
                if name == "completion":
                    name = _completion_event_name(sse.data)
                if name in _RARE_EVENTS:
                    call.sse_event(name, sse.data)
                elif first and name == "content_block_delta":
                    call.first_chunk_ns = time.time_ns()
                    first = False
                    if capture:
                        call.stream_delta(sse.data)
                elif capture and name == "content_block_delta":
                    call.stream_delta(sse.data)
            except Exception:
                internal_error("reading a stream event")
            yield sse
    except Exception as exc:
        _finish(call, exc, "failed")
        raise
    finally:
        # Close the SDK's event generator in this task, as a closed stream of the SDK's own does; left to the
        # garbage collector it may be finalized in another thread after its event loop has gone.
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
