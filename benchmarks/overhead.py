"""What `anthropic-otel` costs per call, per stream event, per retry, with no-op providers, and in memory.

    python benchmarks/overhead.py              # full run, a few minutes on 2 cores; writes benchmarks/results.json
    python benchmarks/overhead.py --quick      # CI smoke run: a few iterations, < 30 s, exit 0
    python benchmarks/overhead.py --profile    # cProfile of the instrumented hot paths (no timing table)
    python benchmarks/overhead.py --profile --py-spy   # ... and a py-spy sampling profile (pip install py-spy)

Everything runs in one process against an in-process `httpx2` transport (`_fixtures.py`): the real SDK, canned
responses with real unread bodies. Uninstrumented and instrumented blocks alternate ABBA (`_abba.py`). The floor
(`_floor.py`) is the same telemetry emitted straight through the same OpenTelemetry SDK providers. What each row
means: benchmarks/README.md.

OpenTelemetry SDK configuration of the instrumented arm, as in production:
- `TracerProvider` + `BatchSpanProcessor` (default queue 2048, batch 512, 5 s) over an exporter that drops the
  batch. A batch processor is what production uses: the application thread pays for building and queueing the
  span, the export happens on the processor's thread. A `SimpleSpanProcessor` would export in the calling
  thread, an overhead no production setup has, identical for us and the floor, that would only dilute the ratio.
  Should the queue ever fill (spans dropped, which is cheaper than queueing them), the run says so.
- `MeterProvider` + `InMemoryMetricReader`: recording costs what it costs with any reader, and collection only
  happens when asked (a `PeriodicExportingMetricReader` would collect on its own thread every 60 s; it is the
  recording on the application thread that we measure). Default views, exemplar filter `trace_based`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import anthropic
import httpx2
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NoOpTracerProvider

from anthropic_otel import AnthropicInstrumentor
from anthropic_otel._call import Call
from anthropic_otel._streams import observe_events
from anthropic_otel._telemetry import Telemetry

from _abba import Arm, Comparison, compare
from _fixtures import (
    MAX_TOKENS,
    MODEL,
    MODELS,
    PROMPT,
    AsyncCannedTransport,
    CannedTransport,
    Reply,
    message_json,
    sse_events,
)
from _floor import Floor
from _profile import print_cprofile, run_py_spy

HERE = Path(__file__).resolve().parent
PACKAGES = ("anthropic", "httpx2", "opentelemetry-api", "opentelemetry-sdk", "anthropic-otel", "wrapt", "pydantic")
LONG_STREAM_DELTAS = 496  # 501 events: message_start, content_block_start, 496 deltas, block_stop, delta, stop
SHORT_STREAM_DELTAS = 1  # 6 events: the per-call cost of a streamed call, to subtract from the long stream
LONG_EVENTS = LONG_STREAM_DELTAS + 5
SHORT_EVENTS = SHORT_STREAM_DELTAS + 5
MID_STREAM_DELTAS = 96  # 101 events: with the long stream, the slope per event (both pay the cold end of a stream)
MID_EVENTS = MID_STREAM_DELTAS + 5
# Content capture: a reply of ~30 kB (one word per delta), 7x the default 4,096-byte limit and far below 10 MB.
CONTENT_STREAM_DELTAS = 5000
CONTENT_BIG_LIMIT = 10 * 1024 * 1024


# --- settings -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    rounds: int  # ABBA rounds (4 blocks each) per comparison
    calls: int  # non-streamed calls per block
    streams: int  # 501-event streams per block
    floor_calls: int  # floor emissions per block
    memory_calls: int  # calls traced by tracemalloc, per arm
    series_calls: int  # calls for the metric-series count
    profile_calls: int  # non-streamed calls under cProfile (streams: a tenth)


FULL = Settings(rounds=16, calls=40, streams=3, floor_calls=100, memory_calls=1000, series_calls=100_000,
                profile_calls=3000)  # fmt: skip
QUICK = Settings(rounds=2, calls=5, streams=1, floor_calls=50, memory_calls=50, series_calls=2000, profile_calls=300)


# --- the OpenTelemetry SDK and the clients --------------------------------------------------------------------


class DroppingExporter(SpanExporter):
    """Receives each batch and drops it: export cost is not ours, and is the same for the floor."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        return SpanExportResult.SUCCESS


