"""Amazon Bedrock and Google Vertex AI clients against the simulator, which speaks their shapes: their calls carry
`gen_ai.provider.name` `aws.bedrock` / `gcp.vertex_ai`, the platform's request id, and platform errors mapped into
the same `error.type` taxonomy (with the platform's own error name as `anthropic.error.code`).

Needs `botocore` (`anthropic[bedrock]`) for SigV4 signing and the event-stream decoder; Vertex runs with a fixed
access token, so no Google credentials are involved.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import re
from collections import Counter
from typing import Any

import anthropic
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from anthropic_otel import classify
from anthropic_otel.testing import Simulator
from support import PROMPT, SDK_VERSION, Telemetry, client_options


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict (empty when it has none)."""
    return dict(span.attributes or {})


PLATFORMS = ["bedrock", "vertex"]
MODEL = {"bedrock": "anthropic.claude-sonnet-4-5-20250929-v1:0", "vertex": "claude-sonnet-4-5@20250929"}
PROVIDER = {"bedrock": "aws.bedrock", "vertex": "gcp.vertex_ai"}
REQUEST_ID = {
    "bedrock": re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"),
    "vertex": re.compile(r"^req_vrtx_sim_[0-9a-f]+$"),
}
NATIVE_SCOPE = {"bedrock": "com.anthropic.sdk.python.bedrock", "vertex": "com.anthropic.sdk.python.vertex"}
# SDK < 1.0 names every Bedrock stream event `completion` (the event type is inside the data), and raises a plain
# ValueError from its decoder for a mid-stream exception frame; `_streams` sees neither yet (see the report).
OLD_BEDROCK_STREAMS = SDK_VERSION < (1, 0)

SYNC_ASYNC = pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
MODES = pytest.mark.parametrize("mode", ["create", "stream"])


