"""The wrapt wrappers that connect the SDK to `_call` and `_streams`. Where each is placed, and what it reads of
the SDK, is in `_sdk` (`HOOK_POINTS` and the accessors).

Every wrapper calls the SDK exactly as it was called and returns or raises exactly what it returned or raised;
our own work is guarded so a bug of ours is logged once and the call goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from contextvars import ContextVar, Token
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from . import _propagation, _sdk, _streams
from ._attempt import HEADERS_READ
from ._call import Call
from ._config import OPTIONAL_METRIC_ATTRIBUTES, Config
from ._log import internal_error
from ._telemetry import Telemetry

_current_call: ContextVar[Call | None] = ContextVar("anthropic_otel_call", default=None)


class Hooks:
    """The wrappers, bound to one `Telemetry` and `Config`. `enabled = False` turns them into pass-throughs
    (for an `uninstrument()` that cannot unwrap because something else wrapped on top of us): they start no call,
    and the attempt, retry-delay and stream-event hooks act only on a call these hooks started, never on one of
    the hooks of a later `instrument()` wrapped around them."""

    def __init__(self, telemetry: Telemetry, config: Config) -> None:
        self.telemetry = telemetry
        self.config = config
        self.enabled = True
        self._mode = config.call_span
        self._capture_limit = config.max_content_bytes if config.capture_content != "NO_CONTENT" else 0
        self._content_on_span = config.content_on_span
        self.metric_headers = tuple((name, OPTIONAL_METRIC_ATTRIBUTES[name]) for name in config.metric_attributes)
        self.headers_read = frozenset(
            name.encode("ascii") for name in (*HEADERS_READ, *(header for _, header in self.metric_headers))
        )

    # --- one SDK call -----------------------------------------------------------------------------------

    def _start(self, client: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Call | None:
        if not self.enabled or not is_instrumentation_enabled():
            return None
        try:
            options, stream = _sdk.request_arguments(args, kwargs)
            mode = self._mode
            own = mode == "own" or (mode == "auto" and not _sdk.native_tracing_on(client))
            return Call(
                self.telemetry,
                client,
                options,
                stream,
                own_span=own,
                may_start_own=mode != "native-only",
                capture_limit=self._capture_limit,
                content_on_span=self._content_on_span,
                metric_headers=self.metric_headers,
                propagate=self.config.propagate and _sdk.client_propagates(client),
            )
        except Exception:
            internal_error("starting a call")
            return None

    def request_sync(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        call = self._start(instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = _current_call.set(call)
        ctx_token = otel_context.attach(call.span_ctx) if call.span_ctx is not None else None
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        finally:
            if ctx_token is not None:
                otel_context.detach(ctx_token)
            _current_call.reset(token)
        _returned(call, result)
        return result

    async def request_async(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        call = self._start(instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = _current_call.set(call)
        ctx_token = otel_context.attach(call.span_ctx) if call.span_ctx is not None else None
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            _failed(call, exc)
            raise
        finally:
            if ctx_token is not None:
                otel_context.detach(ctx_token)
            _current_call.reset(token)
        _returned(call, result)
        return result

    # --- one HTTP attempt -------------------------------------------------------------------------------

    def attempt_sync(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        started = _start_attempt(args, kwargs, self.telemetry)
        if started is None:
            return wrapped(*args, **kwargs)
        call, attempt, token = started
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            _attempt_raised(call, attempt, exc)
            raise
        otel_context.detach(token)
        try:
            response = _sdk.attempt_response(result)
            _responded(call, attempt, response, _error_body_in_memory(response), self.headers_read)
        except Exception:
            internal_error("recording an attempt")
            _abandon(attempt)
        return result

    async def attempt_async(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        started = _start_attempt(args, kwargs, self.telemetry)
        if started is None:
            return await wrapped(*args, **kwargs)
        call, attempt, token = started
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            otel_context.detach(token)
            _attempt_raised(call, attempt, exc)
            raise
        otel_context.detach(token)
        try:
            response = _sdk.attempt_response(result)
            _responded(call, attempt, response, _error_body_in_memory(response), self.headers_read)
        except Exception:
            internal_error("recording an attempt")
            _abandon(attempt)
        return result

    def retry_timeout(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        value = wrapped(*args, **kwargs)
        call = _current_call.get()
        if call is not None and call.telemetry is self.telemetry:
            try:
                call.retry_delay(float(value))
            except Exception:
                internal_error("recording a retry delay")
        return value

    def native_span(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        """In `own` mode (the only one that places this hook) our call span replaces the SDK's: tell the SDK it has
        none for this call."""
        if self.enabled and _current_call.get() is not None:
            return None
        return wrapped(*args, **kwargs)

    # --- streamed bodies --------------------------------------------------------------------------------

    # For a stream made after `request()` returned (a raw or streaming response's `parse()`); a stream that
    # `request()` returned observes its own events (`_streams.observe_stream`).

    def events_sync(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        events = wrapped(*args, **kwargs)
        if _streams.events_bound(instance):
            return events
        call = _streams.call_of(getattr(instance, "response", None))
        if call is None or call.telemetry is not self.telemetry:
            return events
        return _streams.observed_events(events, call)

    def events_async(self, wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        events = wrapped(*args, **kwargs)
        if _streams.events_bound(instance):
            return events
        call = _streams.call_of(getattr(instance, "response", None))
        if call is None or call.telemetry is not self.telemetry:
            return events
        return _streams.observed_events_async(events, call)


def _failed(call: Call, exc: BaseException) -> None:
    try:
        call.finish(exc)
    except Exception:
        internal_error("finishing a failed call")
        call.abandon()
    finally:
        call.forget_response()


def _returned(call: Call, result: Any) -> None:
    try:
        call.returned(_sdk.returned_request_id(result))
        if call.body_pending and _streams.observe_stream(result, call):
            return  # a stream, its body in memory or not: its events and its body finish the call
        if call.waits_for_body():
            return  # the body observer finishes the call when the application is done with the body
        if call.operation == "chat":
            try:
                if hasattr(result, "usage"):
                    call.read_message(result)
                    call.stop_collecting_json()  # the body's JSON is parsed already: no need to parse it again
                else:
                    call.read_raw_response()
            except Exception:
                internal_error("reading a response")
        call.finish()
    except Exception:
        internal_error("finishing a call")
        call.abandon()
    finally:
        call.forget_response()


def _start_attempt(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], telemetry: Telemetry
) -> tuple[Call, Any, Token[Context]] | None:
    call = _current_call.get()
    if call is None or call.telemetry is not telemetry:  # a call of other hooks: see `Hooks`
        return None
    try:
        attempt = call.start_attempt(_sdk.retries_taken(kwargs))
        if call.propagate and call.span is not None and not call.native:  # the SDK sends its native span's itself
            _send_trace_context(call.span_ctx, args, kwargs)
        token = otel_context.attach(attempt.ctx)  # inside the attempt span (its context suppresses httpx spans)
        return call, attempt, token
    except Exception:
        internal_error("starting an attempt")
        return None


def _send_trace_context(ctx: Context | None, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    """Our call span's trace context on this attempt's request (`_propagation`); a failure costs only that."""
    try:
        options = _sdk.attempt_options(args, kwargs)
        headers = _propagation.trace_headers(ctx) if ctx is not None else None
        if options is not None and headers:
            _sdk.set_request_headers(options, headers)
    except Exception:
        internal_error("sending the trace context")


def _attempt_raised(call: Call, attempt: Any, exc: BaseException) -> None:
    try:
        call.attempt_raised(attempt, exc)
    except Exception:
        internal_error("recording a failed attempt")
        _abandon(attempt)


def _abandon(attempt: Any) -> None:
    """After a failure of ours: end the attempt span anyway, so no span is left open."""
    with contextlib.suppress(Exception):
        if attempt.span.is_recording():  # not a span whose end raised in a span processor: it has ended
            attempt.span.end()


def _error_body_in_memory(response: Any) -> object:
    """The body of an error response if it is in memory already, else `None`.

    Never reads: we never wait on the network for our own sake (docs/reliability.md). The SDK reads a
    non-streamed body inside the attempt, so its error bodies are here; for a streamed request it closes a response
    it retries without reading it, and that attempt is classified from its status and headers
    (`_errors.classify_response`).
    """
    if response.status_code < 400 or not _sdk.body_read(response):
        return None
    try:
        return response.content
    except Exception:  # consumed without being kept (`ResponseNotRead`), or an odd response
        return None


def _responded(call: Call, attempt: Any, response: Any, body: object, names: frozenset[bytes]) -> None:
    status = response.status_code
    call.attempt_responded(attempt, status, _sdk.raw_headers(response, names), body, response)
    # A streamed body is observed even when it is in memory already (a mock, replay or caching transport): the
    # SDK's stream still has its events to give the application.
    if 200 <= status < 300 and (call.stream or not response.is_closed):
        _streams.attach(response, call)