class QueueFullCounter(logging.Handler):
    """Counts the batch processor's "Queue full, dropping Span." warnings (dropped spans would flatter us)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "Queue full" in record.getMessage():
            self.count += 1


@dataclass
class Providers:
    tracer: TracerProvider
    meter: MeterProvider
    reader: InMemoryMetricReader
    exporter: DroppingExporter


def make_providers() -> Providers:
    exporter = DroppingExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    return Providers(tracer_provider, MeterProvider(metric_readers=[reader]), reader, exporter)


def native_option(providers: Providers, native: bool) -> Any:
    # `False` turns the SDK's own tracing off; given a provider it is on (it would also be on, with the global
    # provider, for a client given nothing).
    return {"tracer_provider": providers.tracer} if native else False


def sync_client(reply: Reply, providers: Providers, native: bool = False) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-benchmark",
        http_client=httpx2.Client(transport=CannedTransport(reply)),
        open_telemetry=native_option(providers, native),
    )


def async_client(reply: Reply, providers: Providers, native: bool = False) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key="sk-ant-benchmark",
        http_client=httpx2.AsyncClient(transport=AsyncCannedTransport(reply)),
        open_telemetry=native_option(providers, native),
    )


# --- what one block runs ----------------------------------------------------------------------------------------


def creates(client: anthropic.Anthropic, then: Callable[[], None] | None = None) -> Callable[[int], int]:
    """n `messages.create` calls; `then` runs after each one (the in-situ floor emits its telemetry there)."""
    create = client.messages.create

    def run(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            create(model=MODEL, max_tokens=MAX_TOKENS, messages=PROMPT)
        return time.perf_counter_ns() - t0

    if then is None:
        return run
    emit = then

    def run_then(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            create(model=MODEL, max_tokens=MAX_TOKENS, messages=PROMPT)
            emit()
        return time.perf_counter_ns() - t0

    return run_then


def streams(client: anthropic.Anthropic) -> Callable[[int], int]:
    create = client.messages.create

    def run(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            for _event in create(model=MODEL, max_tokens=MAX_TOKENS, messages=PROMPT, stream=True):
                pass
        return time.perf_counter_ns() - t0

    return run


def async_creates(client: anthropic.AsyncAnthropic, loop: asyncio.AbstractEventLoop) -> Callable[[int], int]:
    create = client.messages.create

    async def go(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await create(model=MODEL, max_tokens=MAX_TOKENS, messages=PROMPT)
        return time.perf_counter_ns() - t0

    return lambda n: loop.run_until_complete(go(n))


def async_streams(client: anthropic.AsyncAnthropic, loop: asyncio.AbstractEventLoop) -> Callable[[int], int]:
    create = client.messages.create

    async def go(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            async for _event in await create(model=MODEL, max_tokens=MAX_TOKENS, messages=PROMPT, stream=True):
                pass
        return time.perf_counter_ns() - t0

    return lambda n: loop.run_until_complete(go(n))


def repeat(fn: Callable[[], None]) -> Callable[[int], int]:
    def run(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            fn()
        return time.perf_counter_ns() - t0

    return run


def _pass() -> None:
    return None


def observer_alone(client: anthropic.Anthropic, providers: Providers, sse: Sequence[bytes], observe: bool) -> Arm:
    """The server-sent events of one stream, decoded once, iterated with (or without) our event observer around
    them: its own cost per event, without the SDK's parsing in between. A fresh `Call` per stream in both arms."""
    events = list(anthropic._streaming.SSEDecoder().iter_bytes(iter([b"".join(sse)])))
    telemetry = Telemetry(providers.tracer, providers.meter)
    options = SimpleNamespace(url="/v1/messages", method="post", json_data={"model": MODEL, "max_tokens": MAX_TOKENS})

    def run(n: int) -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            call = Call(telemetry, client, options, True, own_span=False, may_start_own=False)
            for _event in observe_events(iter(events), call) if observe else iter(events):
                pass
        return time.perf_counter_ns() - t0

    return Arm(run)


class Instrumentation:
    """Installs and removes `AnthropicInstrumentor` around the instrumented blocks."""

    def __init__(self, providers: Providers) -> None:
        self.instrumentor = AnthropicInstrumentor()
        self.providers = providers

    def arm(self, run: Callable[[int], int], call_span: str = "auto", noop: bool = False, **options: Any) -> Arm:
        tracer_provider: Any = NoOpTracerProvider() if noop else self.providers.tracer
        meter_provider: Any = NoOpMeterProvider() if noop else self.providers.meter

        def setup() -> None:
            # skip_dep_check: the version check reads package metadata, an instrument()-time cost, not a call's.
            self.instrumentor.instrument(
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
                call_span=call_span,
                skip_dep_check=True,
                **options,
            )

        return Arm(run, setup, self.instrumentor.uninstrument)


