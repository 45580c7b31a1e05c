"""In-process HTTP for the benchmark: canned Anthropic API responses served by an `httpx2` transport.

No socket, no server thread: what is measured is the SDK plus (or minus) the instrumentation. The responses
are what the API sends (headers included: request id, the 12 `anthropic-ratelimit-*` headers) and their bodies
are real, unread streams, one chunk per SSE event, so the SDK and our body observer do the work they do in
production: httpx2 reads a JSON body inside `send()`, a streamed one is read as the application iterates.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass

import httpx2
from anthropic.types import MessageParam

MODEL = "claude-sonnet-5-5"
# The bounded set of models for the metric-series count.
MODELS = ("claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5", "claude-opus-4-8")
MAX_TOKENS = 1024
PROMPT: list[MessageParam] = [{"role": "user", "content": "Summarise the incident report in three bullet points."}]
STREAM_DELTAS = 496  # + message_start, content_block_start, content_block_stop, message_delta, message_stop = 501
# A reply of ~80 words: a realistic small non-streamed body (~1 KB of JSON).
REPLY = (
    "- The 14:02 deploy raised p99 latency of the checkout service from 180 ms to 2.4 s.\n"
    "- Rolling back at 14:31 restored latency; no data was lost.\n"
    "- Root cause: an N+1 query introduced in the cart serializer; a regression test now covers it."
)
_RATELIMIT_HEADERS = {
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-requests-reset": "2026-11-22T04:00:01Z",
    "anthropic-ratelimit-tokens-limit": "2400000",
    "anthropic-ratelimit-tokens-remaining": "2398000",
    "anthropic-ratelimit-tokens-reset": "2026-11-22T04:00:01Z",
    "anthropic-ratelimit-input-tokens-limit": "2000000",
    "anthropic-ratelimit-input-tokens-remaining": "1998000",
    "anthropic-ratelimit-input-tokens-reset": "2026-11-22T04:00:01Z",
    "anthropic-ratelimit-output-tokens-limit": "400000",
    "anthropic-ratelimit-output-tokens-remaining": "399500",
    "anthropic-ratelimit-output-tokens-reset": "2026-11-22T04:00:01Z",
}
assert len(_RATELIMIT_HEADERS) == 12
_COMMON_HEADERS = {
    "date": "Sun, 22 Nov 2026 04:00:00 GMT",
    "anthropic-organization-id": "0b6a3c1e-5a6f-4c0e-9d3b-2f7e8a1c4d5e",
    **_RATELIMIT_HEADERS,
    "server": "cloudflare",
    "cf-ray": "8e2f1c0a9b7d4e3f-FRA",
}
_request_ids = itertools.count()


def _headers(content_type: str, extra: dict[str, str] | None = None) -> list[tuple[str, str]]:
    # A distinct request id per response, as the API sends: ids must never become metric attributes.
    request_id = f"req_011CV{next(_request_ids):019d}"
    headers = {"content-type": content_type, "request-id": request_id, **_COMMON_HEADERS, **(extra or {})}
    return list(headers.items())


def message_json(model: str = MODEL, *, with_content: bool = True) -> bytes:
    content = [{"type": "text", "text": REPLY}] if with_content else []
    # Cache tokens are 0: the instrumentation then records 2 token-usage points (input, output), like the floor.
    message = {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 2095,
            "output_tokens": 87,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "server_tool_use": None,
            "service_tier": "standard",
        },
    }
    return json.dumps(message, separators=(",", ":")).encode()


def _sse(event: str, data: Mapping[str, object]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def sse_events(deltas: int = STREAM_DELTAS, model: str = MODEL) -> list[bytes]:
    """A streamed message: start, one text block of `deltas` deltas, stop. One chunk per event."""
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 2095,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": 1,
            },
        },
    }
    words = REPLY.split()
    events = [
        _sse("message_start", start),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    for i in range(deltas):
        delta = {"type": "text_delta", "text": " " + words[i % len(words)]}
        events.append(_sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": deltas},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


RATE_LIMITED_JSON = json.dumps(
    {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "This request would exceed your rate limit."},
        "request_id": "req_011CVratelimited",
    }
).encode()


class ChunkStream(httpx2.SyncByteStream):
    """A body not read yet: httpx2 pulls it chunk by chunk, exactly as from a socket."""

    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        yield from self._chunks


class AsyncChunkStream(httpx2.AsyncByteStream):
    def __init__(self, chunks: Sequence[bytes]) -> None:
        self._chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


@dataclass
class Reply:
    """What the fake API answers: a JSON message or an SSE stream; optionally a 429 on each first attempt."""

    sse: Sequence[bytes] | None = None
    message: bytes = b""
    rate_limit_first: bool = False
    models: Sequence[str] = ()  # when set, echo the request's model (series count): the body is built per call

    def respond(self, request: httpx2.Request, is_async: bool) -> httpx2.Response:
        wrap = AsyncChunkStream if is_async else ChunkStream
        # The SDK sends `x-stainless-retry-count: 0` on a first attempt: answer it with a 429 and a tiny
        # `retry-after-ms`, so the SDK retries after 1 µs (the same sleep in both arms) instead of ~0.5 s.
        if self.rate_limit_first and request.headers.get("x-stainless-retry-count") == "0":
            headers = _headers(
                "application/json",
                {"retry-after-ms": "0.001", "x-should-retry": "true", "content-length": str(len(RATE_LIMITED_JSON))},
            )
            return httpx2.Response(429, headers=headers, stream=wrap([RATE_LIMITED_JSON]), request=request)
        if self.sse is not None:
            headers = _headers("text/event-stream; charset=utf-8", {"cache-control": "no-cache"})
            return httpx2.Response(200, headers=headers, stream=wrap(self.sse), request=request)
        body = self.message
        if self.models:
            body = message_json(json.loads(request.content)["model"], with_content=False)
        headers = _headers("application/json", {"content-length": str(len(body))})
        return httpx2.Response(200, headers=headers, stream=wrap([body]), request=request)


class CannedTransport(httpx2.BaseTransport):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.reply.respond(request, is_async=False)


class AsyncCannedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, reply: Reply) -> None:
        self.reply = reply

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return self.reply.respond(request, is_async=True)
