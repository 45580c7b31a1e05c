"""Shared fixtures: the real SDK against the simulator over loopback, and what the OpenTelemetry SDK exports.

Spans go to an in-memory exporter, metrics to an in-memory reader (`support.Telemetry`, an
`anthropic_otel.testing.Recording`). On SDKs with native tracing (>= 1.14) the `native` fixture runs a test twice:
with the SDK's own call span on (given our tracer provider) and off. Helpers that tests import are in `support.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Simulator
from support import API_KEY, HAS_NATIVE_TRACING, Telemetry


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """Our instrumentation, recording to memory; at the end no span may be left open."""
    with Telemetry() as recording:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=recording.tracer_provider, meter_provider=recording.meter_provider)
        try:
            yield recording
            left_open = recording.left_open()  # after gc: streams dropped by the test end their spans when collected
            assert left_open == [], f"spans left open: {left_open}"
        finally:
            instrumentor.uninstrument()


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with Simulator() as sim:
        yield sim


@pytest.fixture(params=[True, False] if HAS_NATIVE_TRACING else [False], ids=lambda v: "native" if v else "own")
def native(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def make_client(simulator: Simulator, telemetry: Telemetry, native: bool) -> Any:
    """`make_client(scenario, async_=False, **options)`: a real SDK client pointed at the simulator."""

    clients: list[Any] = []

    def make(scenario: str = "ok", *, async_: bool = False, **options: Any) -> Any:
        options.setdefault("max_retries", 2)
        options.setdefault("timeout", 10.0)
        headers = {"x-sim-scenario": scenario, **options.pop("default_headers", {})}
        cls = anthropic.AsyncAnthropic if async_ else anthropic.Anthropic
        client = cls(
            api_key=API_KEY,
            base_url=simulator.base_url,
            default_headers=headers,
            **telemetry.client_options(native),
            **options,
        )
        clients.append(client)
        return client

    return make
