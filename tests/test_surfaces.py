"""Every SDK surface beyond `messages.create` flows through the same hooks: one call span (ours, or the SDK's
native one), one attempt span per HTTP attempt under it, and metrics with a stable `gen_ai.operation.name`.

Real SDK over loopback against the simulator. Surfaces that only some SDK versions have are feature-checked
(`hasattr`); on anthropic 2.12 every one of them exists, so no test here is skipped there.
"""

from __future__ import annotations

import asyncio
import http.client
import inspect
import json
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anthropic
import pydantic
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from anthropic_otel.testing import Simulator
from support import MODEL, PROMPT, SDK_VERSION, Telemetry, client_options, messages


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    """A span's attributes as a plain dict (empty when it has none)."""
    return dict(span.attributes or {})


SYNC_ASYNC = pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
NATIVE_SCOPE = "com.anthropic.sdk.python"
KNOWN_MODEL = "claude-sonnet-4-20250514"
FAST_429 = "rate_limit:retry_after_ms=1"
# Where the SDK's native span name (`anthropic.files.retrieve_metadata`) differs from our operation name.
NATIVE_VERBS = {"files.retrieve": "retrieve_metadata"}


def test_newest_sdk_has_every_surface() -> None:
    """The feature checks below must not hide a surface on the newest SDK: there, all of them exist."""
    client = anthropic.Anthropic(api_key="sk-ant-test")
    present = {
        "messages.parse": hasattr(client.messages, "parse"),
        "messages.batches.delete": hasattr(client.messages.batches, "delete"),
        "beta.files": hasattr(client.beta, "files"),
        "beta.messages.tool_runner": hasattr(client.beta.messages, "tool_runner"),
        "beta_tool": hasattr(anthropic, "beta_tool") and hasattr(anthropic, "beta_async_tool"),
        "with_middleware": hasattr(client, "with_middleware"),
        "Middleware": hasattr(anthropic, "Middleware"),
        "files": hasattr(client, "files"),
    }
    if SDK_VERSION >= (2, 0):
        assert all(present.values()), present
    else:
        assert all(v for k, v in present.items() if k != "files"), present
    client.close()


# --- what was exported -------------------------------------------------------------------------------------


@dataclass
class SeenCall:
    span: ReadableSpan
    attempts: list[ReadableSpan]

    @property
    def attrs(self) -> dict[str, Any]:
        return attrs_of(self.span)

    @property
    def statuses(self) -> list[int | None]:
        return [attrs_of(a).get("http.response.status_code") for a in self.attempts]


def seen_calls(telemetry: Telemetry) -> list[SeenCall]:
    """Call spans in start order, each with its attempt spans (which must all have a call span as parent)."""
    # Call spans carry our `anthropic.call.outcome` (also the SDK's native ones); the SDK's other spans (a tool
    # runner's, a tool's) do not.
    calls = sorted(
        (s for s in telemetry.call_spans() if "anthropic.call.outcome" in attrs_of(s)),
        key=lambda s: s.start_time or 0,
    )
    by_id = {c.context.span_id: SeenCall(c, []) for c in calls}
    for attempt in telemetry.attempt_spans():
        assert attempt.parent is not None and attempt.parent.span_id in by_id, f"orphan attempt {attempt.name}"
        by_id[attempt.parent.span_id].attempts.append(attempt)
    return list(by_id.values())


def _outcome(statuses: Sequence[int | None]) -> str:
    failed = [s is None or s >= 400 for s in statuses]
    if failed[-1]:
        return "failed"
    return "recovered" if any(failed) else "ok"


