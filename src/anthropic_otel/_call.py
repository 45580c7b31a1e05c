"""One SDK call and its HTTP attempts: the facts they gather while they run.

A `Call` is started by the hook around the SDK's `request()`, collects one `Attempt` per HTTP attempt
(including those the SDK retries internally), learns the backoff before each retry, and is finished exactly
once: when the call returns a fully read response, raises, or, for a streamed body, when the body is read,
fails, is closed or is dropped. Other modules tell a call what happened through its methods and never assign
its fields. When an attempt or the call ends, its facts are frozen into a record (`_record`) that `_emit` writes
as span attributes and metric points. Nothing here touches the SDK's objects; the hooks hand over plain values.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind

from . import _catalog as cat
from . import _emit, _sdk
from ._attempt import Attempt, RateLimitSeries, read_metric_headers
from ._content import Content, emit_inference_details
from ._errors import ErrorInfo, classify_exception, enum_value, is_cancellation, parse_error_body
from ._log import internal_error
from ._operation import operation_name, provider_name
from ._record import USAGE_FIELDS, AttemptRecord, CallRecord
from ._telemetry import Telemetry

try:  # where opentelemetry-instrumentation's httpx instrumentation looks for "suppress HTTP spans"
    from opentelemetry.context import _SUPPRESS_HTTP_INSTRUMENTATION_KEY as SUPPRESS_HTTP_KEY
except ImportError:  # pragma: no cover - very old opentelemetry-api
    SUPPRESS_HTTP_KEY = otel_context.create_key("suppress_http_instrumentation")

_MAX_MODEL_LEN = 128
_MAX_ID_LEN = 128
# The largest JSON body we parse ourselves (a raw response the application reads later) to learn its usage.
MAX_PARSED_BODY = 1024 * 1024


def _get(obj: object, name: str) -> Any:
    """`obj.name` or `obj[name]`: SDK models and plain JSON dicts alike."""
    if isinstance(obj, dict):  # JSON; checked first, as `isinstance(obj, Mapping)` is an ABC check, slower
        return obj.get(name)
    value = getattr(obj, name, None)
    if value is None and isinstance(obj, Mapping):
        return obj.get(name)
    return value


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _short_str(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _start_span(
    tracer: trace.Tracer, name: str, ctx: Context | None, attrs: dict[str, Any], start_time: int | None = None
) -> Span:
    """`tracer.start_span`, or a non-recording span when it raises (a span processor whose `on_start` raises):
    that costs the span, never the call's metrics."""
    try:
        return tracer.start_span(name, ctx, SpanKind.CLIENT, attrs, start_time=start_time)
    except Exception:
        internal_error("starting a span")
        return trace.INVALID_SPAN


