"""The simulator: a stdlib HTTP server speaking the Anthropic API (Messages, Message Batches, Models, Files) and
its Amazon Bedrock and Google Vertex AI forms, with a fault chosen per HTTP attempt."""

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
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ._platforms import (
    Platform,
    PlatformError,
    aws_stream_exception,
    bedrock_chunk,
    bedrock_error,
    bedrock_exception,
    platform_of_path,
    platform_route,
    vertex_error,
)
from ._resources import Outcome, Store, list_models, parse_multipart, retrieve_model
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
from ._spend import SpendLimit

log = logging.getLogger("anthropic_otel.testing")

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
BATCHES_PATH = "/v1/messages/batches"
MODELS_PATH = "/v1/models"
FILES_PATH = "/v1/files"
SCENARIO_HEADER = "x-sim-scenario"
RETRY_COUNT_HEADER = "x-stainless-retry-count"
_STATUS_PHRASES = {529: "Overloaded"}
_MAX_BODY = 64 * 1024 * 1024


@dataclass(frozen=True)
class ReceivedRequest:
    """One HTTP attempt the simulator received, and the fault it served.

    `fault` is a fault name, or `not_found` (unknown path), `invalid_request` (body not a valid request) or
    `invalid_scenario` (unparseable `x-sim-scenario`). `status` is None when no status line was sent (`drop`).
    `platform` is `anthropic`, `bedrock` or `vertex` (by path); `endpoint` names what was asked for, like the
    SDK method: `messages`, `count_tokens`, `batches.create`, `models.list`, `files.download`, ... (empty for an
    unknown path). For a file upload `body` is `{"filename", "mime_type", "size_bytes"}`.
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
    platform: str = "anthropic"
    endpoint: str = ""

    @property
    def stream(self) -> bool:
        if self.path.split("?", 1)[0].endswith(("/invoke-with-response-stream", ":streamRawPredict")):
            return True
        return self.body is not None and self.body.get("stream") is True


ORGANIZATION_ID = "org_sim_0123456789abcdef"
WORKSPACE_ID = "wrkspc_sim_0123456789abcdef"


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
        batch_seconds: float = 0.0,
        spend_limit: SpendLimit | None = None,
    ) -> None:
        if not allow_non_loopback and not is_loopback(host):
            raise ValueError(f"refusing to listen on non-loopback host {host!r} (pass allow_non_loopback=True)")
        self._scenario = Scenario.parse(scenario)
        # Once the priced tokens served reach it, every Messages call gets the billing error (see `_spend`).
        self.spend_limit = spend_limit
        self.host = host.strip("[]")
        self._requested_port = port
        self.ratelimits = ratelimits if ratelimits is not None else RateLimits()
        self._tracker = RateTracker(self.ratelimits)
        self.store = Store(batch_seconds=batch_seconds)
        self._rng = random.Random(seed)
        self._rng_lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._requests_lock = threading.Lock()
        self._on_request = on_request
        self._max_recorded = max_recorded
        self._stopping = threading.Event()
        self._release = threading.Event()  # cuts every `body_delay` short (`release_held`)
        self._connections_accepted = 0
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
        """Forget the received requests, batches and files, and restart the rate-limit window."""
        with self._requests_lock:
            self._requests.clear()
        self._tracker.reset()
        self.store.clear()

    def release_held(self) -> None:
        """Send every body a `body_delay` holds back now, and any later one without waiting."""
        self._release.set()

    @property
    def connections_accepted(self) -> int:
        """How many TCP connections the simulator has accepted since it started."""
        with self._state_lock:
            return self._connections_accepted

    @property
    def batch_seconds(self) -> float:
        """How long a new message batch stays `in_progress` (0: it has ended by the first read)."""
        return self.store.batch_seconds

    @batch_seconds.setter
    def batch_seconds(self, seconds: float) -> None:
        self.store.batch_seconds = float(seconds)

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
    # Many concurrent clients (load tests, the demo) must not wait for a connect retry.
    request_queue_size = 1024
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
        if add:
            with self.simulator._state_lock:
                self.simulator._connections_accepted += 1
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


@dataclass(frozen=True)
class _Route:
    """What a request asks for: its platform, endpoint and the id or model in its path."""

    platform: Platform
    endpoint: str
    model: str = ""
    stream: bool = False
    resource_id: str = ""

    @property
    def messages(self) -> bool:
        return self.endpoint in ("messages", "count_tokens")


def _route(method: str, path: str) -> _Route | None:
    """The endpoint `method path` names, or None for an unknown one."""
    on_platform = platform_route(method, path)
    if on_platform is not None:
        return _Route(on_platform.platform, on_platform.endpoint, on_platform.model, on_platform.stream)
    if path == MESSAGES_PATH:
        return _Route("anthropic", "messages") if method == "POST" else None
    if path == COUNT_TOKENS_PATH:
        return _Route("anthropic", "count_tokens") if method == "POST" else None
    for prefix, resource, collection in (
        (BATCHES_PATH, "batches", {"POST": "create", "GET": "list"}),
        (MODELS_PATH, "models", {"GET": "list"}),
        (FILES_PATH, "files", {"POST": "upload", "GET": "list"}),
    ):
        if path == prefix:
            verb = collection.get(method)
            return _Route("anthropic", f"{resource}.{verb}") if verb else None
        if not path.startswith(prefix + "/"):
            continue
        parts = path[len(prefix) + 1 :].split("/")
        item = unquote(parts[0])
        if not item:
            return None
        if len(parts) == 1:
            verbs = {"GET": "retrieve"} if resource == "models" else {"GET": "retrieve", "DELETE": "delete"}
        elif len(parts) == 2 and resource == "batches":
            verbs = {"cancel": {"POST": "cancel"}, "results": {"GET": "results"}}.get(parts[1], {})
        elif len(parts) == 2 and resource == "files" and parts[1] == "content":
            verbs = {"GET": "download"}
        else:
            verbs = {}
        verb = verbs.get(method)
        return _Route("anthropic", f"{resource}.{verb}", resource_id=item) if verb else None
    return None


_REQUEST_ID_PREFIX = {"anthropic": "req_sim_", "vertex": "req_vrtx_sim_"}
# Endpoints whose request has no JSON body.
_NO_JSON_BODY = frozenset(
    ("batches.list", "batches.retrieve", "batches.cancel", "batches.delete", "batches.results", "models.list",
     "models.retrieve", "files.upload", "files.list", "files.retrieve", "files.delete", "files.download")
)  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "anthropic-otel-simulator"
    sys_version = ""
    server: _Server

    # plumbing

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, a reused connection waits ~40 ms for the
        # client's delayed ACK on every response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("simulator: " + format, *args)

    def do_POST(self) -> None:
        self._headers_sent = False
        self._platform: Platform = platform_of_path(urlsplit(self.path).path)
        self._request_id = (
            str(uuid.uuid4()) if self._platform == "bedrock" else new_id(_REQUEST_ID_PREFIX[self._platform])
        )
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
        split = urlsplit(self.path)
        path = split.path.rstrip("/") or "/"
        query = parse_qs(split.query)
        headers = {k.lower(): v for k, v in self.headers.items()}
        retry_count = _int(headers.get(RETRY_COUNT_HEADER))
        scenario_text = headers.get(SCENARIO_HEADER, "").strip()
        route = _route(self.command, path)
        endpoint = route.endpoint if route is not None else ""

        def record(fault: str, status: int | None, body: dict[str, Any] | None = None) -> None:
            sim._record(
                ReceivedRequest(
                    self.command, self.path, headers, body, retry_count, fault, status, self._request_id,
                    scenario_text or str(sim.scenario), self._platform, endpoint,
                )
            )  # fmt: skip

        def invalid(message: str, body: dict[str, Any] | None = None) -> None:
            record("invalid_request", self._error_status(400, "invalid_request_error"), body)
            self._send_error(400, "invalid_request_error", message)

        try:
            raw = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            invalid(f"unreadable request body: {exc}")
            return
        if route is None:
            record("not_found", self._error_status(404, "not_found_error"))
            self._send_error(404, "not_found_error", f"{self.command} {path}: not found")
            return
        body: Any = None
        self._upload: tuple[str, str, bytes] | None = None
        if route.endpoint == "files.upload":
            self._upload = parse_multipart(headers.get("content-type", ""), raw)
            if self._upload is None:
                invalid("file: Field required (multipart/form-data with a `file` part)")
                return
            filename, mime_type, content = self._upload
            body = {"filename": filename, "mime_type": mime_type, "size_bytes": len(content)}
        elif route.endpoint not in _NO_JSON_BODY:
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError as exc:
                invalid(f"request body is not valid JSON: {exc}")
                return
            problem = _problem(route, body)
            if problem is not None or not isinstance(body, dict):
                message = problem or ("request body must be a JSON object" if raw.strip() else "request body is empty")
                invalid(message, body if isinstance(body, dict) else None)
                return
        try:
            scenario = Scenario.parse(scenario_text) if scenario_text else sim.scenario
        except ScenarioError as exc:
            record("invalid_scenario", 500, body)
            message = f"simulator: bad {SCENARIO_HEADER} header: {exc}"
            self._send_json(500, error_body("api_error", message, self._rid), {"x-should-retry": "false"})
            return
        step = sim._draw(scenario, retry_count)
        if route.messages and sim.spend_limit is not None:
            step = sim.spend_limit.reached() or step
        streaming = route.endpoint == "messages" and (route.stream or (body or {}).get("stream") is True)
        outcome: Outcome | None = None
        if route.messages:
            sim._tracker.use(requests=1)
        elif _serves_endpoint(step, streaming):
            outcome = self._resource(route, body, query, headers)
        record(step.name, self._planned_status(step, streaming, outcome), body)
        self._serve(step, route, body or {}, streaming, outcome)

    @property
    def _rid(self) -> str:
        return self._request_id

    # faults

    def _serve(self, step: Step, route: _Route, body: dict[str, Any], streaming: bool, outcome: Outcome | None) -> None:
        spec = step.spec
        kind = spec.kind
        if kind == "drop":
            self.close_connection = True
            return
        if kind == "error":
            status = int(step.number("status", spec.status))
            message = str(step.get("message") or spec.message)
            code = step.get("code")
            self._send_error(status, spec.error_type, message, str(code) if code else None, step)
            return
        if kind == "text_error":
            text, ctype = (TOO_LARGE_HTML, "text/html") if spec.status == 413 else (BAD_GATEWAY_TEXT, "text/plain")
            # An edge error: on Vertex it comes from Google's front end, without an Anthropic request id.
            with_id = self._platform != "vertex"
            self._send(spec.status, text.encode(), ctype, _error_headers(step, self._platform), request_id=with_id)
            return
        if kind == "stream_error" and not streaming:
            error_type = str(step.get("type") or spec.error_type)
            message = str(step.get("message") or ("Overloaded" if error_type == "overloaded_error" else error_type))
            self._send_error(ERROR_STATUS.get(error_type, spec.status), error_type, message, None, step)
            return
        if step.name == "stall" and not self._pause(step.number("delay", 30.0)):
            self.close_connection = True
            return
        if route.endpoint == "messages":
            self._serve_message(step, route, body, streaming)
            return
        if step.name == "slow_first_token" and not self._pause(step.number("delay", 0.5)):
            self.close_connection = True
            return
        low = step.name == "ratelimit_low"
        if route.endpoint == "count_tokens":
            self._send_json(200, {"input_tokens": estimate_input_tokens(body)}, low=low)
            return
        assert outcome is not None
        if outcome.error_type is not None:
            self._send_error(outcome.status, outcome.error_type, outcome.message)
            return
        if outcome.body is not None:
            data, ctype = json.dumps(outcome.body, separators=(",", ":")).encode(), "application/json"
        else:
            data, ctype = outcome.data or b"", outcome.content_type
        if kind == "drop_mid_stream":
            self._send(outcome.status, data[: len(data) // 2], ctype, {"content-length": str(len(data))}, low=low)
            self.close_connection = True
            return
        self._send(outcome.status, data, ctype, low=low)

    def _serve_message(self, step: Step, route: _Route, body: dict[str, Any], streaming: bool) -> None:
        kind = step.spec.kind
        reply = self._reply(step, body, route)
        low = step.name == "ratelimit_low"
        sim = self.server.simulator
        sim._tracker.use(input_tokens=reply.input_tokens + reply.cache_writes, output_tokens=reply.output_tokens)
        if sim.spend_limit is not None:
            sim.spend_limit.charge(reply)
        if streaming:
            self._stream(step, reply, low)
            return
        extra = _bedrock_usage_headers(reply) if self._platform == "bedrock" else None
        if kind == "drop_mid_stream":
            data = json.dumps(reply.message()).encode()
            headers = {"content-length": str(len(data)), **(extra or {})}
            self._send(200, data[: len(data) // 2], "application/json", headers, low=low)
            self.close_connection = True
            return
        first_token_delay = step.number("delay", 0.0) if step.name != "stall" else 0.0
        if first_token_delay and not self._pause(first_token_delay):
            self.close_connection = True
            return
        self._send_json(200, reply.message(), extra, low=low)

    def _reply(self, step: Step, body: Mapping[str, Any], route: _Route | None = None) -> Reply:
        spec = step.spec
        stop_reason = spec.stop_reason if spec.kind == "message" else "end_turn"
        deltas = int(step.number("deltas", 5))
        if spec.kind in ("stream_error", "stream_cut", "drop_mid_stream"):
            deltas = max(deltas, int(step.number("after", 2)))
        max_tokens = body.get("max_tokens")
        max_tokens = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else 4096
        pieces = reply_pieces(deltas, body)
        output_tokens = max_tokens if stop_reason == "max_tokens" else max(1, min(max_tokens, 2 * len(pieces)))
        platform = route.platform if route is not None else "anthropic"
        reply = Reply(
            model=route.model if route is not None and route.model else str(body.get("model")),
            stop_reason=stop_reason,
            pieces=pieces,
            input_tokens=estimate_input_tokens(body),
            output_tokens=output_tokens,
            stop_sequence=first_stop_sequence(body) if stop_reason == "stop_sequence" else None,
            tool_name=tool_name(body) if stop_reason == "tool_use" else None,
            cache_creation=int(step.number("cache_creation", 0)),
            cache_creation_1h=int(step.number("cache_creation_1h", 0)),
            cache_read=int(step.number("cache_read", 0)),
        )
        if platform != "anthropic":
            reply.id = new_id("msg_bdrk_" if platform == "bedrock" else "msg_vrtx_")
        return reply

    def _stream(self, step: Step, reply: Reply, low: bool) -> None:
        kind = step.spec.kind
        bedrock = self._platform == "bedrock"
        if bedrock:
            ctype, extra = "application/vnd.amazon.eventstream", {"x-amzn-bedrock-content-type": "application/json"}
        else:
            ctype, extra = "text/event-stream", {"cache-control": "no-cache"}

        def event(name: str, data: dict[str, Any]) -> bytes:
            return bedrock_chunk(data) if bedrock else sse(name, data)

        self._send_headers(200, ctype, {**extra, "transfer-encoding": "chunked"}, low)
        for name, data in reply.head_events():
            self._chunk(event(name, data))
        deltas = reply.delta_events()
        if kind in ("stream_error", "stream_cut", "drop_mid_stream"):
            deltas = deltas[: int(step.number("after", 2))]
        first_delay = step.number("delay", 0.0) if step.name != "stall" else 0.0
        interval = step.number("interval", 0.0)
        for i, (name, data) in enumerate(deltas):
            wait = first_delay if i == 0 else interval
            if wait and not self._pause(wait):
                self.close_connection = True
                return
            self._chunk(event(name, data))
        if kind == "drop_mid_stream":
            self.close_connection = True  # no terminating chunk: the client sees an incomplete body
            return
        if kind == "stream_error":
            error_type = str(step.get("type") or step.spec.error_type)
            message = str(step.get("message") or ("Overloaded" if error_type == "overloaded_error" else error_type))
            if bedrock:
                aws = step.get("aws")
                self._chunk(bedrock_exception(aws_stream_exception(error_type, str(aws) if aws else None), message))
            else:
                self._chunk(sse("error", {"type": "error", "error": {"type": error_type, "message": message}}))
        elif kind != "stream_cut":
            for name, data in reply.tail_events():
                if interval and name == "content_block_delta" and not self._pause(interval):
                    self.close_connection = True
                    return
                if bedrock and name == "message_stop":
                    data = {**data, "amazon-bedrock-invocationMetrics": _bedrock_metrics(reply)}
                self._chunk(event(name, data))
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

    # the stateful endpoints

    def _resource(self, route: _Route, body: Any, query: dict[str, list[str]], headers: Mapping[str, str]) -> Outcome:
        store = self.server.simulator.store
        base_url = f"http://{headers.get('host') or self.server.simulator.base_url.partition('://')[2]}"
        item = route.resource_id
        endpoint = route.endpoint
        if endpoint == "batches.create":
            return store.create_batch(body, self._batch_result, base_url)
        if endpoint == "batches.list":
            return store.list_batches(query, base_url)
        if endpoint == "batches.retrieve":
            return store.retrieve_batch(item, base_url)
        if endpoint == "batches.cancel":
            return store.cancel_batch(item, base_url)
        if endpoint == "batches.delete":
            return store.delete_batch(item)
        if endpoint == "batches.results":
            return store.batch_results(item)
        if endpoint == "models.list":
            return list_models(query)
        if endpoint == "models.retrieve":
            return retrieve_model(item)
        if endpoint == "files.upload" and self._upload is not None:
            return store.add_file(*self._upload)
        if endpoint == "files.list":
            return store.list_files(query)
        if endpoint == "files.retrieve":
            return store.retrieve_file(item)
        if endpoint == "files.delete":
            return store.delete_file(item)
        if endpoint == "files.download":
            return store.download_file(item)
        raise AssertionError(endpoint)  # pragma: no cover - every routed endpoint is handled above

    def _batch_result(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The `result` of one batch request: a message as `ok` would send it, or an `invalid_request_error`."""
        problem = _problem(_Route("anthropic", "messages"), params)
        if problem is not None:
            error = {"type": "error", "error": {"type": "invalid_request_error", "message": problem}}
            return {"type": "errored", "error": error}
        return {"type": "succeeded", "message": self._reply(Step("ok"), params).message()}

    # writing

    def _platform_error(self, status: int, error_type: str, message: str, step: Step | None) -> PlatformError | None:
        """The error as Bedrock or Vertex send it; None on the first-party API (and for Vertex pass-through)."""
        explicit = step.params.get("status") if step is not None else None
        override: int | None = explicit if isinstance(explicit, int) else None
        if self._platform == "bedrock":
            aws = step.get("aws") if step is not None else None
            return bedrock_error(error_type, message, str(aws) if aws else None, override)
        if self._platform == "vertex":
            gcp = step.get("gcp") if step is not None else None
            return vertex_error(error_type, message, str(gcp) if gcp else None, override)
        return None

    def _error_status(self, status: int, error_type: str, step: Step | None = None) -> int:
        shaped = self._platform_error(status, error_type, "", step)
        return shaped.status if shaped is not None else status

    def _send_error(
        self, status: int, error_type: str, message: str, code: str | None = None, step: Step | None = None
    ) -> None:
        extra = _error_headers(step, self._platform) if step is not None else {}
        shaped = self._platform_error(status, error_type, message, step)
        body_delay = step.number("body_delay", 0.0) if step is not None else 0.0
        if shaped is None:
            data = json.dumps(error_body(error_type, message, self._rid, code), separators=(",", ":")).encode()
            self._send(status, data, "application/json", extra, body_delay=body_delay)
            return
        data = json.dumps(shaped.body, separators=(",", ":")).encode()
        headers = {**shaped.headers, **extra}
        self._send(
            shaped.status, data, shaped.content_type, headers, request_id=shaped.with_request_id, body_delay=body_delay
        )

    def _common_headers(self, low: bool, request_id: bool = True) -> dict[str, str]:
        if self._platform == "bedrock":
            return {"x-amzn-requestid": self._rid}
        headers = {"request-id": self._rid} if request_id else {}
        if self._platform == "anthropic":
            headers.update(self.server.simulator._tracker.headers(low))
            # As the API does: who the key belongs to (opt-in metric attributes read these).
            headers["anthropic-organization-id"] = ORGANIZATION_ID
            headers["anthropic-workspace-id"] = WORKSPACE_ID
        return headers

    def _send_headers(
        self, status: int, content_type: str, extra: Mapping[str, str], low: bool = False, request_id: bool = True
    ) -> None:
        self.send_response(status, _STATUS_PHRASES.get(status))
        for key, value in {**self._common_headers(low, request_id), "content-type": content_type, **extra}.items():
            self.send_header(key, value)
        self.end_headers()
        self._headers_sent = True

    def _send(
        self,
        status: int,
        data: bytes,
        content_type: str,
        extra: Mapping[str, str] | None = None,
        low: bool = False,
        request_id: bool = True,
        body_delay: float = 0.0,
    ) -> None:
        headers = {"content-length": str(len(data)), **(extra or {})}
        self._send_headers(status, content_type, headers, low, request_id)
        if body_delay > 0:
            self.wfile.flush()
            if not self._hold(body_delay):
                self.close_connection = True
                return
        self.wfile.write(data)
        self.wfile.flush()

    def _hold(self, seconds: float) -> bool:
        """Hold a body back (`body_delay`): False when the client hangs up or the simulator stops first."""
        sim = self.server.simulator
        deadline = time.monotonic() + seconds
        while not sim._release.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if sim._stopping.wait(min(remaining, 0.02)) or self._client_gone():
                return False
        return True

    def _send_json(
        self, status: int, body: Mapping[str, Any], extra: Mapping[str, str] | None = None, low: bool = False
    ) -> None:
        self._send(status, json.dumps(body, separators=(",", ":")).encode(), "application/json", extra, low)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _planned_status(self, step: Step, streaming: bool, outcome: Outcome | None) -> int | None:
        spec = step.spec
        if spec.kind == "drop":
            return None
        if spec.kind == "error":
            return self._error_status(int(step.number("status", spec.status)), spec.error_type, step)
        if spec.kind == "text_error":
            return spec.status
        if spec.kind == "stream_error" and not streaming:
            error_type = str(step.get("type") or spec.error_type)
            return self._error_status(ERROR_STATUS.get(error_type, spec.status), error_type, step)
        if outcome is not None:
            return self._error_status(outcome.status, outcome.error_type) if outcome.error_type else outcome.status
        return 200


