"""Beside other instrumentations: httpx's gives no duplicate span per attempt, and another Anthropic
instrumentation keeps working while ours is added and removed."""

from __future__ import annotations

from typing import Any

import anthropic

from support import SDK_VERSION, Telemetry, messages


def _httpx_instrumentor() -> Any:
    from opentelemetry.instrumentation import httpx as httpx_instrumentation

    # SDK >= 1.0 sends through httpx2, older ones through httpx.
    name = "HTTPX2ClientInstrumentor" if SDK_VERSION >= (1, 0) else "HTTPXClientInstrumentor"
    return getattr(httpx_instrumentation, name)()


def test_httpx_instrumentation_adds_no_span_per_attempt(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    instrumentor = _httpx_instrumentor()
    instrumentor.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        client = make_client("overloaded:retry_after_ms=1,ok")
        client.messages.create(**messages())
        for _ in client.messages.create(**messages(stream=True)):
            pass
    finally:
        instrumentor.uninstrument()
    scopes = [s.instrumentation_scope.name for s in telemetry.spans() if s.instrumentation_scope is not None]
    assert not [s for s in scopes if "httpx" in s], scopes
    assert len(telemetry.attempt_spans()) == 4
    assert len(telemetry.call_spans()) == 2


def test_other_anthropic_instrumentation_untouched(simulator: Any, telemetry: Telemetry) -> None:
    from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as OtherInstrumentor

    from anthropic_otel import AnthropicInstrumentor

    messages_class = anthropic.resources.messages.Messages
    plain_create = messages_class.__dict__["create"]
    other = OtherInstrumentor()
    other.instrument(tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider)
    try:
        theirs = messages_class.__dict__["create"]
        assert theirs is not plain_create
        client = anthropic.Anthropic(api_key="sk-ant-x", base_url=simulator.base_url)
        assert client.messages.create(**messages()).stop_reason == "end_turn"
        assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="ok") == 1

        # Removing ours (the fixture's instrumentor) leaves theirs in place and working.
        AnthropicInstrumentor().uninstrument()
        assert messages_class.__dict__["create"] is theirs
        assert client.messages.create(**messages()).stop_reason == "end_turn"
        assert telemetry.counter("anthropic.client.calls") == 1, "ours is off"
    finally:
        other.uninstrument()
    assert messages_class.__dict__["create"] is plain_create
