"""Observing a response body that the application reads after the call returned — from below.

Nothing the application holds is replaced: the `Stream`, `MessageStream` or raw response it gets is the
SDK's own object. We wrap the transport-level body (`response.stream`, an httpx byte stream) to learn when
reading it ends, fails, is closed or is dropped, and the SDK's server-sent-event iterator to learn the few
events that matter (`message_start`, `message_delta`, `message_stop`, `error`) plus the time of the first
content delta. Per event that is one generator step and one set lookup; nothing is recorded before
the end of the stream.

A `Stream` that `request()` returns gets an `_iter_events` of its own (`observe_stream`): it is observed whether
its body is still on the network or already in memory (mock, replay and caching transports), and to its end even
after an `uninstrument()`. A stream made later from a raw response goes through the class-level event hook.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from . import _sdk
from ._call import Call
from ._log import internal_error

_CALL_ATTR = "_anthropic_otel_call"


def call_of(response: object) -> Call | None:
    call = getattr(response, _CALL_ATTR, None)
    return call if isinstance(call, Call) else None


def attach(response: Any, call: Call) -> None:
    """Finish `call` when the application has read, closed or dropped the unread body of `response`."""
    body = response.stream
    response.stream = _wrapper_class(response, body)(body, call)
    setattr(response, _CALL_ATTR, call)
    call.body_attached(json_body="json" in response.headers.get("content-type", ""))


def _finish(call: Call, error: BaseException | None, how: str) -> None:
    try:
        call.finish(error, how)
    except Exception:
        internal_error("finishing a streamed call")
        call.abandon()


def _ended_by(call: Call, exc: BaseException) -> None:
    """Reading the body raised `exc`: a failure, or a cancellation (`_errors.is_cancellation`) that reached the read,
    which the call records as `cancelled`. Not GeneratorExit: raised at our own `yield`, it is the reader abandoning
    the iteration (a `break`, a dropped stream), whose close or drop of the body ends the call as today."""
    if not isinstance(exc, GeneratorExit):
        _finish(call, exc, "failed")


def _collect(call: Call, chunk: bytes) -> None:
    """Keep a chunk of a JSON body for the usage; a failure of ours never reaches the application's read."""
    try:
        call.collect_json(chunk)
    except Exception:
        call.stop_collecting_json()
        internal_error("reading a response body")


class _Body:
    """Common part of the body wrappers: delegate everything we do not observe to the wrapped body."""

    def __init__(self, body: Any, call: Call) -> None:
        self._otel_body = body
        self._otel_call = call
        _sdk.keep_body_observer(self, body)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._otel_body, name)

    def __del__(self) -> None:
        # The application dropped the response without reading or closing it.
        call = self.__dict__.get("_otel_call")
        if call is not None:
            _finish(call, None, "dropped")


class _SyncBody(_Body):
    def __iter__(self) -> Iterator[bytes]:
        if _events_tell_the_end(self._otel_call):
            return iter(self._otel_body)
        return self._observed()

    def _observed(self) -> Iterator[bytes]:
        call = self._otel_call
        try:
            if not call.collects_json:
                yield from self._otel_body
            else:
                for chunk in self._otel_body:
                    _collect(call, chunk)
                    yield chunk
        except BaseException as exc:
            _ended_by(call, exc)
            raise
        _finish(call, None, "read")

    def close(self) -> None:
        try:
            self._otel_body.close()
        finally:
            if not _events_running(self._otel_call):
                _finish(self._otel_call, None, "closed")


class _AsyncBody(_Body):
    def __aiter__(self) -> AsyncIterator[bytes]:
        if _events_tell_the_end(self._otel_call):
            chunks: AsyncIterator[bytes] = self._otel_body.__aiter__()
            return chunks
        return self._observed()

    async def _observed(self) -> AsyncIterator[bytes]:
        call = self._otel_call
        chunks = self._otel_body.__aiter__()
        try:
            if not call.collects_json:
                async for chunk in chunks:
                    yield chunk
            else:
                async for chunk in chunks:
                    _collect(call, chunk)
                    yield chunk
        except BaseException as exc:
            _ended_by(call, exc)
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
            if not _events_running(self._otel_call):
                _finish(self._otel_call, None, "closed")


def _events_tell_the_end(call: Call) -> bool:
    """Whether our event observer, not the body wrapper, reports how reading the body ends.

    When the SDK reads the body through its event iterator (a `Stream`), the observer around that iterator sees
    the end of the body and every failure of reading it, so the body is read with no layer of ours per chunk.
    Not under the SDK's native span: the SDK ends it when the body ends, and what the end tells us (a stream cut
    short, the outcome) must be on that span before.
    """
    return call.events_observer is not None and not call.native


def _events_running(call: Call) -> bool:
    """Whether the body is being closed from inside our event observer: httpx closes a body it has read to the
    end before the event iterator has finished; the observer then reports the end itself, right after. (A close
    from another thread while the observer runs is the application's: it ends the call as closed.)"""
    ref = call.events_observer
    observer = ref() if ref is not None else None
    if observer is None or call.events_thread != threading.get_ident():
        return False
    return bool(getattr(observer, "gi_running", None) or getattr(observer, "ag_running", None))


_classes: dict[tuple[type, ...], type] = {}


def _wrapper_class(response: object, body: object) -> type:
    """A wrapper of the same httpx kind(s) as `body`, so httpx's own isinstance checks still hold."""
    sync, async_ = _sdk.byte_stream_kinds(response, body)
    sync_base, async_base = _sdk.byte_stream_bases(response)
    bases: list[type] = []
    if sync:
        bases += [_SyncBody, sync_base]
    if async_:
        bases += [_AsyncBody, async_base]
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