def _serves_endpoint(step: Step, streaming: bool) -> bool:
    """Whether the step lets the request reach its endpoint (rather than failing it before)."""
    kind = step.spec.kind
    return kind not in ("drop", "error", "text_error") and not (kind == "stream_error" and not streaming)


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def _problem(route: _Route, body: Any) -> str | None:
    """Why `body` is not a request the real API would accept (only the checks clients rely on)."""
    if not isinstance(body, dict):
        return None
    if route.endpoint == "batches.create":
        requests = body.get("requests")
        return None if isinstance(requests, list) and requests else "requests: Field required (a non-empty list)"
    platform = route.platform
    if platform == "bedrock":
        # Bedrock rejects keys it does not know, and wants the API version in the body.
        for key in ("model", "stream"):
            if key in body:
                return f"extraneous key [{key}] is not permitted"
    if platform != "anthropic" and not isinstance(body.get("anthropic_version"), str):
        return "anthropic_version: Field required"
    model = route.model if route.model else body.get("model")
    if not isinstance(model, str) or not model:
        return "model: Field required"
    if not isinstance(body.get("messages"), list):
        return "messages: Field required"
    max_tokens = body.get("max_tokens")
    if route.endpoint == "messages" and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        return "max_tokens: Field required (a positive integer)"
    return None


