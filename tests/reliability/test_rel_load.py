"""Load: many threads and hundreds of asyncio tasks calling at once, through retries and streams.

Every call is tagged with a header of its own (`x-call-tag`), so the simulator's record of each HTTP attempt says
which call sent it. From what the OpenTelemetry SDK exported we then require, with no cross-talk between calls:
one call span per call; under it exactly the attempts the simulator saw for that call (matched by request id);
and metric counts equal to the calls and attempts made.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from _helpers import HAS_NATIVE_TRACING, MODEL, PROMPT, Harness, harness, is_attempt, new_client

from anthropic_otel.testing import Simulator

THREADS = 16
CALLS_PER_THREAD = 20
TASKS = 300

# scenario -> (streamed?, outcome, attempts)
MIX: dict[tuple[str, bool], tuple[str, int]] = {
    ("ok", False): ("ok", 1),
    ("overloaded:retry_after_ms=1,ok", False): ("recovered", 2),
    ("rate_limit:retry_after_ms=1,server_error:retry_after_ms=1,ok", False): ("recovered", 3),
    ("billing:status=403", False): ("failed", 1),
    ("ok:deltas=3", True): ("ok", 1),
    ("overloaded:retry_after_ms=1,ok:deltas=3", True): ("recovered", 2),
    ("stream_error:after=1", True): ("failed", 1),
}
PLAN = list(MIX)


def _call_sync(client: anthropic.Anthropic, tag: str, scenario: str, stream: bool) -> str:
    headers = {"x-sim-scenario": scenario, "x-call-tag": tag}
    args: dict[str, Any] = {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": PROMPT}]}
    try:
        if stream:
            events = [e.type for e in client.messages.create(**args, stream=True, extra_headers=headers)]
            assert events[-1] == "message_stop"
        else:
            client.messages.create(**args, extra_headers=headers)
        return "returned"
    except anthropic.APIStatusError as exc:
        return f"raised {exc.status_code}"


async def _call_async(client: anthropic.AsyncAnthropic, tag: str, scenario: str, stream: bool) -> str:
    headers = {"x-sim-scenario": scenario, "x-call-tag": tag}
    args: dict[str, Any] = {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": PROMPT}]}
    try:
        if stream:
            events = [e.type async for e in await client.messages.create(**args, stream=True, extra_headers=headers)]
            assert events[-1] == "message_stop"
        else:
            await client.messages.create(**args, extra_headers=headers)
        return "returned"
    except anthropic.APIStatusError as exc:
        return f"raised {exc.status_code}"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:
        yield simulator


def _check(h: Harness, sim: Simulator, planned: dict[str, tuple[str, bool]]) -> None:
    requests = sim.requests
    by_request_id = {r.request_id: r for r in requests}
    attempts_by_tag = Counter(r.headers.get("x-call-tag") for r in requests)
    assert set(attempts_by_tag) == set(planned), "the simulator saw every call, and only those"
    for tag, (scenario, stream) in planned.items():
        assert attempts_by_tag[tag] == MIX[(scenario, stream)][1], (tag, scenario)

    assert h.left_open() == []
    spans = h.spans()
    call_spans = {s.context.span_id: s for s in spans if not is_attempt(s)}
    attempts = [s for s in spans if is_attempt(s)]
    assert len(call_spans) == len(planned), "exactly one call span per call"
    assert len(attempts) == len(requests), "exactly one attempt span per HTTP attempt"

    tags_under: dict[int, set[str]] = defaultdict(set)
    attempts_under: Counter[int] = Counter()
    for span in attempts:
        attrs = span.attributes or {}
        request = by_request_id[attrs["anthropic.request.id"]]
        assert span.parent is not None and span.parent.span_id in call_spans, "an attempt outside any call span"
        assert span.context.trace_id == call_spans[span.parent.span_id].context.trace_id
        assert attrs["http.response.status_code"] == request.status
        tags_under[span.parent.span_id].add(request.headers["x-call-tag"])
        attempts_under[span.parent.span_id] += 1
    assert all(len(tags) == 1 for tags in tags_under.values()), "attempts of two calls under one call span"
    tag_of_span = {span_id: next(iter(tags)) for span_id, tags in tags_under.items()}
    assert sorted(tag_of_span.values()) == sorted(planned), "every call has its own call span"
    for span_id, tag in tag_of_span.items():
        scenario, stream = planned[tag]
        outcome, attempts_made = MIX[(scenario, stream)]
        assert attempts_under[span_id] == attempts_made, (tag, scenario)
        assert (call_spans[span_id].attributes or {}).get("anthropic.call.outcome") == outcome, (tag, scenario)

    expected_outcomes = Counter(MIX[planned[tag]][0] for tag in planned)
    for outcome, count in expected_outcomes.items():
        assert h.counter("anthropic.client.calls", anthropic__call__outcome=outcome) == count, outcome
    assert h.counter("anthropic.client.calls") == len(planned)
    assert h.counter("anthropic.client.attempts") == len(requests)
    assert h.counter("anthropic.client.attempts", anthropic__attempt__is_retry=True) == sum(
        1 for r in requests if r.retry_count > 0
    )
    assert h.warnings.messages() == []


NATIVE = [True, False] if HAS_NATIVE_TRACING else [False]


def _expected_result(plan: tuple[str, bool]) -> str:
    """What the application sees: the billing error's 403, the mid-stream error's 200, else a result."""
    scenario, _ = plan
    if scenario.startswith("billing"):
        return "raised 403"
    return "raised 200" if scenario.startswith("stream_error") else "returned"


@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
def test_threads(sim: Simulator, native: bool) -> None:
    rng = random.Random(5)
    planned = {f"t{i}": rng.choice(PLAN) for i in range(THREADS * CALLS_PER_THREAD)}
    tags = list(planned)
    results: dict[str, str] = {}
    with harness() as h:
        client = new_client(sim.base_url, h, native=native, max_retries=3)  # one client, shared by all threads
        barrier = threading.Barrier(THREADS)

        def worker(n: int) -> None:
            barrier.wait()
            for tag in tags[n::THREADS]:
                results[tag] = _call_sync(client, tag, *planned[tag])

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        client.close()
        assert len(results) == len(planned)
        _check(h, sim, planned)
    for tag, result in results.items():
        assert result == _expected_result(planned[tag]), (tag, result)


@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
def test_asyncio_tasks(sim: Simulator, native: bool) -> None:
    rng = random.Random(7)
    planned = {f"a{i}": rng.choice(PLAN) for i in range(TASKS)}

    async def main(h: Harness) -> list[str]:
        client = new_client(sim.base_url, h, native=native, async_=True, max_retries=3)
        try:
            return list(await asyncio.gather(*(_call_async(client, tag, *planned[tag]) for tag in planned)))
        finally:
            await client.close()

    with harness() as h:
        results = asyncio.run(main(h))
        _check(h, sim, planned)
    assert results == [_expected_result(planned[tag]) for tag in planned]
