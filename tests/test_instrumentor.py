"""Placing and removing the hooks, configuration, and behaviour identical with and without us."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import entry_points
from typing import Any

import anthropic
import pytest
from anthropic._base_client import AsyncAPIClient, BaseClient, SyncAPIClient
from anthropic._streaming import AsyncStream, Stream
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel import _config as config
from anthropic_otel._sdk import HOOK_POINTS
from anthropic_otel.testing import Recording, Simulator
from support import API_KEY, Telemetry, client_options, messages

OWNERS = {
    "SyncAPIClient": SyncAPIClient,
    "AsyncAPIClient": AsyncAPIClient,
    "BaseClient": BaseClient,
    "Stream": Stream,
    "AsyncStream": AsyncStream,
}


def _originals() -> dict[tuple[str, str], Any]:
    return {(cls, method): OWNERS[cls].__dict__[method] for cls, method in ((p.owner, p.name) for p in HOOK_POINTS)}


def test_entry_point_registered() -> None:
    (ep,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "anthropic_otel"]
    assert ep.load() is AnthropicInstrumentor


def test_instrument_wraps_once_and_uninstrument_restores() -> None:
    before = _originals()
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    try:
        wrapped = _originals()
        assert all(wrapped[k] is not before[k] for k in before)
        AnthropicInstrumentor().instrument()  # a second call (same singleton) changes nothing
        assert _originals() == wrapped
        assert all(wrapped[k].__wrapped__ is before[k] for k in before), "wrapped exactly once"
    finally:
        instrumentor.uninstrument()
    assert _originals() == before


def test_clients_created_before_instrument_are_covered(simulator: Simulator) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url)
    with Recording() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider)
        try:
            client.messages.create(**messages())
        finally:
            instrumentor.uninstrument()
        assert rec.total("anthropic.client.calls") == 1


def test_uninstrumented_calls_emit_nothing(simulator: Simulator) -> None:
    with Recording() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider)
        instrumentor.uninstrument()
        client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, **client_options(rec, native=False))
        client.messages.create(**messages())
        assert rec.series() == []
        assert rec.spans() == []


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"tracer_provder": object()}, "tracer_provder"), ({"call_span": "both"}, "call_span")],
)
def test_wrong_argument_raises_value_error_naming_it(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AnthropicInstrumentor().instrument(**kwargs)
    assert not AnthropicInstrumentor().is_instrumented_by_opentelemetry


def test_invalid_environment_logs_and_uses_default(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="anthropic_otel"):
        cfg = config.from_arguments({}, {config.ENV_CALL_SPAN: "sometimes"})
    assert cfg.call_span == "auto"
    assert "ANTHROPIC_OTEL_CALL_SPAN" in caplog.text
    assert config.from_arguments({}, {config.ENV_CALL_SPAN: "OWN"}).call_span == "own"


def test_missing_hook_point_logs_one_warning_and_the_rest_works(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, simulator: Simulator
) -> None:
    # Pretend this SDK release moved the retry-delay hook point: that feature is off, the rest works.
    monkeypatch.delattr(BaseClient, "_calculate_retry_timeout")
    with Recording() as rec:
        instrumentor = AnthropicInstrumentor()
        with caplog.at_level(logging.WARNING, logger="anthropic_otel"):
            instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider)
        try:
            warnings = [r for r in caplog.records if "cannot hook" in r.getMessage()]
            assert len(warnings) == 1 and "_calculate_retry_timeout" in warnings[0].getMessage()
            monkeypatch.undo()
            client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url)
            client.messages.create(**messages())
        finally:
            instrumentor.uninstrument()
        assert rec.total("anthropic.client.calls") == 1


SCENARIOS = [
    "ok", "max_tokens", "tool_use", "refusal", "overloaded:retry_after_ms=1,ok", "billing:status=403:code=x_y",
    "too_large", "auth", "not_found", "rate_limit:retry_after_ms=1", "drop", "stream_error:after=2", "stream_cut",
]  # fmt: skip


def _observe(client: Any, async_client: Any, scenario: str) -> list[Any]:
    """What the application sees for one scenario, without ids that differ per request."""
    headers = {"x-sim-scenario": scenario}
    seen: list[Any] = []

    def describe(exc: BaseException) -> tuple[Any, ...]:
        body = getattr(exc, "body", None)
        if isinstance(body, dict):  # the simulator's request id differs per request
            body = {k: v for k, v in body.items() if k != "request_id"}
        return (type(exc), getattr(exc, "status_code", None), body)

    try:
        m = client.messages.create(**messages(), extra_headers=headers)
        seen.append((m.stop_reason, [b.type for b in m.content], m.usage.input_tokens, m.usage.output_tokens))
    except Exception as exc:
        seen.append(describe(exc))
    try:
        seen.append([e.type for e in client.messages.create(**messages(stream=True), extra_headers=headers)])
    except Exception as exc:
        seen.append(describe(exc))

    async def run_async() -> None:
        try:
            raw = await async_client.messages.with_raw_response.create(**messages(), extra_headers=headers)
            seen.append((raw.status_code, (await raw.parse()).stop_reason))
        except Exception as exc:
            seen.append(describe(exc))

    asyncio.run(run_async())
    return seen


@pytest.mark.slow
def test_behaviour_identical_with_and_without_instrumentation(simulator: Simulator) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, max_retries=1)
    async_client = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=simulator.base_url, max_retries=1)
    plain = {s: _observe(client, async_client, s) for s in SCENARIOS}
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=TracerProvider(), meter_provider=MeterProvider())
    try:
        instrumented = {s: _observe(client, async_client, s) for s in SCENARIOS}
    finally:
        instrumentor.uninstrument()
    for scenario in SCENARIOS:
        assert instrumented[scenario] == plain[scenario], scenario


def test_internal_failure_is_logged_once_and_the_call_goes_on(
    monkeypatch: pytest.MonkeyPatch, make_client: Any, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    from anthropic_otel import _call, _log

    _log.reset()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("bug in anthropic-otel")

    monkeypatch.setattr(_call.Call, "attempt_responded", broken)
    client = make_client("ok")
    with caplog.at_level(logging.DEBUG, logger="anthropic_otel"):
        for _ in range(3):
            assert client.messages.create(**messages()).stop_reason == "end_turn"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "recording an attempt" in warnings[0].getMessage()
    assert telemetry.counter("anthropic.client.calls") == 3


def test_noop_providers_place_no_hooks() -> None:
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import NoOpTracerProvider

    before = _originals()
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider())
    try:
        assert _originals() == before, "nothing would be recorded, so nothing is wrapped"
    finally:
        instrumentor.uninstrument()
    assert _originals() == before


def test_reinstrumenting_with_the_same_providers_keeps_the_ratelimit_gauges_current(simulator: Any) -> None:
    """The OpenTelemetry SDK hands back the gauges registered by the first `instrument()` (with their callbacks)
    when the same meter provider is used again: the values of later calls must still reach them."""
    instrumentor = AnthropicInstrumentor()
    remaining: list[int] = []
    with Recording() as rec:
        for _ in range(3):
            instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider)
            try:
                client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, max_retries=0)
                client.messages.create(**messages())
                client.close()
                # Collected while instrumented: after `uninstrument()` the gauges report nothing.
                points = rec.points("anthropic.ratelimit.remaining")
                remaining.append(next(int(p.value) for a, p in points if a["anthropic.ratelimit.kind"] == "requests"))
            finally:
                instrumentor.uninstrument()
    assert remaining[0] > remaining[1] > remaining[2], remaining
