"""The content modes of `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT` / `capture_content=`: content on our
call span, in the GenAI `gen_ai.client.inference.operation.details` event (through the logger provider), both, or
neither; what the event carries, and whose trace context it has."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs import export as log_export
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel import _config as config
from anthropic_otel.testing import Simulator
from support import API_KEY, HAS_NATIVE_TRACING, MODEL, PROMPT, Telemetry, client_options, messages

EVENT = "gen_ai.client.inference.operation.details"
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")
# `InMemoryLogExporter` was renamed in recent opentelemetry-sdk releases; the old name stays as an alias.
_InMemoryLogs: Any = getattr(log_export, "InMemoryLogRecordExporter", None) or log_export.InMemoryLogExporter


class Logs:
    """A logger provider that keeps the log records it gets."""

    def __init__(self) -> None:
        self.exporter = _InMemoryLogs()
        self.provider = LoggerProvider()
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))

    def records(self) -> list[Any]:
        return [data.log_record for data in self.exporter.get_finished_logs()]

    def events(self) -> list[Any]:
        return [r for r in self.records() if _event_name(r) == EVENT]


def _event_name(record: Any) -> str | None:
    return getattr(record, "event_name", None) or (record.attributes or {}).get("event.name")


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator("ok") as simulator:
        yield simulator


def _run(sim: Simulator, *, native: bool = False, scenario: str = "ok", **options: Any) -> tuple[Telemetry, Logs]:
    """One call and one stream (or one failing call, for another `scenario`), instrumented with `options`."""
    logs = Logs()
    with Telemetry() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(
            tracer_provider=rec.tracer_provider,
            meter_provider=rec.meter_provider,
            logger_provider=logs.provider,
            **options,
        )
        try:
            client = anthropic.Anthropic(
                api_key=API_KEY,
                base_url=sim.base_url,
                max_retries=0,
                default_headers={"x-sim-scenario": scenario},
                **client_options(rec, native=native),
            )
            if scenario == "ok":
                client.messages.create(**messages(system="SYSTEM-PROMPT-TEXT"))
                for _ in client.messages.create(**messages(stream=True)):
                    pass
            else:
                with pytest.raises(anthropic.APIStatusError):
                    client.messages.create(**messages())
        finally:
            instrumentor.uninstrument()
        assert rec.left_open() == []
        return rec, logs


def _span_content(rec: Telemetry) -> list[str]:
    return sorted({key for span in rec.call_spans() for key in CONTENT_KEYS if key in (span.attributes or {})})


@pytest.mark.parametrize(
    ("mode", "on_span", "events"),
    [
        ("NO_CONTENT", False, 0),
        (False, False, 0),
        ("SPAN_ONLY", True, 0),
        (True, True, 0),
        ("EVENT_ONLY", False, 2),
        ("span_and_event", True, 2),
    ],
)
def test_content_modes(sim: Simulator, mode: Any, on_span: bool, events: int) -> None:
    rec, logs = _run(sim, capture_content=mode)
    assert len(rec.call_spans()) == 2
    assert _span_content(rec) == (sorted(CONTENT_KEYS) if on_span else [])
    assert len(logs.events()) == events
    assert len(logs.records()) == events  # nothing else goes to the logger provider


def test_the_event_carries_the_call_and_its_content_in_the_call_span_context(sim: Simulator) -> None:
    rec, logs = _run(sim, capture_content="EVENT_ONLY")
    spans = {span.context.span_id: span for span in rec.call_spans()}
    events = logs.events()
    assert len(events) == 2
    for event in events:
        attrs = dict(event.attributes or {})
        span = spans[event.span_id]  # each event in the context of its own call span
        assert event.trace_id == span.context.trace_id
        span_attrs = span.attributes or {}
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs["gen_ai.provider.name"] == "anthropic"
        assert attrs["gen_ai.request.model"] == MODEL
        assert attrs["gen_ai.request.max_tokens"] == 64
        assert attrs["server.address"] == "127.0.0.1" and attrs["server.port"] == sim.port
        for key in ("gen_ai.response.id", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
            assert attrs[key] == span_attrs[key], key
        assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("end_turn",)
        assert "error.type" not in attrs
        # Structured, not JSON text: the input messages as sent, the output as the assistant's message.
        inputs = attrs["gen_ai.input.messages"]
        assert inputs[0]["role"] == "user" and inputs[0]["content"] == PROMPT
        output = attrs["gen_ai.output.messages"]
        assert output[0]["role"] == "assistant" and output[0]["content"][0]["text"]
    with_system = [e for e in events if "gen_ai.system_instructions" in (e.attributes or {})]
    assert len(with_system) == 1 and with_system[0].attributes["gen_ai.system_instructions"] == "SYSTEM-PROMPT-TEXT"
    assert API_KEY not in json.dumps([dict(e.attributes or {}) for e in events], default=str)


def test_the_event_of_a_failed_call_names_the_error(sim: Simulator) -> None:
    rec, logs = _run(sim, scenario="bad_request", capture_content="SPAN_AND_EVENT")
    (event,) = logs.events()
    attrs = event.attributes or {}
    assert attrs["error.type"] == rec.call_span().attributes["error.type"] == "invalid_request_error"
    assert attrs["gen_ai.input.messages"][0]["content"] == PROMPT
    assert "gen_ai.output.messages" not in attrs


def test_event_content_is_bounded(sim: Simulator) -> None:
    _, logs = _run(sim, capture_content="EVENT_ONLY", max_content_bytes=40)
    events = logs.events()
    assert len(events) == 2
    for event in events:
        attrs = event.attributes or {}
        for key in CONTENT_KEYS:
            value = attrs.get(key)
            if value is not None:
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                assert len(text.encode()) <= 40, (key, value)
        # Too long to be kept structured: the cut JSON text, as on the span.
        assert attrs["gen_ai.input.messages"].endswith("[truncated]")


@pytest.mark.skipif(not HAS_NATIVE_TRACING, reason="the SDK has no native call span before 1.14")
def test_event_with_the_sdks_native_call_span(sim: Simulator) -> None:
    rec, logs = _run(sim, native=True, capture_content="EVENT_ONLY")
    calls = rec.call_spans()
    assert len(calls) == 2 and all(s.instrumentation_scope.name.startswith("com.anthropic") for s in calls)
    span_ids = {span.context.span_id for span in calls}
    events = logs.events()
    assert len(events) == 2 and {event.span_id for event in events} == span_ids
    assert all(event.attributes["gen_ai.input.messages"][0]["content"] == PROMPT for event in events)


def test_no_logger_is_made_unless_events_are_emitted(sim: Simulator) -> None:
    # A logger provider given, content on the span only: it is never asked for a logger.
    class Refusing(LoggerProvider):
        def get_logger(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a logger was made")

    with Telemetry() as rec:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(
            tracer_provider=rec.tracer_provider, logger_provider=Refusing(), capture_content="SPAN_ONLY"
        )
        try:
            client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, **client_options(rec, native=False))
            client.messages.create(**messages())
        finally:
            instrumentor.uninstrument()
        assert _span_content(rec) == ["gen_ai.input.messages", "gen_ai.output.messages"]


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        ("SPAN_ONLY", "SPAN_ONLY"),
        ("event_only", "EVENT_ONLY"),
        (" Span_And_Event ", "SPAN_AND_EVENT"),
        ("no_content", "NO_CONTENT"),
        ("true", "SPAN_ONLY"),
        ("TRUE", "SPAN_ONLY"),
        ("false", "NO_CONTENT"),
        ("", "NO_CONTENT"),
    ],
)
def test_content_mode_from_the_environment(value: str, mode: str) -> None:
    cfg = config.from_arguments({}, {config.ENV_CAPTURE_CONTENT: value})
    assert cfg.capture_content == mode
    assert (cfg.content_on_span, cfg.content_in_event) == (
        mode in ("SPAN_ONLY", "SPAN_AND_EVENT"),
        mode in ("EVENT_ONLY", "SPAN_AND_EVENT"),
    )


def test_unknown_content_mode_in_the_environment_warns_and_captures_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="anthropic_otel"):
        cfg = config.from_arguments({}, {config.ENV_CAPTURE_CONTENT: "SPAN_PLUS_EVENT"})
    assert cfg.capture_content == "NO_CONTENT"
    assert "SPAN_PLUS_EVENT" in caplog.text and "SPAN_AND_EVENT" in caplog.text


@pytest.mark.parametrize("value", ["SPAN_PLUS_EVENT", 1, 0.5, ["SPAN_ONLY"]])
def test_unknown_content_mode_in_code_raises(value: Any) -> None:
    with pytest.raises(ValueError, match="capture_content"):
        AnthropicInstrumentor().instrument(capture_content=value)
    assert not AnthropicInstrumentor().is_instrumented_by_opentelemetry


def test_the_event_on_an_older_logs_api(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # A LogRecord without `event_name` and `context` (older opentelemetry-api): the name as the `event.name`
    # attribute, the trace context as ids.
    from anthropic_otel import _content

    old = frozenset({"self", "timestamp", "trace_id", "span_id", "trace_flags", "attributes"})
    monkeypatch.setattr(_content, "_RECORD_PARAMETERS", old)
    rec, logs = _run(sim, capture_content="EVENT_ONLY")
    spans = {span.context.span_id: span for span in rec.call_spans()}
    events = [r for r in logs.records() if (r.attributes or {}).get("event.name") == EVENT]
    assert len(events) == 2
    for event in events:
        assert event.trace_id == spans[event.span_id].context.trace_id
        assert event.attributes["gen_ai.input.messages"][0]["content"] == PROMPT
