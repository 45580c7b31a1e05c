"""The simulator: a stdlib HTTP server speaking the Anthropic Messages API, with a fault chosen per HTTP attempt."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import random
import select
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from ._responses import (
    BAD_GATEWAY_TEXT,
    TOO_LARGE_HTML,
    RateLimits,
    RateTracker,
    Reply,
    error_body,
    estimate_input_tokens,
    first_stop_sequence,
    new_id,
    reply_pieces,
    sse,
    tool_name,
)
from ._scenario import ERROR_STATUS, Scenario, ScenarioError, Step

log = logging.getLogger("anthropic_otel.testing")

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
SCENARIO_HEADER = "x-sim-scenario"
RETRY_COUNT_HEADER = "x-stainless-retry-count"
_STATUS_PHRASES = {529: "Overloaded"}
_MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP attempt the simulator received, and the fault it served.

    `fault` is a fault name, or `not_found` (unknown path), `invalid_request` (body not a valid request) or
    `invalid_scenario` (unparseable `x-sim-scenario`). `status` is None when no status line was sent (`drop`).
    """

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    retry_count: int
    fault: str
    status: int | None = None
    request_id: str = ""
    scenario: str = field(default="", repr=False)

    @property
    def stream(self) -> bool:
        return self.body is not None and self.body.get("stream") is True


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Simulator:
    """An Anthropic-API-compatible HTTP server on loopback that injects faults, for tests and demos.

    >>> with Simulator("rate_limit:retry_after_ms=1,ok") as sim:  # doctest: +SKIP
    ...     client = anthropic.Anthropic(base_url=sim.base_url, api_key="sk-ant-test")
    ...     client.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=[...])  # retried once

    A request may choose its own scenario with the header `x-sim-scenario`. `ScenarioError` (a `ValueError`) is
    raised for a scenario that does not parse; one sent in the header gets a 500 response naming the bad step.
    """

    def __init__(
        self,
        scenario: str | Scenario = "ok",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ratelimits: RateLimits | None = None,
        seed: int | None = None,
        allow_non_loopback: bool = False,
        on_request: Callable[[ReceivedRequest], None] | None = None,
        max_recorded: int = 10_000,
    ) -> None:
        if not allow_non_loopback and not is_loopback(host):
            raise ValueError(f"refusing to listen on non-loopback host {host!r} (pass allow_non_loopback=True)")
        self._scenario = Scenario.parse(scenario)
        self.host = host.strip("[]")
        self._requested_port = port
        self.ratelimits = ratelimits if ratelimits is not None else RateLimits()
        self._tracker = RateTracker(self.ratelimits)
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._requests_lock = threading.Lock()
        self._on_request = on_request
        self._max_recorded = max_recorded
        self._stopping = threading.Event()
        self._state_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False

    # lifecycle

    def start(self) -> Simulator:
        """Bind and serve in a daemon thread; returns the simulator. Calling it again while running does nothing."""
        with self._state_lock:
            if self._stopped:
                raise RuntimeError("a stopped Simulator cannot be restarted; create a new one")
            if self._server is not None:
                return self
            server = _Server((self.host, self._requested_port), self)
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"anthropic-simulator-{server.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving, close the socket and every connection, interrupt sleeping faults. Idempotent."""
        with self._state_lock:
            if self._stopped:
                return
            self._stopped = True
            server, thread = self._server, self._thread
        self._stopping.set()
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join(timeout)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None and not self._stopped

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not started: call start() or use it as a context manager")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:PORT`: pass it as `base_url` to the SDK client (or set `ANTHROPIC_BASE_URL`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # scenario and observations

    @property
    def scenario(self) -> Scenario:
        return self._scenario

    def set_scenario(self, scenario: str | Scenario) -> None:
        """Serve `scenario` to requests without an `x-sim-scenario` header from now on."""
        self._scenario = Scenario.parse(scenario)

    @property
    def requests(self) -> list[ReceivedRequest]:
        """A snapshot of the attempts received so far, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget the received requests and restart the rate-limit window."""
        with self._requests_lock:
            self._requests.clear()
        self._tracker.reset()

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "not started"
        return f"Simulator({str(self._scenario)!r}, {where})"

    # used by the handler

    def _draw(self, scenario: Scenario, attempt: int) -> Step:
        with self._rng_lock:
            return scenario.step(attempt, self._rng)

    def _record(self, request: ReceivedRequest) -> None:
        with self._requests_lock:
            self._requests.append(request)
            if len(self._requests) > self._max_recorded:
                del self._requests[0]
        if self._on_request is not None:
            try:
                self._on_request(request)
            except Exception:
                log.exception("on_request callback failed")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], simulator: Simulator) -> None:
        self.simulator = simulator
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can take seconds without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator: error serving %s", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "anthropic-otel-simulator"
    sys_version = ""
    server: _Server

    # plumbing

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("simulator: " + format, *args)

    def do_POST(self) -> None:
        self._headers_sent = False
        self._request_id = new_id("req_sim_")
        try:
            self._dispatch()
        except OSError:  # the client went away
            self.close_connection = True
        except Exception as exc:
            log.debug("simulator: handler failed", exc_info=True)
            if not self._headers_sent:
                body = error_body("api_error", f"simulator internal error: {exc!r}", self._request_id)
                with contextlib.suppress(OSError):
                    self._send_json(500, body, {"x-should-retry": "false"})
            self.close_connection = True

    do_GET = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_POST

    # the request

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                total += size
                if total > _MAX_BODY:
                    raise ValueError("request body too large")
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("content-length") or 0)
        if length < 0 or length > _MAX_BODY:
            raise ValueError(f"bad content-length {length}")
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        sim = self.server.simulator
        path = urlsplit(self.path).path.rstrip("/") or "/"
        headers = {k.lower(): v for k, v in self.headers.items()}
        retry_count = _int(headers.get(RETRY_COUNT_HEADER))
        scenario_text = headers.get(SCENARIO_HEADER, "").strip()

        def record(fault: str, status: int | None, body: dict[str, Any] | None = None) -> None:
            sim._record(
                ReceivedRequest(
                    self.command, self.path, headers, body, retry_count, fault, status, self._request_id,
                    scenario_text or str(sim.scenario),
                )
            )  # fmt: skip

        try:
            raw = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            record("invalid_request", 400)
            self._send_json(400, error_body("invalid_request_error", f"unreadable request body: {exc}", self._rid))
            return
        if self.command != "POST" or path not in (MESSAGES_PATH, COUNT_TOKENS_PATH):
            record("not_found", 404)
            self._send_json(404, error_body("not_found_error", f"{self.command} {path}: not found", self._rid))
            return
        try:
            body = json.loads(raw) if raw.strip() else None
        except ValueError as exc:
            record("invalid_request", 400)
            self._send_json(
                400, error_body("invalid_request_error", f"request body is not valid JSON: {exc}", self._rid)
            )
            return
        problem = _problem(path, body)
        if problem is not None or not isinstance(body, dict):
            record("invalid_request", 400, body if isinstance(body, dict) else None)
            message = problem or ("request body must be a JSON object" if raw.strip() else "request body is empty")
            self._send_json(400, error_body("invalid_request_error", message, self._rid))
            return
        try:
            scenario = Scenario.parse(scenario_text) if scenario_text else sim.scenario
        except ScenarioError as exc:
            record("invalid_scenario", 500, body)
            message = f"simulator: bad {SCENARIO_HEADER} header: {exc}"
            self._send_json(500, error_body("api_error", message, self._rid), {"x-should-retry": "false"})
            return
        step = sim._draw(scenario, retry_count)
        sim._tracker.use(requests=1)
        streaming = body.get("stream") is True and path == MESSAGES_PATH
        record(step.name, _planned_status(step, streaming), body)
        self._serve(step, body, streaming, count_tokens=path == COUNT_TOKENS_PATH)

    @property
    def _rid(self) -> str:
        return self._request_id

    # faults

    def _serve(self, step: Step, body: dict[str, Any], streaming: bool, count_tokens: bool) -> None:
        spec = step.spec
        kind = spec.kind
        if kind == "drop":
            self.close_connection = True
            return
        if kind == "error":
            status = int(step.number("status", spec.status))
            message = str(step.get("message") or spec.message)
            code = step.get("code")
            error = error_body(spec.error_type, message, self._rid, str(code) if code else None)
            self._send_json(status, error, _error_headers(step))
            return
        if kind == "text_error":
            text, ctype = (TOO_LARGE_HTML, "text/html") if spec.status == 413 else (BAD_GATEWAY_TEXT, "text/plain")
            self._send(spec.status, text.encode(), ctype, _error_headers(step))
            return
        if kind == "stream_error" and not streaming:
            error_type = str(step.get("type") or spec.error_type)
            message = str(step.get("message") or ("Overloaded" if error_type == "overloaded_error" else error_type))
            status = ERROR_STATUS.get(error_type, spec.status)
            self._send_json(status, error_body(error_type, message, self._rid), _error_headers(step))
            return
        if step.name == "stall" and not self._pause(step.number("delay", 30.0)):
            self.close_connection = True
            return
        reply = self._reply(step, body)
        low = step.name == "ratelimit_low"
        if count_tokens:
            if step.name == "slow_first_token" and not self._pause(step.number("delay", 0.5)):
                self.close_connection = True
                return
            self._send_json(200, {"input_tokens": reply.input_tokens}, low=low)
            return
        sim = self.server.simulator
        sim._tracker.use(input_tokens=reply.input_tokens + reply.cache_creation, output_tokens=reply.output_tokens)
        if streaming:
            self._stream(step, reply, low)
        elif kind == "drop_mid_stream":
            data = json.dumps(reply.message()).encode()
            self._send(200, data[: len(data) // 2], "application/json", {"content-length": str(len(data))}, low=low)
            self.close_connection = True
        else:
            first_token_delay = step.number("delay", 0.0) if step.name != "stall" else 0.0
            if first_token_delay and not self._pause(first_token_delay):
                self.close_connection = True
                return
            self._send_json(200, reply.message(), low=low)

    def _reply(self, step: Step, body: dict[str, Any]) -> Reply:
        spec = step.spec
        stop_reason = spec.stop_reason if spec.kind == "message" else "end_turn"
        deltas = int(step.number("deltas", 5))
        if spec.kind in ("stream_error", "stream_cut", "drop_mid_stream"):
            deltas = max(deltas, int(step.number("after", 2)))
        max_tokens = body.get("max_tokens")
        max_tokens = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 4096
        pieces = reply_pieces(deltas)
        output_tokens = max_tokens if stop_reason == "max_tokens" else max(1, min(max_tokens, 2 * len(pieces)))
        return Reply(
            model=str(body.get("model")),
            stop_reason=stop_reason,
            pieces=pieces,
            input_tokens=estimate_input_tokens(body),
            output_tokens=output_tokens,
            stop_sequence=first_stop_sequence(body) if stop_reason == "stop_sequence" else None,
            tool_name=tool_name(body) if stop_reason == "tool_use" else None,
            cache_creation=int(step.number("cache_creation", 0)),
            cache_read=int(step.number("cache_read", 0)),
        )

    def _stream(self, step: Step, reply: Reply, low: bool) -> None:
        kind = step.spec.kind
        self._send_headers(200, "text/event-stream", {"cache-control": "no-cache", "transfer-encoding": "chunked"}, low)
        for event, data in reply.head_events():
            self._chunk(sse(event, data))
        deltas = reply.delta_events()
        if kind in ("stream_error", "stream_cut", "drop_mid_stream"):
            deltas = deltas[: int(step.number("after", 2))]
        first_delay = step.number("delay", 0.0) if step.name != "stall" else 0.0
        interval = step.number("interval", 0.0)
        for i, (event, data) in enumerate(deltas):
            wait = first_delay if i == 0 else interval
            if wait and not self._pause(wait):
                self.close_connection = True
                return
            self._chunk(sse(event, data))
        if kind == "drop_mid_stream":
            self.close_connection = True  # no terminating chunk: the client sees an incomplete body
            return
        if kind == "stream_error":
            error_type = str(step.get("type") or step.spec.error_type)
            message = str(step.get("message") or ("Overloaded" if error_type == "overloaded_error" else error_type))
            self._chunk(sse("error", {"type": "error", "error": {"type": error_type, "message": message}}))
        elif kind != "stream_cut":
            for event, data in reply.tail_events():
                if interval and event == "content_block_delta" and not self._pause(interval):
                    self.close_connection = True
                    return
                self._chunk(sse(event, data))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _pause(self, seconds: float) -> bool:
        """Sleep; False as soon as the simulator stops or the client hangs up."""
        deadline = time.monotonic() + seconds
        stopping = self.server.simulator._stopping
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if stopping.wait(min(remaining, 0.05)) or self._client_gone():
                return False

    def _client_gone(self) -> bool:
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True

    # writing

    def _common_headers(self, low: bool) -> dict[str, str]:
        return {"request-id": self._rid, **self.server.simulator._tracker.headers(low)}

    def _send_headers(self, status: int, content_type: str, extra: Mapping[str, str], low: bool = False) -> None:
        self.send_response(status, _STATUS_PHRASES.get(status))
        for key, value in {**self._common_headers(low), "content-type": content_type, **extra}.items():
            self.send_header(key, value)
        self.end_headers()
        self._headers_sent = True

    def _send(
        self, status: int, data: bytes, content_type: str, extra: Mapping[str, str] | None = None, low: bool = False
    ) -> None:
        self._send_headers(status, content_type, {"content-length": str(len(data)), **(extra or {})}, low)
        self.wfile.write(data)
        self.wfile.flush()

    def _send_json(
        self, status: int, body: Mapping[str, Any], extra: Mapping[str, str] | None = None, low: bool = False
    ) -> None:
        self._send(status, json.dumps(body, separators=(",", ":")).encode(), "application/json", extra, low)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def _problem(path: str, body: Any) -> str | None:
    """Why `body` is not a request the real API would accept (only the checks clients rely on)."""
    if not isinstance(body, dict):
        return None
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("messages"), list):
        return "messages: Field required"
    max_tokens = body.get("max_tokens")
    if path == MESSAGES_PATH and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        return "max_tokens: Field required (a positive integer)"
    return None


def _error_headers(step: Step) -> dict[str, str]:
    headers: dict[str, str] = {}
    retry_after = step.get("retry_after")
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    retry_after_ms = step.get("retry_after_ms")
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    should_retry = step.get("should_retry")
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    return headers


def _planned_status(step: Step, streaming: bool) -> int | None:
    spec = step.spec
    if spec.kind == "drop":
        return None
    if spec.kind == "error":
        return int(step.number("status", spec.status))
    if spec.kind == "text_error":
        return spec.status
    if spec.kind == "stream_error" and not streaming:
        return ERROR_STATUS.get(str(step.get("type") or spec.error_type), spec.status)
    return 200
