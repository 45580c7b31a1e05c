"""Every telemetry name this package emits: the one source for the instrumentation, the Grafana generator,
the README's telemetry reference and the tests.

Names follow the OpenTelemetry GenAI and HTTP semantic conventions where they define one, and use the
``anthropic.`` namespace where they do not. Changing a name here changes the dashboards and alert rules
generated from it, so regenerate ``grafana/`` in the same commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --- attribute keys ---------------------------------------------------------------------------------------

GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STREAM = "gen_ai.request.stream"
GEN_AI_RESPONSE_ID = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
GEN_AI_USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_TOKEN_TYPE = "gen_ai.token.type"
# Content, captured only on opt-in (`capture_content`), on our own call span.
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
# Opt-in extra metric attributes (`metric_attributes`).
ANTHROPIC_WORKSPACE_ID = "anthropic.workspace.id"
ANTHROPIC_ORGANIZATION_ID = "anthropic.organization.id"

SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
URL_PATH = "url.path"
HTTP_REQUEST_METHOD = "http.request.method"
HTTP_RESPONSE_STATUS_CODE = "http.response.status_code"
HTTP_REQUEST_RESEND_COUNT = "http.request.resend_count"
ERROR_TYPE = "error.type"

ANTHROPIC_ERROR_CODE = "anthropic.error.code"
ANTHROPIC_ERROR_RETRYABLE = "anthropic.error.retryable"
ANTHROPIC_REQUEST_ID = "anthropic.request.id"
ANTHROPIC_RETRY_AFTER = "anthropic.retry.after"
ANTHROPIC_RETRY_DELAY = "anthropic.retry.delay"
ANTHROPIC_ATTEMPT_IS_RETRY = "anthropic.attempt.is_retry"
ANTHROPIC_MESSAGE_STOP_REASON = "anthropic.message.stop_reason"
ANTHROPIC_CALL_OUTCOME = "anthropic.call.outcome"
ANTHROPIC_STREAM_PARTIAL = "anthropic.stream.partial"
ANTHROPIC_TOKEN_CACHE = "anthropic.token.cache"
# The lifetime of a prompt-cache write (priced differently), on `creation` points when the response tells it.
ANTHROPIC_TOKEN_CACHE_TTL = "anthropic.token.cache_ttl"
ANTHROPIC_RATELIMIT_KIND = "anthropic.ratelimit.kind"

# --- attribute values -------------------------------------------------------------------------------------

Outcome = Literal["ok", "recovered", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("ok", "recovered", "failed")

PROVIDER_ANTHROPIC = "anthropic"
PROVIDER_BEDROCK = "aws.bedrock"
PROVIDER_VERTEX = "gcp.vertex_ai"

OPERATION_CHAT = "chat"

ERROR_TYPE_TIMEOUT = "client_timeout_error"
ERROR_TYPE_CONNECTION = "connection_error"
# A stream that ended without its `message_stop` event: the SDK's native span calls this `api_error` too.
ERROR_TYPE_STREAM_CUT = "api_error"
OTHER = "_OTHER"

TOKEN_INPUT = "input"
TOKEN_OUTPUT = "output"
CACHE_NONE = "none"
CACHE_READ = "read"
CACHE_CREATION = "creation"
CACHE_TTL_5M = "5m"
CACHE_TTL_1H = "1h"

# The `anthropic-ratelimit-<header>-{limit,remaining}` headers, and the `anthropic.ratelimit.kind` each becomes.
RATELIMIT_KINDS: dict[str, str] = {
    "requests": "requests",
    "tokens": "tokens",
    "input-tokens": "input_tokens",
    "output-tokens": "output_tokens",
}
RATELIMIT_UNITS: dict[str, str] = {
    "requests": "{request}",
    "tokens": "{token}",
    "input_tokens": "{token}",
    "output_tokens": "{token}",
}


def ratelimit_attribute(kind: str, which: Literal["remaining", "limit"]) -> str:
    """The attempt-span attribute for one rate-limit header, e.g. `anthropic.ratelimit.tokens.remaining`."""
    return f"anthropic.ratelimit.{kind}.{which}"


# Body `error.type` values the API documents; others pass through (the set is open) when they look like one.
KNOWN_ERROR_TYPES: tuple[str, ...] = (
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "timeout_error",
    "api_error",
    "overloaded_error",
)
KNOWN_STOP_REASONS: tuple[str, ...] = (
    "end_turn",
    "max_tokens",
    "stop_sequence",
    "tool_use",
    "pause_turn",
    "refusal",
    "model_context_window_exceeded",
)

# --- metrics ----------------------------------------------------------------------------------------------

# GenAI semantic-convention bucket boundaries.
DURATION_BUCKETS: tuple[float, ...] = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS: tuple[float, ...] = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
# Backoff waits: the SDK's own schedule (0.5 s doubling to 8 s) and server `retry-after` values up to minutes.
RETRY_DELAY_BUCKETS: tuple[float, ...] = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)

MetricKind = Literal["histogram", "counter", "gauge"]


@dataclass(frozen=True)
class Metric:
    """One instrument: its OpenTelemetry name, kind, unit, description and the attributes it may carry."""

    name: str
    kind: MetricKind
    unit: str
    description: str
    attributes: tuple[str, ...]
    buckets: tuple[float, ...] | None = None

    @property
    def prometheus_name(self) -> str:
        """The name `opentelemetry-exporter-prometheus` gives it (checked against the exporter by the Grafana
        end-to-end test): dots to underscores, the unit as a suffix for seconds, `_total` for counters; annotation
        units such as `{token}` are dropped."""
        base = self.name.replace(".", "_")
        if self.unit == "s":
            base += "_seconds"
        if self.kind == "counter":
            base += "_total"
        return base


_CALL_KEYS = (GEN_AI_OPERATION_NAME, GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL)

OPERATION_DURATION = Metric(
    "gen_ai.client.operation.duration",
    "histogram",
    "s",
    "Duration of an SDK call, all attempts, backoff and (for streams) the whole stream included.",
    (*_CALL_KEYS, ERROR_TYPE, SERVER_ADDRESS, GEN_AI_REQUEST_STREAM),
    DURATION_BUCKETS,
)
TOKEN_USAGE = Metric(
    "gen_ai.client.token.usage",
    "histogram",
    "{token}",
    "Tokens per call, by direction, (input) prompt-cache use and cache-write lifetime.",
    (*_CALL_KEYS, GEN_AI_TOKEN_TYPE, ANTHROPIC_TOKEN_CACHE, ANTHROPIC_TOKEN_CACHE_TTL),
    TOKEN_BUCKETS,
)
TIME_TO_FIRST_CHUNK = Metric(
    "gen_ai.client.operation.time_to_first_chunk",
    "histogram",
    "s",
    "Time from the start of a streamed call to its first content delta.",
    _CALL_KEYS,
    DURATION_BUCKETS,
)
CALLS = Metric(
    "anthropic.client.calls",
    "counter",
    "{call}",
    "SDK calls by outcome (ok, recovered after retries, failed), final error and stop reason.",
    (
        *_CALL_KEYS,
        ERROR_TYPE,
        ANTHROPIC_ERROR_CODE,
        HTTP_RESPONSE_STATUS_CODE,
        ANTHROPIC_CALL_OUTCOME,
        ANTHROPIC_MESSAGE_STOP_REASON,
        GEN_AI_REQUEST_STREAM,
    ),
)
ATTEMPTS = Metric(
    "anthropic.client.attempts",
    "counter",
    "{attempt}",
    "HTTP attempts, including those the SDK retries internally, by status and error.",
    (
        *_CALL_KEYS,
        HTTP_RESPONSE_STATUS_CODE,
        ERROR_TYPE,
        ANTHROPIC_ERROR_CODE,
        ANTHROPIC_ERROR_RETRYABLE,
        ANTHROPIC_ATTEMPT_IS_RETRY,
    ),
)
RETRY_DELAY = Metric(
    "anthropic.client.retry.delay",
    "histogram",
    "s",
    "Backoff the SDK waited before a retry, by the error that caused it.",
    (*_CALL_KEYS, ERROR_TYPE),
    RETRY_DELAY_BUCKETS,
)
_RATELIMIT_KEYS = (GEN_AI_PROVIDER_NAME, GEN_AI_REQUEST_MODEL, ANTHROPIC_RATELIMIT_KIND, SERVER_ADDRESS)
RATELIMIT_REMAINING = Metric(
    "anthropic.ratelimit.remaining",
    "gauge",
    "{quota}",
    "Last `anthropic-ratelimit-<kind>-remaining` header seen: requests or tokens left in the current window.",
    _RATELIMIT_KEYS,
)
RATELIMIT_LIMIT = Metric(
    "anthropic.ratelimit.limit",
    "gauge",
    "{quota}",
    "Last `anthropic-ratelimit-<kind>-limit` header seen: the size of the current window.",
    _RATELIMIT_KEYS,
)

METRICS: tuple[Metric, ...] = (
    OPERATION_DURATION,
    TOKEN_USAGE,
    TIME_TO_FIRST_CHUNK,
    CALLS,
    ATTEMPTS,
    RETRY_DELAY,
    RATELIMIT_REMAINING,
    RATELIMIT_LIMIT,
)

# --- spans ------------------------------------------------------------------------------------------------

CALL_SPAN_ATTRIBUTES: tuple[str, ...] = (
    GEN_AI_OPERATION_NAME,
    GEN_AI_PROVIDER_NAME,
    GEN_AI_REQUEST_MODEL,
    GEN_AI_REQUEST_MAX_TOKENS,
    GEN_AI_REQUEST_STREAM,
    GEN_AI_RESPONSE_ID,
    GEN_AI_RESPONSE_MODEL,
    GEN_AI_RESPONSE_FINISH_REASONS,
    GEN_AI_USAGE_INPUT_TOKENS,
    GEN_AI_USAGE_OUTPUT_TOKENS,
    GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    SERVER_ADDRESS,
    SERVER_PORT,
    ERROR_TYPE,
    ANTHROPIC_ERROR_CODE,
    HTTP_RESPONSE_STATUS_CODE,
    ANTHROPIC_REQUEST_ID,
    HTTP_REQUEST_RESEND_COUNT,
    ANTHROPIC_MESSAGE_STOP_REASON,
    ANTHROPIC_CALL_OUTCOME,
    ANTHROPIC_STREAM_PARTIAL,
)
ATTEMPT_SPAN_ATTRIBUTES: tuple[str, ...] = (
    HTTP_REQUEST_METHOD,
    SERVER_ADDRESS,
    SERVER_PORT,
    URL_PATH,
    HTTP_RESPONSE_STATUS_CODE,
    HTTP_REQUEST_RESEND_COUNT,
    ERROR_TYPE,
    ANTHROPIC_ERROR_CODE,
    ANTHROPIC_ERROR_RETRYABLE,
    ANTHROPIC_REQUEST_ID,
    ANTHROPIC_RETRY_AFTER,
    ANTHROPIC_RETRY_DELAY,
    *(ratelimit_attribute(kind, which) for kind in RATELIMIT_KINDS.values() for which in ("remaining", "limit")),
)

# The operation names of the Messages endpoints; other endpoints are named `<resource>.<verb>` (see `_call`).
OPERATIONS: dict[str, str] = {
    "/v1/messages": OPERATION_CHAT,
    "/v1/messages/count_tokens": "count_tokens",
}
