"""`instrument()` takes the providers every OpenTelemetry instrumentor is given, and rejects misspelled options of
ours with a `ValueError` that names them (and what was probably meant)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest
from opentelemetry.sdk._logs import LoggerProvider

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel import _config as config
from anthropic_otel.testing import Simulator
from support import API_KEY, Telemetry, client_options, messages


def test_instrument_accepts_every_provider_an_instrumentor_is_given(simulator: Simulator) -> None:
    # A set-up that loops over instrumentors passes the same providers to each; event_logger_provider is the
    # older events API's, which we do not use but must accept.
    with Telemetry() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(
            tracer_provider=rec.tracer_provider,
            meter_provider=rec.meter_provider,
            logger_provider=LoggerProvider(),
            event_logger_provider=object(),
            skip_dep_check=True,
        )
        try:
            assert instrumentor.is_instrumented_by_opentelemetry
            client = anthropic.Anthropic(api_key=API_KEY, base_url=simulator.base_url, **client_options(rec, False))
            client.messages.create(**messages())
        finally:
            instrumentor.uninstrument()
        assert rec.total("anthropic.client.calls") == 1
        assert len([s for s in rec.spans() if s.name.startswith("chat ")]) == 1


@pytest.mark.parametrize(
    ("kwargs", "named", "hint"),
    [
        ({"capture_contents": True}, "capture_contents", "capture_content"),
        ({"loger_provider": object()}, "loger_provider", "logger_provider"),
        ({"propagation": False}, "propagation", "propagate"),
        ({"callspan": "own"}, "callspan", "call_span"),
        ({"frobnicate": 1}, "frobnicate", None),
    ],
)
def test_misspelled_options_raise_naming_them(kwargs: dict[str, Any], named: str, hint: str | None) -> None:
    with pytest.raises(ValueError, match=named) as raised:
        AnthropicInstrumentor().instrument(**kwargs)
    message = str(raised.value)
    if hint is not None:
        assert f"did you mean {hint!r}" in message
    else:
        assert "did you mean" not in message
    assert "accepted: call_span, capture_content" in message
    assert not AnthropicInstrumentor().is_instrumented_by_opentelemetry


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [({"propagate": "yes"}, "propagate"), ({"call_span": "both"}, "call_span"), ({"max_content_bytes": -1}, "max")],
)
def test_wrong_values_raise_naming_the_option(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        config.from_arguments(kwargs, {})


def test_defaults() -> None:
    cfg = config.from_arguments({}, {})
    assert cfg == config.Config()
    assert (cfg.call_span, cfg.capture_content, cfg.propagate) == ("auto", "NO_CONTENT", True)
    assert not cfg.content_on_span and not cfg.content_in_event


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("FALSE", False), ("true", True), ("", True)])
def test_propagate_from_the_environment(value: str, expected: bool) -> None:
    assert config.from_arguments({}, {config.ENV_PROPAGATE: value}).propagate is expected


def test_arguments_win_over_the_environment() -> None:
    env = {config.ENV_PROPAGATE: "false", config.ENV_CAPTURE_CONTENT: "SPAN_AND_EVENT", config.ENV_CALL_SPAN: "own"}
    cfg = config.from_arguments({"propagate": True, "capture_content": False, "call_span": "auto"}, env)
    assert (cfg.propagate, cfg.capture_content, cfg.call_span) == (True, "NO_CONTENT", "auto")
