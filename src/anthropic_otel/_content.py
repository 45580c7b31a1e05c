"""Opt-in content capture: the prompt and the completion as span attributes, each bounded in bytes.

Off unless the user opts in (`capture_content`); never on a metric. The request body is kept as the SDK built
it and serialised only when the call ends; streamed text is gathered per delta until the limit, then ignored
(O(1) per delta from there on).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from . import _catalog as cat

# A request field the SDK was told to omit holds its `Omit`/`NotGiven` marker: only JSON values are content.
_JSON_CONTENT = (str, list, tuple, dict)


class Content:
    """The content of one call, gathered while it runs."""

    __slots__ = ("_limit", "_output_blocks", "_request_body", "_text", "_text_len")

    def __init__(self, request_body: Mapping[str, Any], limit: int) -> None:
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
        found: dict[str, str] = {}
        messages = self._request_body.get("messages")
        if isinstance(messages, _JSON_CONTENT):
            found[cat.GEN_AI_INPUT_MESSAGES] = _bounded_json(messages, limit)
        system = self._request_body.get("system")
        if isinstance(system, _JSON_CONTENT):
            found[cat.GEN_AI_SYSTEM_INSTRUCTIONS] = _bounded_json(system, limit)
        output: Any = None
        if self._text:
            output = [{"type": "text", "text": "".join(self._text)}]
        elif self._output_blocks is not None:
            output = [_plain(block) for block in self._output_blocks]
        if output is not None:
            found[cat.GEN_AI_OUTPUT_MESSAGES] = _bounded_json([{"role": "assistant", "content": output}], limit)
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
    marker = "...[truncated]"
    return data[: max(0, limit - len(marker))].decode(errors="ignore") + marker
