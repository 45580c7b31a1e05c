"""From finished records to telemetry: span attributes, span status and metric points.

Every function takes what `_call` collected, frozen (`_record`), and the per-call facts that never change
(`CallFacts`); nothing here decides what happened, only how it is written down. Metric points are recorded in
the context of the span they belong to, so exemplars link them to the trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode

from . import _catalog as cat
from ._errors import ErrorInfo
from ._record import CALL_SPAN_ATTRIBUTES, TOKEN_POINTS, AttemptRecord, CallRecord
from ._telemetry import Telemetry

_CALL_SPAN_KEYS = tuple(CALL_SPAN_ATTRIBUTES.values())
_TOKEN_FIELDS = tuple((CallRecord._fields.index(field), token, cache, ttl) for field, token, cache, ttl in TOKEN_POINTS)


class CallFacts(NamedTuple):
    """What is known of a call when it starts, and the metric attributes built from it once."""

    base: Mapping[str, Any]  # operation, provider and request model: on every metric point
    stream: bool
    server_address: str | None
    is_chat: bool


# --- one HTTP attempt ---------------------------------------------------------------------------------------


def attempt_done(
    telemetry: Telemetry, span: Span, ctx: Context, facts: CallFacts, extra: Mapping[str, str], record: AttemptRecord
) -> None:
    """The attempt's span attributes and status (the span is ended by the caller) and its `attempts` point."""
    span_attrs: dict[str, Any] = dict(record.span_attributes)
    attrs = dict(facts.base)
    if extra:
        attrs.update(extra)
    if record.status is not None:
        attrs[cat.HTTP_RESPONSE_STATUS_CODE] = record.status
    attrs[cat.ANTHROPIC_ATTEMPT_IS_RETRY] = record.is_retry
    info = record.info
    if info is not None:
        span_attrs[cat.ERROR_TYPE] = attrs[cat.ERROR_TYPE] = info.error_type
        span_attrs[cat.ANTHROPIC_ERROR_RETRYABLE] = attrs[cat.ANTHROPIC_ERROR_RETRYABLE] = info.retryable
        if info.error_code is not None:
            span_attrs[cat.ANTHROPIC_ERROR_CODE] = attrs[cat.ANTHROPIC_ERROR_CODE] = info.error_code
        span.set_status(Status(StatusCode.ERROR, info.error_type))
    elif record.cancelled:
        attrs[cat.ERROR_TYPE] = cat.ERROR_TYPE_CANCELLED  # metrics only: see `cat.ERROR_TYPE_CANCELLED`
    if span_attrs:
        span.set_attributes(span_attrs)
    telemetry.attempts.add(1, attrs, context=ctx)


def retry_delay(
    telemetry: Telemetry, span: Span | None, ctx: Context | None, facts: CallFacts, cause: ErrorInfo | None, s: float
) -> None:
    """The backoff the SDK waits before its next attempt, on the attempt that caused it (`span`, if still open)."""
    attrs = dict(facts.base)
    if cause is not None:
        attrs[cat.ERROR_TYPE] = cause.error_type
    if span is not None:
        span.set_attribute(cat.ANTHROPIC_RETRY_DELAY, s)
    telemetry.retry_delay.record(s, attrs, context=ctx)


# --- the call span -------------------------------------------------------------------------------------------


def native_span_outcome(span: Span, outcome: str) -> None:
    """Only the outcome, on the SDK's native call span while it is open (see `Call.retry_delay`)."""
    span.set_attribute(cat.ANTHROPIC_CALL_OUTCOME, outcome)


def native_span_update(span: Span, outcome: str, request_id: str | None, info: ErrorInfo | None, partial: bool) -> None:
    """What the SDK's native call span lacks, written while it is still open (the last write before it ends wins)."""
    attrs: dict[str, Any] = {cat.ANTHROPIC_CALL_OUTCOME: outcome}
    if request_id is not None:
        # The SDK reads only `request-id` (not Bedrock's `x-amzn-requestid`); it overwrites this when it has one.
        attrs[cat.ANTHROPIC_REQUEST_ID] = request_id
    if info is not None and info.error_code is not None:
        attrs[cat.ANTHROPIC_ERROR_CODE] = info.error_code
    if partial:
        attrs[cat.ANTHROPIC_STREAM_PARTIAL] = True
    span.set_attributes(attrs)


