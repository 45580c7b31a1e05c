"""Which calls and attempts count as what: the classifications shared by the rules and the dashboards.

Each is a list of alternatives (OR) of matcher lists (AND), fed to `promql.rate_sum`. Values are the API's
`error.type` enums and HTTP statuses; each is checked against the catalog's known sets at import, so a rename
there breaks here loudly instead of silently matching nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import _catalog as c
from .promql import M, eq, ne, regex

Alternatives = Sequence[Sequence[M]]


def _known(*error_types: str) -> tuple[str, ...]:
    extra = {c.ERROR_TYPE_TIMEOUT, c.ERROR_TYPE_CONNECTION, c.ERROR_TYPE_STREAM_CUT}
    for value in error_types:
        if value not in c.KNOWN_ERROR_TYPES and value not in extra:
            raise AssertionError(f"{value!r} is not an error.type the catalog knows")
    return error_types


FAILED = eq(c.ANTHROPIC_CALL_OUTCOME, "failed")
# The calls a call-ratio SLI is over: every call but those the application cancelled (asyncio/trio cancellation,
# KeyboardInterrupt...), which neither failed nor succeeded; counting them would dilute every failure ratio when
# an application's own timeouts fire. (The latency SLIs leave them out through `SUCCESS`: their metrics carry
# `error.type=cancelled`.)
ANSWERED: Alternatives = ((ne(c.ANTHROPIC_CALL_OUTCOME, c.OUTCOME_CANCELLED),),)
RECOVERED = eq(c.ANTHROPIC_CALL_OUTCOME, "recovered")
SUCCESS = eq(c.ERROR_TYPE, "")  # error.type is absent (exported as "") exactly when the call succeeded

# Server-side failures, the availability SLI: 5xx (529 included), a stream that failed after its HTTP 200,
# and failures with no response at all (timeouts, connection errors), whatever their status.
SERVER_ERROR_TYPES = _known(
    "overloaded_error", "api_error", "timeout_error", c.ERROR_TYPE_TIMEOUT, c.ERROR_TYPE_CONNECTION
)
SERVER_FAILURES: Alternatives = (
    (FAILED, regex(c.HTTP_RESPONSE_STATUS_CODE, ("5..", "200"))),
    (FAILED, regex(c.ERROR_TYPE, SERVER_ERROR_TYPES)),
)

# Terminal client errors that a bad deploy causes: malformed requests, unknown models, oversized payloads.
# (401/403 and 402 billing have their own alerts; 429 is rate limiting, not a bug in the request.)
CLIENT_ERROR_STATUSES = ("400", "404", "413", "422")
CLIENT_ERROR_TYPES = _known("invalid_request_error", "not_found_error", "request_too_large")
CLIENT_FAILURES: Alternatives = (
    (FAILED, regex(c.HTTP_RESPONSE_STATUS_CODE, CLIENT_ERROR_STATUSES)),
    (FAILED, regex(c.ERROR_TYPE, CLIENT_ERROR_TYPES)),
)

# Calls that failed although their error was retryable: the SDK's retries ran out. The anthropic SDK retries
# 408, 409, 429 and 5xx responses (unless the API answers `x-should-retry: false`), connection errors and
# timeouts; it does not retry an error mid-stream, so 200 is excluded.
RETRYABLE_STATUSES = ("408", "409", "429", "5..")
EXHAUSTED: Alternatives = (
    (FAILED, regex(c.HTTP_RESPONSE_STATUS_CODE, RETRYABLE_STATUSES)),
    (FAILED, regex(c.ERROR_TYPE, _known(c.ERROR_TYPE_TIMEOUT, c.ERROR_TYPE_CONNECTION))),
)

# Per attempt: 529 / overloaded_error (a platform capacity problem) and 429 / rate_limit_error (our quota).
OVERLOADED: Alternatives = (
    (eq(c.ERROR_TYPE, _known("overloaded_error")[0]),),
    (eq(c.HTTP_RESPONSE_STATUS_CODE, "529"),),
)
RATE_LIMITED: Alternatives = (
    (eq(c.ERROR_TYPE, _known("rate_limit_error")[0]),),
    (eq(c.HTTP_RESPONSE_STATUS_CODE, "429"),),
)

BILLING = eq(c.ERROR_TYPE, _known("billing_error")[0])
AUTHENTICATION = eq(c.ERROR_TYPE, _known("authentication_error")[0])
PERMISSION = eq(c.ERROR_TYPE, _known("permission_error")[0])


def _stop(*reasons: str) -> tuple[str, ...]:
    for reason in reasons:
        if reason not in c.KNOWN_STOP_REASONS:
            raise AssertionError(f"{reason!r} is not a stop_reason the catalog knows")
    return reasons


# Output cut short: the max_tokens budget or the context window ran out before the model finished.
TRUNCATED = regex(c.ANTHROPIC_MESSAGE_STOP_REASON, _stop("max_tokens", "model_context_window_exceeded"))
REFUSED = eq(c.ANTHROPIC_MESSAGE_STOP_REASON, _stop("refusal")[0])
HAS_STOP_REASON = ne(c.ANTHROPIC_MESSAGE_STOP_REASON, "")
