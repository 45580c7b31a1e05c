"""The rate-limit gauges report a series only while it means something: while instrumented, and until its window's
`anthropic-ratelimit-<kind>-reset` time (or, without one, `STALE_AFTER_S` after its last response)."""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

from anthropic_otel import AnthropicInstrumentor, _telemetry
from anthropic_otel._telemetry import STALE_AFTER_S, parse_reset
from anthropic_otel.testing import Simulator
from anthropic_otel.testing._metrics import metric_points
from support import API_KEY, MODEL, SDK_VERSION, messages

# SDK >= 1.0 sends through httpx2, older ones through httpx.
httpx: Any = importlib.import_module("httpx2" if SDK_VERSION >= (1, 0) else "httpx")

GAUGES = ("anthropic.ratelimit.remaining", "anthropic.ratelimit.limit")


class Clock:
    """Our expiry clock, moved forward by the test; the simulator keeps the real one."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    monkeypatch.setattr(_telemetry, "_now", moved)
    return moved


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    meter_provider, tracer_provider = MeterProvider(metric_readers=[reader]), TracerProvider()
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        yield reader
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        meter_provider.shutdown()


def _series(reader: InMemoryMetricReader) -> dict[tuple[str, str], int]:
    """(gauge, kind) -> value of every rate-limit point collected now (one model in these tests)."""
    found: dict[tuple[str, str], int] = {}
    for name in GAUGES:
        for attributes, point in metric_points(reader, name):
            assert attributes["gen_ai.request.model"] == MODEL
            found[(name, attributes["anthropic.ratelimit.kind"])] = int(point.value)
    return found


def _without_reset() -> Any:
    """A transport like a gateway that forwards the rate-limit values but not their reset times."""

    class WithoutReset(httpx.HTTPTransport):  # type: ignore[misc]
        def handle_request(self, request: Any) -> Any:
            response = super().handle_request(request)
            for name in [n for n in response.headers if n.lower().endswith("-reset")]:
                del response.headers[name]
            return response

    return WithoutReset()


def _call(simulator: Simulator, **options: Any) -> None:
    with anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, max_retries=0, **options) as client:
        client.messages.create(**messages())


def test_a_series_stops_once_its_reset_time_has_passed(
    simulator: Simulator, reader: InMemoryMetricReader, clock: Clock
) -> None:
    _call(simulator)
    assert len(_series(reader)) == 8, "4 kinds x remaining and limit"
    # The simulator's window is a minute: its reset times are at most 60 s ahead.
    clock.ahead = 61.0
    assert _series(reader) == {}, "the window has refilled since: the last values no longer hold"
    clock.ahead = 0.0
    _call(simulator)
    assert len(_series(reader)) == 8, "a new response brings the series back"


def test_a_series_without_a_reset_header_stops_after_a_bounded_time(
    simulator: Simulator, reader: InMemoryMetricReader, clock: Clock
) -> None:
    _call(simulator, http_client=httpx.Client(transport=_without_reset()))
    assert len(_series(reader)) == 8
    clock.ahead = STALE_AFTER_S - 5
    assert len(_series(reader)) == 8, "still within the bound"
    clock.ahead = STALE_AFTER_S + 5
    assert _series(reader) == {}


def test_uninstrument_stops_the_gauges_and_reinstrumenting_reports_new_values_only(simulator: Simulator) -> None:
    reader = InMemoryMetricReader()
    meter_provider, tracer_provider = MeterProvider(metric_readers=[reader]), TracerProvider()
    instrumentor = AnthropicInstrumentor()
    try:
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        _call(simulator)
        assert len(_series(reader)) == 8
        instrumentor.uninstrument()
        assert _series(reader) == {}, "nothing reported once uninstrumented"
        instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
        assert _series(reader) == {}, "no value from before uninstrument() comes back"
        _call(simulator)
        assert len(_series(reader)) == 8, "the same meter provider's gauges report again"
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
        meter_provider.shutdown()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2025-01-01T00:01:00Z", 1735689660.0),
        ("2025-01-01T00:01:00.5Z", 1735689660.0),  # a second's fraction may be dropped (Python 3.10)
        ("2025-01-01T01:01:00+01:00", 1735689660.0),
        ("2025-01-01T00:01:00", 1735689660.0),
        ("soon", None),
        ("", None),
    ],
)
def test_reset_header_parsing(raw: str, expected: float | None) -> None:
    parsed = parse_reset(raw)
    if expected is None:
        assert parsed is None
    else:
        assert parsed is not None and abs(parsed - expected) <= 1.0
