"""The error taxonomy: `error.type`, `anthropic.error.code` and retryability from a status, headers and body.

Classification is by HTTP status and response body, never by exception class: the SDK picks the class from
the status alone, so a 403 `billing_error` and a 403 `permission_error` are both `PermissionDeniedError`.
Nothing here imports the SDK.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _catalog as cat

# Values that come from the API (body `error.type`, `error_code`, `stop_reason`) are open enums and pass
# through, but only when they look like an enum value: a hostile or garbled body cannot mint new metric series.
_MAX_ENUM_LEN = 64
_ENUM_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")

# Error bodies are small JSON documents; anything larger is an edge proxy's page or worse and is not parsed.
MAX_ERROR_BODY = 64 * 1024


# Server-side error types that are worth retrying when they interrupt a stream (the SDK does not retry those).
RETRYABLE_ERROR_TYPES = frozenset(("overloaded_error", "api_error", "rate_limit_error", "timeout_error"))


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
        should = headers.get("x-should-retry")
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


def parse_error_body(body: object) -> tuple[str | None, str | None]:
    """(`error.type`, `error_code`) from an error body: a dict, JSON text or bytes. Never raises."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        if len(body) > MAX_ERROR_BODY:
            return None, None
        try:
            body = json.loads(bytes(body) if isinstance(body, memoryview) else body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None, None
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
    return error_type, code


def classify_response(status: int, headers: Mapping[str, str] | None, body: object) -> ErrorInfo:
    """Classify an HTTP error response. `body` may be `None` when it could not be read."""
    error_type, code = parse_error_body(body) if body is not None else (None, None)
    return ErrorInfo(
        error_type=error_type or str(status),
        error_code=code,
        status=status,
        retryable=is_retryable_status(status, headers),
    )


def _class_names(exc: BaseException) -> tuple[str, ...]:
    return tuple(klass.__name__ for klass in type(exc).__mro__)


def classify_exception(exc: BaseException) -> ErrorInfo:
    """Classify an exception the SDK raised, by duck typing (SDK exception layouts differ by version)."""
    names = _class_names(exc)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and "APIStatusError" in names:
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        error_type, code = parse_error_body(getattr(exc, "body", None))
        if error_type is None:
            error_type = enum_value(getattr(exc, "type", None))
        if code is None:
            code = enum_value(getattr(exc, "error_code", None))
        # A mid-stream SSE error arrives with the HTTP status of the stream, 200: not retryable by the SDK.
        retryable = status != 200 and is_retryable_status(status, headers)
        return ErrorInfo(error_type or str(status), code, status, retryable)
    # httpx's own errors reach the application unwrapped when a streamed body fails mid-read.
    if "APITimeoutError" in names or "TimeoutException" in names:
        return ErrorInfo(cat.ERROR_TYPE_TIMEOUT, retryable=True)
    if "APIConnectionError" in names or "TransportError" in names:
        return ErrorInfo(cat.ERROR_TYPE_CONNECTION, retryable=True)
    klass = type(exc)
    return ErrorInfo(f"{klass.__module__}.{klass.__qualname__}")
