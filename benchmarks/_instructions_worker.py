"""The client process of `instructions.py`: one arm, run under callgrind (or, with `--cprofile`, under cProfile).

    python benchmarks/_instructions_worker.py ARM --base-url URL --calls N [--deltas D] [--warmup W]

It sets up the arm's providers and client, makes W warm-up calls, then talks to the driver line by line on
stdin/stdout, so that callgrind collects exactly the N measured calls:

    worker: READY            driver: callgrind_control -i on <pid>; "go"
    worker: (N calls) DONE   driver: callgrind_control -i off <pid>; callgrind_control -d <pid>; "exit"
    worker: CHECK {json}     (what the arm exported, flushed after the measurement: the driver checks it)

The simulator runs in another process, so none of its instructions are counted here.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import anthropic
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NoOpTracerProvider

from anthropic_otel import AnthropicInstrumentor

from _fixtures import MAX_TOKENS, MODEL, PROMPT

# arm -> (our instrumentation: None, "sdk" or "noop"; SDK native tracing on)
ARMS: dict[str, tuple[str | None, bool]] = {
    "plain": (None, False),
    "native": (None, True),
    "ours": ("sdk", False),
    "ours+native": ("sdk", True),
    "noop": ("noop", False),
}
SCENARIO_HEADER = "x-sim-scenario"


class ScopeCountingExporter(SpanExporter):
    """Drops each batch (export is not the application thread's cost), counting spans by instrumentation scope."""

    def __init__(self) -> None:
        self.scopes: Counter[str] = Counter()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            scope = span.instrumentation_scope
            self.scopes[scope.name if scope is not None else ""] += 1
        return SpanExportResult.SUCCESS


def build(
    arm: str, base_url: str, deltas: int, pause: float = 0.0
) -> tuple[Callable[[int], int], Callable[[], dict[str, Any]]]:
    """The arm's `run(n)` (n calls, returns elapsed ns) and a `check()` of what it exported."""
    ours, native = ARMS[arm]
    # A simple span processor: each span is handed to the (counting, dropping) exporter as it ends, on the
    # application's thread. A batch processor would export on its own thread, but the spans it holds until then
    # make the main thread's garbage collections cost more or less depending on when that thread gets to run:
    # the count would depend on the machine's load. An in-memory metric reader collects only when asked.
    exporter = ScopeCountingExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    if ours is not None:
        noop = ours == "noop"
        # skip_dep_check: the version check reads package metadata, an instrument()-time cost, not a call's.
        AnthropicInstrumentor().instrument(
            tracer_provider=NoOpTracerProvider() if noop else tracer_provider,
            meter_provider=NoOpMeterProvider() if noop else meter_provider,
            skip_dep_check=True,
        )
    client = anthropic.Anthropic(
        base_url=base_url,
        api_key="sk-ant-benchmark",
        # False turns the SDK's own tracing off; given a provider it is on.
        open_telemetry={"tracer_provider": tracer_provider} if native else False,
    )
    create = client.messages.create

    def run_creates(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            create(model=MODEL, max_tokens=MAX_TOKENS, messages=PROMPT)
        return time.perf_counter_ns() - t0

    # The simulator sends deltas + 6 events: message_start, content_block_start, ping, the deltas,
    # content_block_stop, message_delta, message_stop.
    headers = {SCENARIO_HEADER: f"ok:deltas={deltas}"}

    def run_streams(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            stream = create(model=MODEL, max_tokens=MAX_TOKENS, messages=PROMPT, stream=True, extra_headers=headers)
            # Let the simulator write the whole body first: the client then reads it in the same socket reads
            # every time. Reading while the server writes splits it where the scheduler happens to switch, and
            # each extra read is ~10k instructions more (noise larger than our per-event cost on a busy machine).
            # A sleep costs a few hundred instructions, the same in every arm.
            time.sleep(pause)
            for _event in stream:
                pass
        return time.perf_counter_ns() - t0

    def check() -> dict[str, Any]:
        tracer_provider.force_flush()
        data = reader.get_metrics_data()
        metrics = sorted(
            {m.name for rm in (data.resource_metrics if data else []) for sm in rm.scope_metrics for m in sm.metrics}
        )
        return {"spans": dict(exporter.scopes), "metrics": metrics}

    return (run_streams if deltas else run_creates), check


def _line(expected: str) -> None:
    got = sys.stdin.readline().strip()
    if got != expected:
        raise SystemExit(f"worker: expected {expected!r} from the driver, got {got!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("arm", choices=sorted(ARMS))
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--deltas", type=int, default=0, help="stream with this many text deltas (0: no stream)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between a stream's headers and its body")
    parser.add_argument("--cprofile", action="store_true", help="print a cProfile of the calls instead (no driver)")
    args = parser.parse_args(argv)

    run, check = build(args.arm, args.base_url, args.deltas, args.pause)
    if args.cprofile:
        from _profile import print_cprofile  # only this mode needs it

        what = f"{args.deltas + 6}-event stream" if args.deltas else "messages.create"
        print_cprofile(f"{what}, arm {args.arm}", run, args.calls)
        return 0
    # Warm-up: connection pool, pydantic validators, our per-model series keys... everything a first call builds.
    run(args.warmup)
    # Everything alive now (the modules, the clients, what the warm-up built) out of the collector's sight: whether
    # a full collection of that heap happens to fall inside the window depends on how many objects each arm
    # allocates, and one costs tens of millions of instructions. The calls' own garbage is still collected.
    gc.collect()
    gc.freeze()
    print("READY", flush=True)
    _line("go")
    run(args.calls)
    print("DONE", flush=True)
    _line("exit")
    print("CHECK " + json.dumps(check()), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
