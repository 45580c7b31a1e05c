"""Content capture is opt-in and bounded; extra metric attributes are opt-in and bounded; the API key never
appears either way."""

from __future__ import annotations

import json
import logging
from typing import Any

import anthropic
import pytest

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel import _config as config
from anthropic_otel.testing import Recording, Simulator
from support import API_KEY, PROMPT, client_options, messages


def _run(sim: Simulator, **options: Any) -> tuple[list[Any], dict[str, list[dict[str, Any]]]]:
    """The spans, and the attributes of each metric's points, of one call and one stream instrumented with
    `options`."""
    with Recording() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=rec.tracer_provider, meter_provider=rec.meter_provider, **options)
        try:
            client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, **client_options(rec, native=False))
            client.messages.create(**messages(system="SYSTEM-PROMPT-TEXT"))
            for _ in client.messages.create(**messages(stream=True)):
                pass
        finally:
            instrumentor.uninstrument()
        assert rec.left_open() == []
        attributes: dict[str, list[dict[str, Any]]] = {}
        for name, attrs, _ in rec.series():
            attributes.setdefault(name, []).append(attrs)
        return rec.spans(), attributes


def _everything(spans: list[Any]) -> str:
    return json.dumps([{k: str(v) for k, v in (s.attributes or {}).items()} for s in spans])


@pytest.fixture(scope="module")
def sim() -> Any:
    with Simulator("ok") as simulator:
        yield simulator


def test_no_content_by_default(sim: Simulator) -> None:
    spans, _ = _run(sim)
    dump = _everything(spans)
    assert PROMPT not in dump and "SYSTEM-PROMPT-TEXT" not in dump
    assert "gen_ai.input.messages" not in dump and "gen_ai.output.messages" not in dump
    assert API_KEY not in dump


def test_content_when_opted_in(sim: Simulator) -> None:
    spans, _ = _run(sim, capture_content=True)
    calls = [s for s in spans if "gen_ai.operation.name" in (s.attributes or {})]
    assert len(calls) == 2
    for span in calls:
        attrs = span.attributes or {}
        assert PROMPT in str(attrs["gen_ai.input.messages"])
        output = json.loads(str(attrs["gen_ai.output.messages"]))
        assert output[0]["role"] == "assistant" and output[0]["content"][0]["text"]
    assert "SYSTEM-PROMPT-TEXT" in str((calls[0].attributes or {})["gen_ai.system_instructions"])
    assert API_KEY not in _everything(spans)


def test_content_is_bounded(sim: Simulator) -> None:
    spans, _ = _run(sim, capture_content=True, max_content_bytes=40)
    for span in spans:
        for key in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"):
            value = (span.attributes or {}).get(key)
            if value is not None:
                assert len(str(value).encode()) <= 40, (key, value)


def test_extra_metric_attributes_opt_in(sim: Simulator) -> None:
    _, metrics = _run(sim)
    assert metrics["anthropic.client.calls"]
    assert all("anthropic.workspace.id" not in a for a in metrics["anthropic.client.calls"])
    _, metrics = _run(sim, metric_attributes=("anthropic.workspace.id",))
    for name in ("anthropic.client.calls", "anthropic.client.attempts"):
        points = metrics.get(name, [])
        assert points and all(a["anthropic.workspace.id"] == "wrkspc_sim_0123456789abcdef" for a in points)
        assert all("anthropic.organization.id" not in a for a in points)


def test_configuration_from_environment(caplog: pytest.LogCaptureFixture) -> None:
    env = {
        config.ENV_CAPTURE_CONTENT: "true",
        config.ENV_MAX_CONTENT_BYTES: "100",
        config.ENV_METRIC_ATTRIBUTES: "anthropic.organization.id, anthropic.bogus",
    }
    with caplog.at_level(logging.WARNING, logger="anthropic_otel"):
        cfg = config.from_arguments({}, env)
    assert (cfg.capture_content, cfg.max_content_bytes, cfg.metric_attributes) == (
        "SPAN_ONLY",  # `true`, as before the content modes: on the span
        100,
        ("anthropic.organization.id",),
    )
    assert "anthropic.bogus" in caplog.text
    with caplog.at_level(logging.WARNING, logger="anthropic_otel"):
        cfg = config.from_arguments({}, {config.ENV_CAPTURE_CONTENT: "yes please", config.ENV_MAX_CONTENT_BYTES: "-1"})
    assert (cfg.capture_content, cfg.max_content_bytes) == ("NO_CONTENT", config.DEFAULT_MAX_CONTENT_BYTES)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"capture_content": "yes"}, "capture_content"),
        ({"max_content_bytes": 0}, "max_content_bytes"),
        ({"metric_attributes": ("user.id",)}, "metric_attributes"),
    ],
)
def test_wrong_content_arguments(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        AnthropicInstrumentor().instrument(**kwargs)