def expect(
    telemetry: Telemetry,
    native: bool,
    calls: Sequence[tuple[str, Sequence[int | None]]],
    *,
    model: str | None = None,
    outcomes: Sequence[str] | None = None,
    final: int = -1,
) -> list[SeenCall]:
    """The exported telemetry is exactly `calls`: (operation, status of each attempt) in order.

    Checks call and attempt spans (parentage, status, request ids, outcome; on our own call span also
    `gen_ai.operation.name` and the model) and the `anthropic.client.calls`, `anthropic.client.attempts` and
    `gen_ai.client.operation.duration` points, whose attributes carry the operation in every mode. `final`: the
    attempt whose response the call returned (the last one, unless a middleware chose another).
    """
    seen = seen_calls(telemetry)
    assert [c.statuses for c in seen] == [list(statuses) for _, statuses in calls], [c.span.name for c in seen]
    if not native:
        assert [c.attrs["gen_ai.operation.name"] for c in seen] == [op for op, _ in calls]
    outcomes = outcomes or [_outcome(st) for _, st in calls]
    for call, (op, statuses), outcome in zip(seen, calls, outcomes, strict=True):
        attrs = call.attrs
        assert attrs["anthropic.call.outcome"] == outcome, (op, attrs)
        scope = call.span.instrumentation_scope
        assert scope is not None
        if native:
            assert scope.name == NATIVE_SCOPE
            assert call.span.name.startswith("anthropic.")
            if op != "chat":
                verb = op.rpartition(".")[2]
                assert call.span.name.endswith(NATIVE_VERBS.get(op, verb)), (call.span.name, op)
        else:
            assert scope.name == "anthropic_otel"
            assert attrs["gen_ai.operation.name"] == op
            assert attrs["gen_ai.provider.name"] == "anthropic"
            assert call.span.name == (f"{op} {model}" if model and op in ("chat", "count_tokens") else op)
            if statuses[final] is not None:
                assert attrs["http.response.status_code"] == statuses[final]
            if len(statuses) > 1:
                assert attrs["http.request.resend_count"] == len(statuses) - 1
        if model is not None and op in ("chat", "count_tokens"):
            assert attrs["gen_ai.request.model"] == model
        ids = [attrs_of(a).get("anthropic.request.id") for a in call.attempts]
        assert all(isinstance(i, str) and i.startswith("req_sim_") for i in ids), ids
        assert len(set(ids)) == len(ids)
        if statuses[final] is not None:
            assert attrs["anthropic.request.id"] == ids[final]
        for attempt in call.attempts:
            a = attrs_of(attempt)
            assert attempt.name == f"{a['http.request.method']} {a['url.path']}"
            assert "?" not in a["url.path"]
            status = a["http.response.status_code"]
            assert ("error.type" in a) == (status >= 400)

    want_calls = Counter((op, o) for (op, _), o in zip(calls, outcomes, strict=True))
    got_calls: Counter[tuple[str, str]] = Counter()
    for attrs, point in telemetry.points("anthropic.client.calls"):
        got_calls[(attrs["gen_ai.operation.name"], attrs["anthropic.call.outcome"])] += point.value
        assert attrs["gen_ai.provider.name"] == "anthropic"
    assert got_calls == want_calls
    want_attempts = Counter((op, s) for op, statuses in calls for s in statuses)
    got_attempts: Counter[tuple[str, int | None]] = Counter()
    for attrs, point in telemetry.points("anthropic.client.attempts"):
        got_attempts[(attrs["gen_ai.operation.name"], attrs.get("http.response.status_code"))] += point.value
    assert got_attempts == want_attempts
    durations: Counter[str] = Counter()
    for attrs, point in telemetry.points("gen_ai.client.operation.duration"):
        durations[attrs["gen_ai.operation.name"]] += point.count
    assert durations == Counter(op for op, _ in calls)
    return seen


def run(async_: bool, body: Callable[[Any], Any], client: Any) -> Any:
    """Run `body(client)`: directly, or (for an async client) as a coroutine in a fresh event loop."""
    if async_:

        async def main() -> Any:
            async with client:
                return await body(client)

        return asyncio.run(main())
    with client:
        return body(client)


def user(text: str = PROMPT) -> list[Any]:
    return [{"role": "user", "content": text}]


# --- messages: count_tokens, parse -------------------------------------------------------------------------


