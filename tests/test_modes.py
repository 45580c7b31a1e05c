"""Call-span modes: exactly one call span per call in every combination of our mode and the SDK's native
tracing (where the SDK has it), and the attempt spans always under it."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Recording, Simulator
from support import API_KEY, HAS_NATIVE_TRACING, client_options, messages

NATIVE = [True, False] if HAS_NATIVE_TRACING else [False]


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator("overloaded:retry_after_ms=1,ok") as simulator:
        yield simulator


@pytest.mark.parametrize("native", NATIVE, ids=lambda n: "native-on" if n else "native-off")
@pytest.mark.parametrize("mode", ["auto", "own", "native-only"])
@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
def test_one_call_span(sim: Simulator, mode: str, native: bool, stream: bool) -> None:
    with Recording() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider, call_span=mode)
        try:
            client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, **client_options(rec, native))
            if stream:
                for _ in client.messages.create(**messages(stream=True)):
                    pass
            else:
                client.messages.create(**messages())
        finally:
            instrumentor.uninstrument()
        spans = rec.spans()
        assert rec.left_open() == []
    attempts = [s for s in spans if s.name == "POST /v1/messages"]
    calls = [s for s in spans if s.name != "POST /v1/messages"]
    assert len(attempts) == 2

    expected_scope = {
        ("auto", True): "com.anthropic.sdk.python",
        ("auto", False): "anthropic_otel",
        ("own", True): "anthropic_otel",
        ("own", False): "anthropic_otel",
        ("native-only", True): "com.anthropic.sdk.python",
        ("native-only", False): None,
    }[(mode, native)]
    if expected_scope is None:
        assert calls == [], "native-only with the SDK's tracing off: no call span at all"
        assert all(a.parent is None for a in attempts)
        return
    (call,) = calls
    assert call.instrumentation_scope is not None and call.instrumentation_scope.name == expected_scope
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id for a in attempts)
    assert (call.attributes or {})["anthropic.call.outcome"] == "recovered"