class Call:
    """One SDK call, from `request()` to the end of its response body."""

    # Defaults as class attributes: a call sets only what differs, and most calls (not streamed, one attempt) never
    # touch most of these. Mutable state is always created per instance.
    span: Span | None = None
    span_ctx: Context | None = None
    native = False
    parent_span: Span | None = None
    attempts = 0
    _failed_attempts = 0
    last: Attempt | None = None
    _pending: Attempt | None = None  # a failed attempt whose span waits for the backoff that follows
    # The last response, while the call runs: a raw response's body is read from it when the call returns.
    _last_response: Any = None
    # The request id of the response the call returned (a fanning-out middleware may return another than the last).
    _returned_request_id: str | None = None
    # What the response body told us (streamed or not).
    _response_id: str | None = None
    _response_model: str | None = None
    stop_reason: str | None = None
    first_chunk_ns = 0
    _sse_seen = False
    # A weak reference to the generator that observes this call's server-sent events (a strong one would make a
    # cycle through its frame): while it runs, the end of the body is its to report.
    events_observer: Callable[[], Any] | None = None
    events_thread = 0  # the thread that reads them
    _stream_complete = False
    _stream_error: ErrorInfo | None = None
    body_pending = False  # a body the application reads after the call returned: its end ends the call
    _json_chunks: list[bytes] | None = None
    _json_len = 0
    _content: Content | None = None  # content capture (opt-in)
    _attempt_parent: Context | None = None  # the context attempts run in
    # Whether the requests of this call carry the trace context of the call span, when that span is ours: our
    # `propagate` option and the client's own `propagation` (SDK >= 1.14) both allow it.
    propagate = False

    def __init__(
        self,
        telemetry: Telemetry,
        client: Any,
        options: Any,
        stream: bool,
        *,
        own_span: bool,
        may_start_own: bool = True,
        capture_limit: int = 0,
        content_on_span: bool = True,
        metric_headers: tuple[tuple[str, str], ...] = (),
        propagate: bool = False,
    ) -> None:
        self.telemetry = telemetry
        if propagate:
            self.propagate = True
        self.start_ns = time.time_ns()
        self._t0 = time.perf_counter()
        self._unfinished = True  # popped (atomically) by whoever finishes the call first
        self.parent_ctx = parent_ctx = otel_context.get_current()
        self._expect_native = not own_span
        if not own_span:
            self.parent_span = trace.get_current_span(parent_ctx)
        self._may_start_own = may_start_own
        method, path, body = _sdk.request_facts(options)
        self.path = path
        self.method = method
        self.operation = operation = operation_name(method, path)
        self.provider = provider = provider_name(client)
        model = body.get("model")
        self.model = model = model[:_MAX_MODEL_LEN] if isinstance(model, str) and model else None
        self.max_tokens = _int(body.get("max_tokens"))
        self.stream = stream = stream or body.get("stream") is True
        self.server_address, self.server_port = _sdk.server_of(client)
        base: dict[str, Any] = {cat.GEN_AI_OPERATION_NAME: operation, cat.GEN_AI_PROVIDER_NAME: provider}
        if model is not None:
            base[cat.GEN_AI_REQUEST_MODEL] = model
        self._ratelimits = RateLimitSeries(telemetry.ratelimits, (provider, model, self.server_address))
        self.facts = _emit.CallFacts(base, stream, self.server_address, operation == cat.OPERATION_CHAT)
        self.capture_limit = capture_limit
        if capture_limit:
            self._content = Content(
                body, capture_limit, content_on_span, telemetry.event_logger is not None and self.facts.is_chat
            )
        self._metric_headers = metric_headers
        self.extra_attrs: dict[str, str] = {}  # the opt-in metric attributes, from the response headers
        self._usage: dict[str, int] = {}
        if own_span:
            self._start_own_span()

    # --- spans ------------------------------------------------------------------------------------------

    def _start_own_span(self) -> None:
        attrs: dict[str, Any] = dict(self.facts.base)
        attrs[cat.GEN_AI_REQUEST_STREAM] = self.stream
        if self.max_tokens is not None:
            attrs[cat.GEN_AI_REQUEST_MAX_TOKENS] = self.max_tokens
        if self.server_address is not None:
            attrs[cat.SERVER_ADDRESS] = self.server_address
        if self.server_port is not None:
            attrs[cat.SERVER_PORT] = self.server_port
        name = f"{self.operation} {self.model}" if self.model else self.operation
        self.span = _start_span(self.telemetry.tracer, name, self.parent_ctx, attrs, self.start_ns)
        self.span_ctx = trace.set_span_in_context(self.span, self.parent_ctx)

    def _ensure_span(self) -> None:
        """Adopt the SDK's native call span if it is the current one, else start our own (once)."""
        if self.span is not None:
            return
        if self._expect_native:
            current = trace.get_current_span()
            if current is not self.parent_span and current.get_span_context().is_valid and _sdk.is_native_span(current):
                self.span = current
                self.span_ctx = trace.set_span_in_context(current, self.parent_ctx)
                self.native = True
                return
        if self._may_start_own:
            self._start_own_span()
        else:
            self.span_ctx = self.parent_ctx

    # --- attempts ---------------------------------------------------------------------------------------

    def start_attempt(self, retries_taken: int) -> Attempt:
        self._ensure_span()
        self._end_pending()
        if self.attempts and self.native:
            self._sync_native()  # replaces the provisional "cancelled" of the backoff (`retry_delay`)
        self.attempts += 1
        attrs: dict[str, Any] = {cat.HTTP_REQUEST_METHOD: self.method, cat.URL_PATH: self.path}
        if self.server_address is not None:
            attrs[cat.SERVER_ADDRESS] = self.server_address
        if self.server_port is not None:
            attrs[cat.SERVER_PORT] = self.server_port
        if retries_taken > 0:
            attrs[cat.HTTP_REQUEST_RESEND_COUNT] = retries_taken
        parent = self._attempt_parent
        if parent is None:
            # The call's context, with httpx instrumentation told not to add a second span per attempt.
            parent = self._attempt_parent = otel_context.set_value(SUPPRESS_HTTP_KEY, True, self.span_ctx)
        span = _start_span(self.telemetry.tracer, f"{self.method} {self.path}", parent, attrs)
        return Attempt(span, trace.set_span_in_context(span, parent), retries_taken)

    def attempt_responded(
        self, attempt: Attempt, status: int, headers: Mapping[str, str], body: object, response: object
    ) -> None:
        """The attempt got a response: status, request id, rate limits, retry-after and, for an error, its body."""
        self._last_response = response
        record = attempt.responded(status, headers, body, self._ratelimits)
        if self._metric_headers:
            read_metric_headers(headers, self._metric_headers, self.extra_attrs)
        self._attempt_done(attempt, record)

    def attempt_raised(self, attempt: Attempt, exc: BaseException) -> None:
        """The attempt failed before any response: connection refused or dropped, client timeout."""
        self._attempt_done(attempt, attempt.raised(exc))

    def _attempt_done(self, attempt: Attempt, record: AttemptRecord) -> None:
        attempt.record = record
        _emit.attempt_done(self.telemetry, attempt.span, attempt.ctx, self.facts, self.extra_attrs, record)
        self.last = attempt
        if record.info is None:
            attempt.end()
        else:
            self._failed_attempts += 1
            if record.info.retryable:
                # Keep the span open (its end time is fixed) until the SDK says how long it backs off.
                self._pending = attempt
            else:
                attempt.end()
        self._sync_native()

    def _end_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.end()

    def retry_delay(self, seconds: float) -> None:
        """The SDK computed the backoff before its next attempt: put it on the attempt that caused it."""
        pending, self._pending = self._pending, None
        cause = pending or self.last
        ctx = cause.ctx if cause is not None else self.span_ctx
        info = cause.info if cause is not None else None
        try:
            _emit.retry_delay(
                self.telemetry, pending.span if pending is not None else None, ctx, self.facts, info, seconds
            )
        finally:
            if pending is not None:
                pending.end()
            span = self.span
            if self.native and span is not None and span.is_recording():
                # The SDK sleeps next, with no hook of ours on the stack, and only a cancellation ends the call
                # there; the SDK then ends its span before our `request` hook learns of it. The next attempt
                # writes the outcome again (`start_attempt`).
                _emit.native_span_outcome(span, cat.OUTCOME_CANCELLED)

    # --- what the call returned -------------------------------------------------------------------------

    def returned(self, request_id: str | None) -> None:
        """`request()` returned; `request_id` is that of what it returned."""
        if request_id is not None:
            self._returned_request_id = request_id

    def waits_for_body(self) -> bool:
        """Whether the application reads the body after the call returned (the body's end then ends the call)."""
        return self.body_pending and not bool(getattr(self._last_response, "is_closed", True))

    def read_raw_response(self) -> None:
        """A raw response (`with_raw_response`): its body is read already; the SDK parses it only if and when the
        application asks, so we read the usage from the bytes (when they are few enough)."""
        try:
            content = self._last_response.content
        except Exception:
            return
        if isinstance(content, bytes) and len(content) <= MAX_PARSED_BODY:
            self.read_message(_json(content))

    def forget_response(self) -> None:
        """Contexts copied during the call (timers, tasks) must not keep the response alive."""
        self._last_response = None

    # --- what the response says -------------------------------------------------------------------------

    def read_message(self, message: object, *, placeholder_output: bool = False) -> None:
        """Take id, model, stop_reason and usage from a parsed Message (an SDK model or its JSON dict).

        `placeholder_output`: the message of a stream's `message_start`, whose `output_tokens` is a placeholder
        (the real count comes with `message_delta`): an abandoned stream must not report it as its output."""
        self._response_id = _short_str(_get(message, "id"), _MAX_ID_LEN) or self._response_id
        self._response_model = _short_str(_get(message, "model"), _MAX_MODEL_LEN) or self._response_model
        stop_reason = enum_value(_get(message, "stop_reason"))
        if stop_reason is not None:
            self.stop_reason = stop_reason
        usage = _get(message, "usage")
        if usage is not None:
            self._read_usage(usage, skip_output=placeholder_output)
        if self._content is not None:
            self._content.output_blocks(_get(message, "content"))

    def _read_usage(self, usage: object, skip_output: bool = False) -> None:
        for key in USAGE_FIELDS:
            if skip_output and key == "output_tokens":
                continue
            value = _int(_get(usage, key))
            if value is not None:
                self._usage[key] = value
        split = _get(usage, "cache_creation")
        if split is not None:
            for key, name in _CACHE_SPLIT:
                value = _int(_get(split, key))
                if value is not None:
                    self._usage[name] = value

    def body_attached(self, json_body: bool) -> None:
        """The application will read the response body after the call returns; keep a JSON one for its usage."""
        self.body_pending = True
        if json_body:
            self._json_chunks = []

    @property
    def collects_json(self) -> bool:
        return self._json_chunks is not None

    def collect_json(self, chunk: bytes) -> None:
        """Keep the chunks of a JSON body the application reads after the call returned (raw responses)."""
        chunks = self._json_chunks
        if chunks is None:
            return
        chunks.append(chunk)
        self._json_len += len(chunk)
        if self._json_len > MAX_PARSED_BODY:
            self._json_chunks = None

    def stop_collecting_json(self) -> None:
        self._json_chunks = None

    def events_observed_by(self, observer: Callable[[], Any]) -> None:
        """An observer (weakly referenced) of this call's server-sent events exists: it reports the end of the body."""
        self.events_observer = observer

    def events_reading(self, thread: int) -> None:
        """The observer started reading the server-sent events, in `thread`."""
        self._sse_seen = True
        self.events_thread = thread

    def first_chunk(self) -> None:
        if not self.first_chunk_ns:
            self.first_chunk_ns = time.time_ns()

    def stream_delta(self, data: str) -> bool:
        """Content capture only: keep the text of a streamed delta (bounded). False once the limit is reached: the
        event observer then stops looking at deltas at all."""
        content = self._content
        if content is None or not content.wants_text():
            return False
        delta = _get(_json(data), "delta")
        text = _get(delta, "text") or _get(delta, "partial_json") or _get(delta, "thinking")
        if isinstance(text, str):
            content.text(text)
        return content.wants_text()

    def sse_event(self, name: str, data: str) -> None:
        """A rare (not per-delta) server-sent event of the streamed body."""
        if name == "message_delta":
            payload = _json(data)
            delta = _get(payload, "delta")
            stop_reason = enum_value(_get(delta, "stop_reason"))
            if stop_reason is not None:
                self.stop_reason = stop_reason
            usage = _get(payload, "usage")
            if usage is not None:
                self._read_usage(usage)
        elif name == "message_start":
            self.read_message(_get(_json(data), "message"), placeholder_output=True)
        elif name == "message_stop":
            self._stream_complete = True
            self._sync_native()
        elif name == "error":
            error_type, code = parse_error_body(data)
            # An `error` event whose data we cannot read is still the server failing the stream.
            self._stream_error = ErrorInfo(error_type or cat.ERROR_TYPE_STREAM_CUT, code, 200, False)
            self._sync_native()

    # --- the end ----------------------------------------------------------------------------------------

    def _outcome(self, info: ErrorInfo | None, cancelled: bool = False) -> cat.Outcome:
        if cancelled:
            return cat.OUTCOME_CANCELLED
        if info is not None:
            return "failed"
        return "recovered" if self._failed_attempts else "ok"

    def _partial(self) -> bool:
        return self.first_chunk_ns != 0 and not self._stream_complete

    def _sync_native(self, ending: bool = False) -> None:
        """Write what the SDK's native span lacks while it is still open; the last write before it ends wins.

        `anthropic.stream.partial` only once it is final: an error ends the stream, and `ending` is the SDK about
        to end its span (a stream closed or dropped part-way ends the SDK's span before our body observer hears
        of it)."""
        span = self.span
        if not self.native or span is None or not span.is_recording():
            return
        info = self._stream_error
        last = self.last
        if info is None and last is not None:
            info = last.info
        request_id = last.request_id if last is not None else None
        cancelled = last is not None and last.record is not None and last.record.cancelled
        partial = self._partial() and (ending or info is not None)
        _emit.native_span_update(span, self._outcome(info, cancelled), request_id, info, partial)

    def native_span_ending(self) -> None:
        """The SDK is about to end its native span because the body was read, closed, failed or dropped."""
        if "_unfinished" in self.__dict__:  # once we have finished, our end wrote everything
            self._sync_native(ending=True)

    def _claim_end(self) -> bool:
        """True for the first caller only: the body's end, a close from another thread and the return of the call
        may race. `dict.pop` is one atomic operation (no lock to allocate per call, none to re-create after fork)."""
        return bool(self.__dict__.pop("_unfinished", False))

    def abandon(self) -> None:
        """After a failure of ours: end whatever span of this call is still open (the SDK ends its native one).
        Never raises; records nothing more."""
        self._claim_end()
        pending, self._pending = self._pending, None
        for span in (pending.span if pending is not None else None, None if self.native else self.span):
            if span is not None:
                with contextlib.suppress(Exception):
                    if span.is_recording():
                        span.end()

    def finish(self, error: BaseException | None = None, how: str = "returned") -> None:
        """End the call exactly once. `how`: returned, read, closed, dropped or failed (for streamed bodies)."""
        if not self._claim_end():
            return
        record = self._record(error, how, time.perf_counter() - self._t0)
        span = self.span
        if span is None:
            self._ensure_span()
            span = self.span
        # Metrics first: a span processor that raises when the span ends must cost only the span.
        try:
            _emit.call_metrics(self.telemetry, self.span_ctx, self.facts, self.extra_attrs, record)
        finally:
            if span is not None and span.is_recording():
                if self.native:
                    _emit.end_native_span(span, record, self.stream)
                else:
                    content = self._content.span_attributes() if self._content is not None else {}
                    _emit.end_own_span(span, record, self.stream, content)
            if self._content is not None and self._content.in_event:
                self._emit_event(record)

    def _emit_event(self, record: CallRecord) -> None:
        """The GenAI inference-details event (content modes EVENT_ONLY and SPAN_AND_EVENT)."""
        request: dict[str, Any] = {}
        if self.server_address is not None:
            request[cat.SERVER_ADDRESS] = self.server_address
        if self.server_port is not None:
            request[cat.SERVER_PORT] = self.server_port
        if self.max_tokens is not None:
            request[cat.GEN_AI_REQUEST_MAX_TOKENS] = self.max_tokens
        emit_inference_details(
            self.telemetry.event_logger, self.span_ctx, self.facts.base, request, record, self._content
        )

    def _record(self, error: BaseException | None, how: str, duration: float) -> CallRecord:
        """Everything the call came to, frozen."""
        self._end_pending()
        if self._json_chunks:
            self.read_message(_json(b"".join(self._json_chunks)))
            self._json_chunks = None

        info: ErrorInfo | None = None
        raised = error is not None
        cancelled = error is not None and is_cancellation(error)
        if cancelled:
            raised = False  # no error: see `_errors.is_cancellation` and docs/reliability.md
        elif error is not None:
            info = self._error_info(error)
        elif self._stream_error is not None:
            info, raised = self._stream_error, True
        elif how == "read" and self._sse_seen and not self._stream_complete:
            # The body ended cleanly but before `message_stop`: the server cut the stream short.
            info = ErrorInfo(cat.ERROR_TYPE_STREAM_CUT, status=self.last.status if self.last else None)
        last = self.last
        status = info.status if info is not None and info.status is not None else None
        if status is None and last is not None and not (cancelled and last.info is not None):
            # (A call cancelled in its backoff did not end with the error it was about to retry.)
            status = last.status
        usage = self._usage
        stop_reason = self.stop_reason
        return CallRecord(  # positional, in field order: the cheapest way to build it
            status,
            self.attempts - 1 if self.attempts > 1 else None,  # resend_count
            self._returned_request_id or (last.request_id if last is not None else None),
            self._response_id,
            self._response_model,
            stop_reason,
            (stop_reason,) if stop_reason is not None else None,  # finish_reasons
            usage.get("input_tokens"),
            usage.get("output_tokens"),
            usage.get("cache_read_input_tokens"),
            usage.get("cache_creation_input_tokens"),
            (self.first_chunk_ns - self.start_ns) / 1e9 if self.first_chunk_ns else None,  # time_to_first_chunk
            info.error_type if info is not None else None,
            info.error_code if info is not None else None,
            *_cache_writes(usage),
            self._outcome(info, cancelled),
            self._partial(),
            raised or info is not None,
            duration,
        )

    def _error_info(self, error: BaseException) -> ErrorInfo:
        from_exc = classify_exception(error)
        last = self.last
        # The exception for an error response carries that response's status and the body the SDK read, which the
        # attempt may not have had in memory (we never read a body ourselves); without a type from the body, the
        # attempt's classification (headers, `UNREAD_BODY_ERROR_TYPES`) is at least as good. A status of 200 is a
        # mid-stream error: not an attempt's.
        if (
            last is not None
            and last.info is not None
            and from_exc.status not in (None, 200)
            and last.status == from_exc.status
            and from_exc.error_type == str(from_exc.status)
        ):
            return last.info
        return from_exc


# `usage.cache_creation` keys and the `_usage` names their counts are kept under.
_CACHE_SPLIT = (
    ("ephemeral_5m_input_tokens", "cache_creation_5m"),
    ("ephemeral_1h_input_tokens", "cache_creation_1h"),
)


def _cache_writes(usage: dict[str, int]) -> tuple[int | None, int | None, int | None]:
    """Cache writes by lifetime (5 m, 1 h, unsplit), in `CallRecord`'s field order; what the breakdown does not
    account for (all, without one) stays unsplit."""
    total = usage.get("cache_creation_input_tokens")
    short, long = usage.get("cache_creation_5m"), usage.get("cache_creation_1h")
    unsplit = total
    if total is not None and (short is not None or long is not None):
        unsplit = max(0, total - (short or 0) - (long or 0))
    return short, long, unsplit


def _json(data: str | bytes) -> Any:
    if len(data) > MAX_PARSED_BODY:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