# --- the comparisons ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    base: Arm
    test: Arm
    calls: int  # per block
    base_label: str = "uninstrumented"
    rounds_factor: int = 1  # x2 for the cases the targets subtract or divide by: more rounds, less noise


def build_cases(providers: Providers, settings: Settings, loop: asyncio.AbstractEventLoop) -> list[Case]:
    inst = Instrumentation(providers)
    floor = Floor(providers.tracer, providers.meter)
    message = message_json()
    long_sse, short_sse = sse_events(LONG_STREAM_DELTAS), sse_events(SHORT_STREAM_DELTAS)
    mid_sse = sse_events(MID_STREAM_DELTAS)
    n, s, f = settings.calls, settings.streams, settings.floor_calls

    def sync(reply: Reply, native: bool = False) -> anthropic.Anthropic:
        return sync_client(reply, providers, native)

    msg_off, msg_on = sync(Reply(message=message)), sync(Reply(message=message), native=True)
    long_off, long_on = sync(Reply(sse=long_sse)), sync(Reply(sse=long_sse), native=True)
    short_off, mid_off = sync(Reply(sse=short_sse)), sync(Reply(sse=mid_sse))
    retried = sync(Reply(message=message, rate_limit_first=True))
    content = sync(Reply(sse=sse_events(CONTENT_STREAM_DELTAS)))
    a_msg = async_client(Reply(message=message), providers)
    a_long, a_short = async_client(Reply(sse=long_sse), providers), async_client(Reply(sse=short_sse), providers)
    empty = Arm(repeat(_pass))

    cases = [
        # Floors, isolated: the telemetry alone in a tight loop ("nothing else").
        Case(
            "floor.full", "floor: our telemetry for one call, isolated", empty, Arm(repeat(floor.full)), f, "empty loop"
        ),
        Case(
            "floor.attempt",
            "floor: one extra 429 attempt's telemetry, isolated",
            empty,
            Arm(repeat(floor.failed_attempt)),
            f,
            "empty loop",
        ),
        Case(
            "floor.classic",
            "floor: 1 span, 8 attributes, 3 points, isolated",
            empty,
            Arm(repeat(floor.classic)),
            f,
            "empty loop",
        ),
        # Floors in situ: the same telemetry emitted right after each real SDK call, so that it runs with the
        # caches and heap that the SDK leaves behind, as ours does (costlier than in a tight loop).
        Case(
            "floor.full.in_situ",
            "floor: our telemetry for one call, in situ",
            Arm(creates(msg_off)),
            Arm(creates(msg_off, floor.full)),
            n,
            rounds_factor=2,  # the denominator of the main target: twice the rounds
        ),
        Case(
            "floor.attempt.in_situ",
            "floor: one extra 429 attempt's telemetry, in situ",
            Arm(creates(retried)),
            Arm(creates(retried, floor.failed_attempt)),
            n,
            rounds_factor=2,
        ),
        Case(
            "floor.classic.in_situ",
            "floor: 1 span, 8 attributes, 3 points, in situ",
            Arm(creates(msg_off)),
            Arm(creates(msg_off, floor.classic)),
            n,
        ),
        Case(
            "create.native_alone",
            "create, SDK native tracing alone (us off)",
            Arm(creates(msg_off)),
            Arm(creates(msg_on)),
            n,
            "native off",
        ),
    ]
    for mode in ("auto", "own", "native-only"):
        cases.append(
            Case(
                f"create.{mode}.native_off",
                f"create, call_span={mode}, native off",
                Arm(creates(msg_off)),
                inst.arm(creates(msg_off), mode),
                n,
                rounds_factor=2 if mode == "auto" else 1,  # the default configuration: the main target
            )
        )
    for mode in ("auto", "own", "native-only"):
        cases.append(
            Case(
                f"create.{mode}.native_on",
                f"create, call_span={mode}, native on",
                Arm(creates(msg_on)),
                inst.arm(creates(msg_on), mode),
                n,
                "native on, us off",
            )
        )
    cases += [
        Case("create.noop_providers", "create, no-op providers, native off", Arm(creates(msg_off)),
             inst.arm(creates(msg_off), noop=True), n),
        Case("create.retried", "create, 429 then 200, auto, native off", Arm(creates(retried)),
             inst.arm(creates(retried)), n, rounds_factor=2),
        Case("stream.short", f"stream {SHORT_EVENTS} events, auto, native off", Arm(streams(short_off)),
             inst.arm(streams(short_off)), n, rounds_factor=2),
        Case("stream.observer", f"event observer alone, {LONG_EVENTS} decoded events",
             observer_alone(long_off, providers, long_sse, False), observer_alone(long_off, providers, long_sse, True),
             s * 20, "events without it", rounds_factor=2),
        Case("stream.mid", f"stream {MID_EVENTS} events, auto, native off", Arm(streams(mid_off)),
             inst.arm(streams(mid_off)), s * 5, rounds_factor=2),
        Case("stream.long", f"stream {LONG_EVENTS} events, auto, native off", Arm(streams(long_off)),
             inst.arm(streams(long_off)), s, rounds_factor=2),
        Case("stream.long.native_alone", f"stream {LONG_EVENTS} events, SDK native tracing alone",
             Arm(streams(long_off)), Arm(streams(long_on)), s, "native off"),
        Case("stream.long.native_on", f"stream {LONG_EVENTS} events, auto, native on", Arm(streams(long_on)),
             inst.arm(streams(long_on)), s, "native on, us off"),
        Case("stream.long.noop_providers", f"stream {LONG_EVENTS} events, no-op providers", Arm(streams(long_off)),
             inst.arm(streams(long_off), noop=True), s),
        # Content capture on a stream of 5,000 deltas, against ours without it: at the default limit every delta
        # past the limit costs a comparison (O(1)); at 10 MB every delta's text is kept (O(bytes)).
        Case("stream.content.default", f"stream {CONTENT_STREAM_DELTAS} deltas, content capture at 4,096 bytes",
             inst.arm(streams(content)), inst.arm(streams(content), capture_content=True), s, "ours, no content"),
        Case("stream.content.10mb", f"stream {CONTENT_STREAM_DELTAS} deltas, content capture at 10 MB",
             inst.arm(streams(content)),
             inst.arm(streams(content), capture_content=True, max_content_bytes=CONTENT_BIG_LIMIT), s,
             "ours, no content"),
        Case("async.create", "async create, auto, native off", Arm(async_creates(a_msg, loop)),
             inst.arm(async_creates(a_msg, loop)), n),
        Case("async.stream.short", f"async stream {SHORT_EVENTS} events, auto", Arm(async_streams(a_short, loop)),
             inst.arm(async_streams(a_short, loop)), n, rounds_factor=2),
        Case("async.stream.long", f"async stream {LONG_EVENTS} events, auto", Arm(async_streams(a_long, loop)),
             inst.arm(async_streams(a_long, loop)), s, rounds_factor=2),
    ]  # fmt: skip
    return cases


