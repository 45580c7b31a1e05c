"""The floor: the cost of emitting, straight through the OpenTelemetry SDK, exactly the telemetry that
`anthropic-otel` emits for one call, with the same providers and nothing else.

No hooks, no parsing, no decisions: attribute sets are constants (only the request id changes per call, as it
does on the wire), all attributes a span gets after its start are set in one `set_attributes`, and metric points
are recorded inside the span context like ours (so exemplar sampling costs the same). Whatever the
instrumentation costs beyond this is the price of observing the SDK; this is the price of the data itself.

Attribute keys are written out here rather than imported from the package, so the floor cannot drift with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import SpanKind, Status, StatusCode, TracerProvider
from opentelemetry.util.types import AttributeValue

from _fixtures import MAX_TOKENS, MODEL

_PROVIDER = "anthropic"
_HOST = "api.anthropic.com"
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
_RETRY_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128)
_RATELIMITS = (  # (kind, which, value): the 8 numeric rate-limit headers of every response
    ("requests", "limit", 4000),
    ("requests", "remaining", 3999),
    ("tokens", "limit", 2400000),
    ("tokens", "remaining", 2398000),
    ("input_tokens", "limit", 2000000),
    ("input_tokens", "remaining", 1998000),
    ("output_tokens", "limit", 400000),
    ("output_tokens", "remaining", 399500),
)
Attrs = dict[str, AttributeValue]
_BASE: Attrs = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": _PROVIDER, "gen_ai.request.model": MODEL}


class Floor:
    """Emitters of the reference telemetry, each one call's worth."""

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self.tracer = tracer_provider.get_tracer("benchmark.floor")
        meter = meter_provider.get_meter("benchmark.floor")
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", "s", explicit_bucket_boundaries_advisory=_DURATION_BUCKETS
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", "{token}", explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS
        )
        self.retry_delay = meter.create_histogram(
            "anthropic.client.retry.delay", "s", explicit_bucket_boundaries_advisory=_RETRY_BUCKETS
        )
        self.calls = meter.create_counter("anthropic.client.calls", "{call}")
        self.attempts = meter.create_counter("anthropic.client.attempts", "{attempt}")
        # Rate-limit headroom as the cheapest correct emission: the last value per series in a dict, reported by
        # observable gauges when the reader collects (what the instrumentation does).
        self.ratelimit_last: dict[tuple[str, str], int] = {}
        for which in ("remaining", "limit"):
            meter.create_observable_gauge(f"anthropic.ratelimit.{which}", [self._observe(which)], "{quota}")
        self._ids = itertools.count()

        self.call_start: Attrs = {
            **_BASE,
            "gen_ai.request.stream": False,
            "gen_ai.request.max_tokens": MAX_TOKENS,
            "server.address": _HOST,
            "server.port": 443,
        }
        self.call_end: Attrs = {
            "anthropic.call.outcome": "ok",
            "http.response.status_code": 200,
            "gen_ai.response.id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "gen_ai.response.model": MODEL,
            "anthropic.message.stop_reason": "end_turn",
            "gen_ai.response.finish_reasons": ("end_turn",),
            "gen_ai.usage.input_tokens": 2095,
            "gen_ai.usage.output_tokens": 87,
            "gen_ai.usage.cache_read.input_tokens": 0,
            "gen_ai.usage.cache_creation.input_tokens": 0,
        }  # + anthropic.request.id per call: 18 attributes on the call span
        self.attempt_start: Attrs = {
            "http.request.method": "POST",
            "url.path": "/v1/messages",
            "server.address": _HOST,
            "server.port": 443,
        }
        self.ratelimit_span_attrs: Attrs = {f"anthropic.ratelimit.{kind}.{which}": v for kind, which, v in _RATELIMITS}
        self.ok_attempt_end: Attrs = {"http.response.status_code": 200, **self.ratelimit_span_attrs}
        # + request id: 15 attributes on the attempt span
        self.gauge_points = [((kind, which), value) for kind, which, value in _RATELIMITS]
        self.gauge_attrs: dict[str, Attrs] = {
            kind: {
                "gen_ai.provider.name": _PROVIDER,
                "anthropic.ratelimit.kind": kind,
                "gen_ai.request.model": MODEL,
                "server.address": _HOST,
            }
            for kind, _, _ in _RATELIMITS
        }
        self.attempt_ok_attrs: Attrs = {**_BASE, "http.response.status_code": 200, "anthropic.attempt.is_retry": False}
        self.duration_attrs: Attrs = {**_BASE, "server.address": _HOST, "gen_ai.request.stream": False}
        self.calls_attrs: Attrs = {
            **_BASE,
            "anthropic.call.outcome": "ok",
            "gen_ai.request.stream": False,
            "http.response.status_code": 200,
            "anthropic.message.stop_reason": "end_turn",
        }
        self.token_points: list[tuple[int, Attrs]] = [
            (2095, {**_BASE, "gen_ai.token.type": "input", "anthropic.token.cache": "none"}),
            (87, {**_BASE, "gen_ai.token.type": "output", "anthropic.token.cache": "none"}),
        ]
        # A 429 attempt: what each extra attempt of a retried call adds.
        self.failed_attempt_end: Attrs = {
            "http.response.status_code": 429,
            "anthropic.retry.after": 0.000001,
            "error.type": "rate_limit_error",
            "anthropic.error.retryable": True,
            "anthropic.retry.delay": 0.000001,
            **self.ratelimit_span_attrs,
        }  # + request id: 18 attributes
        self.attempt_failed_attrs: Attrs = {
            **_BASE,
            "http.response.status_code": 429,
            "anthropic.attempt.is_retry": False,
            "error.type": "rate_limit_error",
            "anthropic.error.retryable": True,
        }
        self.retry_attrs: Attrs = {**_BASE, "error.type": "rate_limit_error"}
        self.classic_attrs: Attrs = {**self.call_start, "http.response.status_code": 200}  # 8 attributes
        self.classic_metric_attrs: Attrs = _BASE

    def _observe(self, which: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            return [
                Observation(value, self.gauge_attrs[kind])
                for (kind, kind_which), value in list(self.ratelimit_last.items())
                if kind_which == which
            ]

        return observe

    def _request_id(self) -> str:
        return f"req_011CV{next(self._ids):019d}"

    def full(self) -> None:
        """One successful non-streamed call: call span (18 attributes), attempt span (15), 5 metric points,
        8 rate-limit values kept for the observable gauges."""
        tracer = self.tracer
        call = tracer.start_span("chat " + MODEL, kind=SpanKind.CLIENT, attributes=self.call_start)
        call_ctx = trace.set_span_in_context(call)
        attempt = tracer.start_span("POST /v1/messages", call_ctx, SpanKind.CLIENT, self.attempt_start)
        attempt_ctx = trace.set_span_in_context(attempt, call_ctx)
        request_id = self._request_id()
        attempt.set_attributes({**self.ok_attempt_end, "anthropic.request.id": request_id})
        for key, value in self.gauge_points:
            self.ratelimit_last[key] = value
        self.attempts.add(1, self.attempt_ok_attrs, context=attempt_ctx)
        attempt.end()
        call.set_attributes({**self.call_end, "anthropic.request.id": request_id})
        call.end()
        self.duration.record(0.000420, self.duration_attrs, context=call_ctx)
        self.calls.add(1, self.calls_attrs, context=call_ctx)
        for tokens, token_attrs in self.token_points:
            self.tokens.record(tokens, token_attrs, context=call_ctx)

    def failed_attempt(self, call_ctx: Context | None = None) -> None:
        """What one extra (429, retried) attempt adds: a span of 18 attributes, 2 metric points, 8 rate-limit values."""
        attempt = self.tracer.start_span("POST /v1/messages", call_ctx, SpanKind.CLIENT, self.attempt_start)
        attempt_ctx = trace.set_span_in_context(attempt, call_ctx)
        attempt.set_attributes({**self.failed_attempt_end, "anthropic.request.id": self._request_id()})
        attempt.set_status(Status(StatusCode.ERROR, "rate_limit_error"))
        for key, value in self.gauge_points:
            self.ratelimit_last[key] = value
        self.attempts.add(1, self.attempt_failed_attrs, context=attempt_ctx)
        self.retry_delay.record(0.000001, self.retry_attrs, context=attempt_ctx)
        attempt.end()

    def classic(self) -> None:
        """The classic floor: one span with 8 attributes and 3 metric points."""
        span = self.tracer.start_span("chat " + MODEL, kind=SpanKind.CLIENT, attributes=self.classic_attrs)
        span.end()
        self.duration.record(0.000420, self.classic_metric_attrs)
        self.calls.add(1, self.classic_metric_attrs)
        self.tokens.record(87, self.classic_metric_attrs)
