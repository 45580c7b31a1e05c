"""One HTTP attempt: its span while it runs, and what its response (or failure) said, as an `AttemptRecord`.

Reads only what the hooks hand over (status, the headers we use, a body already in memory); never the SDK's
objects, never the network.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

from opentelemetry.context import Context
from opentelemetry.trace import Span

from . import _catalog as cat
from ._errors import (
    AMZN_ERROR_TYPE_HEADER,
    SHOULD_RETRY_HEADER,
    ErrorInfo,
    classify_exception,
    classify_response,
    enum_value,
    is_cancellation,
)
from ._log import internal_error
from ._record import AttemptRecord
from ._telemetry import RATELIMIT_HEADERS_READ, RateLimitGauges

_MAX_ID_LEN = 128


class RateLimitSeries(NamedTuple):
    """Where an attempt's rate-limit headers go: the gauges, and the (provider, model, server) of its series."""

    gauges: RateLimitGauges
    series: tuple[str, str | None, str | None]


# Every response header an attempt reads (the hooks add the opt-in metric headers).
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


class Attempt:
    """One HTTP attempt while it runs: its span, and what its response (or failure) said once it has."""

    # No reference back to the call: a cycle would keep both, their spans and contexts alive until the cyclic
    # garbage collector runs, and that (not the telemetry) was the largest cost of a call under load.
    __slots__ = ("ctx", "end_ns", "is_retry", "record", "span")

    def __init__(self, span: Span, ctx: Context, retries_taken: int) -> None:
        self.span = span
        self.ctx = ctx
        self.is_retry = retries_taken > 0
        self.record: AttemptRecord | None = None
        self.end_ns = 0

    @property
    def info(self) -> ErrorInfo | None:
        return self.record.info if self.record is not None else None

    @property
    def status(self) -> int | None:
        return self.record.status if self.record is not None else None

    @property
    def request_id(self) -> str | None:
        if self.record is None:
            return None
        value = self.record.span_attributes.get(cat.ANTHROPIC_REQUEST_ID)
        return value if isinstance(value, str) else None

    def end(self) -> None:
        """End the span; a span processor whose `on_end` raises costs that span only (the span has ended: the
        SDK marks it ended before it calls the processors), never the call's other spans and metrics."""
        try:
            self.span.end(end_time=self.end_ns or None)
        except Exception:
            internal_error("ending an attempt span")

    def responded(
        self, status: int, headers: Mapping[str, str], body: object, ratelimits: RateLimitSeries
    ) -> AttemptRecord:
        """What a response said: status, request id, retry-after, rate limits (also given to the gauges) and, for
        an error, its classification from status, headers and body."""
        self.end_ns = time.time_ns()
        found: dict[str, Any] = {cat.HTTP_RESPONSE_STATUS_CODE: status}
        request_id = headers.get("request-id") or headers.get("x-amzn-requestid")
        if request_id:
            found[cat.ANTHROPIC_REQUEST_ID] = request_id[:_MAX_ID_LEN]
        retry_after = _retry_after(headers)
        if retry_after is not None:
            found[cat.ANTHROPIC_RETRY_AFTER] = retry_after
        ratelimits.gauges.record(headers, *ratelimits.series, found)
        info = classify_response(status, headers, body) if status >= 400 else None
        return AttemptRecord(info, status, self.is_retry, found)

    def raised(self, exc: BaseException) -> AttemptRecord:
        """A failure before any response: connection refused or dropped, client timeout; or a cancellation, which
        is no error of the attempt's (its span's status stays UNSET)."""
        self.end_ns = time.time_ns()
        if is_cancellation(exc):
            return AttemptRecord(None, None, self.is_retry, {}, cancelled=True)
        return AttemptRecord(classify_exception(exc), None, self.is_retry, {})


def read_metric_headers(
    headers: Mapping[str, str], metric_headers: tuple[tuple[str, str], ...], into: dict[str, str]
) -> None:
    """The opt-in extra metric attributes (workspace, organization id) from the response headers."""
    for attribute, header in metric_headers:
        value = enum_value(headers.get(header))
        if value is not None:
            into[attribute] = value


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