def run_cases(cases: list[Case], rounds: int) -> dict[str, Comparison]:
    results: dict[str, Comparison] = {}
    for case in cases:
        t0 = time.perf_counter()
        results[case.key] = result = compare(case.base, case.test, case.calls, rounds * case.rounds_factor)
        print(
            f"  {case.label:<52} {result.overhead:>9.1f} µs   ({time.perf_counter() - t0:4.1f} s)",
            file=sys.stderr,
            flush=True,
        )
    return results


# --- memory and metric series ---------------------------------------------------------------------------------------


def memory_per_call(arm: Arm, calls: int, providers: Providers) -> dict[str, float]:
    """tracemalloc: bytes still held after `calls` calls (a leak shows here) and the median transient peak of one
    call. Queued spans are flushed first, so the batch processor's bounded queue does not count as retained."""
    arm.setup()
    try:
        arm.run(50)  # warm caches, lazily created objects and the metric series
        providers.tracer.force_flush()
        gc.collect()
        tracemalloc.start()
        start = tracemalloc.get_traced_memory()[0]
        peaks = []
        for _ in range(calls):
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            arm.run(1)
            peaks.append(tracemalloc.get_traced_memory()[1] - before)
        providers.tracer.force_flush()
        gc.collect()
        end = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    finally:
        arm.teardown()
    return {"retained_bytes_per_call": (end - start) / calls, "peak_bytes_per_call": statistics.median(peaks)}


