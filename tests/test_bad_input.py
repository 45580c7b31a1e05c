"""Malformed responses never make our code raise: the SDK's own behaviour stands and the telemetry says what
it can. A small loopback server of this file's own sends exactly the bytes each case needs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anthropic
import pytest

from support import API_KEY, Telemetry, messages

# (status, headers, body): every request to the server gets `server.canned`.
Canned = tuple[int, dict[str, str], bytes]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    canned: Canned = (200, {}, b"")

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        status, headers, body = self.server.canned  # type: ignore[attr-defined]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hostile() -> Iterator[Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.canned = (200, {}, b"")  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _client(server: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=API_KEY, base_url=f"http://127.0.0.1:{server.server_address[1]}", max_retries=0, timeout=5
    )


def _outcome(client: anthropic.Anthropic, **extra: Any) -> Any:
    try:
        result = client.messages.create(**messages(**extra))
        return [e.type for e in result] if extra.get("stream") else result.stop_reason
    except Exception as exc:
        return (type(exc), getattr(exc, "status_code", None))


def _same_without_us(server: Any, canned: Canned, telemetry: Telemetry, **extra: Any) -> Any:
    """Run the case instrumented (fixture) and compare with a run where our hooks are passed through."""
    server.canned = canned
    client = _client(server)
    instrumented = _outcome(client, **extra)
    from anthropic_otel import _hooks

    original = _hooks.Hooks._start
    _hooks.Hooks._start = lambda self, *a, **k: None  # type: ignore[method-assign,assignment,misc]
    try:
        plain = _outcome(client, **extra)
    finally:
        _hooks.Hooks._start = original  # type: ignore[method-assign]
    assert instrumented == plain
    return instrumented


JSON = {"content-type": "application/json"}


def test_error_body_that_is_not_json(hostile: Any, telemetry: Telemetry) -> None:
    result = _same_without_us(hostile, (500, JSON, b"<html>upstream exploded{"), telemetry)
    assert result == (anthropic.InternalServerError, 500)
    (attempt,) = telemetry.attempt_spans()
    assert (attempt.attributes or {})["error.type"] == "500"
    assert telemetry.counter("anthropic.client.calls", error__type="500") == 1


def test_invalid_utf8_error_body(hostile: Any, telemetry: Telemetry) -> None:
    _same_without_us(hostile, (529, JSON, b'{"error": {"type": "\xff\xfe"}}'), telemetry)
    (attempt,) = telemetry.attempt_spans()
    assert (attempt.attributes or {})["error.type"] in ("529", "_OTHER")


def test_hostile_error_type_is_folded(hostile: Any, telemetry: Telemetry) -> None:
    body = b'{"type":"error","error":{"type":"' + b"x" * 500 + b'","details":{"error_code":"has spaces!"}}}'
    _same_without_us(hostile, (400, JSON, body), telemetry)
    (attempt,) = telemetry.attempt_spans()
    assert (attempt.attributes or {})["error.type"] == "_OTHER"
    assert (attempt.attributes or {})["anthropic.error.code"] == "_OTHER"


def test_huge_error_body_is_not_read_by_us(hostile: Any, telemetry: Telemetry) -> None:
    padding = b" " * (2 * 1024 * 1024)
    body = b'{"type":"error","error":{"type":"invalid_request_error","message":"big"}}' + padding
    result = _same_without_us(hostile, (400, JSON, body), telemetry)
    assert result == (anthropic.BadRequestError, 400)
    (attempt,) = telemetry.attempt_spans()
    assert (attempt.attributes or {})["error.type"] in ("400", "invalid_request_error")


def test_missing_headers(hostile: Any, telemetry: Telemetry) -> None:
    body = (
        b'{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],'
        b'"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}'
    )
    assert _same_without_us(hostile, (200, JSON, body), telemetry) == "end_turn"
    attempt = telemetry.attempt_spans()[0].attributes or {}
    assert "anthropic.request.id" not in attempt
    assert telemetry.points("anthropic.ratelimit.remaining") == []


def test_garbage_ratelimit_and_retry_after_headers(hostile: Any, telemetry: Telemetry) -> None:
    headers = {
        **JSON,
        "anthropic-ratelimit-requests-remaining": "lots",
        "anthropic-ratelimit-tokens-remaining": "-5",
        "anthropic-ratelimit-tokens-limit": "100",
        "retry-after": "Soon",
        "request-id": "r" * 10_000,
    }
    _same_without_us(hostile, (429, headers, b'{"type":"error","error":{"type":"rate_limit_error"}}'), telemetry)
    attempt = telemetry.attempt_spans()[0].attributes or {}
    assert "anthropic.retry.after" not in attempt
    assert len(attempt["anthropic.request.id"]) <= 128
    kinds = {a["anthropic.ratelimit.kind"] for a, _ in telemetry.points("anthropic.ratelimit.remaining")}
    assert kinds == set(), "non-numeric and negative values are ignored"
    assert [p.value for _, p in telemetry.points("anthropic.ratelimit.limit")] == [100]


def test_truncated_sse_json(hostile: Any, telemetry: Telemetry) -> None:
    body = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","type":"message",'
        b'"role":"assistant","model":"m","content":[],"stop_reason":null,"stop_sequence":null,'
        b'"usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_re'
    )
    _same_without_us(hostile, (200, {"content-type": "text/event-stream"}, body), telemetry, stream=True)
    assert telemetry.counter("anthropic.client.calls") == 1


def test_sse_error_event_with_garbage_data(hostile: Any, telemetry: Telemetry) -> None:
    body = b"event: error\ndata: not json at all\n\n"
    result = _same_without_us(hostile, (200, {"content-type": "text/event-stream"}, body), telemetry, stream=True)
    assert result == (anthropic.APIStatusError, 200)
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="failed", error__type="api_error") == 1