def end_native_span(span: Span, record: CallRecord, stream: bool) -> None:
    """The SDK ends its own span and sets the rest: add only what it lacks."""
    attrs: dict[str, Any] = {cat.ANTHROPIC_CALL_OUTCOME: record.outcome}
    if record.error_code is not None:
        attrs[cat.ANTHROPIC_ERROR_CODE] = record.error_code
    if stream and record.partial:
        attrs[cat.ANTHROPIC_STREAM_PARTIAL] = True
    span.set_attributes(attrs)


def end_own_span(span: Span, record: CallRecord, stream: bool, content: Mapping[str, str]) -> None:
    """Our call span: every attribute of the record, its status, and its end."""
    # The record's first fields pair with the keys (zip stops at the last key).
    attrs: dict[str, Any] = {k: v for k, v in zip(_CALL_SPAN_KEYS, record, strict=False) if v is not None}
    attrs[cat.ANTHROPIC_CALL_OUTCOME] = record.outcome
    if stream and record.partial:
        attrs[cat.ANTHROPIC_STREAM_PARTIAL] = True
    if content:
        attrs.update(content)
    span.set_attributes(attrs)
    if record.raised and record.error_type is not None:
        span.set_status(Status(StatusCode.ERROR, record.error_type))
    span.end()


# --- the call's metric points ----------------------------------------------------------------------------------


def call_metrics(
    telemetry: Telemetry, ctx: Context | None, facts: CallFacts, extra: Mapping[str, str], record: CallRecord
) -> None:
    """Duration, the `calls` point, time to first chunk and token usage of one finished call."""
    base = facts.base
    error_type = record.error_type
    if error_type is None and record.outcome == cat.OUTCOME_CANCELLED:
        error_type = cat.ERROR_TYPE_CANCELLED  # metrics only: see `cat.ERROR_TYPE_CANCELLED`

    attrs = dict(base)
    attrs[cat.GEN_AI_REQUEST_STREAM] = facts.stream
    if facts.server_address is not None:
        attrs[cat.SERVER_ADDRESS] = facts.server_address
    if error_type is not None:
        attrs[cat.ERROR_TYPE] = error_type
    telemetry.duration.record(record.duration, attrs, context=ctx)

    calls = dict(base)
    if extra:
        calls.update(extra)
    calls[cat.ANTHROPIC_CALL_OUTCOME] = record.outcome
    calls[cat.GEN_AI_REQUEST_STREAM] = facts.stream
    if record.status is not None:
        calls[cat.HTTP_RESPONSE_STATUS_CODE] = record.status
    if error_type is not None:
        calls[cat.ERROR_TYPE] = error_type
        if record.error_code is not None:
            calls[cat.ANTHROPIC_ERROR_CODE] = record.error_code
    if record.stop_reason is not None:
        calls[cat.ANTHROPIC_MESSAGE_STOP_REASON] = record.stop_reason
    telemetry.calls.add(1, calls, context=ctx)

    if record.time_to_first_chunk is not None:
        telemetry.time_to_first_chunk.record(record.time_to_first_chunk, base, context=ctx)

    if facts.is_chat:
        for index, token_type, cache, ttl in _TOKEN_FIELDS:
            value: int | None = record[index]  # type: ignore[assignment]
            if value is None or (cache != cat.CACHE_NONE and value == 0):
                continue
            points = dict(base)
            points[cat.GEN_AI_TOKEN_TYPE] = token_type
            points[cat.ANTHROPIC_TOKEN_CACHE] = cache
            if ttl is not None:
                points[cat.ANTHROPIC_TOKEN_CACHE_TTL] = ttl
            telemetry.token_usage.record(value, points, context=ctx)