def rss_bytes() -> int:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def metric_series(reader: InMemoryMetricReader) -> tuple[dict[str, int], int]:
    """Data points per metric of our scope, and how many attribute values look like a request id."""
    per_metric: dict[str, int] = {}
    leaked_ids = 0
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name != "anthropic_otel":
                continue
            for metric in scope_metrics.metrics:
                points = list(metric.data.data_points)
                per_metric[metric.name] = per_metric.get(metric.name, 0) + len(points)
                for point in points:
                    attributes = getattr(point, "attributes", None) or {}
                    leaked_ids += sum(str(v).startswith(("req_", "msg_")) for v in attributes.values())
    return per_metric, leaked_ids


def series_after_many_calls(calls: int) -> dict[str, Any]:
    """`calls` calls, each with a distinct request id, over a bounded set of models: the series must stay bounded.
    Bodies without content keep this fast; fresh providers so earlier phases do not add series."""
    providers = make_providers()
    client = sync_client(Reply(models=MODELS), providers)
    create = client.messages.create
    inst = Instrumentation(providers).arm(repeat(_pass))
    inst.setup()
    try:
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        checkpoint: dict[str, int] = {}
        for i in range(calls):
            create(model=MODELS[i % len(MODELS)], max_tokens=MAX_TOKENS, messages=PROMPT)
            if i + 1 == calls // 10:
                checkpoint, _ = metric_series(providers.reader)
        elapsed = time.perf_counter() - t0
        providers.tracer.force_flush()
        gc.collect()
        rss1 = rss_bytes()
        per_metric, leaked_ids = metric_series(providers.reader)
    finally:
        inst.teardown()
        providers.tracer.shutdown()
    return {
        "calls": calls,
        "models": len(MODELS),
        "series": sum(per_metric.values()),
        "series_after_10pct": sum(checkpoint.values()),
        "series_per_metric": per_metric,
        "request_or_message_ids_in_metric_attributes": leaked_ids,
        "rss_delta_bytes": rss1 - rss0,
        "rss_delta_bytes_per_call": (rss1 - rss0) / calls,
        "seconds": elapsed,
        "spans_exported": providers.exporter.spans,
    }


# --- the profile ---------------------------------------------------------------------------------------------------


def _profiled_clients(providers: Providers) -> dict[str, tuple[Callable[[int], int], int]]:
    """The two hot paths, instrumented with the default configuration: (run, calls per unit of work)."""
    return {
        "create": (creates(sync_client(Reply(message=message_json()), providers)), 1),
        "stream": (streams(sync_client(Reply(sse=sse_events(LONG_STREAM_DELTAS)), providers)), 10),
    }


