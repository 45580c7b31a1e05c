"""The error taxonomy: `error.type`, `anthropic.error.code` and retryability from a status, headers and body.

Classification is by HTTP status and response body, never by exception class: the SDK picks the class from
the status alone, so a 403 `billing_error` and a 403 `permission_error` are both `PermissionDeniedError`.
Errors in Amazon Bedrock's and Google Vertex AI's own shapes are mapped into the same `error.type` values (see
`BEDROCK_ERROR_TYPES` and `VERTEX_ERROR_TYPES`). Nothing here imports the SDK; what an SDK exception carries is
read through `_sdk`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _catalog as cat
from . import _sdk

# Values that come from the API (body `error.type`, `error_code`, `stop_reason`) are open enums and pass
# through, but only when they look like an enum value: a hostile or garbled body cannot mint new metric series.
_MAX_ENUM_LEN = 64
_ENUM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

# Error bodies are small JSON documents; anything larger is an edge proxy's page or worse and is not parsed.
MAX_ERROR_BODY = 64 * 1024


# Server-side error types that are worth retrying when they interrupt a stream (the SDK does not retry those).
RETRYABLE_ERROR_TYPES = frozenset(("overloaded_error", "api_error", "rate_limit_error", "timeout_error"))

# Amazon Bedrock names its errors in the `x-amzn-errortype` header (`ThrottlingException:<namespace>`) and, in a
# response stream, in exception frames (`throttlingException`, which the SDK turns into an SSE `error` event).
# Each becomes the first-party `error.type` it means; the Bedrock name is kept as `anthropic.error.code`.
BEDROCK_ERROR_TYPES: dict[str, str] = {
    "ThrottlingException": "rate_limit_error",
    "ServiceQuotaExceededException": "rate_limit_error",
    "ModelNotReadyException": "overloaded_error",
    "ServiceUnavailableException": "overloaded_error",
    "InternalServerException": "api_error",
    "ModelErrorException": "api_error",
    "ModelStreamErrorException": "api_error",
    "ModelTimeoutException": "timeout_error",
    "ValidationException": "invalid_request_error",
    "AccessDeniedException": "permission_error",
    "UnrecognizedClientException": "authentication_error",
    "InvalidSignatureException": "authentication_error",
    "ExpiredTokenException": "authentication_error",
    "ResourceNotFoundException": "not_found_error",
}
# Google Vertex AI's own errors are `{"error": {"code", "message", "status"}}` with a google.rpc.Code name as
# `status` (Anthropic's errors it passes through unchanged). The Google status is kept as `anthropic.error.code`.
VERTEX_ERROR_TYPES: dict[str, str] = {
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "UNAVAILABLE": "overloaded_error",
    "INTERNAL": "api_error",
    "UNKNOWN": "api_error",
    "DEADLINE_EXCEEDED": "timeout_error",
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "PERMISSION_DENIED": "permission_error",
    "UNAUTHENTICATED": "authentication_error",
    "NOT_FOUND": "not_found_error",
    "ABORTED": "conflict_error",
    "ALREADY_EXISTS": "conflict_error",
}
# The `error.type` of a retried error response whose body we never saw: for a streamed request the SDK closes a
# response it retries without reading its body, and we never read it ourselves (docs/reliability.md, "We never wait
# on the network"). Only the retryable statuses whose meaning the API documents; others keep the status as type.
UNREAD_BODY_ERROR_TYPES: dict[int, str] = {
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",  # Vertex AI's UNAVAILABLE (`VERTEX_ERROR_TYPES`)
    504: "timeout_error",
    529: "overloaded_error",
}
AMZN_ERROR_TYPE_HEADER = "x-amzn-errortype"
SHOULD_RETRY_HEADER = "x-should-retry"


def enum_value(value: object) -> str | None:
    """`value` if it is a plausible API enum value, `_OTHER` if it is a string that is not, else `None`."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) <= _MAX_ENUM_LEN and _ENUM_CHARS.issuperset(value):
        return value
    return cat.OTHER


def is_retryable_status(status: int, headers: Mapping[str, str] | None = None) -> bool:
    """The SDK's retry rule for one response: `x-should-retry` wins, else 408, 409, 429 and 5xx retry."""
    if headers is not None:
        should = headers.get(SHOULD_RETRY_HEADER)
        if should == "true":
            return True
        if should == "false":
            return False
    return status in (408, 409, 429) or status >= 500


