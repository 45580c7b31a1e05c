"""The tracer and the instruments, created once per `instrument()` from the catalog."""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Observation

from . import _catalog as cat
from . import _content
from ._version import __version__

SCOPE = "anthropic_otel"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


class Telemetry:
    """Everything the hooks emit through. One instance per `instrument()` call."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None,
        meter_provider: metrics.MeterProvider | None,
        logger_provider: Any = None,
        *,
        events: bool = False,
    ):
        # The logger only when the content mode emits events: most set-ups have no logger provider to pay for.
        self.event_logger = _content.event_logger(logger_provider, SCOPE, SCHEMA_URL) if events else None
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
        self.is_noop = (
            isinstance(self.tracer, trace.NoOpTracer)
            and isinstance(meter, metrics.NoOpMeter)
            and self.event_logger is None
        )


# (provider, model, server address, kind): the attributes of one rate-limit series.
SeriesKey = tuple[str, "str | None", "str | None", str]


# Each `anthropic-ratelimit-*` value header: (header, kind, whether it is a `remaining`, its span attribute).
RATELIMIT_HEADERS = tuple(
    (f"anthropic-ratelimit-{header}-{which}", kind, which == "remaining", cat.ratelimit_attribute(kind, which))
    for header, kind in cat.RATELIMIT_KINDS.items()
    for which in ("remaining", "limit")
)
# The `anthropic-ratelimit-*-reset` header of each kind: when its window is full again (RFC 3339).
RATELIMIT_RESET_HEADERS = {kind: f"anthropic-ratelimit-{header}-reset" for header, kind in cat.RATELIMIT_KINDS.items()}
# Every rate-limit header `RateLimitGauges.record` reads.
RATELIMIT_HEADERS_READ = (*(header for header, _, _, _ in RATELIMIT_HEADERS), *RATELIMIT_RESET_HEADERS.values())
# Per rate-limit value header of one (provider, model, server address): (header, span attribute, the dict of last
# values it goes to, its series key, the kind's reset header, whether it is the kind's `remaining`).
Slots = tuple[tuple[str, str, "dict[SeriesKey, int]", SeriesKey, str, bool], ...]
_MAX_CACHED_SLOTS = 1024

# How long a series without a usable `-reset` header (a gateway that strips it, an unparsable value) is reported
# after its last response. Anthropic's limits are per minute and refill continuously: a value older than that
# says nothing about now. Five minutes leaves room for a collection interval of a minute or more, and matches
# Prometheus's default look-back, so a gap in traffic shorter than that does not break a series.
STALE_AFTER_S = 300.0

_now = time.time  # the clock the expiry is read with (a module attribute, so tests can move it)


class RateLimitGauges:
    """The last `anthropic-ratelimit-*` values seen, per series (models times kinds: a bounded set).

    A series is reported only while it means something:
    - only while instrumented: `stop()` (from `uninstrument()`) forgets every value, `start()` reports again;
    - only until its window's `anthropic-ratelimit-<kind>-reset` time (by this process's clock) has passed
      without a new response: by then the window is full again and the last `remaining` is wrong; the `limit`
      series of the kind goes with it, so the two always describe the same window;
    - without a usable reset header, only for `STALE_AFTER_S` after the last response.

    Cheap on the hot path: a response stores its values and the raw reset string, plus the number of the
    collection it arrived before (no clock, no parsing). Collections (once a minute or so) parse a reset string
    only when it changed and take the time a series was found updated as its last-seen time, which errs late by
    at most one collection interval.
    """

    def __init__(self) -> None:
        self.remaining: dict[SeriesKey, int] = {}
        self.limit: dict[SeriesKey, int] = {}
        self.active = False
        self._attributes: dict[SeriesKey, dict[str, str]] = {}
        self._slots: dict[tuple[str, str | None, str | None], Slots] = {}
        # Written per response: the raw reset header of the series' last response, and the collection
        # generation it arrived in.
        self._reset: dict[SeriesKey, str | None] = {}
        self._updated_in: dict[SeriesKey, int] = {}
        self._generation = 0
        # Read and written by collections only, under `_lock`.
        self._parsed: dict[SeriesKey, tuple[str, float | None]] = {}
        self._seen_at: dict[SeriesKey, float] = {}
        self._lock = threading.Lock()
        _all_gauges.add(self)

    def slots(self, provider: str, model: str | None, server: str | None) -> Slots:
        """Where each rate-limit header of a response for this provider, model and server goes; built once."""
        found = self._slots.get((provider, model, server))
        if found is None:
            found = tuple(
                (
                    header,
                    attribute,
                    self.remaining if remaining else self.limit,
                    (provider, model, server, kind),
                    RATELIMIT_RESET_HEADERS[kind],
                    remaining,
                )
                for header, kind, remaining, attribute in RATELIMIT_HEADERS
            )
            if len(self._slots) < _MAX_CACHED_SLOTS:  # models are the caller's strings: do not grow without bound
                self._slots[(provider, model, server)] = found
        return found

    def record(
        self,
        headers: Mapping[str, str],
        provider: str,
        model: str | None,
        server: str | None,
        span_attrs: dict[str, Any],
    ) -> None:
        """Note the rate-limit headers of one response: on its attempt span (`span_attrs`) and as the last
        values of their series. One flat loop over the value headers: this runs for every attempt."""
        get = headers.get
        for header, attribute, values, key, reset_header, remaining in self.slots(provider, model, server):
            raw = get(header)
            if raw is None:
                continue
            try:
                value = int(raw)
            except ValueError:
                continue
            if value < 0:
                continue
            span_attrs[attribute] = value
            if key in values:
                if remaining:  # the kind's freshness, once per response (its limit series goes with it)
                    self._reset[key] = get(reset_header)
                    self._updated_in[key] = self._generation
                values[key] = value  # replacing a value never resizes the dict a collection may be reading
            else:
                self.set(values, key, value, get(reset_header))

    def set(self, values: dict[SeriesKey, int], key: SeriesKey, value: int, reset: str | None = None) -> None:
        """Set the last value of one series; `reset` is the raw `anthropic-ratelimit-<kind>-reset` header that
        came with it, if any."""
        with self._lock:
            self._reset[key] = reset
            self._updated_in[key] = self._generation
            values[key] = value

    def start(self) -> None:
        """Report the series (from `instrument()`)."""
        self.active = True

    def stop(self) -> None:
        """Stop reporting and forget every value (from `uninstrument()`): a later `instrument()` with the same
        meter provider starts from nothing instead of reporting values from before."""
        with self._lock:
            self.active = False
            self._forget()

    def _forget(self) -> None:
        # In place: the slots and the registered callbacks hold these very dicts.
        for known in (self.remaining, self.limit, self._reset, self._updated_in, self._parsed, self._seen_at):
            known.clear()

    def callback(self, which: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            now = _now()
            with self._lock:
                if not self.active:
                    return []
                current = self._current(now)
                items = list((self.remaining if which == "remaining" else self.limit).items())
            return [Observation(value, self._attributes_of(key)) for key, value in items if key in current]

        return observe

    def _current(self, now: float) -> frozenset[SeriesKey]:
        """The series whose last value still holds at `now`. Called under `_lock` by each collection."""
        generation = self._generation
        self._generation = generation + 1  # responses from now on belong to the next collection
        current: list[SeriesKey] = []
        for key, updated_in in list(self._updated_in.items()):
            if updated_in == generation or key not in self._seen_at:
                self._seen_at[key] = now  # updated since the previous collection
            raw = self._reset.get(key)
            expires: float | None = None
            if raw is not None:
                parsed = self._parsed.get(key)
                if parsed is None or parsed[0] != raw:
                    parsed = self._parsed[key] = (raw, parse_reset(raw))
                expires = parsed[1]
            if expires is None:
                expires = self._seen_at[key] + STALE_AFTER_S
            if now < expires:
                current.append(key)
        return frozenset(current)

    def _after_fork_in_child(self) -> None:
        """The child gets a free lock, and reports only what it sees itself: its parent's values would be
        exported a second time, under the same attributes, and never updated."""
        self._lock = threading.Lock()
        self._forget()

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


_FRACTION = re.compile(r"(\.\d+)")


def parse_reset(raw: str) -> float | None:
    """An `anthropic-ratelimit-*-reset` value (RFC 3339, e.g. `2025-01-01T00:01:00Z`) as a Unix time; `None`
    when it does not parse. A value without an offset is taken as UTC."""
    text = raw.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # Python 3.10 accepts only 3 or 6 fractional digits: a second's fraction does not matter here.
        try:
            parsed = datetime.fromisoformat(_FRACTION.sub("", text, count=1))
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


# Every `RateLimitGauges` alive, for the fork handler.
_all_gauges: weakref.WeakSet[RateLimitGauges] = weakref.WeakSet()
_gauges_by_meter: weakref.WeakKeyDictionary[metrics.Meter, RateLimitGauges] = weakref.WeakKeyDictionary()
_gauges_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A fork while another thread held one of our locks copies it held by a thread the child does not have:
    give the child free ones (and its own, empty, rate-limit series)."""
    global _gauges_lock
    _gauges_lock = threading.Lock()
    for gauges in list(_all_gauges):
        gauges._after_fork_in_child()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_after_fork_in_child)


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
