"""Opt-in content capture: the prompt and the completion, each bounded in bytes, as attributes of our call span
and/or of the GenAI `gen_ai.client.inference.operation.details` event.

Off unless the user opts in (`capture_content`); never on a metric. The request body is kept as the SDK built
it and serialised only when the call ends; streamed text is gathered per delta until the limit, then ignored
(O(1) per delta from there on). The event goes through the OpenTelemetry logs API, to the logger provider given
to `instrument()` (else the global one); its logger is made only when the content mode emits events.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context

from . import _catalog as cat
from ._record import CallRecord
from ._version import __version__

INFERENCE_DETAILS_EVENT = "gen_ai.client.inference.operation.details"

# A request field the SDK was told to omit holds its `Omit`/`NotGiven` marker: only JSON values are content.
_JSON_CONTENT = (str, list, tuple, dict)


class Content:
    """The content of one call, gathered while it runs."""

    __slots__ = ("_limit", "_output_blocks", "_request_body", "_text", "_text_len", "in_event", "on_span")

    def __init__(self, request_body: Mapping[str, Any], limit: int, on_span: bool = True, in_event: bool = False):
        self.on_span = on_span  # the content goes on our call span
        self.in_event = in_event  # the call emits the inference-details event, with the content
        self._limit = limit
        self._request_body = request_body
        self._output_blocks: Any = None
        self._text: list[str] = []
        self._text_len = 0

    def output_blocks(self, blocks: Any) -> None:
        """The content blocks of a whole (not streamed) message."""
        if blocks:
            self._output_blocks = blocks

    def wants_text(self) -> bool:
        return self._text_len <= self._limit

    def text(self, text: str) -> None:
        """The text of one streamed delta."""
        self._text.append(text)
        self._text_len += len(text)

    def attributes(self) -> dict[str, str]:
        """Prompt, system instructions and completion, each at most `limit` bytes of JSON."""
        limit = self._limit
        return {key: _bounded_json(value, limit) for key, value in self._values().items()}

    def span_attributes(self) -> dict[str, str]:
        """`attributes()` if the content goes on the call span, else none."""
        return self.attributes() if self.on_span else {}

    def event_attributes(self) -> dict[str, Any]:
        """The same, structured (the conventions want structured values on events): each value as plain JSON data
        when its JSON fits in `limit` bytes, else the cut JSON text, as on the span."""
        limit = self._limit
        found: dict[str, Any] = {}
        for key, value in self._values().items():
            text = _bounded_json(value, limit)
            # A round trip through JSON: only JSON data (no SDK model, no tuple) reaches the log record.
            found[key] = text if text.endswith(_TRUNCATED) else json.loads(text)
        return found

    def _values(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        messages = self._request_body.get("messages")
        if isinstance(messages, _JSON_CONTENT):
            found[cat.GEN_AI_INPUT_MESSAGES] = messages
        system = self._request_body.get("system")
        if isinstance(system, _JSON_CONTENT):
            found[cat.GEN_AI_SYSTEM_INSTRUCTIONS] = system
        output: Any = None
        if self._text:
            output = [{"type": "text", "text": "".join(self._text)}]
        elif self._output_blocks is not None:
            output = [_plain(block) for block in self._output_blocks]
        if output is not None:
            found[cat.GEN_AI_OUTPUT_MESSAGES] = [{"role": "assistant", "content": output}]
        return found


def _plain(block: Any) -> Any:
    """An SDK content block as plain JSON data."""
    dump = getattr(block, "model_dump", None) or getattr(block, "dict", None)
    return dump() if callable(dump) else block


def _bounded_json(value: Any, limit: int) -> str:
    """`value` as JSON, cut to at most `limit` bytes of UTF-8 (a cut text is no longer valid JSON: it says so)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: max(0, limit - len(_TRUNCATED))].decode(errors="ignore") + _TRUNCATED


_TRUNCATED = "...[truncated]"


# --- the inference-details event ------------------------------------------------------------------------------

try:  # the logs API; `event_name` and `context` of a LogRecord are recent (looked up, not assumed)
    from opentelemetry._logs import LogRecord, get_logger

    _RECORD_PARAMETERS = frozenset(inspect.signature(LogRecord.__init__).parameters)
except ImportError:  # pragma: no cover - an opentelemetry-api without the logs API
    get_logger = None  # type: ignore[assignment]
    _RECORD_PARAMETERS = frozenset()


def event_logger(logger_provider: Any, scope: str, schema_url: str) -> Any:
    """The logger the inference-details events go through (None without the logs API)."""
    if get_logger is None:  # pragma: no cover
        return None
    return get_logger(scope, __version__, logger_provider, schema_url=schema_url)


def emit_inference_details(
    logger: Any,
    ctx: Context | None,
    base: Mapping[str, Any],
    request: Mapping[str, Any],
    record: CallRecord,
    content: Content | None,
) -> None:
    """The `gen_ai.client.inference.operation.details` event of one finished call, in the call span's context.

    `base`: operation, provider and request model; `request`: the other request attributes (server address and
    port, max tokens); `content`: what the call gathered (None: the event carries no content).
    """
    attrs: dict[str, Any] = dict(base)
    attrs.update(request)
    for key, value in (
        (cat.GEN_AI_RESPONSE_ID, record.response_id),
        (cat.GEN_AI_RESPONSE_MODEL, record.response_model),
        (cat.GEN_AI_RESPONSE_FINISH_REASONS, record.finish_reasons),
        (cat.GEN_AI_USAGE_INPUT_TOKENS, record.input_tokens),
        (cat.GEN_AI_USAGE_OUTPUT_TOKENS, record.output_tokens),
        (cat.ERROR_TYPE, record.error_type),
    ):
        if value is not None:
            attrs[key] = value
    if content is not None:
        attrs.update(content.event_attributes())
    fields: dict[str, Any] = {"timestamp": time.time_ns(), "attributes": attrs}
    if "context" in _RECORD_PARAMETERS:
        fields["context"] = ctx
    else:  # an older logs API: the trace context as ids
        span_context = trace.get_current_span(ctx).get_span_context()
        fields["trace_id"], fields["span_id"] = span_context.trace_id, span_context.span_id
        fields["trace_flags"] = span_context.trace_flags
    if "event_name" in _RECORD_PARAMETERS:
        fields["event_name"] = INFERENCE_DETAILS_EVENT
    else:  # an older logs API: the event's name as an attribute
        attrs["event.name"] = INFERENCE_DETAILS_EVENT
    logger.emit(LogRecord(**fields))