# The events we look at. A content delta only until the first one (its time is the time to first chunk), unless
# content capture wants the text of deltas: then until its limit is reached. SDK < 1.0 names every Bedrock event
# `completion`.
_RARE_EVENTS = frozenset(("message_start", "message_delta", "message_stop", "error"))
_UNTIL_FIRST_DELTA = _RARE_EVENTS | {"content_block_delta", "completion"}
_AFTER_FIRST_DELTA = _RARE_EVENTS | {"completion"}


def _note_event(call: Call, name: str, data: str, watched: frozenset[str]) -> frozenset[str]:
    """One watched event; returns the events to watch from now on. A failure of ours is logged and forgotten."""
    try:
        if name == "completion":
            name = _completion_event_name(data)
        if name == "content_block_delta":
            call.first_chunk()
            if call.capture_limit > 0 and call.stream_delta(data):
                return watched
            return _AFTER_FIRST_DELTA  # content capture, if on, has all it may keep
        if name in _RARE_EVENTS:
            call.sse_event(name, data)
    except Exception:
        internal_error("reading a stream event")
    return watched


class _OwnEvents:
    """One stream's own `_iter_events`: the SDK's events of that stream, seen through our observer, whatever is
    hooked on the SDK's classes when it is read (an `uninstrument()` in between takes nothing away). The stream
    is held weakly: a strong reference from its own attribute would make a cycle, and a dropped stream would then
    wait for the garbage collector to report its end. It is alive whenever this is called (it is being read)."""

    __slots__ = ("_async", "_call", "_stream")

    def __init__(self, stream: object, call: Call, async_: bool) -> None:
        self._stream = weakref.ref(stream)
        self._call = call
        self._async = async_

    def __call__(self) -> Any:
        stream = self._stream()
        if stream is None:  # pragma: no cover - the SDK reads a stream it holds
            raise RuntimeError("anthropic-otel: the stream is gone")
        events = _sdk.class_events(stream)
        if self._async:
            return observed_events_async(events, self._call)
        return observed_events(events, self._call)


def observe_stream(result: object, call: Call) -> bool:
    """`request()` returned a `Stream` (or `AsyncStream`) of the body `call` waits for: observe its events from
    its first read on, and, under the SDK's native span, write what the span lacks before the SDK ends it.
    False if `result` is no such stream (a raw response, whose stream is made later: the class-level event hook
    observes that one)."""
    kind = _sdk.event_stream_kind(result)
    if kind is None or call_of(_sdk.stream_response(result)) is not call:
        return False
    if _sdk.own_events_method(result) is None:
        _sdk.bind_events(result, _OwnEvents(result, call, kind == "async"))
    if call.native:
        _sdk.before_native_span_ends(_sdk.stream_response(result), lambda: _before_native_end(call))
    return True


def events_bound(stream: object) -> bool:
    """Whether `stream` observes its own events (`observe_stream`): the class-level event hook then passes."""
    return isinstance(_sdk.own_events_method(stream), _OwnEvents)


def _before_native_end(call: Call) -> None:
    try:
        call.native_span_ending()
    except Exception:
        internal_error("updating the native span")


def observed_events(events: Iterator[Any], call: Call) -> Iterator[Any]:
    """`events` seen through our observer, which from now on reports the end of the body (`_events_tell_the_end`)."""
    return _registered(observe_events(events, call), call)


def observed_events_async(events: AsyncIterator[Any], call: Call) -> AsyncIterator[Any]:
    return _registered(observe_events_async(events, call), call)


_Observer = TypeVar("_Observer", Iterator[Any], AsyncIterator[Any])


def _registered(observer: _Observer, call: Call) -> _Observer:
    call.events_observed_by(weakref.ref(observer))
    return observer


def observe_events(events: Iterator[Any], call: Call) -> Iterator[Any]:
    """Pass the server-sent events of a streamed body through, noting the ones that matter. A decoder that
    raises (SDK < 1.0 raises ValueError for a Bedrock exception frame) fails the call.

    Per event: one attribute read (`_sdk.event_name`) and one set lookup; everything else is in `_note_event`, for
    the few events that matter."""
    call.events_reading(threading.get_ident())
    watched = _UNTIL_FIRST_DELTA
    event_name = _sdk.event_name
    try:
        for sse in events:
            try:
                name = event_name(sse)
            except AttributeError:
                name = getattr(sse, "event", None)
            if name in watched:
                watched = _note_event(call, name, sse.data, watched)
            yield sse
    except GeneratorExit:
        # Closed before the end of the body: the stream was closed or dropped. A body in memory (a mock or
        # replay transport) has no close of its own to report it.
        _finish(call, None, "closed")
        raise
    except BaseException as exc:
        _ended_by(call, exc)
        raise
    _finish(call, None, "read")


async def observe_events_async(events: AsyncIterator[Any], call: Call) -> AsyncIterator[Any]:
    call.events_reading(threading.get_ident())
    watched = _UNTIL_FIRST_DELTA
    event_name = _sdk.event_name
    try:
        async for sse in events:
            try:
                name = event_name(sse)
            except AttributeError:
                name = getattr(sse, "event", None)
            if name in watched:
                watched = _note_event(call, name, sse.data, watched)
            yield sse
    except GeneratorExit:
        _finish(call, None, "closed")
        raise
    except BaseException as exc:
        _ended_by(call, exc)
        raise
    finally:
        # Close the SDK's event generator in this task, as a closed stream of the SDK's own does; left to the
        # garbage collector it may be finalized in another thread after its event loop has gone.
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
    _finish(call, None, "read")
