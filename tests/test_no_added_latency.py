"""We never wait on the network for our own sake: a retried error response whose body has not arrived is classified
from its status and headers, never read by us, so the call returns when it would without us and uses the same
connections. The simulator holds the 429's body (`body_delay`) until the test releases it, after the call returned.
See docs/reliability.md, "We never wait on the network"."""

from __future__ import annotations

import asyncio
import threading

import anthropic
import pytest

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel.testing import Simulator
from support import API_KEY, Telemetry, messages

# The 429's headers at once, its body held back (far longer than any join below); then a stream that succeeds.
SCENARIO = "rate_limit:retry_after_ms=1:body_delay=120,ok:deltas=2"
JOIN = 30.0  # only so that a regression hangs the test for a bounded time, never a timing assertion


def _streamed_calls(simulator: Simulator, async_: bool, calls: int) -> list[str]:
    """`calls` streamed calls read to the end, each retried after a 429 whose body the server holds back until the
    calls have returned (bounded joins only keep a regression from hanging the run). Returns the texts."""
    result: list[str] = []
    failure: list[BaseException] = []
    headers = {"x-sim-scenario": SCENARIO}

    def run_sync() -> None:
        with anthropic.Anthropic(
            api_key=API_KEY, base_url=simulator.base_url, max_retries=2, default_headers=headers
        ) as client:
            for _ in range(calls):
                with client.messages.stream(**messages()) as stream:
                    result.append(stream.get_final_text())

    async def run_async() -> None:
        async with anthropic.AsyncAnthropic(
            api_key=API_KEY, base_url=simulator.base_url, max_retries=2, default_headers=headers
        ) as client:
            for _ in range(calls):
                async with client.messages.stream(**messages()) as stream:
                    result.append(await stream.get_final_text())

    def target() -> None:
        try:
            if async_:
                asyncio.run(run_async())
            else:
                run_sync()
        except BaseException as exc:  # reported to the test below
            failure.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(JOIN)
    returned_while_held = not thread.is_alive()
    simulator.release_held()  # only now may the held bodies go out
    thread.join(JOIN)
    assert returned_while_held, "the calls waited for an error body that had not arrived"
    assert not failure, failure
    return result


@pytest.mark.parametrize("async_", [False, True], ids=["sync", "async"])
def test_a_late_error_body_adds_no_wait_and_no_connection(async_: bool) -> None:
    runs: dict[str, tuple[list[str], int]] = {}
    for name in ("plain", "instrumented"):
        with Simulator() as simulator, Telemetry() as telemetry:
            instrumentor = AnthropicInstrumentor()
            if name == "instrumented":
                instrumentor.instrument(
                    tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
                )
            try:
                texts = _streamed_calls(simulator, async_, calls=2)
            finally:
                if name == "instrumented":
                    instrumentor.uninstrument()
            runs[name] = (texts, simulator.connections_accepted)
            if name == "instrumented":
                # The retried 429 is classified by status and headers: the documented type, and a recovered call.
                assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="recovered") == 2
                assert (
                    telemetry.counter(
                        "anthropic.client.attempts", error__type="rate_limit_error", http__response__status_code=429
                    )
                    == 2
                )

    plain, instrumented = runs["plain"], runs["instrumented"]
    assert instrumented[0] == plain[0] and len(plain[0]) == 2 and all(plain[0])
    assert instrumented[1] == plain[1], f"TCP connections: plain {plain[1]}, instrumented {instrumented[1]}"