def platform_client(
    platform: str,
    simulator: Simulator,
    telemetry: Telemetry,
    native: bool,
    scenario: str,
    async_: bool = False,
    max_retries: int = 1,
) -> Any:
    options: dict[str, Any] = {
        "base_url": simulator.base_url,
        "default_headers": {"x-sim-scenario": scenario},
        "max_retries": max_retries,
        "timeout": 10.0,
        **client_options(telemetry, native),
    }
    if platform == "bedrock":
        bedrock: Any = anthropic.AsyncAnthropicBedrock if async_ else anthropic.AnthropicBedrock
        return bedrock(aws_region="us-east-1", aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", **options)
    vertex: Any = anthropic.AsyncAnthropicVertex if async_ else anthropic.AnthropicVertex
    return vertex(region="us-east5", project_id="sim-project", access_token="ya29.sim", **options)


def params(platform: str) -> dict[str, Any]:
    return {"model": MODEL[platform], "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}]}


def call(client: Any, platform: str, mode: str, async_: bool) -> Any:
    """One messages call: `create`, or `stream` (the `messages.stream()` helper, read to the end)."""

    async def body_async() -> Any:
        async with client:
            if mode == "create":
                return await client.messages.create(**params(platform))
            async with client.messages.stream(**params(platform)) as stream:
                return await stream.get_final_message()

    if async_:
        return asyncio.run(body_async())
    with client:
        if mode == "create":
            return client.messages.create(**params(platform))
        with client.messages.stream(**params(platform)) as stream:
            return stream.get_final_message()


def the_call(telemetry: Telemetry) -> tuple[ReadableSpan, list[ReadableSpan]]:
    (span,) = [s for s in telemetry.call_spans() if "anthropic.call.outcome" in attrs_of(s)]
    attempts = telemetry.attempt_spans()
    assert all(a.parent is not None and a.parent.span_id == span.context.span_id for a in attempts)
    return span, attempts


def check_call_span(span: ReadableSpan, platform: str, native: bool, outcome: str, request_id: str | None) -> None:
    attrs = attrs_of(span)
    assert attrs["anthropic.call.outcome"] == outcome
    assert attrs["gen_ai.provider.name"] == PROVIDER[platform]
    assert attrs["gen_ai.request.model"] == MODEL[platform]
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == (NATIVE_SCOPE[platform] if native else "anthropic_otel")
    if not native:
        assert attrs["gen_ai.operation.name"] == "chat"
        assert attrs.get("anthropic.request.id") == request_id
    elif platform == "vertex":
        # The SDK's own span reads `request-id`, which Vertex passes through; on Bedrock it has none (see report).
        assert attrs.get("anthropic.request.id") == request_id


def attempt_metrics(telemetry: Telemetry) -> Counter[tuple[Any, ...]]:
    found: Counter[tuple[Any, ...]] = Counter()
    for attrs, point in telemetry.points("anthropic.client.attempts"):
        key = (attrs["gen_ai.provider.name"], attrs["gen_ai.operation.name"], attrs.get("http.response.status_code"),
               attrs.get("error.type"), attrs.get("anthropic.error.code"), attrs.get("anthropic.error.retryable"),
               attrs["anthropic.attempt.is_retry"])  # fmt: skip
        found[key] += point.value
    return found


# --- success, with the platform's request id ---------------------------------------------------------------


@SYNC_ASYNC
@MODES
@pytest.mark.parametrize("platform", PLATFORMS)
def test_ok(
    simulator: Simulator,
    telemetry: Telemetry,
    native: bool,
    platform: str,
    mode: str,
    async_: bool,
    request: pytest.FixtureRequest,
) -> None:
    message = call(platform_client(platform, simulator, telemetry, native, "ok", async_), platform, mode, async_)
    assert message.stop_reason == "end_turn"
    assert message.id.startswith("msg_bdrk_" if platform == "bedrock" else "msg_vrtx_")
    (seen,) = simulator.requests
    assert seen.platform == platform and seen.stream == (mode == "stream")

    span, (attempt,) = the_call(telemetry)
    a = attrs_of(attempt)
    assert REQUEST_ID[platform].match(a["anthropic.request.id"])
    assert a["anthropic.request.id"] == seen.request_id
    assert a["http.response.status_code"] == 200 and "error.type" not in a
    assert not any(k.startswith("anthropic.ratelimit.") for k in a), "the platforms send no anthropic-ratelimit-*"
    check_call_span(span, platform, native, "ok", seen.request_id)
    if not native:
        attrs = attrs_of(span)
        assert attrs["gen_ai.request.stream"] == (mode == "stream")
        assert attrs["gen_ai.response.id"] == message.id
        assert attrs["anthropic.message.stop_reason"] == "end_turn"
        assert attrs["gen_ai.usage.output_tokens"] == message.usage.output_tokens

    assert attempt_metrics(telemetry) == Counter({(PROVIDER[platform], "chat", 200, None, None, None, False): 1})
    calls = {(a["gen_ai.provider.name"], a["anthropic.call.outcome"], a.get("error.type")): p.value
             for a, p in telemetry.points("anthropic.client.calls")}  # fmt: skip
    assert calls == {(PROVIDER[platform], "ok", None): 1}
    usage = telemetry.points("gen_ai.client.token.usage")
    tokens = {(a["gen_ai.provider.name"], a["gen_ai.token.type"]): p.sum
              for a, p in usage if a["anthropic.token.cache"] == "none"}  # fmt: skip
    assert tokens == {(PROVIDER[platform], "input"): message.usage.input_tokens,
                      (PROVIDER[platform], "output"): message.usage.output_tokens}  # fmt: skip


# --- a fault that is retried -------------------------------------------------------------------------------

# platform -> (scenario, status, error.type, the platform's error name)
RETRIED = {
    "bedrock": ("rate_limit:retry_after_ms=1,ok", 429, "rate_limit_error", "ThrottlingException"),
    "vertex": ("overloaded:retry_after_ms=1,ok", 503, "overloaded_error", "UNAVAILABLE"),
}


@SYNC_ASYNC
@MODES
@pytest.mark.parametrize("platform", PLATFORMS)
def test_retried_fault(
    simulator: Simulator,
    telemetry: Telemetry,
    native: bool,
    platform: str,
    mode: str,
    async_: bool,
    request: pytest.FixtureRequest,
) -> None:
    scenario, status, error_type, code = RETRIED[platform]
    if platform == "vertex" and mode == "stream":
        # The SDK retries a streamed error without reading its body, and so do we (docs/reliability.md): its type
        # is from the status, and the Google status name, which only the body has, is unknown.
        code = None
    client = platform_client(platform, simulator, telemetry, native, scenario, async_)
    assert call(client, platform, mode, async_).stop_reason == "end_turn"
    failed_request, ok_request = simulator.requests
    assert (failed_request.status, ok_request.status) == (status, 200)

    span, (first, second) = the_call(telemetry)
    a = attrs_of(first)
    assert a["http.response.status_code"] == status
    assert (a["error.type"], a.get("anthropic.error.code"), a["anthropic.error.retryable"]) == (error_type, code, True)
    assert a["anthropic.retry.delay"] == pytest.approx(0.001)
    if platform == "bedrock":
        assert a["anthropic.request.id"] == failed_request.request_id  # x-amzn-requestid on errors too
    else:
        assert "anthropic.request.id" not in a  # Google's front end sends no Anthropic request id
    b = attrs_of(second)
    assert b["anthropic.request.id"] == ok_request.request_id and b["http.request.resend_count"] == 1
    check_call_span(span, platform, native, "recovered", ok_request.request_id)
    assert "error.type" not in attrs_of(span)

    provider = PROVIDER[platform]
    assert attempt_metrics(telemetry) == Counter(
        {
            (provider, "chat", status, error_type, code, True, False): 1,
            (provider, "chat", 200, None, None, None, True): 1,
        }
    )
    ((delay_attrs, delay),) = telemetry.points("anthropic.client.retry.delay")
    assert (delay_attrs["error.type"], delay_attrs["gen_ai.provider.name"], delay.count) == (error_type, provider, 1)


# --- a fault that is terminal ------------------------------------------------------------------------------

TERMINAL = {
    "bedrock": ("bad_request", 400, "invalid_request_error", "ValidationException", anthropic.BadRequestError),
    "vertex": ("permission", 403, "permission_error", "PERMISSION_DENIED", anthropic.PermissionDeniedError),
}


@SYNC_ASYNC
@MODES
@pytest.mark.parametrize("platform", PLATFORMS)
def test_terminal_fault(
    simulator: Simulator, telemetry: Telemetry, native: bool, platform: str, mode: str, async_: bool
) -> None:
    scenario, status, error_type, code, exc_class = TERMINAL[platform]
    client = platform_client(platform, simulator, telemetry, native, scenario, async_)
    with pytest.raises(exc_class) as caught:
        call(client, platform, mode, async_)
    assert caught.value.status_code == status
    (seen,) = simulator.requests

    span, (attempt,) = the_call(telemetry)
    a = attrs_of(attempt)
    attempt_type, attempt_code = error_type, code
    if platform == "vertex" and mode == "stream":
        # A streamed error's body is not in memory when its attempt is classified (the SDK reads it later, before it
        # raises; we never read it ourselves: docs/reliability.md): the attempt has the status only, the call the body.
        attempt_type, attempt_code = str(status), None
    assert (a["http.response.status_code"], a["error.type"], a.get("anthropic.error.code")) == (
        status,
        attempt_type,
        attempt_code,
    )
    assert a["anthropic.error.retryable"] is False and "anthropic.retry.delay" not in a
    request_id = seen.request_id if platform == "bedrock" else None
    assert a.get("anthropic.request.id") == request_id
    check_call_span(span, platform, native, "failed", request_id)
    attrs = attrs_of(span)
    assert span.status.status_code.name == "ERROR"
    # The SDK's own span knows only the body's `error.type`, which these shapes lack: it says the status.
    assert attrs["error.type"] == (str(status) if native else error_type)
    # The SDK ends its own span before our hook sees the exception: only what the attempt knew reaches it.
    assert attrs.get("anthropic.error.code") == (attempt_code if native else code)

    provider = PROVIDER[platform]
    assert attempt_metrics(telemetry) == Counter(
        {(provider, "chat", status, attempt_type, attempt_code, False, False): 1}
    )
    calls = {(a["gen_ai.provider.name"], a["anthropic.call.outcome"], a.get("error.type"),
              a.get("anthropic.error.code"), a.get("http.response.status_code")): p.value
             for a, p in telemetry.points("anthropic.client.calls")}  # fmt: skip
    assert calls == {(provider, "failed", error_type, code, status): 1}
    info = classify(caught.value)
    assert (info.error_type, info.error_code, info.status, info.retryable) == (error_type, code, status, False)


def test_vertex_passes_anthropic_errors_through(simulator: Simulator, telemetry: Telemetry, native: bool) -> None:
    """An error from Anthropic's side (a 529 overload) reaches a Vertex client in Anthropic's own shape."""
    scenario = "overloaded:gcp=anthropic:retry_after_ms=1,ok"
    client = platform_client("vertex", simulator, telemetry, native, scenario)
    assert call(client, "vertex", "create", False).stop_reason == "end_turn"
    failed, ok = simulator.requests
    _, (first, _second) = the_call(telemetry)
    a = attrs_of(first)
    assert (a["http.response.status_code"], a["error.type"], a["anthropic.request.id"]) == (
        529,
        "overloaded_error",
        failed.request_id,
    )
    assert "anthropic.error.code" not in a
    assert REQUEST_ID["vertex"].match(ok.request_id)


# --- an error in the middle of a stream -------------------------------------------------------------------


@SYNC_ASYNC
@pytest.mark.parametrize("platform", PLATFORMS)
def test_mid_stream_error(
    simulator: Simulator,
    telemetry: Telemetry,
    native: bool,
    platform: str,
    async_: bool,
    request: pytest.FixtureRequest,
) -> None:
    """Bedrock sends an exception frame in its event stream, Vertex an SSE `error` event; both after HTTP 200.
    SDK < 1.0 has no Bedrock `error` event: its decoder raises a ValueError, which fails the call all the same."""
    old = OLD_BEDROCK_STREAMS and platform == "bedrock"
    client = platform_client(platform, simulator, telemetry, native, "stream_error:after=2", async_)
    with pytest.raises(ValueError if old else anthropic.APIStatusError) as caught:
        call(client, platform, "stream", async_)
    assert getattr(caught.value, "status_code", 200) == 200
    span, (attempt,) = the_call(telemetry)
    assert attrs_of(attempt)["http.response.status_code"] == 200
    attrs = attrs_of(span)
    if old:
        error_type, code = "builtins.ValueError", None
    else:
        error_type, code = "overloaded_error", ("ServiceUnavailableException" if platform == "bedrock" else None)
    assert attrs["anthropic.call.outcome"] == "failed" and attrs.get("anthropic.error.code") == code
    assert attrs["anthropic.stream.partial"] is True
    if native and platform == "bedrock":
        assert attrs["error.type"] == "serviceUnavailableException"  # the SDK passes the frame's name through
    else:
        assert attrs["error.type"] == error_type
    calls = {(a["gen_ai.provider.name"], a["anthropic.call.outcome"], a.get("error.type")): p.value
             for a, p in telemetry.points("anthropic.client.calls")}  # fmt: skip
    assert calls == {(PROVIDER[platform], "failed", error_type): 1}


# --- token counting ----------------------------------------------------------------------------------------


@SYNC_ASYNC
def test_vertex_count_tokens(simulator: Simulator, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = platform_client("vertex", simulator, telemetry, native, "rate_limit:retry_after_ms=1,ok", async_)
    messages = [{"role": "user", "content": "x" * 40}]

    async def body_async() -> Any:
        async with client:
            return await client.messages.count_tokens(model=MODEL["vertex"], messages=messages)

    if async_:
        count = asyncio.run(body_async())
    else:
        with client:
            count = client.messages.count_tokens(model=MODEL["vertex"], messages=messages)
    assert count.input_tokens == 10
    assert [(r.endpoint, r.status) for r in simulator.requests] == [("count_tokens", 429), ("count_tokens", 200)]
    assert simulator.requests[0].path.endswith("/publishers/anthropic/models/count-tokens:rawPredict")

    span, attempts = the_call(telemetry)
    assert [attrs_of(a)["http.response.status_code"] for a in attempts] == [429, 200]
    attrs = attrs_of(span)
    assert attrs["anthropic.call.outcome"] == "recovered" and attrs["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert attempt_metrics(telemetry) == Counter({
        ("gcp.vertex_ai", "count_tokens", 429, "rate_limit_error", "RESOURCE_EXHAUSTED", True, False): 1,
        ("gcp.vertex_ai", "count_tokens", 200, None, None, None, True): 1,
    })  # fmt: skip


def test_bedrock_count_tokens_fails_before_any_request(
    simulator: Simulator, telemetry: Telemetry, native: bool
) -> None:
    """The SDK refuses token counting on Bedrock itself: a failed call, no HTTP, nothing sent."""
    client = platform_client("bedrock", simulator, telemetry, native, "ok")
    with client, pytest.raises(anthropic.AnthropicError, match="not supported in Bedrock"):
        client.messages.count_tokens(model=MODEL["bedrock"], messages=[{"role": "user", "content": "x"}])
    assert simulator.requests == []
    error_type = f"{anthropic.AnthropicError.__module__}.{anthropic.AnthropicError.__qualname__}"
    calls = {(a["gen_ai.provider.name"], a["gen_ai.operation.name"], a["anthropic.call.outcome"], a["error.type"]):
             p.value for a, p in telemetry.points("anthropic.client.calls")}  # fmt: skip
    assert calls == {("aws.bedrock", "count_tokens", "failed", error_type): 1}
    assert "http.response.status_code" not in dict(telemetry.points("anthropic.client.calls")[0][0])


# --- every fault, in each platform's shape -----------------------------------------------------------------

# scenario -> (status, error.type, the platform's error name); all sent with max_retries=0
BEDROCK_FAULTS = {
    "rate_limit": (429, "rate_limit_error", "ThrottlingException"),
    "overloaded": (503, "overloaded_error", "ServiceUnavailableException"),
    "server_error": (500, "api_error", "InternalServerException"),
    "timeout_error": (408, "timeout_error", "ModelTimeoutException"),
    "billing": (403, "permission_error", "AccessDeniedException"),
    "permission": (403, "permission_error", "AccessDeniedException"),
    "auth": (403, "authentication_error", "UnrecognizedClientException"),
    "not_found": (404, "not_found_error", "ResourceNotFoundException"),
    "bad_request": (400, "invalid_request_error", "ValidationException"),
    "rate_limit:aws=ModelNotReadyException": (429, "overloaded_error", "ModelNotReadyException"),
    "rate_limit:aws=ServiceQuotaExceededException": (400, "rate_limit_error", "ServiceQuotaExceededException"),
    "rate_limit:aws=ServiceQuotaExceededException:status=429": (429, "rate_limit_error",
                                                                "ServiceQuotaExceededException"),
    "server_error:aws=ModelErrorException": (424, "api_error", "ModelErrorException"),
    "too_large": (413, "413", None),
}  # fmt: skip
VERTEX_FAULTS = {
    "rate_limit": (429, "rate_limit_error", "RESOURCE_EXHAUSTED"),
    "overloaded": (503, "overloaded_error", "UNAVAILABLE"),
    "server_error": (500, "api_error", "INTERNAL"),
    "timeout_error": (504, "timeout_error", "DEADLINE_EXCEEDED"),
    "billing": (403, "permission_error", "PERMISSION_DENIED"),
    "permission": (403, "permission_error", "PERMISSION_DENIED"),
    "auth": (401, "authentication_error", "UNAUTHENTICATED"),
    "not_found": (404, "not_found_error", "NOT_FOUND"),
    "bad_request": (400, "invalid_request_error", "INVALID_ARGUMENT"),
    "bad_request:gcp=FAILED_PRECONDITION": (400, "invalid_request_error", "FAILED_PRECONDITION"),
    "billing:gcp=anthropic": (402, "billing_error", None),
    "overloaded:gcp=anthropic": (529, "overloaded_error", None),
    "bad_gateway": (502, "502", None),
}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_every_fault_in_the_platform_shape(simulator: Simulator, telemetry: Telemetry, platform: str) -> None:
    faults = BEDROCK_FAULTS if platform == "bedrock" else VERTEX_FAULTS
    client = platform_client(platform, simulator, telemetry, False, "ok", max_retries=0)
    got: dict[str, tuple[Any, ...]] = {}
    with client:
        for scenario in faults:
            with pytest.raises(anthropic.APIStatusError) as caught:
                client.messages.create(**params(platform), extra_headers={"x-sim-scenario": scenario})
            info = classify(caught.value)
            assert info.retryable == (info.status in (408, 429) or (info.status or 0) >= 500), scenario
            got[scenario] = (info.status, info.error_type, info.error_code)
    assert got == faults
    attempts = telemetry.attempt_spans()
    assert [attrs_of(a).get("anthropic.error.code") for a in attempts] == [f[2] for f in faults.values()]
    assert [attrs_of(a)["error.type"] for a in attempts] == [f[1] for f in faults.values()]
    for (scenario, (status, _, _)), attempt in zip(faults.items(), attempts, strict=True):
        a = attrs_of(attempt)
        assert a["anthropic.error.retryable"] == (status in (408, 429) or status >= 500), scenario
        has_id = platform == "bedrock" or "gcp=anthropic" in scenario
        assert ("anthropic.request.id" in a) == has_id, scenario


@pytest.mark.parametrize("platform", PLATFORMS)
def test_one_call_span_with_native_tracing(
    simulator: Simulator, telemetry: Telemetry, native: bool, platform: str, request: pytest.FixtureRequest
) -> None:
    """With the SDK's tracing on, a Bedrock or Vertex call has one call span: the SDK's, which we enrich."""
    call(platform_client(platform, simulator, telemetry, native, "ok"), platform, "create", False)
    calls = [s.instrumentation_scope.name for s in telemetry.call_spans() if s.instrumentation_scope is not None]
    assert calls == [NATIVE_SCOPE[platform] if native else "anthropic_otel"]


# --- the simulator's platform shapes, below the SDK --------------------------------------------------------


def _post(simulator: Simulator, path: str, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", simulator.port, timeout=5)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(), headers={"content-type": "application/json",
                                                                            **headers})  # fmt: skip
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_bedrock_wire_format(simulator: Simulator) -> None:
    from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]}
    path = f"/model/{MODEL['bedrock']}/invoke-with-response-stream"
    status, headers, raw = _post(simulator, path, body)
    assert status == 200 and headers["content-type"] == "application/vnd.amazon.eventstream"
    assert REQUEST_ID["bedrock"].match(headers["x-amzn-requestid"]) and "request-id" not in headers
    buffer = EventStreamBuffer()
    buffer.add_data(raw)  # checks both CRCs of every message
    events = [json.loads(base64.b64decode(json.loads(m.payload)["bytes"])) for m in buffer]
    assert [e["type"] for e in events][:2] == ["message_start", "content_block_start"]
    assert events[-1]["type"] == "message_stop" and events[-1]["amazon-bedrock-invocationMetrics"]["inputTokenCount"]

    status, headers, raw = _post(simulator, f"/model/{MODEL['bedrock']}/invoke", {**body, "model": "x"})
    assert (status, json.loads(raw)) == (400, {"message": "extraneous key [model] is not permitted"})
    assert headers["x-amzn-errortype"].startswith("ValidationException:")
    status, headers, raw = _post(simulator, f"/model/{MODEL['bedrock']}/invoke", {"max_tokens": 1, "messages": []})
    assert status == 400 and json.loads(raw)["message"] == "anthropic_version: Field required"
    status, headers, _ = _post(simulator, "/model/x/converse", body)
    assert status == 404 and headers["x-amzn-errortype"].startswith("ResourceNotFoundException:")
    status, headers, _ = _post(simulator, f"/model/{MODEL['bedrock']}/invoke", body)
    assert status == 200 and headers["x-amzn-bedrock-input-token-count"] == "1"
    first = simulator.requests[0]
    assert (first.platform, first.endpoint, first.stream) == ("bedrock", "messages", True)