@SYNC_ASYNC
def test_count_tokens_recovered_after_a_429(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client(f"{FAST_429},ok", async_=async_)
    count = run(async_, lambda c: c.messages.count_tokens(model=MODEL, messages=user("x" * 40)), client)
    assert count.input_tokens == 10
    (call,) = expect(telemetry, native, [("count_tokens", [429, 200])], model=MODEL)
    first = attrs_of(call.attempts[0])
    assert first["error.type"] == "rate_limit_error" and first["anthropic.error.retryable"] is True
    assert first["anthropic.retry.delay"] == pytest.approx(0.001)
    assert telemetry.points("gen_ai.client.token.usage") == [], "count_tokens uses no tokens"


class Weather(pydantic.BaseModel):
    city: str
    degrees: int
    tags: list[str]


@SYNC_ASYNC
def test_messages_parse(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client("ok", async_=async_)
    assert hasattr(client.messages, "parse")
    parsed = run(async_, lambda c: c.messages.parse(**messages(), output_format=Weather), client)
    assert parsed.parsed_output == Weather(city="", degrees=0, tags=[])
    (call,) = expect(telemetry, native, [("chat", [200])], model=MODEL)
    assert call.attrs["anthropic.message.stop_reason"] == "end_turn"
    tokens = {a["gen_ai.token.type"]: p.sum for a, p in telemetry.points("gen_ai.client.token.usage")
              if a["anthropic.token.cache"] == "none"}  # fmt: skip
    assert tokens == {"input": parsed.usage.input_tokens, "output": parsed.usage.output_tokens}


# --- message batches ---------------------------------------------------------------------------------------

BATCH_OPS = ["batches.create", "batches.create", "batches.retrieve", "batches.list", "batches.list",
             "batches.retrieve", "batches.results", "batches.delete"]  # fmt: skip


def _requests(n: int) -> list[Any]:
    return [{"custom_id": f"req-{i}", "params": messages()} for i in range(n)]


def _batches_sync(client: anthropic.Anthropic) -> list[str]:
    batches = client.messages.batches
    older = batches.create(requests=_requests(1))
    created = batches.create(requests=_requests(2))
    assert created.processing_status == "in_progress"
    assert batches.retrieve(created.id).processing_status == "ended"
    listed = [b.id for b in batches.list(limit=1)]  # two pages: has_more, then after_id
    assert listed == [created.id, older.id]
    results = [r.custom_id for r in batches.results(created.id)]  # retrieve, then GET results_url
    assert batches.delete(created.id).type == "message_batch_deleted"
    return results


async def _batches_async(client: anthropic.AsyncAnthropic) -> list[str]:
    batches = client.messages.batches
    older = await batches.create(requests=_requests(1))
    created = await batches.create(requests=_requests(2))
    assert created.processing_status == "in_progress"
    assert (await batches.retrieve(created.id)).processing_status == "ended"
    listed = [b.id async for b in batches.list(limit=1)]
    assert listed == [created.id, older.id]
    results = [r.custom_id async for r in await batches.results(created.id)]
    assert (await batches.delete(created.id)).type == "message_batch_deleted"
    return results


@SYNC_ASYNC
def test_batches_lifecycle(
    make_client: Any, simulator: Simulator, telemetry: Telemetry, native: bool, async_: bool
) -> None:
    client = make_client("ok", async_=async_)
    results = run(async_, _batches_async if async_ else _batches_sync, client)
    assert results == ["req-0", "req-1"]
    assert [r.endpoint for r in simulator.requests] == BATCH_OPS
    expect(telemetry, native, [(op, [200]) for op in BATCH_OPS])


def test_batches_cancel_and_errors(make_client: Any, simulator: Simulator, telemetry: Telemetry, native: bool) -> None:
    simulator.batch_seconds = 60
    client = make_client("ok")
    batch = client.messages.batches.create(requests=_requests(3))
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
    ended = client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 3
    assert [r.result.type for r in client.messages.batches.results(batch.id)] == ["canceled"] * 3
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve("msgbatch_nope")
    with pytest.raises(anthropic.RateLimitError):
        client.messages.batches.list(extra_headers={"x-sim-scenario": FAST_429}, limit=5)
    calls = [
        ("batches.create", [200]),
        ("batches.cancel", [200]),
        ("batches.retrieve", [200]),
        ("batches.retrieve", [200]),
        ("batches.results", [200]),
        ("batches.retrieve", [404]),
        ("batches.list", [429, 429, 429]),
    ]
    seen = expect(telemetry, native, calls)
    assert (seen[5].attrs.get("error.type"), seen[6].attrs.get("error.type")) == ("not_found_error", "rate_limit_error")
    assert telemetry.counter("anthropic.client.calls", gen_ai__operation__name="batches.list",
                             error__type="rate_limit_error", anthropic__call__outcome="failed") == 1  # fmt: skip


# --- models ------------------------------------------------------------------------------------------------


@SYNC_ASYNC
def test_models_auto_pagination_is_one_call_per_page(
    make_client: Any, telemetry: Telemetry, native: bool, async_: bool
) -> None:
    client = make_client("ok", async_=async_)

    async def body_async(c: anthropic.AsyncAnthropic) -> list[str]:
        ids = [m.id async for m in c.models.list(limit=2)]
        return [*ids, (await c.models.retrieve(KNOWN_MODEL)).id]

    def body_sync(c: anthropic.Anthropic) -> list[str]:
        return [*(m.id for m in c.models.list(limit=2)), c.models.retrieve(KNOWN_MODEL).id]

    ids = run(async_, body_async if async_ else body_sync, client)
    assert len(ids) == 6 and ids[-1] == KNOWN_MODEL and ids[-2] == KNOWN_MODEL
    expect(telemetry, native, [("models.list", [200])] * 3 + [("models.retrieve", [200])])
    assert all("gen_ai.request.model" not in a for a, _ in telemetry.points("anthropic.client.calls"))


def test_models_faults(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client(f"{FAST_429},ok")
    page = client.models.list(limit=3)
    assert page.has_more is True and page.last_id is not None
    back = client.models.list(limit=3, before_id=page.last_id)
    assert [m.id for m in back.data] == [m.id for m in page.data[:2]] and back.has_more is False
    with pytest.raises(anthropic.NotFoundError):
        client.models.retrieve("claude-nope")
    # The scenario applies to every call: the unknown model is rate limited first, then not found.
    seen = expect(
        telemetry, native, [("models.list", [429, 200]), ("models.list", [429, 200]), ("models.retrieve", [429, 404])]
    )
    last = attrs_of(seen[-1].attempts[-1])
    assert (last["error.type"], last["anthropic.error.retryable"]) == ("not_found_error", False)


# --- beta messages: create, stream, count_tokens, parse, the tool runner ----------------------------------


@SYNC_ASYNC
def test_beta_messages(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client("ok", async_=async_)
    betas = ["files-api-2025-04-14"]

    async def body_async(c: anthropic.AsyncAnthropic) -> Any:
        created = await c.beta.messages.create(**messages(), betas=betas)
        async with c.beta.messages.stream(**messages()) as stream:
            text = await stream.get_final_text()
        raw = await c.beta.messages.create(**messages(stream=True))
        events = [e.type async for e in raw]
        counted = await c.beta.messages.count_tokens(model=MODEL, messages=user("y" * 8), betas=betas)
        return created, text, events, counted

    def body_sync(c: anthropic.Anthropic) -> Any:
        created = c.beta.messages.create(**messages(), betas=betas)
        with c.beta.messages.stream(**messages()) as stream:
            text = stream.get_final_text()
        events = [e.type for e in c.beta.messages.create(**messages(stream=True))]
        counted = c.beta.messages.count_tokens(model=MODEL, messages=user("y" * 8), betas=betas)
        return created, text, events, counted

    created, text, events, counted = run(async_, body_async if async_ else body_sync, client)
    assert created.stop_reason == "end_turn" and text and events[-1] == "message_stop" and counted.input_tokens == 2
    seen = expect(telemetry, native, [("chat", [200])] * 3 + [("count_tokens", [200])], model=MODEL)
    assert [attrs_of(c.attempts[0])["url.path"] for c in seen] == ["/v1/messages"] * 3 + ["/v1/messages/count_tokens"]
    streamed = [c.attrs.get("gen_ai.request.stream") for c in seen]
    if not native:
        assert streamed == [False, True, True, False]
        assert all(c.attrs["gen_ai.response.time_to_first_chunk"] > 0 for c in seen[1:3])
    ttfc = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert sum(p.count for _, p in ttfc) == 2


def test_beta_messages_parse(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("ok")
    assert hasattr(client.beta.messages, "parse")
    with warnings.catch_warnings():  # SDK 0.108 deprecates the beta `output_format` for `output_config`
        warnings.simplefilter("ignore", DeprecationWarning)
        parsed = client.beta.messages.parse(**messages(), output_format=Weather)
    assert parsed.parsed_output == Weather(city="", degrees=0, tags=[])
    expect(telemetry, native, [("chat", [200])], model=MODEL)


@SYNC_ASYNC
def test_tool_runner_turns_are_calls(simulator: Simulator, telemetry: Telemetry, native: bool, async_: bool) -> None:
    """Each turn of `beta.messages.tool_runner` is one call: tool_use, then the answer after the tool ran."""
    ran: list[str] = []
    options = {"api_key": "sk-ant-test", "base_url": simulator.base_url, **client_options(telemetry, native)}
    simulator.set_scenario("tool_use")

    if async_:

        @anthropic.beta_async_tool
        async def get_weather() -> str:
            """Today's weather."""
            ran.append("tool")
            return "sunny"

        async def body(c: anthropic.AsyncAnthropic) -> list[str | None]:
            runner = c.beta.messages.tool_runner(**messages(), tools=[cast(Any, get_weather)])
            reasons = []
            async for message in runner:
                reasons.append(message.stop_reason)
                simulator.set_scenario("ok")
            return reasons

        reasons = run(True, body, anthropic.AsyncAnthropic(**options))
    else:

        @anthropic.beta_tool
        def get_weather() -> str:
            """Today's weather."""
            ran.append("tool")
            return "sunny"

        with anthropic.Anthropic(**options) as client:
            reasons = []
            for message in client.beta.messages.tool_runner(**messages(), tools=[cast(Any, get_weather)]):
                reasons.append(message.stop_reason)
                simulator.set_scenario("ok")

    assert reasons == ["tool_use", "end_turn"] and ran == ["tool"]
    assert [r.fault for r in simulator.requests] == ["tool_use", "ok"]
    seen = expect(telemetry, native, [("chat", [200]), ("chat", [200])], model=MODEL)
    assert [c.attrs["anthropic.message.stop_reason"] for c in seen] == ["tool_use", "end_turn"]
    stop_reasons = Counter(
        a.get("anthropic.message.stop_reason") for a, _ in telemetry.points("anthropic.client.calls")
    )
    assert stop_reasons == Counter({"tool_use": 1, "end_turn": 1})


# --- files (beta, and GA where the SDK has it) -------------------------------------------------------------

FILE_OPS = [("files.upload", [200]), ("files.list", [200]), ("files.retrieve", [200]), ("files.download", [200]),
            ("files.delete", [200]), ("files.retrieve", [404])]  # fmt: skip


def _files_sync(files: Any) -> bytes:
    uploaded = files.upload(file=("notes.txt", b"hello files", "text/plain"))
    assert [f.id for f in files.list()] == [uploaded.id]
    assert files.retrieve_metadata(uploaded.id).size_bytes == 11
    content = files.download(uploaded.id).read()
    assert files.delete(uploaded.id).id == uploaded.id
    with pytest.raises(anthropic.NotFoundError):
        files.retrieve_metadata(uploaded.id)
    return bytes(content)


async def _files_async(files: Any) -> bytes:
    uploaded = await files.upload(file=("notes.txt", b"hello files", "text/plain"))
    assert [f.id async for f in files.list()] == [uploaded.id]
    assert (await files.retrieve_metadata(uploaded.id)).size_bytes == 11
    content = await (await files.download(uploaded.id)).read()
    assert (await files.delete(uploaded.id)).id == uploaded.id
    with pytest.raises(anthropic.NotFoundError):
        await files.retrieve_metadata(uploaded.id)
    return bytes(content)


@SYNC_ASYNC
@pytest.mark.parametrize("where", ["beta", "ga"])
def test_files(make_client: Any, telemetry: Telemetry, native: bool, async_: bool, where: str) -> None:
    client = make_client("ok", async_=async_)
    if where == "ga" and not hasattr(client, "files"):
        assert SDK_VERSION < (1, 0), "client.files exists from 1.x on"
        client.beta.files  # noqa: B018 - the beta surface is what this SDK has
        return
    files_of: Callable[[Any], Any] = (lambda c: c.beta.files) if where == "beta" else (lambda c: c.files)
    content = run(async_, lambda c: (_files_async if async_ else _files_sync)(files_of(c)), client)
    assert content == b"hello files"
    seen = expect(telemetry, native, FILE_OPS)
    assert seen[-1].attrs["error.type"] == "not_found_error"


# --- raw and streaming responses --------------------------------------------------------------------------


def test_raw_and_streaming_responses(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("ok")
    raw = client.messages.with_raw_response.create(**messages())
    assert raw.parse().stop_reason == "end_turn"
    models = client.models.with_raw_response.list(limit=2)
    assert len(models.parse().data) == 2
    with client.messages.with_streaming_response.create(**messages()) as response:
        assert response.parse().stop_reason == "end_turn"
    with client.messages.with_streaming_response.create(**messages(stream=True)) as response:
        events = [event.type for event in response.parse()]
    assert events[-1] == "message_stop"
    batch = client.messages.batches.with_raw_response.create(requests=_requests(1)).parse()
    with client.messages.batches.with_streaming_response.retrieve(batch.id) as response:
        assert response.parse().id == batch.id
    uploaded = client.beta.files.with_raw_response.upload(file=("a.bin", b"\x00\x01", "application/octet-stream"))
    with client.beta.files.with_streaming_response.download(uploaded.parse().id) as response:
        assert b"".join(response.iter_bytes()) == b"\x00\x01"
    count = client.messages.with_raw_response.count_tokens(model=MODEL, messages=user("z" * 12))
    assert count.parse().input_tokens == 3

    calls = [("chat", [200]), ("models.list", [200]), ("chat", [200]), ("chat", [200]), ("batches.create", [200]),
             ("batches.retrieve", [200]), ("files.upload", [200]), ("files.download", [200]),
             ("count_tokens", [200])]  # fmt: skip
    seen = expect(telemetry, native, calls, model=MODEL)
    if not native:
        # Usage of raw and streaming responses is read from the body as the application reads it.
        assert [c.attrs.get("gen_ai.usage.output_tokens") is not None for c in seen[:4]] == [True, False, True, True]
        assert [c.attrs.get("anthropic.message.stop_reason") for c in (seen[0], seen[2], seen[3])] == ["end_turn"] * 3


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_raw_response_async_and_retry(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    client = make_client(f"{FAST_429},ok", async_=async_)

    async def body_async(c: anthropic.AsyncAnthropic) -> Any:
        raw = await c.messages.with_raw_response.create(**messages())
        message = raw.parse()
        if inspect.isawaitable(message):  # SDK < 1.0: a legacy raw response parses synchronously
            message = await message
        async with c.models.with_streaming_response.retrieve(KNOWN_MODEL) as response:
            model = await response.parse()
        return message, model

    def body_sync(c: anthropic.Anthropic) -> Any:
        message = c.messages.with_raw_response.create(**messages()).parse()
        with c.models.with_streaming_response.retrieve(KNOWN_MODEL) as response:
            model = response.parse()
        return message, model

    message, model = run(async_, body_async if async_ else body_sync, client)
    assert message.stop_reason == "end_turn" and model.id == KNOWN_MODEL
    expect(telemetry, native, [("chat", [429, 200]), ("models.retrieve", [429, 200])], model=MODEL)


# --- derived clients and middleware ------------------------------------------------------------------------


def test_with_options_copy_and_with_middleware(make_client: Any, telemetry: Telemetry, native: bool) -> None:
    client = make_client("ok", max_retries=0)
    seen_by_middleware: list[str] = []

    def passthrough(request: Any, call_next: Any) -> Any:
        seen_by_middleware.append(request.url)
        return call_next(request)

    retried = client.with_options(max_retries=1, default_headers={"x-sim-scenario": f"{FAST_429},ok"})
    assert retried.messages.create(**messages()).stop_reason == "end_turn"
    copied = client.copy(timeout=5.0)
    assert copied.models.retrieve(KNOWN_MODEL).id == KNOWN_MODEL
    assert client.with_middleware(passthrough).messages.count_tokens(model=MODEL, messages=user()).input_tokens > 0
    with pytest.raises(anthropic.RateLimitError):
        client.with_options(default_headers={"x-sim-scenario": FAST_429}).models.list()
    assert seen_by_middleware == ["/v1/messages/count_tokens"]
    expect(
        telemetry,
        native,
        [("chat", [429, 200]), ("models.retrieve", [200]), ("count_tokens", [200]), ("models.list", [429])],
        model=MODEL,
    )


def _switch_to_ok(request: Any) -> Any:
    return request.copy(headers={**dict(request.headers), "x-sim-scenario": "ok"})


@SYNC_ASYNC
def test_middleware_that_retries_itself(make_client: Any, telemetry: Telemetry, native: bool, async_: bool) -> None:
    """A user's middleware that calls the rest of the chain twice: both HTTP attempts belong to the one call."""
    if async_:

        async def retry_once(request: Any, call_next: Any) -> Any:
            response = await call_next(request)
            if response.status_code == 429:
                response = await call_next(_switch_to_ok(request))
            return response

        middleware: Any = retry_once
    else:

        def retry_once_sync(request: Any, call_next: Any) -> Any:
            response = call_next(request)
            if response.status_code == 429:
                response = call_next(_switch_to_ok(request))
            return response

        middleware = retry_once_sync

    client = make_client(FAST_429, async_=async_, max_retries=0, middleware=[middleware])
    message = run(async_, lambda c: c.messages.create(**messages()), client)
    assert message.stop_reason == "end_turn"
    (call,) = expect(telemetry, native, [("chat", [429, 200])], model=MODEL)
    first, second = (attrs_of(a) for a in call.attempts)
    assert first["error.type"] == "rate_limit_error" and "anthropic.retry.delay" not in first
    assert "error.type" not in second
    # The SDK's own retry counter did not move: neither attempt is a retry by the SDK's count.
    assert telemetry.counter("anthropic.client.attempts", anthropic__attempt__is_retry=False) == 2


def test_middleware_that_fans_out(
    make_client: Any, telemetry: Telemetry, native: bool, request: pytest.FixtureRequest
) -> None:
    """A middleware that sends the request to two models and returns the first answer: one call, two attempts,
    and the call's request id is that of the response the application got."""
    assert hasattr(anthropic, "Middleware")

    class FanOut(anthropic.Middleware):
        def handle(self, request: Any, call_next: Any) -> Any:
            first = call_next(request)
            other = call_next(request.copy(body={**request.json, "model": "claude-haiku-4-5"}))
            other.http_response.close()
            return first

    client = make_client("ok", middleware=[FanOut()])
    message = client.messages.create(**messages())
    assert message.model == MODEL
    (call,) = expect(telemetry, native, [("chat", [200, 200])], model=MODEL, final=0)
    assert call.attrs["anthropic.request.id"] == message._request_id
    assert telemetry.counter("anthropic.client.attempts", gen_ai__operation__name="chat") == 2
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="ok") == 1
    if not native:
        assert call.attrs["gen_ai.response.model"] == MODEL


# --- the simulator's stateful endpoints, below the SDK -----------------------------------------------------


def _http(simulator: Simulator, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", simulator.port, timeout=5)
    try:
        conn.request(method, path, body=body, headers={"content-type": "application/json", **headers})
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


def test_simulator_rejects_what_the_api_rejects(simulator: Simulator) -> None:
    def error_type(method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, str]:
        status, payload = _http(simulator, method, path, body, **headers)
        return status, payload["error"]["type"]

    bad = ("invalid_request_error",)
    assert error_type("GET", "/v1/models?limit=0") == (400, *bad)
    assert error_type("GET", "/v1/models?limit=x") == (400, *bad)
    assert error_type("GET", "/v1/models?after_id=a&before_id=b") == (400, *bad)
    assert error_type("POST", "/v1/files", b"{}") == (400, *bad)
    assert error_type("POST", "/v1/messages/batches", b'{"requests": []}') == (400, *bad)
    dup = json.dumps({"requests": [{"custom_id": "a", "params": messages()}] * 2}).encode()
    assert error_type("POST", "/v1/messages/batches", dup) == (400, *bad)
    simulator.batch_seconds = 60
    status, batch = _http(simulator, "POST", "/v1/messages/batches", json.dumps({"requests": _requests(1)}).encode())
    assert status == 200 and batch["processing_status"] == "in_progress" and batch["results_url"] is None
    assert error_type("DELETE", f"/v1/messages/batches/{batch['id']}") == (400, *bad)
    assert error_type("GET", f"/v1/messages/batches/{batch['id']}/results") == (400, *bad)
    for method, path in (("GET", "/v1/models/a/b"), ("PUT", "/v1/files"), ("POST", "/v1/models"),
                         ("GET", "/v1/messages/batches/x/nope"), ("DELETE", "/v1/models/x")):  # fmt: skip
        assert error_type(method, path) == (404, "not_found_error"), (method, path)
    # A body that is not a request at all is recorded as `invalid_request`; an endpoint's own refusal (bad
    # paging, an unknown id, a batch still in progress) keeps the fault served (`ok`) with its status.
    assert [(r.fault, r.status) for r in simulator.requests if r.status == 400] == [
        ("ok", 400),
        ("ok", 400),
        ("ok", 400),
        ("invalid_request", 400),
        ("invalid_request", 400),
        ("ok", 400),
        ("ok", 400),
        ("ok", 400),
    ]
    status, page = _http(simulator, "GET", "/v1/models?after_id=unknown")
    assert (status, page["data"], page["has_more"], page["first_id"]) == (200, [], False, None)


def test_faults_apply_to_every_endpoint(make_client: Any, simulator: Simulator, telemetry: Telemetry) -> None:
    client = make_client("drop", max_retries=0)
    with pytest.raises(anthropic.APIConnectionError):
        client.models.list()
    with pytest.raises(anthropic.InternalServerError):
        client.beta.files.list(extra_headers={"x-sim-scenario": "server_error"})
    with pytest.raises(anthropic.APIStatusError) as caught:
        client.messages.batches.list(extra_headers={"x-sim-scenario": "bad_gateway"})
    assert caught.value.status_code == 502
    assert client.models.list(extra_headers={"x-sim-scenario": "max_tokens"}).data, "message faults serve as ok"
    assert [(r.endpoint, r.fault, r.status) for r in simulator.requests] == [
        ("models.list", "drop", None),
        ("files.list", "server_error", 500),
        ("batches.list", "bad_gateway", 502),
        ("models.list", "max_tokens", 200),
    ]
    attempts = [attrs_of(a) for a in telemetry.attempt_spans()]
    assert [(a.get("http.response.status_code"), a.get("error.type")) for a in attempts] == [
        (None, "connection_error"),
        (500, "api_error"),
        (502, "502"),
        (200, None),
    ]
    assert telemetry.counter("anthropic.client.attempts", gen_ai__operation__name="models.list",
                             error__type="connection_error", anthropic__error__retryable=True) == 1  # fmt: skip
