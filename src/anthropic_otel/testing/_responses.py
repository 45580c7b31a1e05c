"""Bodies, SSE events and headers the simulator sends, shaped like the Anthropic API's."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# Neutral words the replies are made of: never anything taken from the request.
_WORDS = ("Simulated", " reply", " from", " the", " Anthropic", " API", " simulator", ".")
_NOT_COUNTED = frozenset({"type", "role", "data", "media_type", "cache_control", "id", "tool_use_id"})


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


def estimate_input_tokens(body: Mapping[str, Any]) -> int:
    """A deterministic estimate: characters of the request's text (system, messages, tools) / 4, at least 1."""

    def chars(value: Any, key: str = "") -> int:
        if key in _NOT_COUNTED:
            return 0
        if isinstance(value, str):
            return len(value)
        if isinstance(value, Mapping):
            return sum(chars(v, str(k)) + (len(str(k)) if key == "properties" else 0) for k, v in value.items())
        if isinstance(value, list):
            return sum(chars(v) for v in value)
        return 0

    total = sum(chars(body.get(k)) for k in ("system", "messages", "tools"))
    return max(1, total // 4)


def reply_pieces(count: int, body: Mapping[str, Any] | None = None) -> list[str]:
    """`count` text deltas (at least one) of a reply that never echoes the prompt.

    For a structured-output request (`output_config.format`, or the beta `output_format`, of type `json_schema`)
    the reply is instead the smallest JSON document of the schema, split into `count` deltas.
    """
    count = max(1, count)
    schema = output_schema(body) if body is not None else None
    if schema is None:
        return [_WORDS[i % len(_WORDS)] for i in range(count)]
    text = json.dumps(schema_instance(schema, schema), separators=(",", ":"))
    size = -(-len(text) // count)
    return [text[i : i + size] for i in range(0, len(text), size)] or [text]


def output_schema(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The JSON schema a structured-output request asks the reply to follow, if any."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, Mapping) else None
    if fmt is None:
        fmt = body.get("output_format")
    schema = fmt.get("schema") if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema" else None
    return schema if isinstance(schema, Mapping) else None


_EMPTY: dict[str, Any] = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [], "null": None}


def schema_instance(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int = 0) -> Any:
    """The smallest value valid for a (simple) JSON schema: every property present, empty or zero values,
    the first `enum` value, the first `anyOf`/`oneOf` branch, `$ref` to the same document followed."""
    if depth > 32:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return schema_instance(target, root, depth + 1) if isinstance(target, Mapping) else None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches and isinstance(branches[0], Mapping):
            return schema_instance(branches[0], root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    properties = schema.get("properties")
    if kind == "object" or isinstance(properties, Mapping):
        props = properties if isinstance(properties, Mapping) else {}
        return {str(k): schema_instance(v, root, depth + 1) for k, v in props.items() if isinstance(v, Mapping)}
    if isinstance(kind, str) and kind in _EMPTY:
        minimum = schema.get("minimum")
        if kind in ("integer", "number") and isinstance(minimum, int | float) and minimum > 0:
            return minimum
        return [] if kind == "array" else _EMPTY[kind]
    return None


@dataclass
class Reply:
    """Everything needed to render one successful Messages response, as JSON or as SSE events."""

    model: str
    stop_reason: str
    pieces: list[str]
    input_tokens: int
    output_tokens: int
    stop_sequence: str | None = None
    tool_name: str | None = None
    cache_creation: int = 0  # 5-minute cache writes
    cache_creation_1h: int = 0
    cache_read: int = 0
    id: str = field(default_factory=lambda: new_id("msg_sim_"))
    tool_id: str = field(default_factory=lambda: new_id("toolu_sim_"))

    @property
    def cache_writes(self) -> int:
        return self.cache_creation + self.cache_creation_1h

    def usage(self, output_tokens: int) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": self.cache_writes,
            "cache_read_input_tokens": self.cache_read,
            # The API's breakdown of cache writes by lifetime (they are priced differently).
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.cache_creation,
                "ephemeral_1h_input_tokens": self.cache_creation_1h,
            },
        }

    def _tool_block(self) -> dict[str, Any]:
        return {"type": "tool_use", "id": self.tool_id, "name": self.tool_name, "input": {}}

    def message(self) -> dict[str, Any]:
        content: list[dict[str, Any]] = [{"type": "text", "text": "".join(self.pieces)}]
        if self.tool_name is not None:
            content.append(self._tool_block())
        return {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": self.stop_reason,
            "stop_sequence": self.stop_sequence,
            "usage": self.usage(self.output_tokens),
        }

    def head_events(self) -> list[tuple[str, dict[str, Any]]]:
        """message_start, content_block_start and ping: what precedes the first content delta."""
        start = {**self.message(), "content": [], "stop_reason": None, "stop_sequence": None, "usage": self.usage(1)}
        return [
            ("message_start", {"type": "message_start", "message": start}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"}),
        ]  # fmt: skip

    def delta_events(self) -> list[tuple[str, dict[str, Any]]]:
        return [
            ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                     "delta": {"type": "text_delta", "text": piece}})
            for piece in self.pieces
        ]  # fmt: skip

    def tail_events(self) -> list[tuple[str, dict[str, Any]]]:
        """From content_block_stop of the text block to message_stop, with the tool_use block if any."""
        events: list[tuple[str, dict[str, Any]]] = [("content_block_stop", {"type": "content_block_stop", "index": 0})]
        if self.tool_name is not None:
            events += [
                ("content_block_start", {"type": "content_block_start", "index": 1,
                                         "content_block": self._tool_block()}),
                ("content_block_delta", {"type": "content_block_delta", "index": 1,
                                         "delta": {"type": "input_json_delta", "partial_json": "{}"}}),
                ("content_block_stop", {"type": "content_block_stop", "index": 1}),
            ]  # fmt: skip
        delta = {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence}
        events += [
            (
                "message_delta",
                {"type": "message_delta", "delta": delta, "usage": {"output_tokens": self.output_tokens}},
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return events


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def error_body(error_type: str, message: str, request_id: str | None, code: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        error["details"] = {"error_code": code}
    body: dict[str, Any] = {"type": "error", "error": error}
    if request_id is not None:
        body["request_id"] = request_id
    return body


TOO_LARGE_HTML = (
    "<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    "<center><h1>413 Request Entity Too Large</h1></center>\r\n</body>\r\n</html>\r\n"
)
BAD_GATEWAY_TEXT = "error code: 502"


@dataclass
class RateLimits:
    """Limits the simulator reports in `anthropic-ratelimit-*` headers, per fixed window of `window_s` seconds.

    Every request to a Messages endpoint uses one request; successful Messages responses use their input and
    output tokens. Remaining amounts fall with use and refill when the window ends (the `-reset` time).
    """

    requests_limit: int = 1000
    tokens_limit: int = 100_000
    input_tokens_limit: int = 80_000
    output_tokens_limit: int = 20_000
    window_s: float = 60.0


KINDS = ("requests", "tokens", "input-tokens", "output-tokens")


class RateTracker:
    """Thread-safe usage of a fixed window of `RateLimits`."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._start = clock()
        self._used = dict.fromkeys(KINDS, 0)

    def reset(self) -> None:
        with self._lock:
            self._start = self._clock()
            self._used = dict.fromkeys(KINDS, 0)

    def _roll(self, now: float) -> None:
        window = max(self.limits.window_s, 0.001)
        if now >= self._start + window:
            self._start += window * ((now - self._start) // window)
            self._used = dict.fromkeys(KINDS, 0)

    def _limit(self, kind: str) -> int:
        return int(getattr(self.limits, kind.replace("-", "_") + "_limit"))

    def use(self, requests: int = 0, input_tokens: int = 0, output_tokens: int = 0) -> None:
        with self._lock:
            self._roll(self._clock())
            self._used["requests"] += requests
            self._used["input-tokens"] += input_tokens
            self._used["output-tokens"] += output_tokens
            self._used["tokens"] += input_tokens + output_tokens

    def headers(self, low: bool = False) -> dict[str, str]:
        """The `anthropic-ratelimit-*` headers; `low` reports about 2% of every limit remaining."""
        with self._lock:
            now = self._clock()
            self._roll(now)
            reset = datetime.fromtimestamp(self._start + self.limits.window_s, tz=timezone.utc)
            used = dict(self._used)
        reset_text = reset.strftime("%Y-%m-%dT%H:%M:%SZ")
        headers: dict[str, str] = {}
        for kind in KINDS:
            limit = self._limit(kind)
            remaining = limit // 50 if low else limit - used[kind]
            headers[f"anthropic-ratelimit-{kind}-limit"] = str(limit)
            headers[f"anthropic-ratelimit-{kind}-remaining"] = str(max(0, min(limit, remaining)))
            headers[f"anthropic-ratelimit-{kind}-reset"] = reset_text
        return headers


def tool_name(body: Mapping[str, Any]) -> str:
    """The name of the request's first tool, else `get_weather`."""
    tools = body.get("tools")
    if isinstance(tools, list) and tools and isinstance(tools[0], Mapping):
        name = tools[0].get("name")
        if isinstance(name, str) and name:
            return name
    return "get_weather"


def first_stop_sequence(body: Mapping[str, Any]) -> str:
    stops = body.get("stop_sequences")
    if isinstance(stops, list) and stops and isinstance(stops[0], str):
        return stops[0]
    return "END"