def test_vertex_wire_format(simulator: Simulator) -> None:
    body = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]}
    base = "/v1/projects/p/locations/us-east5/publishers/anthropic/models"
    status, headers, raw = _post(simulator, f"{base}/{MODEL['vertex']}:streamRawPredict", {**body, "stream": True})
    assert status == 200 and headers["content-type"] == "text/event-stream"
    assert raw.startswith(b"event: message_start") and REQUEST_ID["vertex"].match(headers["request-id"])
    status, headers, raw = _post(
        simulator, f"{base}/{MODEL['vertex']}:rawPredict", body, **{"x-sim-scenario": "rate_limit"}
    )
    assert (status, json.loads(raw)["error"]["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert "request-id" not in headers and "retry-after" not in headers, "Google sends neither"
    # The SDK with a base URL that ends in /v1, as Vertex's own does.
    client = anthropic.AnthropicVertex(region="us-east5", project_id="p", access_token="t",
                                       base_url=f"{simulator.base_url}/v1", max_retries=0)  # fmt: skip
    with client:
        assert client.messages.create(**params("vertex")).id.startswith("msg_vrtx_")
    assert simulator.requests[-1].path.startswith("/v1/projects/p/locations/us-east5/")


def test_platform_scenario_parameters_are_checked() -> None:
    from anthropic_otel.testing import Scenario, ScenarioError

    assert str(Scenario("rate_limit:aws=ModelNotReadyException,overloaded:gcp=anthropic")) == (
        "rate_limit:aws=ModelNotReadyException,overloaded:gcp=anthropic"
    )
    for bad in ("rate_limit:aws=NopeException", "overloaded:gcp=NOPE", "ok:aws=ThrottlingException",
                "rate_limit:status=200"):  # fmt: skip
        with pytest.raises(ScenarioError):
            Scenario(bad)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_classify_reads_the_platform_request_id(
    simulator: Simulator, telemetry: Telemetry, platform: str, request: pytest.FixtureRequest
) -> None:
    scenario = "bad_request" if platform == "bedrock" else "bad_request:gcp=anthropic"
    client = platform_client(platform, simulator, telemetry, False, scenario)
    with pytest.raises(anthropic.BadRequestError) as caught:
        call(client, platform, "create", False)
    (seen,) = simulator.requests
    assert classify(caught.value).request_id == seen.request_id
