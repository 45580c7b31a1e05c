"""Content capture costs O(1) per delta once its limit is reached, and never records what the request left out."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest

from anthropic_otel import AnthropicInstrumentor, _call
from anthropic_otel._content import Content
from anthropic_otel.testing import Recording, Simulator
from support import API_KEY, client_options, messages


def _call_spans(rec: Recording) -> list[dict[str, Any]]:
    return [dict(s.attributes or {}) for s in rec.spans() if "gen_ai.operation.name" in (s.attributes or {})]


# --- O(1) per delta after the limit -----------------------------------------------------------------------------


def test_deltas_after_the_limit_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted, not timed: a 10,000-delta stream at the default 4,096-byte limit parses only the deltas that fit
    (one word each) and adds text only until the limit; the rest cost a comparison each."""
    parsed = texts = 0
    json_of, text_of = _call._json, Content.text

    def counting_json(data: Any) -> Any:
        nonlocal parsed
        parsed += 1
        return json_of(data)

    def counting_text(self: Content, text: str) -> None:
        nonlocal texts
        texts += 1
        text_of(self, text)

    monkeypatch.setattr(_call, "_json", counting_json)
    monkeypatch.setattr(Content, "text", counting_text)
    deltas = 10_000
    with Simulator(f"ok:deltas={deltas}") as sim, Recording() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(
            tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider, capture_content=True
        )
        try:
            client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, **client_options(rec, native=False))
            text = "".join(
                event.delta.text
                for event in client.messages.create(**messages(stream=True))
                if event.type == "content_block_delta"
            )
        finally:
            instrumentor.uninstrument()
    assert len(text.encode()) > 10 * 4096, "the stream goes well past the limit"
    # Each delta is at least one character: at most 4,097 of them fit under the limit, plus the few rare events.
    assert texts <= 4097
    assert parsed <= texts + 10
    assert parsed < deltas / 2
    (span,) = _call_spans(rec)
    output = str(span["gen_ai.output.messages"])
    assert len(output.encode()) <= 4096 and output.endswith("...[truncated]")


# --- omitted request fields ----------------------------------------------------------------------------------------


def _omitted_system() -> list[Any]:
    """The markers this SDK has for a field the request leaves out."""
    return [getattr(anthropic, name) for name in ("omit", "NOT_GIVEN") if hasattr(anthropic, name)]


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_omitted_fields_are_not_content(async_: bool, stream: bool) -> None:
    variants: list[dict[str, Any]] = [{}] + [{"system": marker} for marker in _omitted_system()]
    assert len(variants) >= 2, "this SDK has an omission marker to test"
    with Simulator("ok") as sim, Recording() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(
            tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider, capture_content=True
        )
        try:
            options = {"api_key": API_KEY, "base_url": sim.base_url, **client_options(rec, native=False)}
            if async_:
                client: Any = anthropic.AsyncAnthropic(**options)

                async def run() -> None:
                    for extra in variants:
                        result = await client.messages.create(**messages(stream=stream, **extra))
                        if stream:
                            async for _ in result:
                                pass

                asyncio.run(run())
            else:
                client = anthropic.Anthropic(**options)
                for extra in variants:
                    result = client.messages.create(**messages(stream=stream, **extra))
                    if stream:
                        for _ in result:
                            pass
        finally:
            instrumentor.uninstrument()
    spans = _call_spans(rec)
    assert len(spans) == len(variants)
    for attrs in spans:
        assert "gen_ai.system_instructions" not in attrs, attrs.get("gen_ai.system_instructions")
        assert "gen_ai.input.messages" in attrs and "gen_ai.output.messages" in attrs
        assert not any("Omit" in str(v) or "NotGiven" in str(v) for v in attrs.values())
