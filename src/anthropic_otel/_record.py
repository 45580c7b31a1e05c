"""What one HTTP attempt and one SDK call came to: immutable records, built once when each ends.

`_call` collects facts while a call runs; when an attempt or the call ends it freezes them into one of these
records, and `_emit` turns the record into span attributes and metric points. Nothing here is mutable, and
nothing refers back to the collector (no reference cycle per call).

The first fields of `CallRecord` are span attributes, in the order of `CALL_SPAN_ATTRIBUTES`; `_emit` pairs
them by position, and the check at the end of this module keeps the two in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from . import _catalog as cat
from ._errors import ErrorInfo


class AttemptRecord(NamedTuple):
    """One HTTP attempt: what its response (or failure) said."""

    info: ErrorInfo | None  # the error, for a failed attempt
    status: int | None  # None: no response (connection failure, timeout)
    is_retry: bool
    # Attempt-span attributes read from the response headers (status, request id, retry-after, rate limits).
    span_attributes: Mapping[str, object]
    cancelled: bool = False  # the application stopped the call while this attempt waited for its response


class CallRecord(NamedTuple):
    """One SDK call, from `request()` to the end of its response body."""

    # Span attributes (None: absent), in the order of `CALL_SPAN_ATTRIBUTES`.
    status: int | None
    resend_count: int | None
    request_id: str | None
    response_id: str | None
    response_model: str | None
    stop_reason: str | None
    finish_reasons: tuple[str, ...] | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_input_tokens: int | None
    cache_creation_input_tokens: int | None
    time_to_first_chunk: float | None
    error_type: str | None
    error_code: str | None
    # The rest.
    # Cache writes by lifetime, from `usage.cache_creation` when the response has it; `unsplit`: writes whose
    # lifetime the response did not tell (all of them on APIs without the breakdown).
    cache_creation_5m_input_tokens: int | None
    cache_creation_1h_input_tokens: int | None
    cache_creation_unsplit_input_tokens: int | None
    outcome: cat.Outcome
    partial: bool  # a stream that output something and did not end with `message_stop`
    raised: bool  # the call raised (or its stream failed): the call span's status is ERROR
    duration: float  # seconds, from `request()` to the end of the body


# Each span field of `CallRecord` and the call-span attribute it becomes.
CALL_SPAN_ATTRIBUTES: Mapping[str, str] = {
    "status": cat.HTTP_RESPONSE_STATUS_CODE,
    "resend_count": cat.HTTP_REQUEST_RESEND_COUNT,
    "request_id": cat.ANTHROPIC_REQUEST_ID,
    "response_id": cat.GEN_AI_RESPONSE_ID,
    "response_model": cat.GEN_AI_RESPONSE_MODEL,
    "stop_reason": cat.ANTHROPIC_MESSAGE_STOP_REASON,
    "finish_reasons": cat.GEN_AI_RESPONSE_FINISH_REASONS,
    "input_tokens": cat.GEN_AI_USAGE_INPUT_TOKENS,
    "output_tokens": cat.GEN_AI_USAGE_OUTPUT_TOKENS,
    "cache_read_input_tokens": cat.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "cache_creation_input_tokens": cat.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    "time_to_first_chunk": cat.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    "error_type": cat.ERROR_TYPE,
    "error_code": cat.ANTHROPIC_ERROR_CODE,
}
# The `CallRecord` fields whose token counts become `gen_ai.client.token.usage` points:
# (field, `gen_ai.token.type`, `anthropic.token.cache`, `anthropic.token.cache_ttl` or None). Cache writes are
# split by lifetime, so that the sum over `anthropic.token.cache="creation"` is still every cache write.
TOKEN_POINTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("input_tokens", cat.TOKEN_INPUT, cat.CACHE_NONE, None),
    ("cache_read_input_tokens", cat.TOKEN_INPUT, cat.CACHE_READ, None),
    ("cache_creation_5m_input_tokens", cat.TOKEN_INPUT, cat.CACHE_CREATION, cat.CACHE_TTL_5M),
    ("cache_creation_1h_input_tokens", cat.TOKEN_INPUT, cat.CACHE_CREATION, cat.CACHE_TTL_1H),
    ("cache_creation_unsplit_input_tokens", cat.TOKEN_INPUT, cat.CACHE_CREATION, None),
    ("output_tokens", cat.TOKEN_OUTPUT, cat.CACHE_NONE, None),
)
# The API's usage fields read as they are; `usage.cache_creation` (the lifetime breakdown) is read besides.
USAGE_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)

if tuple(CALL_SPAN_ATTRIBUTES) != CallRecord._fields[: len(CALL_SPAN_ATTRIBUTES)]:  # pragma: no cover
    raise ImportError("CallRecord's span fields and CALL_SPAN_ATTRIBUTES are out of step")