def _error_headers(step: Step | None, platform: Platform = "anthropic") -> dict[str, str]:
    """`retry-after`, `retry-after-ms` and `x-should-retry` as the step asks. Bedrock and Vertex send none of
    them on their own, so there only the parameters the step spells out are sent (not a fault's defaults)."""
    headers: dict[str, str] = {}
    if step is None:
        return headers
    params: Mapping[str, Any] = step.params if platform != "anthropic" else {}

    def get(key: str) -> Any:
        return params.get(key) if platform != "anthropic" else step.get(key)

    retry_after = get("retry_after")
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    retry_after_ms = get("retry_after_ms")
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    should_retry = get("should_retry")
    if should_retry is not None:
        headers["x-should-retry"] = "true" if should_retry else "false"
    return headers


def _bedrock_usage_headers(reply: Reply) -> dict[str, str]:
    return {
        "x-amzn-bedrock-input-token-count": str(reply.input_tokens),
        "x-amzn-bedrock-output-token-count": str(reply.output_tokens),
        "x-amzn-bedrock-invocation-latency": "1",
    }


def _bedrock_metrics(reply: Reply) -> dict[str, int]:
    return {
        "inputTokenCount": reply.input_tokens,
        "outputTokenCount": reply.output_tokens,
        "invocationLatency": 1,
        "firstByteLatency": 1,
    }