def profile(settings: Settings, py_spy: str | None) -> None:
    providers = make_providers()
    inst = AnthropicInstrumentor()
    inst.instrument(tracer_provider=providers.tracer, meter_provider=providers.meter, skip_dep_check=True)
    titles = {
        "create": "non-streaming create, call_span=auto, native off",
        "stream": f"stream of {LONG_EVENTS} events, call_span=auto, native off (µs per stream)",
    }
    try:
        for name, (run, cost) in _profiled_clients(providers).items():
            print_cprofile(titles[name], run, max(settings.profile_calls // cost, 10))
    finally:
        inst.uninstrument()
        providers.tracer.shutdown()
    if py_spy:
        for name in titles:
            run_py_spy(py_spy, Path(__file__), name, 4.0 if settings is QUICK else 15.0, spy_target.__name__)


def spy_target(name: str, seconds: float) -> None:
    """The process py-spy records: instrumented calls for `seconds`, then the time per call on stdout."""
    providers = make_providers()
    AnthropicInstrumentor().instrument(
        tracer_provider=providers.tracer, meter_provider=providers.meter, skip_dep_check=True
    )
    run, _cost = _profiled_clients(providers)[name]
    run(20)
    calls = elapsed = 0
    while elapsed < seconds * 1e9:
        elapsed += run(10)
        calls += 10
    print(f"PER_CALL_US={elapsed / calls / 1000:.1f}")


# --- report -----------------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            packages[name] = None
    commit = _git("rev-parse", "--short", "HEAD")
    if commit and _git("status", "--porcelain", "--", str(HERE.parent / "src")):
        commit += " + uncommitted changes in src/"
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": packages,
        "commit": commit or None,
        "loadavg_start": _loadavg(),
    }


def _git(*args: str) -> str:
    """Read-only git queries, to say which code was measured."""
    try:
        done = subprocess.run(["git", "-C", str(HERE), *args], capture_output=True, text=True, check=False)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _loadavg() -> str:
    """Other processes share these cores: say how busy the machine was (1, 5, 15 min load)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


@dataclass
class Target:
    name: str
    measured: str
    limit: str
    passed: bool


def derive(results: dict[str, Comparison]) -> tuple[dict[str, float], list[Target]]:
    """The figures the targets are about, each from cases measured in this run."""
    r = results
    ours = r["create.auto.native_off"]
    floor, floor_in_situ = r["floor.full"].overhead, r["floor.full.in_situ"].overhead
    events = LONG_EVENTS - SHORT_EVENTS
    per_event = (r["stream.long"].overhead - r["stream.short"].overhead) / events
    per_event_noise = math.hypot(r["stream.long"].noise, r["stream.short"].noise) / events
    # The same from two streams that both end cold (after 101 and after 501 events of the SDK's own work).
    slope = (r["stream.long"].overhead - r["stream.mid"].overhead) / (LONG_EVENTS - MID_EVENTS)
    observer_alone = r["stream.observer"].overhead / LONG_EVENTS
    async_per_event = (r["async.stream.long"].overhead - r["async.stream.short"].overhead) / events
    # A retried call makes one more attempt than a plain one: its extra cost over a plain call, ours minus both.
    extra_attempt = r["create.retried"].overhead - ours.overhead
    attempt_floor, attempt_floor_in_situ = r["floor.attempt"].overhead, r["floor.attempt.in_situ"].overhead
    noop = r["create.noop_providers"]
    noop_limit = max(3.0, 2 * noop.noise)  # "a few µs", or twice the standard error on a noisy machine
    native = r["create.native_alone"].overhead
    d = {
        "overhead_us": ours.overhead,
        "overhead_over_floor": ours.overhead / floor,
        "overhead_over_floor_in_situ": ours.overhead / floor_in_situ,
        "native_alone_us": native,
        "stream_per_event_us": per_event,
        "stream_per_event_noise_us": per_event_noise,
        "stream_per_event_slope_us": slope,
        "stream_observer_alone_per_event_us": observer_alone,
        "stream_per_stream_us": r["stream.long"].overhead,
        "stream_per_call_us": r["stream.short"].overhead,
        "async_stream_per_event_us": async_per_event,
        "retry_extra_attempt_us": extra_attempt,
        "retry_extra_attempt_over_floor": extra_attempt / attempt_floor,
        "retry_extra_attempt_over_floor_in_situ": extra_attempt / attempt_floor_in_situ,
        "noop_overhead_us": noop.overhead,
        "noop_limit_us": noop_limit,
        "content_per_delta_default_us": r["stream.content.default"].overhead / CONTENT_STREAM_DELTAS,
        "content_per_delta_10mb_us": r["stream.content.10mb"].overhead / CONTENT_STREAM_DELTAS,
    }
    targets = [
        Target("create, default config: ≤ 1.5x floor (isolated)",
               f"{ours.overhead:.1f} µs = {d['overhead_over_floor']:.2f}x {floor:.1f} µs", "≤ 1.5x",
               d["overhead_over_floor"] <= 1.5),
        Target("create, default config: ≤ 1.5x floor (in situ)",
               f"{ours.overhead:.1f} µs = {d['overhead_over_floor_in_situ']:.2f}x {floor_in_situ:.1f} µs", "≤ 1.5x",
               d["overhead_over_floor_in_situ"] <= 1.5),
        Target("create, default config: below SDK native tracing alone",
               f"{ours.overhead:.1f} µs vs {native:.1f} µs", "<", ours.overhead < native),
        Target("stream: per event beyond the per-call cost",
               f"{per_event:.3f} ± {per_event_noise:.3f} µs/event", "≤ 0.3 µs", per_event <= 0.3),
        Target("no-op providers: within noise of uninstrumented",
               f"{noop.overhead:.1f} ± {noop.noise:.1f} µs", f"≤ {noop_limit:.1f} µs", noop.overhead <= noop_limit),
        Target("retried call: extra attempt ≤ its floor (isolated)",
               f"{extra_attempt:.1f} µs = {d['retry_extra_attempt_over_floor']:.2f}x {attempt_floor:.1f} µs", "≤ 1.0x",
               d["retry_extra_attempt_over_floor"] <= 1.0),
        Target("retried call: extra attempt ≤ its floor (in situ)",
               f"{extra_attempt:.1f} µs = {d['retry_extra_attempt_over_floor_in_situ']:.2f}x "
               f"{attempt_floor_in_situ:.1f} µs", "≤ 1.0x", d["retry_extra_attempt_over_floor_in_situ"] <= 1.0),
    ]  # fmt: skip
    return d, targets


def print_report(
    cases: list[Case],
    results: dict[str, Comparison],
    derived: dict[str, float],
    targets: list[Target],
    extra: dict[str, Any],
    info: dict[str, Any],
    settings: Settings,
) -> None:
    floor = results["floor.full"].overhead
    packages = info["packages"]
    print(
        f"\nanthropic-otel overhead: {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, "
        f"anthropic {packages['anthropic']}, opentelemetry-sdk {packages['opentelemetry-sdk']}, "
        f"load {info['loadavg_start']} → {extra['loadavg_end']}"
    )
    print(
        f"gc enabled; {settings.rounds} ABBA rounds (x2 for the cases the targets are computed from); median of "
        "blocks; µs per call, per stream for streams; ratio = measured / baseline; /floor = overhead / isolated floor"
    )
    head = f"{'case':<52} {'baseline':>9} {'measured':>9} {'overhead ± SE':>16} {'ratio':>6} {'/floor':>6}  baseline"
    print(head)
    print("-" * len(head))
    for case in cases:
        r = results[case.key]
        isolated = case.base_label == "empty loop"  # a tight loop has no meaningful baseline ratio
        ratio = "     —" if isolated else f"{r.ratio:5.2f}x"
        over_floor = "     —" if case.key.startswith("floor") else f"{r.overhead / floor:5.2f}x"
        print(
            f"{case.label:<52} {r.base:9.1f} {r.test:9.1f} {r.overhead:9.1f} ± {r.noise:4.1f} "
            f"{ratio} {over_floor}  {case.base_label}"
        )
    print(
        f"\nstreaming: {derived['stream_per_event_us']:.3f} ± {derived['stream_per_event_noise_us']:.3f} µs/event "
        f"beyond the per-call cost ({derived['stream_per_call_us']:.1f} µs per streamed call, "
        f"{derived['stream_per_stream_us']:.1f} µs per {LONG_EVENTS}-event stream); "
        f"{derived['stream_per_event_slope_us']:.3f} µs/event between the {MID_EVENTS}- and {LONG_EVENTS}-event "
        f"streams; the event observer alone {derived['stream_observer_alone_per_event_us']:.3f} µs/event; async "
        f"{derived['async_stream_per_event_us']:.3f} µs/event"
    )
    print(f"retried call: the extra attempt costs {derived['retry_extra_attempt_us']:.1f} µs")
    print(
        f"content capture: {derived['content_per_delta_default_us']:.3f} µs/delta at the default 4,096-byte limit, "
        f"{derived['content_per_delta_10mb_us']:.3f} µs/delta at 10 MB ({CONTENT_STREAM_DELTAS}-delta stream)"
    )
    mem = extra["memory"]
    plain, ours = mem["uninstrumented"], mem["instrumented"]
    delta = ours["retained_bytes_per_call"] - plain["retained_bytes_per_call"]
    print(
        f"memory per create (tracemalloc): retained {plain['retained_bytes_per_call']:.0f} → "
        f"{ours['retained_bytes_per_call']:.0f} B (Δ {delta:+.0f} B); transient peak "
        f"{plain['peak_bytes_per_call'] / 1024:.1f} → {ours['peak_bytes_per_call'] / 1024:.1f} KiB"
    )
    s = extra["series"]
    print(
        f"metric series after {s['calls']:,} calls ({s['models']} models, distinct request ids): {s['series']} "
        f"(after 10%: {s['series_after_10pct']}); request/message ids in metric attributes: "
        f"{s['request_or_message_ids_in_metric_attributes']}; RSS Δ {s['rss_delta_bytes'] / 1024:+.0f} KiB "
        f"({s['rss_delta_bytes_per_call']:+.1f} B/call); {s['seconds']:.0f} s"
    )
    if extra["queue_full_warnings"]:
        print(f"WARNING: the batch span processor dropped spans {extra['queue_full_warnings']} times")
    print(f"\n{'target':<56} {'measured':<38} {'limit':<9} result")
    for t in targets:
        print(f"{t.name:<56} {t.measured:<38} {t.limit:<9} {'PASS' if t.passed else 'FAIL'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few iterations: a CI smoke run (< 30 s)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="JSON results (default: %(default)s)")
    parser.add_argument("--profile", action="store_true", help="print profiles of the hot paths instead of timing")
    parser.add_argument("--py-spy", metavar="PATH", nargs="?", const="py-spy",
                        help="with --profile: also sample with py-spy (default: py-spy on PATH)")  # fmt: skip
    parser.add_argument("--rounds", type=int, help="ABBA rounds per comparison (default 16, quick 2)")
    parser.add_argument("--series-calls", type=int, help="calls for the metric-series count (default 100000)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--only", metavar="KEYS", help="comma-separated case keys (or key prefixes) to time alone, "
                        "e.g. create.auto,floor.full; prints their overheads, writes nothing")  # fmt: skip
    parser.add_argument("--spy-target", choices=("create", "stream"), help=argparse.SUPPRESS)
    parser.add_argument("--spy-seconds", type=float, default=10.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    settings = QUICK if args.quick else FULL
    if args.rounds:
        settings = replace(settings, rounds=args.rounds)
    if args.series_calls:
        settings = replace(settings, series_calls=args.series_calls)
    logging.basicConfig(level=logging.ERROR)  # the SDK's and OpenTelemetry's own chatter stays quiet
    queue_full = QueueFullCounter()
    logging.getLogger("opentelemetry").addHandler(queue_full)

    if args.spy_target:
        spy_target(args.spy_target, args.spy_seconds)
        return 0
    if args.profile:
        py_spy = shutil.which(args.py_spy) if args.py_spy else None
        if args.py_spy and py_spy is None:
            print(f"{args.py_spy} not found (pip install py-spy): cProfile only", file=sys.stderr)
        profile(settings, py_spy)
        return 0

    started = time.perf_counter()
    info = machine()
    providers = make_providers()
    loop = asyncio.new_event_loop()
    print("timing (overhead per case as it completes):", file=sys.stderr)
    cases = build_cases(providers, settings, loop)
    if args.only:
        prefixes = tuple(key.strip() for key in args.only.split(",") if key.strip())
        run_cases([case for case in cases if case.key.startswith(prefixes)], settings.rounds)
        return 0
    results = run_cases(cases, settings.rounds)

    print("memory...", file=sys.stderr, flush=True)
    instrumented = Instrumentation(providers).arm(creates(sync_client(Reply(message=message_json()), providers)))
    memory = {
        "uninstrumented": memory_per_call(Arm(instrumented.run), settings.memory_calls, providers),
        "instrumented": memory_per_call(instrumented, settings.memory_calls, providers),
    }
    print(f"metric series ({settings.series_calls:,} calls)...", file=sys.stderr, flush=True)
    series = series_after_many_calls(settings.series_calls)
    loop.close()
    providers.tracer.shutdown()

    derived, targets = derive(results)
    extra = {
        "memory": memory,
        "series": series,
        "queue_full_warnings": queue_full.count,
        "loadavg_end": _loadavg(),
    }
    print_report(cases, results, derived, targets, extra, info, settings)

    report = {
        "machine": info,
        "settings": {**asdict(settings), "gc": "enabled", "quick": args.quick},
        "otel_sdk": "TracerProvider + BatchSpanProcessor(dropping exporter); MeterProvider + InMemoryMetricReader",
        "cases": {
            case.key: {
                "label": case.label,
                "baseline": case.base_label,
                "calls_per_block": case.calls,
                "baseline_us": results[case.key].base,
                "measured_us": results[case.key].test,
                "overhead_us": results[case.key].overhead,
                "noise_us": results[case.key].noise,
                "ratio": results[case.key].ratio,
                "blocks_baseline_us": results[case.key].base_us,
                "blocks_measured_us": results[case.key].test_us,
            }
            for case in cases
        },
        "derived": derived,
        "targets": [asdict(t) for t in targets],
        **extra,
        "seconds": time.perf_counter() - started,
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{time.perf_counter() - started:.0f} s; results written to {args.out}")
    return 1 if args.strict and not all(t.passed for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
