"""What Amazon Bedrock and Google Vertex AI put around Claude: their paths, error shapes and stream framing.

The simulator picks the platform by path: `/model/{model}/invoke[-with-response-stream]` is Bedrock,
`[/v1]/projects/{p}/locations/{r}/publishers/anthropic/models/{model}:rawPredict|streamRawPredict` is Vertex,
anything else is the first-party API. A fault is described once, in the first-party API's terms (its body
`error.type`); this module translates it into each platform's own shape.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

Platform = Literal["anthropic", "bedrock", "vertex"]

# --- Amazon Bedrock ---------------------------------------------------------------------------------------

# The errors `InvokeModel` / `InvokeModelWithResponseStream` document, with their HTTP status (botocore's
# bedrock-runtime service model), plus the service-wide one for a bad signature or key.
AWS_ERRORS: dict[str, int] = {
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ThrottlingException": 429,
    "ModelTimeoutException": 408,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "ModelNotReadyException": 429,
    "ModelErrorException": 424,
    "UnrecognizedClientException": 403,
}
# The exception frames a response stream can carry (the `ResponseStream` union), named as on the wire.
AWS_STREAM_EXCEPTIONS: frozenset[str] = frozenset(
    (
        "internalServerException",
        "modelStreamErrorException",
        "validationException",
        "throttlingException",
        "modelTimeoutException",
        "serviceUnavailableException",
    )
)
# The Bedrock error a first-party error type becomes.
AWS_FOR_TYPE: dict[str, str] = {
    "rate_limit_error": "ThrottlingException",
    "overloaded_error": "ServiceUnavailableException",
    "api_error": "InternalServerException",
    "timeout_error": "ModelTimeoutException",
    "billing_error": "AccessDeniedException",
    "permission_error": "AccessDeniedException",
    "authentication_error": "UnrecognizedClientException",
    "not_found_error": "ResourceNotFoundException",
    "invalid_request_error": "ValidationException",
    "request_too_large": "ValidationException",
}
AWS_ERROR_TYPE_SUFFIX = ":http://internal.amazon.com/coral/com.amazon.bedrock/"

# --- Google Vertex AI -------------------------------------------------------------------------------------

# google.rpc.Code names with the HTTP status Google's front end sends for them.
GCP_ERRORS: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
GCP_FOR_TYPE: dict[str, str] = {
    "rate_limit_error": "RESOURCE_EXHAUSTED",
    "overloaded_error": "UNAVAILABLE",
    "api_error": "INTERNAL",
    "timeout_error": "DEADLINE_EXCEEDED",
    "billing_error": "PERMISSION_DENIED",
    "permission_error": "PERMISSION_DENIED",
    "authentication_error": "UNAUTHENTICATED",
    "not_found_error": "NOT_FOUND",
    "invalid_request_error": "INVALID_ARGUMENT",
    "request_too_large": "INVALID_ARGUMENT",
}
# `gcp=anthropic`: Vertex passes the first-party API's own error JSON (and status) through.
GCP_PASSTHROUGH = "anthropic"

# --- routing ----------------------------------------------------------------------------------------------

_BEDROCK_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<action>invoke|invoke-with-response-stream)$")
_VERTEX_PATH = re.compile(
    r"^(?:/v1)?/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/anthropic/models/"
    r"(?P<model>[^/:]+):(?P<action>rawPredict|streamRawPredict)$"
)
VERTEX_COUNT_TOKENS_MODEL = "count-tokens"


@dataclass(frozen=True)
class PlatformRoute:
    """A Bedrock or Vertex request: which endpoint, for which model, streamed or not."""

    platform: Platform
    endpoint: Literal["messages", "count_tokens"]
    model: str
    stream: bool


def platform_route(method: str, path: str) -> PlatformRoute | None:
    """The Bedrock or Vertex endpoint `method path` names, or None (then it is the first-party API's)."""
    if method != "POST":
        return None
    match = _BEDROCK_PATH.match(path)
    if match is not None:
        stream = match["action"] == "invoke-with-response-stream"
        return PlatformRoute("bedrock", "messages", unquote(match["model"]), stream)
    match = _VERTEX_PATH.match(path)
    if match is not None:
        model = unquote(match["model"])
        if model == VERTEX_COUNT_TOKENS_MODEL:
            return PlatformRoute("vertex", "count_tokens", "", False)
        return PlatformRoute("vertex", "messages", model, match["action"] == "streamRawPredict")
    return None


def platform_of_path(path: str) -> Platform:
    """The platform a path belongs to, whatever the method (for the shape of a 404)."""
    if path.startswith("/model/"):
        return "bedrock"
    if path.startswith(("/projects/", "/v1/projects/")):
        return "vertex"
    return "anthropic"


# --- errors -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlatformError:
    """One error response as a platform sends it: status, body, and the headers that identify it."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    content_type: str = "application/json"
    with_request_id: bool = True


def bedrock_error(error_type: str, message: str, override: str | None, status: int | None) -> PlatformError:
    """A Bedrock error: `x-amzn-errortype: <Name>:<namespace>` and a body `{"message": ...}`."""
    name = override or AWS_FOR_TYPE.get(error_type, "InternalServerException")
    code = status if status is not None else AWS_ERRORS.get(name, 500)
    return PlatformError(code, {"message": message}, {"x-amzn-errortype": name + AWS_ERROR_TYPE_SUFFIX})


def vertex_error(error_type: str, message: str, override: str | None, status: int | None) -> PlatformError | None:
    """A Google API error `{"error": {"code", "message", "status"}}`; None for `gcp=anthropic` (pass through)."""
    if override == GCP_PASSTHROUGH:
        return None
    name = override or GCP_FOR_TYPE.get(error_type, "INTERNAL")
    code = status if status is not None else GCP_ERRORS.get(name, 500)
    body = {"error": {"code": code, "message": message, "status": name}}
    # Errors from Google's front end carry no Anthropic request id.
    return PlatformError(code, body, {}, "application/json; charset=UTF-8", with_request_id=False)


def aws_stream_exception(error_type: str, override: str | None) -> str:
    """The `:exception-type` of a mid-stream Bedrock exception frame (lower camel case, as on the wire)."""
    if override:
        name = override[:1].lower() + override[1:]
        if name in AWS_STREAM_EXCEPTIONS:
            return name
    name = AWS_FOR_TYPE.get(error_type, "InternalServerException")
    name = name[:1].lower() + name[1:]
    return name if name in AWS_STREAM_EXCEPTIONS else "internalServerException"


# --- the AWS event stream (application/vnd.amazon.eventstream) --------------------------------------------

_STRING = 7


def _encode_headers(headers: Mapping[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def event_stream_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One message of the AWS event-stream binary framing: prelude (total and headers length, CRC32),
    headers, payload, CRC32 of everything before it."""
    raw_headers = _encode_headers(headers)
    prelude = struct.pack(">II", 12 + len(raw_headers) + len(payload) + 4, len(raw_headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw_headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def bedrock_chunk(event: Mapping[str, Any]) -> bytes:
    """A `chunk` event whose `bytes` carry one first-party stream event (as Bedrock sends them, base64)."""
    data = json.dumps(event, separators=(",", ":")).encode()
    # Bedrock pads every chunk with a `p` field of varying length so sizes do not leak the content.
    padding = "abcdefghijklmnopqrstuvwxyz"[: len(data) % 26]
    payload = json.dumps({"bytes": base64.b64encode(data).decode(), "p": padding})
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return event_stream_message(headers, payload.encode())


def bedrock_exception(exception_type: str, message: str) -> bytes:
    """A mid-stream exception frame, e.g. `throttlingException`."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return event_stream_message(headers, json.dumps({"message": message}).encode())
