"""One SDK call and its HTTP attempts: the state they build up, and the span and metric points they end as.

A `Call` is started by the hook around the SDK's `request()`, collects one `Attempt` per HTTP attempt
(including those the SDK retries internally), learns the backoff before each retry, and is finished exactly
once: when the call returns a fully read response, raises, or, for a streamed body, when the body is read,
fails, is closed or is dropped. Nothing here imports the SDK; the hooks hand over duck-typed objects.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from . import _catalog as cat
from ._errors import (
    AMZN_ERROR_TYPE_HEADER,
    SHOULD_RETRY_HEADER,
    ErrorInfo,
    classify_exception,
    classify_response,
    enum_value,
    parse_error_body,
)
from ._telemetry import RATELIMIT_HEADERS_READ, Telemetry

_NATIVE_SCOPE = "com.anthropic.sdk.python"
_MAX_MODEL_LEN = 128
_MAX_ID_LEN = 128
# The largest JSON body we parse ourselves (a raw response the application reads later) to learn its usage.
MAX_PARSED_BODY = 1024 * 1024


def operation_name(method: str, path: str) -> str:
    """A short, stable `gen_ai.operation.name` for an API request: `chat` for messages, else `<resource>.<verb>`
    named after the SDK method (`batches.create`, `models.list`, `files.download`). Ids never appear in it."""
    path = path.split("?", 1)[0].rstrip("/")
    known = cat.OPERATIONS.get(path)
    if known is not None:
        return known
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["v1"]:
        parts = parts[1:]
    if parts[:2] == ["messages", "batches"]:
        resource, rest = "batches", parts[2:]
    elif parts and parts[0] in ("models", "files"):
        resource, rest = parts[0], parts[1:]
    else:
        return "_OTHER"
    method = method.upper()
    if not rest:
        verb = {"GET": "list", "POST": "upload" if resource == "files" else "create"}.get(method, "_OTHER")
    elif len(rest) == 1:
        verb = {"GET": "retrieve", "DELETE": "delete", "POST": "update"}.get(method, "_OTHER")
    else:
        verb = {"content": "download"}.get(rest[1], rest[1] if rest[1] in _ACTIONS else "_OTHER")
    return f"{resource}.{verb}"


_ACTIONS = frozenset(("cancel", "results"))


def provider_name(client: object) -> str:
    klass = type(client)
    provider = _providers.get(klass)
    if provider is None:
        names = " ".join(k.__name__ for k in klass.__mro__)
        if "Bedrock" in names:
            provider = cat.PROVIDER_BEDROCK
        elif "Vertex" in names:
            provider = cat.PROVIDER_VERTEX
        else:
            provider = cat.PROVIDER_ANTHROPIC
        _providers[klass] = provider
    return provider


_providers: dict[type, str] = {}


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


class Attempt:
    """One HTTP attempt: its span and what its response (or failure) said."""

    # No reference back to the call: a cycle would keep both, their spans and contexts alive until the cyclic
    # garbage collector runs, and that (not the telemetry) was the largest cost of a call under load.
    __slots__ = ("ctx", "end_ns", "info", "is_retry", "request_id", "span", "status")

    def __init__(self, span: Span, ctx: Context, retries_taken: int) -> None:
        self.span = span
        self.ctx = ctx
        self.is_retry = retries_taken > 0
        self.status: int | None = None
        self.info: ErrorInfo | None = None
        self.request_id: str | None = None
        self.end_ns = 0

    def responded(self, call: Call, status: int, headers: Mapping[str, str], body: object) -> None:
        """Record the response: status, request id, rate limits, retry-after and, for an error, its body."""
        self.end_ns = time.time_ns()
        self.status = status
        found: dict[str, Any] = {cat.HTTP_RESPONSE_STATUS_CODE: status}
        request_id = _short_str(headers.get("request-id") or headers.get("x-amzn-requestid"), _MAX_ID_LEN)
        if request_id is not None:
            self.request_id = request_id
            found[cat.ANTHROPIC_REQUEST_ID] = request_id
        retry_after = _retry_after(headers)
        if retry_after is not None:
            found[cat.ANTHROPIC_RETRY_AFTER] = retry_after
        call.record_ratelimits(headers, found)
        if call.metric_headers:
            call.read_metric_headers(headers)
        if status >= 400:
            self.info = classify_response(status, headers, body)
        self._done(call, found)

    def raised(self, call: Call, exc: BaseException) -> None:
        """Record a failure before any response: connection refused or dropped, client timeout."""
        self.end_ns = time.time_ns()
        self.info = classify_exception(exc)
        self._done(call, {})

    def _done(self, call: Call, span_attrs: dict[str, Any]) -> None:
        info = self.info
        attrs = dict(call.base_attrs)
        if call.extra_attrs:
            attrs.update(call.extra_attrs)
        if self.status is not None:
            attrs[cat.HTTP_RESPONSE_STATUS_CODE] = self.status
        attrs[cat.ANTHROPIC_ATTEMPT_IS_RETRY] = self.is_retry
        if info is not None:
            span_attrs[cat.ERROR_TYPE] = attrs[cat.ERROR_TYPE] = info.error_type
            span_attrs[cat.ANTHROPIC_ERROR_RETRYABLE] = attrs[cat.ANTHROPIC_ERROR_RETRYABLE] = info.retryable
            if info.error_code is not None:
                span_attrs[cat.ANTHROPIC_ERROR_CODE] = attrs[cat.ANTHROPIC_ERROR_CODE] = info.error_code
            self.span.set_status(Status(StatusCode.ERROR, info.error_type))
        if span_attrs:
            self.span.set_attributes(span_attrs)
        call.telemetry.attempts.add(1, attrs, context=self.ctx)
        call.attempt_done(self)

    def end(self) -> None:
        self.span.end(end_time=self.end_ns or None)


class Call:
    """One SDK call, from `request()` to the end of its response body."""

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
        metric_headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.telemetry = telemetry
        self.start_ns = time.time_ns()
        self._t0 = time.perf_counter()
        self.parent_ctx = otel_context.get_current()
        self.parent_span = trace.get_current_span(self.parent_ctx)
        url = str(getattr(options, "url", "") or "")
        if "://" in url:
            url = "/" + url.split("://", 1)[1].partition("/")[2]
        self.path = url.split("?", 1)[0]
        self.method = str(getattr(options, "method", "post") or "post").upper()
        self.operation = operation_name(self.method, self.path)
        self.provider = provider_name(client)
        body = getattr(options, "json_data", None)
        body = body if isinstance(body, Mapping) else {}
        self.model = _short_str(body.get("model"), _MAX_MODEL_LEN)
        self.max_tokens = _int(body.get("max_tokens"))
        self.stream = bool(stream) or body.get("stream") is True
        # Content capture (opt-in): the request body is kept to serialise, bounded, when the call ends.
        self.capture_limit = capture_limit
        self.request_body: Mapping[str, Any] | None = body if capture_limit else None
        self.output_blocks: Any = None
        self.stream_text: list[str] = []
        self.metric_headers = metric_headers
        self.extra_attrs: dict[str, str] = {}
        base_url = getattr(client, "base_url", None)
        self.server_address: str | None = _short_str(getattr(base_url, "host", None), 256)
        port = getattr(base_url, "port", None)
        self.server_port = port if isinstance(port, int) else None

        base: dict[str, Any] = {cat.GEN_AI_OPERATION_NAME: self.operation, cat.GEN_AI_PROVIDER_NAME: self.provider}
        if self.model is not None:
            base[cat.GEN_AI_REQUEST_MODEL] = self.model
        self.base_attrs = base

        self.span: Span | None = None
        self.span_ctx: Context | None = None
        self.native = False
        self.expect_native = not own_span
        self.may_start_own = may_start_own
        self.last_response: Any = None
        self.attempts = 0
        self.failed_attempts = 0
        self.last: Attempt | None = None
        # The request id of the response the call returned (a fanning-out middleware may return another than the last).
        self.final_request_id: str | None = None
        self._pending: Attempt | None = None  # a failed attempt whose span waits for the backoff that follows

        # What the response body told us (streamed or not).
        self.response_id: str | None = None
        self.response_model: str | None = None
        self.stop_reason: str | None = None
        self.usage: dict[str, int] = {}
        self.first_chunk_ns = 0
        self.sse_seen = False
        # A weak reference to the generator that observes this call's server-sent events (a strong one would make a
        # cycle through its frame): while it runs, the end of the body is its to report.
        self.events_observer: Callable[[], Any] | None = None
        self.events_thread = 0  # the thread that reads them
        self.stream_complete = False
        self.stream_error: ErrorInfo | None = None
        self.body_pending = False
        self._json_chunks: list[bytes] | None = None
        self._finished = False
        self._lock = threading.Lock()

        if own_span:
            self._start_own_span()

    # --- spans ------------------------------------------------------------------------------------------

    def _start_own_span(self) -> None:
        attrs: dict[str, Any] = dict(self.base_attrs)
        attrs[cat.GEN_AI_REQUEST_STREAM] = self.stream
        if self.max_tokens is not None:
            attrs[cat.GEN_AI_REQUEST_MAX_TOKENS] = self.max_tokens
        if self.server_address is not None:
            attrs[cat.SERVER_ADDRESS] = self.server_address
        if self.server_port is not None:
            attrs[cat.SERVER_PORT] = self.server_port
        name = f"{self.operation} {self.model}" if self.model else self.operation
        self.span = self.telemetry.tracer.start_span(
            name, self.parent_ctx, SpanKind.CLIENT, attrs, start_time=self.start_ns
        )
        self.span_ctx = trace.set_span_in_context(self.span, self.parent_ctx)

    def _ensure_span(self) -> None:
        """Adopt the SDK's native call span if it is the current one, else start our own (once)."""
        if self.span is not None:
            return
        if self.expect_native:
            current = trace.get_current_span()
            if current is not self.parent_span and current.get_span_context().is_valid and _is_native(current):
                self.span = current
                self.span_ctx = trace.set_span_in_context(current, self.parent_ctx)
                self.native = True
                return
        if self.may_start_own:
            self._start_own_span()
        else:
            self.span_ctx = self.parent_ctx

    def start_attempt(self, retries_taken: int) -> Attempt:
        self._ensure_span()
        self._end_pending()
        self.attempts += 1
        attrs: dict[str, Any] = {cat.HTTP_REQUEST_METHOD: self.method, cat.URL_PATH: self.path}
        if self.server_address is not None:
            attrs[cat.SERVER_ADDRESS] = self.server_address
        if self.server_port is not None:
            attrs[cat.SERVER_PORT] = self.server_port
        if retries_taken > 0:
            attrs[cat.HTTP_REQUEST_RESEND_COUNT] = retries_taken
        span = self.telemetry.tracer.start_span(f"{self.method} {self.path}", self.span_ctx, SpanKind.CLIENT, attrs)
        return Attempt(span, trace.set_span_in_context(span, self.span_ctx), retries_taken)

    def attempt_done(self, attempt: Attempt) -> None:
        self.last = attempt
        if attempt.info is None:
            attempt.end()
        else:
            self.failed_attempts += 1
            if attempt.info.retryable:
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
        attrs = dict(self.base_attrs)
        if cause is not None and cause.info is not None:
            attrs[cat.ERROR_TYPE] = cause.info.error_type
        if pending is not None:
            pending.span.set_attribute(cat.ANTHROPIC_RETRY_DELAY, seconds)
            pending.end()
        ctx = cause.ctx if cause is not None else self.span_ctx
        self.telemetry.retry_delay.record(seconds, attrs, context=ctx)

    def read_metric_headers(self, headers: Mapping[str, str]) -> None:
        """The opt-in extra metric attributes (workspace, organization id) from the response headers."""
        for attribute, header in self.metric_headers:
            value = enum_value(headers.get(header))
            if value is not None:
                self.extra_attrs[attribute] = value

    def record_ratelimits(self, headers: Mapping[str, str], span_attrs: dict[str, Any]) -> None:
        """Note the rate-limit headers: on the attempt span (`span_attrs`) and as the gauges' last values."""
        self.telemetry.ratelimits.record(headers, self.provider, self.model, self.server_address, span_attrs)

    def last_response_closed(self) -> bool:
        return bool(getattr(self.last_response, "is_closed", True))

    def last_response_content(self) -> bytes | None:
        """The bytes of the last response if they were read and are small, else `None`."""
        try:
            content = self.last_response.content
        except Exception:
            return None
        return content if isinstance(content, bytes) and len(content) <= MAX_PARSED_BODY else None

    # --- what the response says -------------------------------------------------------------------------

    def read_message(self, message: object) -> None:
        """Take id, model, stop_reason and usage from a parsed Message (an SDK model or its JSON dict)."""
        self.response_id = _short_str(_get(message, "id"), _MAX_ID_LEN) or self.response_id
        self.response_model = _short_str(_get(message, "model"), _MAX_MODEL_LEN) or self.response_model
        stop_reason = enum_value(_get(message, "stop_reason"))
        if stop_reason is not None:
            self.stop_reason = stop_reason
        usage = _get(message, "usage")
        if usage is not None:
            self._read_usage(usage)
        if self.capture_limit:
            content = _get(message, "content")
            if content:
                self.output_blocks = content

    def stream_delta(self, data: str) -> None:
        """Content capture only: keep the text of a streamed delta (bounded)."""
        if sum(map(len, self.stream_text)) > self.capture_limit:
            return
        delta = _get(_json(data), "delta")
        text = _get(delta, "text") or _get(delta, "partial_json") or _get(delta, "thinking")
        if isinstance(text, str):
            self.stream_text.append(text)

    def _read_usage(self, usage: object) -> None:
        for key in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = _int(_get(usage, key))
            if value is not None:
                self.usage[key] = value

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
            self.read_message(_get(_json(data), "message"))
        elif name == "message_stop":
            self.stream_complete = True
            self._sync_native()
        elif name == "error":
            error_type, code = parse_error_body(data)
            # An `error` event whose data we cannot read is still the server failing the stream.
            self.stream_error = ErrorInfo(error_type or cat.ERROR_TYPE_STREAM_CUT, code, 200, False)
            self._sync_native()

    def collect_json(self, chunk: bytes) -> None:
        """Keep the chunks of a JSON body the application reads after the call returned (raw responses)."""
        chunks = self._json_chunks
        if chunks is None:
            return
        chunks.append(chunk)
        if sum(map(len, chunks)) > MAX_PARSED_BODY:
            self._json_chunks = None

    def expect_json_body(self) -> None:
        self._json_chunks = []

    # --- the end ----------------------------------------------------------------------------------------

    def _outcome(self, info: ErrorInfo | None) -> str:
        if info is not None:
            return "failed"
        return "recovered" if self.failed_attempts else "ok"

    def _partial(self) -> bool:
        return self.first_chunk_ns != 0 and not self.stream_complete

    def _sync_native(self) -> None:
        """Write what the SDK's native span lacks while it is still open; the last write before it ends wins."""
        span = self.span
        if not self.native or span is None or not span.is_recording():
            return
        info = self.stream_error
        if info is None and self.last is not None and self.last.info is not None:
            info = self.last.info
        span.set_attribute(cat.ANTHROPIC_CALL_OUTCOME, self._outcome(info))
        if self.last is not None and self.last.request_id is not None:
            # The SDK reads only `request-id` (not Bedrock's `x-amzn-requestid`); it overwrites this when it has one.
            span.set_attribute(cat.ANTHROPIC_REQUEST_ID, self.last.request_id)
        if info is not None and info.error_code is not None:
            span.set_attribute(cat.ANTHROPIC_ERROR_CODE, info.error_code)
        if self._partial() and info is not None:
            span.set_attribute(cat.ANTHROPIC_STREAM_PARTIAL, True)

    def abandon(self) -> None:
        """After a failure of ours: end whatever span of this call is still open (the SDK ends its native one).
        Never raises; records nothing more."""
        with self._lock:
            self._finished = True
        pending, self._pending = self._pending, None
        for span in (pending.span if pending is not None else None, None if self.native else self.span):
            if span is not None:
                with contextlib.suppress(Exception):
                    if span.is_recording():
                        span.end()

    def finish(self, error: BaseException | None = None, how: str = "returned") -> None:
        """End the call exactly once. `how`: returned, read, closed, dropped or failed (for streamed bodies)."""
        with self._lock:
            if self._finished:
                return
            self._finished = True
        duration = time.perf_counter() - self._t0
        self._end_pending()
        if self._json_chunks:
            self.read_message(_json(b"".join(self._json_chunks)))
            self._json_chunks = None

        info: ErrorInfo | None = None
        raised = error is not None
        if error is not None:
            info = self._error_info(error)
        elif self.stream_error is not None:
            info, raised = self.stream_error, True
        elif how == "read" and self.sse_seen and not self.stream_complete:
            # The body ended cleanly but before `message_stop`: the server cut the stream short.
            info = ErrorInfo(cat.ERROR_TYPE_STREAM_CUT, status=self.last.status if self.last else None)
        outcome = self._outcome(info)
        status = info.status if info is not None and info.status is not None else None
        if status is None and self.last is not None:
            status = self.last.status

        self._end_span(info, outcome, status, raised or info is not None)
        self._record_metrics(info, outcome, status, duration)

    def _content_attributes(self) -> dict[str, str]:
        """Prompt and completion, opt-in only, each attribute at most `capture_limit` bytes of JSON."""
        limit = self.capture_limit
        found: dict[str, str] = {}
        body = self.request_body or {}
        if body.get("messages") is not None:
            found[cat.GEN_AI_INPUT_MESSAGES] = _bounded_json(body["messages"], limit)
        if body.get("system") is not None:
            found[cat.GEN_AI_SYSTEM_INSTRUCTIONS] = _bounded_json(body["system"], limit)
        output: Any = None
        if self.stream_text:
            output = [{"type": "text", "text": "".join(self.stream_text)}]
        elif self.output_blocks is not None:
            output = [_plain(block) for block in self.output_blocks]
        if output is not None:
            found[cat.GEN_AI_OUTPUT_MESSAGES] = _bounded_json([{"role": "assistant", "content": output}], limit)
        return found

    def _error_info(self, error: BaseException) -> ErrorInfo:
        from_exc = classify_exception(error)
        last = self.last
        # The exception for an error response carries that response's status; what we read of its body (also
        # when the SDK could not) is at least as good. A status of 200 is a mid-stream error: not an attempt's.
        if (
            last is not None
            and last.info is not None
            and from_exc.status not in (None, 200)
            and last.status == from_exc.status
        ):
            return last.info
        return from_exc

    def _end_span(self, info: ErrorInfo | None, outcome: str, status: int | None, failed: bool) -> None:
        span = self.span
        if span is None:
            self._ensure_span()
            span = self.span
        if span is None or not span.is_recording():
            return
        attrs: dict[str, Any] = {cat.ANTHROPIC_CALL_OUTCOME: outcome}
        if info is not None and info.error_code is not None:
            attrs[cat.ANTHROPIC_ERROR_CODE] = info.error_code
        if self.stream and self._partial():
            attrs[cat.ANTHROPIC_STREAM_PARTIAL] = True
        if self.native:
            # The SDK ends its own span and sets the rest; we only add what it lacks.
            span.set_attributes(attrs)
            return
        if status is not None:
            attrs[cat.HTTP_RESPONSE_STATUS_CODE] = status
        if self.attempts > 1:
            attrs[cat.HTTP_REQUEST_RESEND_COUNT] = self.attempts - 1
        request_id = self.final_request_id or (self.last.request_id if self.last is not None else None)
        if request_id is not None:
            attrs[cat.ANTHROPIC_REQUEST_ID] = request_id
        if self.response_id is not None:
            attrs[cat.GEN_AI_RESPONSE_ID] = self.response_id
        if self.response_model is not None:
            attrs[cat.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.stop_reason is not None:
            attrs[cat.ANTHROPIC_MESSAGE_STOP_REASON] = self.stop_reason
            attrs[cat.GEN_AI_RESPONSE_FINISH_REASONS] = (self.stop_reason,)
        usage = self.usage
        for key, attr in _USAGE_ATTRIBUTES:
            if key in usage:
                attrs[attr] = usage[key]
        if self.first_chunk_ns:
            attrs[cat.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = (self.first_chunk_ns - self.start_ns) / 1e9
        if info is not None:
            attrs[cat.ERROR_TYPE] = info.error_type
        if self.capture_limit:
            attrs.update(self._content_attributes())
        span.set_attributes(attrs)
        if failed and info is not None:
            span.set_status(Status(StatusCode.ERROR, info.error_type))
        span.end()

    def _record_metrics(self, info: ErrorInfo | None, outcome: str, status: int | None, duration: float) -> None:
        tel = self.telemetry
        ctx = self.span_ctx
        base = self.base_attrs

        attrs = dict(base)
        attrs[cat.GEN_AI_REQUEST_STREAM] = self.stream
        if self.server_address is not None:
            attrs[cat.SERVER_ADDRESS] = self.server_address
        if info is not None:
            attrs[cat.ERROR_TYPE] = info.error_type
        tel.duration.record(duration, attrs, context=ctx)

        calls = dict(base)
        if self.extra_attrs:
            calls.update(self.extra_attrs)
        calls[cat.ANTHROPIC_CALL_OUTCOME] = outcome
        calls[cat.GEN_AI_REQUEST_STREAM] = self.stream
        if status is not None:
            calls[cat.HTTP_RESPONSE_STATUS_CODE] = status
        if info is not None:
            calls[cat.ERROR_TYPE] = info.error_type
            if info.error_code is not None:
                calls[cat.ANTHROPIC_ERROR_CODE] = info.error_code
        if self.stop_reason is not None:
            calls[cat.ANTHROPIC_MESSAGE_STOP_REASON] = self.stop_reason
        tel.calls.add(1, calls, context=ctx)

        if self.first_chunk_ns:
            tel.time_to_first_chunk.record((self.first_chunk_ns - self.start_ns) / 1e9, base, context=ctx)

        usage = self.usage
        if usage and self.operation == cat.OPERATION_CHAT:
            for key, token_type, cache in _TOKEN_POINTS:
                value = usage.get(key)
                if value is None or (cache != cat.CACHE_NONE and value == 0):
                    continue
                points = dict(base)
                points[cat.GEN_AI_TOKEN_TYPE] = token_type
                points[cat.ANTHROPIC_TOKEN_CACHE] = cache
                tel.token_usage.record(value, points, context=ctx)


# Every response header that `Attempt.responded` and the classification read (plus the opt-in metric headers).
HEADERS_READ = frozenset(
    (
        "request-id",
        "x-amzn-requestid",
        "retry-after-ms",
        "retry-after",
        SHOULD_RETRY_HEADER,
        AMZN_ERROR_TYPE_HEADER,
        *RATELIMIT_HEADERS_READ,
    )
)
_USAGE_ATTRIBUTES = (
    ("input_tokens", cat.GEN_AI_USAGE_INPUT_TOKENS),
    ("output_tokens", cat.GEN_AI_USAGE_OUTPUT_TOKENS),
    ("cache_read_input_tokens", cat.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
    ("cache_creation_input_tokens", cat.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
)
_TOKEN_POINTS = (
    ("input_tokens", cat.TOKEN_INPUT, cat.CACHE_NONE),
    ("cache_read_input_tokens", cat.TOKEN_INPUT, cat.CACHE_READ),
    ("cache_creation_input_tokens", cat.TOKEN_INPUT, cat.CACHE_CREATION),
    ("output_tokens", cat.TOKEN_OUTPUT, cat.CACHE_NONE),
)


def _is_native(span: Span) -> bool:
    scope = getattr(span, "instrumentation_scope", None)
    # A span implementation that does not expose its scope: trust that the SDK made it (we only look when
    # the client's native tracing is on and a new span appeared between our hook and the attempt). Platform
    # clients trace under `com.anthropic.sdk.python.<platform>` (bedrock, vertex, ...).
    if scope is None:
        return True
    name = getattr(scope, "name", None)
    return name == _NATIVE_SCOPE or (isinstance(name, str) and name.startswith(_NATIVE_SCOPE + "."))


def _plain(block: Any) -> Any:
    """An SDK content block as plain JSON data."""
    dump = getattr(block, "model_dump", None) or getattr(block, "dict", None)
    return dump() if callable(dump) else block


def _bounded_json(value: Any, limit: int) -> str:
    """`value` as JSON, cut to at most `limit` bytes of UTF-8 (a cut text is no longer valid JSON: it says so)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    data = text.encode()
    if len(data) <= limit:
        return text
    marker = "...[truncated]"
    return data[: max(0, limit - len(marker))].decode(errors="ignore") + marker


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            value = float(raw) * scale
        except ValueError:
            continue
        if value >= 0 and value == value and value != float("inf"):
            return value
    return None


def _json(data: str | bytes) -> Any:
    if len(data) > MAX_PARSED_BODY:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
