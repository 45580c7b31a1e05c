"""The tracer and the instruments, created once per `instrument()` from the catalog."""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterable

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

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
        # Rate-limit headroom: the last header value per series, reported when the reader collects. Eight
        # synchronous gauge points per attempt cost more than the rest of an attempt's telemetry together.
        self.ratelimits = _ratelimit_gauges(meter)
        self.is_noop = isinstance(self.tracer, trace.NoOpTracer) and isinstance(meter, metrics.NoOpMeter)


# (provider, model, server address, kind): the attributes of one rate-limit series.
SeriesKey = tuple[str, "str | None", "str | None", str]


# Each `anthropic-ratelimit-*` value header: (header, kind, whether it is a `remaining`, its span attribute).
RATELIMIT_HEADERS = tuple(
    (f"anthropic-ratelimit-{header}-{which}", kind, which == "remaining", cat.ratelimit_attribute(kind, which))
    for header, kind in cat.RATELIMIT_KINDS.items()
    for which in ("remaining", "limit")
)
# Per rate-limit header of one (provider, model, server address): (header, span attribute, the dict of last values
# it goes to, its series key there).
Slots = tuple[tuple[str, str, "dict[SeriesKey, int]", SeriesKey], ...]
_MAX_CACHED_SLOTS = 1024


class RateLimitGauges:
    """The last `anthropic-ratelimit-*` values seen, per series (models times kinds: a bounded set)."""

    def __init__(self) -> None:
        self.remaining: dict[SeriesKey, int] = {}
        self.limit: dict[SeriesKey, int] = {}
        self._attributes: dict[SeriesKey, dict[str, str]] = {}
        self._slots: dict[tuple[str, str | None, str | None], Slots] = {}
        self._lock = threading.Lock()

    def slots(self, provider: str, model: str | None, server: str | None) -> Slots:
        """Where each rate-limit header of a response for this provider, model and server goes; built once."""
        found = self._slots.get((provider, model, server))
        if found is None:
            found = tuple(
                (header, attribute, self.remaining if remaining else self.limit, (provider, model, server, kind))
                for header, kind, remaining, attribute in RATELIMIT_HEADERS
            )
            if len(self._slots) < _MAX_CACHED_SLOTS:  # models are the caller's strings: do not grow without bound
                self._slots[(provider, model, server)] = found
        return found

    def set(self, values: dict[SeriesKey, int], key: SeriesKey, value: int) -> None:
        if key in values:
            values[key] = value  # replacing a value never resizes the dict a collection may be reading
            return
        with self._lock:
            values[key] = value

    def callback(self, which: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                items = list((self.remaining if which == "remaining" else self.limit).items())
            return [Observation(value, self._attributes_of(key)) for key, value in items]

        return observe

    def _attributes_of(self, key: SeriesKey) -> dict[str, str]:
        attributes = self._attributes.get(key)
        if attributes is None:
            provider, model, server, kind = key
            attributes = {cat.GEN_AI_PROVIDER_NAME: provider, cat.ANTHROPIC_RATELIMIT_KIND: kind}
            if model is not None:
                attributes[cat.GEN_AI_REQUEST_MODEL] = model
            if server is not None:
                attributes[cat.SERVER_ADDRESS] = server
            self._attributes[key] = attributes
        return attributes


_gauges_by_meter: weakref.WeakKeyDictionary[metrics.Meter, RateLimitGauges] = weakref.WeakKeyDictionary()
_gauges_lock = threading.Lock()


def _ratelimit_gauges(meter: metrics.Meter) -> RateLimitGauges:
    """The last values behind the two observable gauges of `meter`, registered once per meter.

    `instrument()` after `uninstrument()` with the same meter provider gets the same meter back, and the
    OpenTelemetry SDK then returns the gauges registered the first time, which keep reporting through the
    callbacks they were created with: new values must go where those callbacks read.
    """
    with _gauges_lock:
        try:
            gauges = _gauges_by_meter.get(meter)
        except TypeError:  # a meter that cannot be weakly referenced: register anew, as for a new meter
            gauges = None
        if gauges is not None:
            return gauges
        gauges = RateLimitGauges()
        for metric, values in ((cat.RATELIMIT_REMAINING, "remaining"), (cat.RATELIMIT_LIMIT, "limit")):
            meter.create_observable_gauge(metric.name, [gauges.callback(values)], metric.unit, metric.description)
        with contextlib.suppress(TypeError):
            _gauges_by_meter[meter] = gauges
        return gauges


def _histogram(meter: metrics.Meter, metric: cat.Metric) -> metrics.Histogram:
    return meter.create_histogram(
        metric.name, metric.unit, metric.description, explicit_bucket_boundaries_advisory=metric.buckets
    )
