"""Non-streaming Messages calls: every fault of the simulator, sync and async, with exact exported telemetry."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import pytest

from support import MODEL, Telemetry, messages

# scenario, status, error.type, error_code, retryable, attempts made (client max_retries=2)
TERMINAL = [
    ("billing", 402, "billing_error", None),
    ("billing:status=403:code=enforced_spend_limit_reached", 403, "billing_error", "enforced_spend_limit_reached"),
    ("billing:status=402:code=organization_on_hold", 402, "billing_error", "organization_on_hold"),
    ("permission", 403, "permission_error", None),
    ("auth", 401, "authentication_error", None),
    ("not_found", 404, "not_found_error", None),
    ("bad_request", 400, "invalid_request_error", None),
    ("too_large", 413, "413", None),  # a non-JSON body from the edge: the status is all we know
]
EXHAUSTED = [
    ("overloaded:retry_after_ms=1", 529, "overloaded_error"),
    ("server_error:retry_after_ms=1", 500, "api_error"),
    ("rate_limit:retry_after_ms=1", 429, "rate_limit_error"),
]


def _call(client: Any, **extra: Any) -> Any:
    if isinstance(client, anthropic.AsyncAnthropic):
        return asyncio.run(client.messages.create(**messages(**extra)))
    return client.messages.create(**messages(**extra))


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_ok_call(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    message = _call(make_client("ok", async_=async_))
    assert message.stop_reason == "end_turn"

    span = telemetry.call_span()
    attrs = span.attributes or {}
    assert attrs["anthropic.call.outcome"] == "ok"
    assert attrs["gen_ai.request.model"] == MODEL
    assert attrs["anthropic.message.stop_reason"] == "end_turn"
    assert attrs["anthropic.request.id"].startswith("req_sim_")
    assert "error.type" not in attrs
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == ("com.anthropic.sdk.python" if native else "anthropic_otel")
    if not native:
        assert span.name == f"chat {MODEL}"
        assert attrs["gen_ai.usage.input_tokens"] == message.usage.input_tokens
        assert attrs["gen_ai.usage.output_tokens"] == message.usage.output_tokens
        assert attrs["gen_ai.response.id"] == message.id
        assert attrs["gen_ai.response.finish_reasons"] == ("end_turn",)

    (attempt,) = telemetry.attempt_spans()
    assert attempt.parent is not None and attempt.parent.span_id == span.context.span_id
    assert attempt.name == "POST /v1/messages"
    assert attempt.attributes is not None
    assert attempt.attributes["http.response.status_code"] == 200
    assert attempt.attributes["anthropic.request.id"] == attrs["anthropic.request.id"]

    assert (
        telemetry.counter(
            "anthropic.client.calls",
            anthropic__call__outcome="ok",
            http__response__status_code=200,
            anthropic__message__stop_reason="end_turn",
            gen_ai__request__stream=False,
        )
        == 1
    )
    assert telemetry.counter("anthropic.client.attempts", anthropic__attempt__is_retry=False) == 1
    ((duration_attrs, duration),) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1 and "error.type" not in duration_attrs
    assert duration_attrs["server.address"] == "127.0.0.1"
    tokens = {
        (a["gen_ai.token.type"], a["anthropic.token.cache"]): p.sum
        for a, p in telemetry.points("gen_ai.client.token.usage")
    }
    assert tokens[("input", "none")] == message.usage.input_tokens
    assert tokens[("output", "none")] == message.usage.output_tokens


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(
    ("scenario", "status", "error_type"),
    [
        ("rate_limit:retry_after_ms=1,ok", 429, "rate_limit_error"),
        ("overloaded:retry_after_ms=1,ok", 529, "overloaded_error"),
        ("server_error:retry_after_ms=1,overloaded:retry_after_ms=1,ok", 500, "api_error"),
    ],
)
def test_recovered_after_retries(
    make_client: Any, telemetry: Telemetry, native: bool, async_: bool, scenario: str, status: int, error_type: str
) -> None:
    message = _call(make_client(scenario, async_=async_))
    assert message.stop_reason == "end_turn"
    failures = scenario.count(",")

    attrs = telemetry.call_span().attributes or {}
    assert attrs["anthropic.call.outcome"] == "recovered"
    assert attrs["http.request.resend_count"] == failures
    assert "error.type" not in attrs

    attempts = telemetry.attempt_spans()
    assert len(attempts) == failures + 1
    first = attempts[0].attributes or {}
    assert first["http.response.status_code"] == status
    assert first["error.type"] == error_type
    assert first["anthropic.error.retryable"] is True
    assert first["anthropic.retry.after"] == pytest.approx(0.001)
    assert first["anthropic.retry.delay"] == pytest.approx(0.001)
    request_ids = [(a.attributes or {})["anthropic.request.id"] for a in attempts]
    assert len(set(request_ids)) == len(attempts), "every attempt keeps its own request id"
    assert (attempts[-1].attributes or {})["http.request.resend_count"] == failures
    assert "error.type" not in (attempts[-1].attributes or {})

    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="recovered") == 1
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="failed") == 0
    assert (
        telemetry.counter(
            "anthropic.client.attempts",
            error__type=error_type,
            http__response__status_code=status,
            anthropic__error__retryable=True,
            anthropic__attempt__is_retry=False,
        )
        == 1
    )
    assert telemetry.counter("anthropic.client.attempts") == failures + 1
    delays = telemetry.points("anthropic.client.retry.delay")
    assert sum(p.count for _, p in delays) == failures
    assert {a["error.type"] for a, _ in delays} >= {error_type}


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize(("scenario", "status", "error_type", "code"), TERMINAL, ids=[t[0] for t in TERMINAL])
def test_terminal_errors(
    make_client: Any,
    telemetry: Telemetry,
    native: bool,
    async_: bool,
    scenario: str,
    status: int,
    error_type: str,
    code: str | None,
) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        _call(make_client(scenario, async_=async_))
    assert caught.value.status_code == status

    span = telemetry.call_span()
    attrs = span.attributes or {}
    assert span.status.status_code.name == "ERROR"
    assert attrs["error.type"] == error_type
    assert attrs["anthropic.call.outcome"] == "failed"
    assert attrs["http.response.status_code"] == status
    assert attrs["anthropic.request.id"] == caught.value.request_id
    assert attrs.get("anthropic.error.code") == code

    (attempt,) = telemetry.attempt_spans()  # terminal: never retried
    a = attempt.attributes or {}
    assert a["error.type"] == error_type
    assert a["anthropic.error.retryable"] is False
    assert a.get("anthropic.error.code") == code
    assert "anthropic.retry.delay" not in a

    expected = {"anthropic__call__outcome": "failed", "error__type": error_type, "http__response__status_code": status}
    if code:
        expected["anthropic__error__code"] = code
    assert telemetry.counter("anthropic.client.calls", **expected) == 1
    assert (
        telemetry.counter("anthropic.client.attempts", anthropic__error__retryable=False, error__type=error_type) == 1
    )
    ((duration_attrs, _),) = telemetry.points("gen_ai.client.operation.duration")
    assert duration_attrs["error.type"] == error_type
    for attrs_, _ in telemetry.points("anthropic.client.calls"):
        assert not any("req_" in str(v) for v in attrs_.values()), "request ids never become metric attributes"


@pytest.mark.parametrize(("scenario", "status", "error_type"), EXHAUSTED, ids=[t[0] for t in EXHAUSTED])
def test_failed_after_exhausting_retries(
    make_client: Any, telemetry: Telemetry, native: bool, scenario: str, status: int, error_type: str
) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        _call(make_client(scenario))
    assert caught.value.status_code == status
    attrs = telemetry.call_span().attributes or {}
    assert attrs["anthropic.call.outcome"] == "failed"
    assert attrs["error.type"] == error_type
    assert attrs["http.request.resend_count"] == 2
    attempts = telemetry.attempt_spans()
    assert len(attempts) == 3
    assert [(a.attributes or {}).get("anthropic.retry.delay") is not None for a in attempts] == [True, True, False]
    assert telemetry.counter("anthropic.client.attempts", error__type=error_type) == 3
    assert telemetry.counter("anthropic.client.attempts", anthropic__attempt__is_retry=True) == 2
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="failed", error__type=error_type) == 1


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_connection_dropped_every_attempt(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        _call(make_client("drop", async_=async_, max_retries=1))
    attrs = telemetry.call_span().attributes or {}
    assert attrs["error.type"] == "connection_error"
    assert attrs["anthropic.call.outcome"] == "failed"
    attempts = telemetry.attempt_spans()
    assert len(attempts) == 2
    for attempt in attempts:
        a = attempt.attributes or {}
        assert a["error.type"] == "connection_error"
        assert "http.response.status_code" not in a
    assert telemetry.counter("anthropic.client.attempts", error__type="connection_error") == 2


def test_connection_refused(telemetry: Telemetry) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = anthropic.Anthropic(api_key="sk-ant-x", base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**messages())
    assert (
        telemetry.counter("anthropic.client.calls", error__type="connection_error", anthropic__call__outcome="failed")
        == 1
    )
    assert telemetry.counter("anthropic.client.attempts", error__type="connection_error") == 1


def test_drop_then_recover(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    assert _call(make_client("drop,ok")).stop_reason == "end_turn"
    assert (telemetry.call_span().attributes or {})["anthropic.call.outcome"] == "recovered"
    first, second = telemetry.attempt_spans()
    assert (first.attributes or {})["error.type"] == "connection_error"
    assert (first.attributes or {})["anthropic.retry.delay"] > 0
    assert (second.attributes or {})["http.response.status_code"] == 200


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_client_timeout(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    with pytest.raises(anthropic.APITimeoutError):
        _call(make_client("stall:delay=5", async_=async_, timeout=0.3, max_retries=0))
    attrs = telemetry.call_span().attributes or {}
    assert attrs["error.type"] == "client_timeout_error"
    assert (
        telemetry.counter(
            "anthropic.client.attempts", error__type="client_timeout_error", anthropic__error__retryable=True
        )
        == 1
    )
    assert telemetry.counter("anthropic.client.calls", error__type="client_timeout_error") == 1


@pytest.mark.parametrize("stop_reason", ["max_tokens", "refusal", "tool_use", "stop_sequence"])
def test_stop_reasons(make_client: Any, telemetry: Telemetry, native: bool, stop_reason: str) -> None:
    message = _call(make_client(stop_reason))
    assert message.stop_reason == stop_reason
    attrs = telemetry.call_span().attributes or {}
    assert attrs["anthropic.message.stop_reason"] == stop_reason
    assert attrs["anthropic.call.outcome"] == "ok"
    assert telemetry.counter("anthropic.client.calls", anthropic__message__stop_reason=stop_reason) == 1


def test_count_tokens(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("rate_limit:retry_after_ms=1,ok")
    result = client.messages.count_tokens(model=MODEL, messages=[{"role": "user", "content": "hello"}])
    assert result.input_tokens > 0
    span = telemetry.call_span()
    assert (span.attributes or {})["anthropic.call.outcome"] == "recovered"
    attempts = telemetry.attempt_spans()
    assert [a.name for a in attempts] == ["POST /v1/messages/count_tokens"] * 2
    assert (
        telemetry.counter(
            "anthropic.client.calls", gen_ai__operation__name="count_tokens", anthropic__call__outcome="recovered"
        )
        == 1
    )
    assert telemetry.points("gen_ai.client.token.usage") == [], "counting tokens consumes none"


def test_raw_response(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    raw = make_client("overloaded:retry_after_ms=1,max_tokens").messages.with_raw_response.create(**messages())
    assert raw.status_code == 200
    assert raw.headers["request-id"].startswith("req_sim_")
    assert raw.parse().stop_reason == "max_tokens"
    attrs = telemetry.call_span().attributes or {}
    assert attrs["anthropic.call.outcome"] == "recovered"
    assert attrs["anthropic.request.id"] == raw.headers["request-id"]
    assert telemetry.counter("anthropic.client.calls", anthropic__message__stop_reason="max_tokens") == 1


def test_streaming_response_of_non_streamed_call(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("refusal")
    with client.messages.with_streaming_response.create(**messages()) as response:
        assert telemetry.counter("anthropic.client.calls") == 0, "finished only when the body is read"
        assert response.parse().stop_reason == "refusal"
    assert (
        telemetry.counter(
            "anthropic.client.calls", anthropic__message__stop_reason="refusal", anthropic__call__outcome="ok"
        )
        == 1
    )
    assert len(telemetry.call_spans()) == 1


def test_ratelimit_gauges(make_client: Any, telemetry: Telemetry, native: bool, simulator: Any) -> None:
    client = make_client("ok")
    _call(client)
    _call(client)
    remaining = {a["anthropic.ratelimit.kind"]: p.value for a, p in telemetry.points("anthropic.ratelimit.remaining")}
    limits = {a["anthropic.ratelimit.kind"]: p.value for a, p in telemetry.points("anthropic.ratelimit.limit")}
    assert set(remaining) == set(limits) == {"requests", "tokens", "input_tokens", "output_tokens"}
    assert remaining["requests"] == limits["requests"] - 2, "the gauge holds the last value seen"
    attempt = telemetry.attempt_spans()[-1].attributes or {}
    assert attempt["anthropic.ratelimit.requests.remaining"] == remaining["requests"]
    assert attempt["anthropic.ratelimit.output_tokens.limit"] == limits["output_tokens"]
    for attrs, _ in telemetry.points("anthropic.ratelimit.remaining"):
        assert attrs["gen_ai.request.model"] == MODEL and attrs["gen_ai.provider.name"] == "anthropic"


def test_ratelimit_low_headroom(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    _call(make_client("ratelimit_low"))
    remaining = {a["anthropic.ratelimit.kind"]: p.value for a, p in telemetry.points("anthropic.ratelimit.remaining")}
    limits = {a["anthropic.ratelimit.kind"]: p.value for a, p in telemetry.points("anthropic.ratelimit.limit")}
    assert remaining["tokens"] / limits["tokens"] < 0.05


def test_exemplar_context_links_metrics_to_attempt_spans(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    """Measurements are made inside the attempt/call span, so exemplars carry the trace that holds request ids."""
    _call(make_client("overloaded:retry_after_ms=1,ok"))
    trace_id = telemetry.call_span().context.trace_id
    exemplars = [e for _, p in telemetry.points("anthropic.client.attempts") for e in (p.exemplars or [])]
    assert exemplars, "the SDK's default exemplar filter keeps sampled measurements"
    assert {e.trace_id for e in exemplars} == {trace_id}
