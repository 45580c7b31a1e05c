"""The tracer and the instruments, created once per `instrument()` from the catalog."""

from __future__ import annotations

from typing import Any

from opentelemetry import metrics, trace

from . import _catalog as cat
from ._version import __version__

SCOPE = "anthropic_otel"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


class Telemetry:
    """Everything the hooks emit through. One instance per `instrument()` call."""

    def __init__(self, tracer_provider: trace.TracerProvider | None, meter_provider: metrics.MeterProvider | None):
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=SCHEMA_URL)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)
        self.duration = _histogram(meter, cat.OPERATION_DURATION)
        self.token_usage = _histogram(meter, cat.TOKEN_USAGE)
        self.time_to_first_chunk = _histogram(meter, cat.TIME_TO_FIRST_CHUNK)
        self.retry_delay = _histogram(meter, cat.RETRY_DELAY)
        self.calls = meter.create_counter(cat.CALLS.name, cat.CALLS.unit, cat.CALLS.description)
        self.attempts = meter.create_counter(cat.ATTEMPTS.name, cat.ATTEMPTS.unit, cat.ATTEMPTS.description)
        self.ratelimit_remaining = _gauge(meter, cat.RATELIMIT_REMAINING)
        self.ratelimit_limit = _gauge(meter, cat.RATELIMIT_LIMIT)


def _histogram(meter: metrics.Meter, metric: cat.Metric) -> metrics.Histogram:
    return meter.create_histogram(
        metric.name, metric.unit, metric.description, explicit_bucket_boundaries_advisory=metric.buckets
    )


def _gauge(meter: metrics.Meter, metric: cat.Metric) -> Any:
    return meter.create_gauge(metric.name, metric.unit, metric.description)
