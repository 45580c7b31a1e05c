"""The fault-injecting simulator, driven by the real (uninstrumented) `anthropic` SDK over loopback."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any

import anthropic
import pytest

from anthropic_otel.testing import FAULTS, RateLimits, ReceivedRequest, Scenario, ScenarioError, Simulator
from anthropic_otel.testing.cli import main as simulate_main

if not any(ep.value == "anthropic_otel.testing.pytest_plugin" for ep in entry_points(group="pytest11")):
    pytest_plugins = ["anthropic_otel.testing.pytest_plugin"]  # not installed with its entry points

MODEL = "claude-sim-test"
PROMPT = "SECRET-PROMPT-text-never-echoed"
REQUEST_ID = re.compile(r"^req_sim_[0-9a-f]{24}$")
RATE_KINDS = ("requests", "tokens", "input-tokens", "output-tokens")
Make = Callable[..., anthropic.Anthropic]


@pytest.fixture
def sim(anthropic_simulator: Simulator) -> Simulator:
    return anthropic_simulator


@pytest.fixture
def make(sim: Simulator) -> Iterator[Make]:
    """`make(scenario=None, **options)`: a real SDK client for `sim`, with `x-sim-scenario` when given."""
    clients: list[anthropic.Anthropic] = []

    def factory(scenario: str | None = None, **options: Any) -> anthropic.Anthropic:
        options.setdefault("max_retries", 0)
        options.setdefault("timeout", 10.0)
        headers = {"x-sim-scenario": scenario} if scenario else {}
        client = anthropic.Anthropic(base_url=sim.base_url, api_key="sk-ant-test", default_headers=headers, **options)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


def params(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}], **extra}


def raw_request(
    sim: Simulator, body: bytes | None, path: str = "/v1/messages", method: str = "POST", **headers: str
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json", **headers})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def post(
    sim: Simulator, scenario: str | None = None, retry: int = 0, **extra: Any
) -> tuple[int, dict[str, str], bytes]:
    headers = {"x-stainless-retry-count": str(retry)}
    if scenario:
        headers["x-sim-scenario"] = scenario
    return raw_request(sim, json.dumps(params(**extra)).encode(), **headers)


# successful responses


def test_ok_message(sim: Simulator, make: Make) -> None:
    raw = make().messages.with_raw_response.create(**params())
    message = raw.parse()
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/json"
    assert REQUEST_ID.match(raw.headers["request-id"])
    assert re.match(r"^msg_sim_[0-9a-f]+$", message.id)
    assert message.model == MODEL and message.role == "assistant" and message.type == "message"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].type == "text" and message.content[0].text
    assert PROMPT not in raw.http_response.text
    assert message.usage.input_tokens == len(PROMPT) // 4
    assert 0 < message.usage.output_tokens <= 64
    assert message.usage.cache_creation_input_tokens == 0 and message.usage.cache_read_input_tokens == 0

    (seen,) = sim.requests
    assert isinstance(seen, ReceivedRequest)
    assert (seen.method, seen.path, seen.fault, seen.status, seen.retry_count) == ("POST", "/v1/messages", "ok", 200, 0)
    assert seen.request_id == raw.headers["request-id"]
    assert seen.body is not None and seen.body["model"] == MODEL and not seen.stream
    assert "sk-ant-test" in (seen.headers.get("x-api-key") or seen.headers["authorization"])
    assert all(k == k.lower() for k in seen.headers) and seen.headers["x-stainless-retry-count"] == "0"
    sim.clear()
    assert sim.requests == []


@pytest.mark.parametrize("fault", ["max_tokens", "refusal", "tool_use", "stop_sequence"])
def test_stop_reasons(make: Make, fault: str) -> None:
    tools = [{"name": "lookup_order", "description": "d", "input_schema": {"type": "object", "properties": {}}}]
    message = make(fault).messages.create(**params(tools=tools, stop_sequences=["###"]))
    assert message.stop_reason == fault
    if fault == "max_tokens":
        assert message.usage.output_tokens == 64
    if fault == "stop_sequence":
        assert message.stop_sequence == "###"
    if fault == "tool_use":
        block = message.content[-1]
        assert block.type == "tool_use"
        assert block.name == "lookup_order" and block.input == {} and block.id.startswith("toolu_sim_")


def test_tool_use_default_name_and_cache_tokens(make: Make) -> None:
    message = make("tool_use:cache_read=7:cache_creation=3").messages.create(**params())
    assert message.content[-1].type == "tool_use" and message.content[-1].name == "get_weather"
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (7, 3)


def test_input_tokens_are_a_deterministic_estimate(make: Make) -> None:
    client = make()
    long = params(system="s" * 400, messages=[{"role": "user", "content": [{"type": "text", "text": "x" * 800}]}])
    first, second = client.messages.create(**long), client.messages.create(**long)
    assert first.usage.input_tokens == second.usage.input_tokens == 300
    assert client.messages.create(**params(messages=[{"role": "user", "content": "a"}])).usage.input_tokens == 1


# errors


ERRORS = [
    # scenario, status, error type, exception class name (None: only APIStatusError is common to all SDK versions)
    ("rate_limit", 429, "rate_limit_error", "RateLimitError"),
    ("overloaded", 529, "overloaded_error", "OverloadedError"),
    ("server_error", 500, "api_error", "InternalServerError"),
    ("timeout_error", 504, "timeout_error", None),
    ("billing", 402, "billing_error", None),
    ("permission", 403, "permission_error", "PermissionDeniedError"),
    ("auth", 401, "authentication_error", "AuthenticationError"),
    ("not_found", 404, "not_found_error", "NotFoundError"),
    ("bad_request", 400, "invalid_request_error", "BadRequestError"),
]


@pytest.mark.parametrize(("scenario", "status", "error_type", "cls"), ERRORS, ids=[e[0] for e in ERRORS])
def test_error_faults(sim: Simulator, make: Make, scenario: str, status: int, error_type: str, cls: str | None) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        make(scenario).messages.create(**params())
    error = caught.value
    if cls is not None:
        assert type(error).__name__ == cls
    assert error.status_code == status
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error" and error.body["error"]["type"] == error_type
    assert error.body["error"]["message"]
    assert "details" not in error.body["error"]
    headers = error.response.headers
    assert error.request_id == error.body["request_id"] == headers["request-id"]
    assert REQUEST_ID.match(headers["request-id"])
    assert headers["content-type"] == "application/json"
    assert all(f"anthropic-ratelimit-{kind}-remaining" in headers for kind in RATE_KINDS)
    assert headers.get("retry-after") == ("1" if scenario == "rate_limit" else None)
    assert "retry-after-ms" not in headers and "x-should-retry" not in headers
    assert [(r.fault, r.status) for r in sim.requests] == [(scenario, status)]


@pytest.mark.parametrize(("scenario", "status"), [("billing:status=403:code=enforced_spend_limit_reached", 403),
                                                  ("billing:code=organization_on_hold", 402)])  # fmt: skip
def test_billing_error_code(make: Make, scenario: str, status: int) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        make(scenario).messages.create(**params())
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict)
    error = caught.value.body["error"]
    assert error["type"] == "billing_error"
    assert error["details"] == {"error_code": scenario.rpartition("=")[2]}


@pytest.mark.parametrize(("scenario", "status", "content_type"), [("too_large", 413, "text/html"),
                                                                  ("bad_gateway", 502, "text/plain")])  # fmt: skip
def test_non_json_errors(make: Make, scenario: str, status: int, content_type: str) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        make(scenario).messages.create(**params())
    assert caught.value.status_code == status
    assert caught.value.response.headers["content-type"] == content_type
    assert isinstance(caught.value.body, str) and str(status) in caught.value.body
    assert REQUEST_ID.match(caught.value.response.headers["request-id"])


def test_retry_after_headers(make: Make) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        make("rate_limit:retry_after=3:retry_after_ms=5").messages.create(**params())
    headers = caught.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("3", "5")
    with pytest.raises(anthropic.OverloadedError) as over:
        make("overloaded:retry_after_ms=250").messages.create(**params())
    assert over.value.response.headers["retry-after-ms"] == "250" and "retry-after" not in over.value.response.headers


def test_retry_sequence_recovers(sim: Simulator, make: Make) -> None:
    client = make("rate_limit:retry_after_ms=1,overloaded:retry_after_ms=1,max_tokens", max_retries=2)
    assert client.messages.create(**params()).stop_reason == "max_tokens"
    seen = sim.requests
    assert [(r.retry_count, r.fault, r.status) for r in seen] == [
        (0, "rate_limit", 429),
        (1, "overloaded", 529),
        (2, "max_tokens", 200),
    ]
    assert len({r.request_id for r in seen}) == 3, "every attempt has its own request id"


def test_retry_after_zero_uses_sdk_backoff(sim: Simulator, make: Make) -> None:
    assert make("rate_limit:retry_after=0,ok", max_retries=2).messages.create(**params()).stop_reason == "end_turn"
    assert [r.fault for r in sim.requests] == ["rate_limit", "ok"]


def test_retries_exhausted_last_step_repeats(sim: Simulator, make: Make) -> None:
    with pytest.raises(anthropic.OverloadedError):
        make("overloaded:retry_after_ms=1", max_retries=2).messages.create(**params())
    assert [(r.retry_count, r.fault) for r in sim.requests] == [(0, "overloaded"), (1, "overloaded"), (2, "overloaded")]


def test_should_retry_header(sim: Simulator, make: Make) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        make("server_error:should_retry=false", max_retries=2).messages.create(**params())
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert len(sim.requests) == 1
    sim.clear()
    message = make("bad_request:should_retry=true:retry_after_ms=1,ok", max_retries=1).messages.create(**params())
    assert message.stop_reason == "end_turn" and len(sim.requests) == 2


def test_scenario_header_overrides_server_scenario(sim: Simulator, make: Make) -> None:
    sim.set_scenario("refusal")
    assert str(sim.scenario) == "refusal"
    assert make().messages.create(**params()).stop_reason == "refusal"
    assert make("max_tokens").messages.create(**params()).stop_reason == "max_tokens"
    results: dict[str, str | None] = {}

    def call(fault: str) -> None:
        client = make(fault)
        results[fault] = client.messages.create(**params()).stop_reason

    threads = [threading.Thread(target=call, args=(f,)) for f in ("tool_use", "stop_sequence", "ok", "max_tokens")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {"tool_use": "tool_use", "stop_sequence": "stop_sequence", "ok": "end_turn",
                       "max_tokens": "max_tokens"}  # fmt: skip


# streaming


def _message_events(sim: Simulator, scenario: str) -> list[tuple[str, dict[str, Any]]]:
    """The SSE events on the wire, checking chunked framing: one event per chunk, then a terminating chunk."""
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as sock:
        body = json.dumps(params(stream=True)).encode()
        head = (
            f"POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
            f"\r\nx-sim-scenario: {scenario}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    headers, _, rest = data.partition(b"\r\n\r\n")
    assert headers.startswith(b"HTTP/1.1 200")
    lines = headers.decode().lower().split("\r\n")
    assert "transfer-encoding: chunked" in lines and "content-type: text/event-stream" in lines
    assert any(line.startswith("request-id: req_sim_") for line in lines)
    events: list[tuple[str, dict[str, Any]]] = []
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            assert rest == b"\r\n", "a clean end is a terminating zero chunk"
            return events
        payload, rest = rest[:size], rest[size + 2 :]
        match = re.fullmatch(rb"event: (\w+)\ndata: (.+)\n\n", payload)
        assert match, payload
        events.append((match[1].decode(), json.loads(match[2])))


def test_sse_wire_format(sim: Simulator) -> None:
    events = _message_events(sim, "ok:deltas=3")
    assert [name for name, _ in events] == [
        "message_start", "content_block_start", "ping", "content_block_delta", "content_block_delta",
        "content_block_delta", "content_block_stop", "message_delta", "message_stop",
    ]  # fmt: skip
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["content"] == [] and start["usage"]["output_tokens"] == 1 and start["model"] == MODEL
    assert start["usage"]["input_tokens"] == len(PROMPT) // 4
    assert events[3][1]["delta"]["type"] == "text_delta"
    assert events[-2][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert events[-2][1]["usage"]["output_tokens"] > 0
    assert PROMPT not in json.dumps(events)


def test_sse_wire_format_tool_use(sim: Simulator) -> None:
    events = _message_events(sim, "tool_use:deltas=1")
    tool = [data for _, data in events if data.get("index") == 1]
    assert tool[0]["content_block"]["type"] == "tool_use" and tool[0]["content_block"]["input"] == {}
    assert tool[1]["delta"]["type"] == "input_json_delta"
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize("fault", ["ok", "max_tokens", "tool_use", "refusal", "stop_sequence"])
def test_stream_create(make: Make, fault: str) -> None:
    events = list(make(f"{fault}:deltas=4").messages.create(**params(stream=True)))
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert sum(1 for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta") == 4
    delta = next(e for e in events if e.type == "message_delta")
    assert delta.delta.stop_reason == fault if fault != "ok" else "end_turn"
    if fault == "max_tokens":
        assert delta.usage.output_tokens == 64


def test_stream_helper(make: Make) -> None:
    with make("tool_use").messages.stream(**params()) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use" and [b.type for b in final.content] == ["text", "tool_use"]
    with make("ok:deltas=7").messages.stream(**params()) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.stop_reason == "end_turn"
    assert final.content[0].type == "text" and final.content[0].text == text and PROMPT not in text
    assert final.usage.input_tokens == len(PROMPT) // 4


def test_stream_error_mid_stream(sim: Simulator, make: Make) -> None:
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in make("stream_error:after=3").messages.create(**params(stream=True)):
            seen.append(event.type)
    assert caught.value.status_code == 200
    assert caught.value.body == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    assert seen.count("content_block_delta") == 3 and "message_stop" not in seen
    with pytest.raises(anthropic.APIStatusError) as typed:
        list(make("stream_error:after=0:type=api_error").messages.create(**params(stream=True)))
    assert isinstance(typed.value.body, dict) and typed.value.body["error"]["type"] == "api_error"
    assert [r.status for r in sim.requests] == [200, 200]


def test_stream_error_without_streaming_is_overloaded(make: Make) -> None:
    with pytest.raises(anthropic.OverloadedError) as caught:
        make("stream_error").messages.create(**params())
    assert caught.value.status_code == 529


def test_stream_cut(sim: Simulator, make: Make) -> None:
    types = [e.type for e in make("stream_cut:after=2").messages.create(**params(stream=True))]
    assert types.count("content_block_delta") == 2
    assert "message_delta" not in types and "message_stop" not in types
    events = _message_events(sim, "stream_cut:after=1")  # ends with a clean terminating chunk
    assert [name for name, _ in events][-1] == "content_block_delta"


def test_drop(sim: Simulator, make: Make) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        make("drop").messages.create(**params())
    assert [(r.fault, r.status) for r in sim.requests] == [("drop", None)]
    assert make("drop,ok", max_retries=1).messages.create(**params()).stop_reason == "end_turn"


def test_drop_mid_stream(make: Make) -> None:
    seen: list[str] = []
    with pytest.raises(Exception) as caught:  # the SDK surfaces the transport's protocol error as is
        for event in make("drop_mid_stream:after=2").messages.create(**params(stream=True)):
            seen.append(event.type)
    assert "Protocol" in type(caught.value).__name__ or isinstance(caught.value, anthropic.APIConnectionError)
    assert seen.count("content_block_delta") == 2
    with pytest.raises(anthropic.APIConnectionError):  # without streaming: a truncated body
        make("drop_mid_stream").messages.create(**params())


def test_stall_client_timeout(sim: Simulator, make: Make) -> None:
    # The simulator answers only after 5 s: a timeout error is the client giving up on its own 0.3 s read timeout.
    with pytest.raises(anthropic.APITimeoutError):
        make("stall:delay=5", timeout=0.3).messages.create(**params())
    assert [r.fault for r in sim.requests] == ["stall"]


def test_stop_interrupts_stall() -> None:
    sim = Simulator("stall").start()  # 30 s
    client = anthropic.Anthropic(base_url=sim.base_url, api_key="sk-ant-test", max_retries=0, timeout=10)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.messages.create(**params())
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while not sim.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    sim.stop()
    thread.join(30)  # bounded only so that a failing test cannot hang
    client.close()
    # The stall lasts 30 s and the client's timeout is 10 s: a connection error that is not a timeout is stop()
    # closing the connection in the middle of the stall.
    assert len(errors) == 1 and isinstance(errors[0], anthropic.APIConnectionError), errors
    assert not isinstance(errors[0], anthropic.APITimeoutError), "stop() waited for the stall to end"
    sim.stop()  # idempotent


def test_slow_first_token_and_slow_stream(make: Make) -> None:
    # Lower bounds from before each request only: the simulator sleeps at least this long however loaded the machine
    # is, while any upper bound (or a gap between two arrivals the client may read late) could flake.
    client = make()
    started = time.monotonic()
    client.messages.create(**params(), extra_headers={"x-sim-scenario": "slow_first_token:delay=0.2"})
    assert time.monotonic() - started >= 0.2

    started = time.monotonic()
    stream = client.messages.create(
        **params(stream=True), extra_headers={"x-sim-scenario": "slow_first_token:delay=0.3"}
    )
    arrivals: dict[str, float] = {}
    for event in stream:
        arrivals.setdefault(event.type, time.monotonic())
    assert list(arrivals)[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert arrivals["content_block_delta"] - started >= 0.3

    started = time.monotonic()
    list(client.messages.create(**params(stream=True), extra_headers={"x-sim-scenario": "slow_stream:interval=0.05"}))
    assert time.monotonic() - started >= 4 * 0.05  # five deltas, four intervals


def test_count_tokens(sim: Simulator, make: Make) -> None:
    client = make("rate_limit:retry_after_ms=1,ok", max_retries=1)
    count = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "x" * 40}])
    assert count.input_tokens == 10
    assert [(r.path, r.fault) for r in sim.requests] == [
        ("/v1/messages/count_tokens", "rate_limit"),
        ("/v1/messages/count_tokens", "ok"),
    ]


# rate-limit headers


def test_ratelimit_headers_decrease_and_refill() -> None:
    limits = RateLimits(requests_limit=10, tokens_limit=5000, input_tokens_limit=4000, output_tokens_limit=1000,
                        window_s=0.5)  # fmt: skip
    with Simulator(ratelimits=limits) as sim:
        _, first, body = post(sim)
        usage = json.loads(body)["usage"]
        _, second, _ = post(sim)
        assert first["anthropic-ratelimit-requests-limit"] == "10"
        assert first["anthropic-ratelimit-requests-remaining"] == "9"
        assert second["anthropic-ratelimit-requests-remaining"] == "8"
        used = usage["input_tokens"] + usage["output_tokens"]
        assert int(first["anthropic-ratelimit-tokens-remaining"]) == 5000 - used
        assert int(second["anthropic-ratelimit-tokens-remaining"]) == 5000 - 2 * used
        assert int(first["anthropic-ratelimit-input-tokens-remaining"]) == 4000 - usage["input_tokens"]
        assert int(first["anthropic-ratelimit-output-tokens-remaining"]) == 1000 - usage["output_tokens"]
        for kind in RATE_KINDS:
            reset = first[f"anthropic-ratelimit-{kind}-reset"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reset)
            datetime.fromisoformat(reset.replace("Z", "+00:00"))
        time.sleep(0.55)
        _, refilled, _ = post(sim)
        assert refilled["anthropic-ratelimit-requests-remaining"] == "9"
        for _ in range(12):
            _, last, _ = post(sim, "rate_limit")
        assert last["anthropic-ratelimit-requests-remaining"] == "0", "never negative"


def test_ratelimit_low(sim: Simulator) -> None:
    status, headers, _ = post(sim, "ratelimit_low")
    assert status == 200
    for kind in RATE_KINDS:
        remaining, limit = (int(headers[f"anthropic-ratelimit-{kind}-{x}"]) for x in ("remaining", "limit"))
        assert 0 < remaining / limit <= 0.03


# scenarios


def test_mix_is_seeded_and_draws_per_attempt() -> None:
    def faults(seed: int) -> list[str]:
        with Simulator("mix:ok=50:overloaded=30:max_tokens=20", seed=seed) as sim:
            for attempt in range(30):
                post(sim, retry=attempt % 3)
            return [r.fault for r in sim.requests]

    first = faults(7)
    assert first == faults(7)
    assert set(first) == {"ok", "overloaded", "max_tokens"}
    assert Scenario("rate_limit,mix:ok=1:drop=0").steps[1].weights == (("ok", 1.0), ("drop", 0.0))


def test_scenario_parsing() -> None:
    scenario = Scenario(" rate_limit:retry_after=2 , ok ")
    assert str(scenario) == "rate_limit:retry_after=2,ok" and scenario == Scenario.parse(str(scenario))
    assert set(FAULTS) >= {"ok", "rate_limit", "stream_error", "drop_mid_stream", "slow_first_token", "stall"}
    for bad in ("nope", "ok,", "rate_limit:retry_after=x", "ok:bogus=1", "billing:status=500", "mix:ok=-1", "mix"):
        with pytest.raises(ScenarioError):
            Scenario(bad)
    with pytest.raises(ValueError, match="unknown fault"):
        Simulator("explode")


def test_unknown_fault_in_header_is_a_500_naming_the_step(sim: Simulator, make: Make) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        make("rate_limit,explode:x=1", max_retries=3).messages.create(**params(), extra_headers={})
    assert caught.value.status_code == 500
    assert isinstance(caught.value.body, dict)
    assert "explode" in caught.value.body["error"]["message"]
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert [r.fault for r in sim.requests] == ["invalid_scenario"]
    assert make().messages.create(**params()).stop_reason == "end_turn", "still serving"


def test_bad_requests_and_unknown_paths(sim: Simulator) -> None:
    status, headers, body = raw_request(sim, b"{not json")
    assert status == 400 and json.loads(body)["error"]["type"] == "invalid_request_error"
    assert REQUEST_ID.match(headers["request-id"]) and headers["content-type"] == "application/json"
    status, _, body = raw_request(sim, json.dumps({"model": MODEL, "messages": []}).encode())
    assert status == 400 and "max_tokens" in json.loads(body)["error"]["message"]
    for method, path in (("POST", "/v1/nope"), ("GET", "/v1/messages")):
        status, headers, body = raw_request(sim, b"{}", path=path, method=method)
        assert status == 404 and json.loads(body)["error"]["type"] == "not_found_error"
        assert REQUEST_ID.match(headers["request-id"])
    assert [r.fault for r in sim.requests] == ["invalid_request", "invalid_request", "not_found", "not_found"]
    status, _, _ = post(sim)
    assert status == 200


def test_handler_exception_does_not_kill_the_server(sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from anthropic_otel.testing import _server

    def boom(body: Any) -> int:
        raise RuntimeError("boom")

    monkeypatch.setattr(_server, "estimate_input_tokens", boom)
    status, _, body = post(sim)
    assert status == 500 and "boom" in json.loads(body)["error"]["message"]
    monkeypatch.undo()
    assert post(sim)[0] == 200


def test_keep_alive(sim: Simulator) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        for scenario in ("ok", "overloaded", "ok", "stream_error"):
            body = json.dumps(params(stream=scenario == "stream_error")).encode()
            conn.request("POST", "/v1/messages", body=body, headers={"x-sim-scenario": scenario})
            response = conn.getresponse()
            response.read()
            assert not response.will_close
    finally:
        conn.close()
    assert len(sim.requests) == 4


# lifecycle, fixtures, CLI


def test_lifecycle() -> None:
    seen: list[ReceivedRequest] = []
    sim = Simulator(on_request=seen.append, max_recorded=2)
    with pytest.raises(RuntimeError):
        _ = sim.base_url
    assert sim.start() is sim and sim.start() is sim
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sim.base_url) and sim.running
    for _ in range(3):
        post(sim)
    assert len(seen) == 3 and sim.requests == seen[1:], "on_request sees all, the most recent are kept"
    sim.stop()
    sim.stop()
    assert not sim.running
    with pytest.raises(RuntimeError):
        sim.start()
    with pytest.raises(ValueError, match="loopback"):
        Simulator(host="0.0.0.0")


def test_session_fixture(anthropic_simulator_session: Simulator) -> None:
    assert anthropic_simulator_session.requests == [] and str(anthropic_simulator_session.scenario) == "ok"
    anthropic_simulator_session.set_scenario("overloaded")
    assert post(anthropic_simulator_session)[0] == 529


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate_main(["--port", "0", "--duration", "0.05", "--scenario", "rate_limit,ok", "-q"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"ANTHROPIC_BASE_URL=http://127\.0\.0\.1:\d+", out)
    assert simulate_main(["--host", "192.0.2.1", "--duration", "0"]) == 2
    assert "loopback" in capsys.readouterr().err
    assert simulate_main(["--port", "0", "--scenario", "bogus", "--duration", "0"]) == 2
    capsys.readouterr()
    assert simulate_main(["--list-faults"]) == 0
    listing = capsys.readouterr().out
    assert all(fault in listing for fault in FAULTS)
