"""Trace context on requests: when the call span is ours, every attempt carries its trace context through the
application's propagator (as the SDK's own tracing does with its span); with `propagate=False` none; when the SDK's
native span is the call span, exactly the SDK's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import NoOpTracerProvider

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Simulator
from support import API_KEY, HAS_NATIVE_TRACING, Telemetry, client_options, messages

RETRIED = "overloaded:retry_after_ms=1,overloaded:retry_after_ms=1,ok"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator("ok") as simulator:
        yield simulator


def _traced(
    sim: Simulator,
    *,
    native: bool = False,
    scenario: str = RETRIED,
    async_: bool = False,
    open_telemetry: Any = None,
    **options: Any,
) -> tuple[Telemetry, list[dict[str, str]]]:
    """One call (retried twice by default) and the headers of each attempt the simulator received. `open_telemetry`:
    the client's own option (SDK >= 1.14), instead of its native span to our provider (`native`) or off; "unset":
    no option (the client reads the environment)."""
    with Telemetry() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider, **options)
        try:
            kwargs: dict[str, Any] = {
                "api_key": API_KEY,
                "base_url": sim.base_url,
                "max_retries": 2,
                "default_headers": {"x-sim-scenario": scenario},
                **client_options(rec, native),
            }
            if open_telemetry == "unset":
                del kwargs["open_telemetry"]
            elif open_telemetry is not None:
                kwargs["open_telemetry"] = open_telemetry
            if async_:

                async def call() -> None:
                    async with anthropic.AsyncAnthropic(**kwargs) as client:
                        stream = await client.messages.create(**messages(stream=True))
                        async for _ in stream:
                            pass

                asyncio.run(call())
            else:
                with anthropic.Anthropic(**kwargs) as client:
                    client.messages.create(**messages())
        finally:
            instrumentor.uninstrument()
        assert rec.left_open() == []
        return rec, [request.headers for request in sim.requests]


def _parent_of(headers: dict[str, str]) -> tuple[int, int]:
    """(trace id, span id) of a `traceparent` header."""
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled
    return int(trace_id, 16), int(span_id, 16)


def _ids(span: ReadableSpan) -> tuple[int, int]:
    return span.context.trace_id, span.context.span_id


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async-stream"])
def test_every_attempt_carries_our_call_spans_context(sim: Simulator, async_: bool) -> None:
    rec, sent = _traced(sim, async_=async_)
    call = rec.call_span()
    assert call.instrumentation_scope.name == "anthropic_otel"
    assert len(sent) == 3 and len(rec.attempt_spans()) == 3
    assert [_parent_of(headers) for headers in sent] == [_ids(call)] * 3


def test_switched_off_no_trace_context_is_sent(sim: Simulator) -> None:
    rec, sent = _traced(sim, propagate=False)
    assert len(rec.attempt_spans()) == 3
    assert len(sent) == 3 and all("traceparent" not in headers for headers in sent)


def test_switched_off_by_the_environment(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_OTEL_PROPAGATE", "false")
    _, sent = _traced(sim, scenario="ok")
    assert len(sent) == 1 and "traceparent" not in sent[0]


@pytest.mark.skipif(not HAS_NATIVE_TRACING, reason="the SDK has no propagation option before 1.14")
@pytest.mark.parametrize(
    "option",
    [
        {"traces": False, "propagation": False},
        {"tracer_provider": NoOpTracerProvider(), "propagation": False},
        {"propagation": False},
        "unset",  # ANTHROPIC_OPEN_TELEMETRY_PROPAGATION=false, read by a client given no option
    ],
    ids=["tracing-off", "no-op-provider", "native", "environment"],
)
def test_a_client_without_propagation_sends_none(sim: Simulator, monkeypatch: pytest.MonkeyPatch, option: Any) -> None:
    """The client's own `propagation: False` holds for our call span too: none of its requests carries context."""
    monkeypatch.setenv("ANTHROPIC_OPEN_TELEMETRY_PROPAGATION", "false")
    rec, sent = _traced(sim, open_telemetry=option)
    assert len(sent) == 3 and all("traceparent" not in headers for headers in sent)
    assert len(rec.attempt_spans()) == 3 and rec.call_span() is not None


def test_without_instrumentation_nothing_is_sent(sim: Simulator) -> None:
    # The baseline the feature is measured against: the SDK with its tracing off sends no trace context.
    with (
        Telemetry() as rec,
        anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, **client_options(rec, False)) as client,
    ):
        client.messages.create(**messages())
    assert "traceparent" not in sim.requests[0].headers


def test_the_applications_propagator_sends_baggage_too(sim: Simulator) -> None:
    token = otel_context.attach(baggage.set_baggage("tenant", "acme"))
    try:
        _, sent = _traced(sim, scenario="ok")
    finally:
        otel_context.detach(token)
    assert sent[0]["baggage"] == "tenant=acme"


def test_the_applications_headers_are_replaced_on_the_request_not_changed(sim: Simulator) -> None:
    extra = {"traceparent": "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01", "x-app": "1"}
    with Telemetry() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider)
        try:
            with anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, **client_options(rec, False)) as client:
                client.messages.create(**messages(), extra_headers=extra)
        finally:
            instrumentor.uninstrument()
        (sent,) = [request.headers for request in sim.requests]
        assert _parent_of(sent) == _ids(rec.call_span())
        assert sent["x-app"] == "1"
        assert extra["traceparent"].startswith("00-0123456789abcdef")  # the application's dict is left alone


@pytest.mark.skipif(not HAS_NATIVE_TRACING, reason="the SDK has no native tracing before 1.14")
def test_with_the_sdks_native_call_span_only_the_sdk_sends_its_context(sim: Simulator) -> None:
    rec, sent = _traced(sim, native=True)
    call = rec.call_span()
    assert call.instrumentation_scope.name.startswith("com.anthropic.sdk")
    assert len(sent) == 3 and [_parent_of(headers) for headers in sent] == [_ids(call)] * 3


@pytest.mark.skipif(not HAS_NATIVE_TRACING, reason="the SDK has no native tracing before 1.14")
def test_own_call_span_over_native_tracing_sends_ours(sim: Simulator) -> None:
    # `call_span="own"` keeps the SDK from starting its span (and so from sending its context): we send ours.
    rec, sent = _traced(sim, native=True, call_span="own")
    call = rec.call_span()
    assert call.instrumentation_scope.name == "anthropic_otel"
    assert [_parent_of(headers) for headers in sent] == [_ids(call)] * 3