@dataclass(frozen=True)
class ErrorInfo:
    """What an error response or exception says, in the telemetry's terms."""

    error_type: str
    error_code: str | None = None
    status: int | None = None
    retryable: bool = False


def bedrock_error(name: object) -> tuple[str | None, str | None]:
    """(`error.type`, code) for a Bedrock error name, from the header (`Name:<namespace>`) or a stream frame."""
    if not isinstance(name, str) or not name:
        return None, None
    name = name.partition(":")[0].strip()
    name = name[:1].upper() + name[1:]
    code = enum_value(name)
    return BEDROCK_ERROR_TYPES.get(name), code


def parse_error_body(body: object) -> tuple[str | None, str | None]:
    """(`error.type`, `error_code`) from an error body: a dict, JSON text or bytes. Never raises.

    Understands the first-party API's errors, Vertex AI's Google errors (also as the one-element list Google's
    streaming endpoints send) and Bedrock's exception names where the SDK puts them in an `error` event.
    """
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        if len(body) > MAX_ERROR_BODY:
            return None, None
        try:
            body = json.loads(bytes(body) if isinstance(body, memoryview) else body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, dict):
        return None, None
    error: Any = body.get("error")
    if not isinstance(error, dict):
        # Some gateways put the fields at the top level.
        error = body
    error_type = enum_value(error.get("type"))
    if error_type == "error":
        error_type = None
    details = error.get("details")
    code = enum_value(details.get("error_code")) if isinstance(details, dict) else None
    if code is None:
        code = enum_value(error.get("error_code"))
    if error_type is not None:
        # A Bedrock exception frame, as the SDK's decoder hands it on: `{"type": "throttlingException"}`.
        mapped, bedrock_code = bedrock_error(error_type)
        if mapped is not None:
            return mapped, code or bedrock_code
    else:
        google_status = error.get("status")
        if isinstance(google_status, str) and google_status:
            return VERTEX_ERROR_TYPES.get(google_status), code or enum_value(google_status)
    return error_type, code


def _platform_info(headers: Mapping[str, str] | None, body: object) -> tuple[str | None, str | None]:
    """(`error.type`, code) from the body, else from Bedrock's `x-amzn-errortype` header."""
    error_type, code = parse_error_body(body) if body is not None else (None, None)
    if error_type is None and headers is not None:
        mapped, amzn_code = bedrock_error(headers.get(AMZN_ERROR_TYPE_HEADER))
        if amzn_code is not None:
            return mapped, code or amzn_code
    return error_type, code


def is_cancellation(exc: BaseException) -> bool:
    """Whether `exc` is the application stopping the call rather than the call failing: asyncio's CancelledError,
    trio's Cancelled (anyio uses the backend's), KeyboardInterrupt, SystemExit, GeneratorExit — anything that is not
    an `Exception`. The SDK's native span draws the same line (it leaves such a span's status UNSET)."""
    return not isinstance(exc, Exception)


def classify_response(status: int, headers: Mapping[str, str] | None, body: object) -> ErrorInfo:
    """Classify an HTTP error response. `body` is `None` when it is not in memory (we never read it): the type
    then comes from the headers, else from `UNREAD_BODY_ERROR_TYPES`."""
    error_type, code = _platform_info(headers, body)
    if error_type is None and body is None:
        error_type = UNREAD_BODY_ERROR_TYPES.get(status)
    return ErrorInfo(
        error_type=error_type or str(status),
        error_code=code,
        status=status,
        retryable=is_retryable_status(status, headers),
    )


def classify_exception(exc: BaseException) -> ErrorInfo:
    """Classify an exception the SDK raised (by status and body for an error response, never by its class)."""
    kind = _sdk.exception_kind(exc)
    if kind == "status":
        facts = _sdk.status_error_facts(exc)
        error_type, code = _platform_info(facts.headers, facts.body)
        if error_type is None:
            error_type = enum_value(facts.error_type)
        if code is None:
            code = enum_value(facts.error_code)
        # A mid-stream SSE error arrives with the HTTP status of the stream, 200: not retryable by the SDK.
        retryable = facts.status != 200 and is_retryable_status(facts.status, facts.headers)
        return ErrorInfo(error_type or str(facts.status), code, facts.status, retryable)
    if kind == "timeout":
        return ErrorInfo(cat.ERROR_TYPE_TIMEOUT, retryable=True)
    if kind == "connection":
        return ErrorInfo(cat.ERROR_TYPE_CONNECTION, retryable=True)
    klass = type(exc)
    return ErrorInfo(f"{klass.__module__}.{klass.__qualname__}")
