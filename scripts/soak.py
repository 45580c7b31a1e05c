"""Soak: many calls and many abandoned streams through the instrumented SDK; nothing may grow.

    python scripts/soak.py                         # 100,000 calls and 10,000 abandoned streams over loopback
    python scripts/soak.py --calls 3000 --streams 1000 --transport inprocess --json out.json

Calls: the real SDK against the simulator (`--transport loopback`, default) or against an in-process httpx
transport that answers like it (`--transport inprocess`, no sockets: about twice as fast). Every call gets a
distinct request id; models come from a bounded set of 5; the mix has successes, retries, failures and streams.
Checked: every call counted once; the number of metric series after the first 10% of the calls equals the number
at the end; process RSS stays flat (growth under `--max-rss-growth-mb` from the 10% point to the end); no span
left open; no `Call` object of ours left alive.

Streams: 10,000 streams abandoned in every way an application does it, sync and async: never read and dropped,
read in part and dropped, broken out of and closed, left by an exception inside the `with` block. After each batch
of 50, one `gc.collect()` (and, async, ten event-loop turns, as the SDK's own test of dropped streams allows) must
have ended every span; at the end no `Call` is alive, and metric series and RSS have not grown.

tests/reliability/test_rel_lifetimes.py runs the same checks with 3,000 calls and 1,000 streams. Exit status 1
when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import anthropic
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from anthropic_otel import AnthropicInstrumentor, _call
from anthropic_otel.testing import Recording, Simulator

MODELS = [f"claude-soak-{i}" for i in range(5)]
NATIVE = tuple(int(p) for p in anthropic.__version__.split(".")[:2]) >= (1, 14)
# (scenario, stream): a realistic mix with retries, failures and streams. Retry waits are 1 ms.
MIX: list[tuple[str, bool]] = [
    ("ok", False),
    ("ok", False),
    ("overloaded:retry_after_ms=1,ok", False),
    ("rate_limit:retry_after_ms=1,ok", False),
    ("billing:status=403:code=enforced_spend_limit_reached", False),
    ("ok:deltas=3", True),
    ("overloaded:retry_after_ms=1,ok:deltas=2", True),
    ("stream_error:after=1", True),
]


# --- telemetry that keeps counts, not spans ----------------------------------------------------------------


class CountingExporter(SpanExporter):
    def __init__(self) -> None:
        self.exported = 0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            self.exported += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


class Lean(Recording):
    """A `Recording` whose spans are counted, not kept (a soak ends millions of them), with checkpoints."""

    def __init__(self) -> None:
        self.exporter = CountingExporter()
        super().__init__(self.exporter)
        self.checkpoints: list[dict[str, Any]] = []

    def counter(self, name: str) -> int:
        return int(self.total(name))

    def checkpoint(self, label: str, done: int) -> dict[str, Any]:
        # A cycle whose finalizers ran survives the collection that ran them when any object of that collection was
        # resurrected (CPython frees none of them then): collect until nothing more is found.
        for _ in range(4):
            if not gc.collect():
                break
        series = self.series()
        point = {
            "label": label,
            "done": done,
            "rss_mb": round(rss_mb(), 1),
            "series": len(series),
            "calls_counted": sum(int(p.value) for n, _, p in series if n == "anthropic.client.calls"),
            "spans_exported": self.exporter.exported,
            "spans_open": len(self.left_open(collect_garbage=False)),
            "calls_alive": live_calls(),
        }
        self.checkpoints.append(point)
        return point


@contextmanager
def lean_telemetry() -> Iterator[Lean]:
    with Lean() as lean:
        instrumentor = AnthropicInstrumentor()
        instrumentor.instrument(tracer_provider=lean.tracer_provider, meter_provider=lean.meter_provider)
        try:
            yield lean
        finally:
            instrumentor.uninstrument()


def rss_mb() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the peak, which still shows growth
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def live_calls() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, _call.Call))


# --- where the calls go --------------------------------------------------------------------------------------


def _httpx() -> Any:
    """The HTTP library of the installed SDK: httpx2 from anthropic 1.0 on, httpx before."""
    import anthropic._base_client as base

    return getattr(base, "httpx2", None) or base.httpx


class InProcess:
    """An in-process transport that answers like the simulator (same faults, SSE framing, headers)."""

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()

    def _respond(self, request: Any, async_: bool = False) -> Any:
        httpx = _httpx()
        with self._lock:
            self.requests += 1
            n = self.requests
        scenario = request.headers.get("x-sim-scenario", "ok").split(",")
        attempt = int(request.headers.get("x-stainless-retry-count", "0"))
        step = scenario[min(attempt, len(scenario) - 1)]
        fault, _, params = step.partition(":")
        body = json.loads(request.content)
        headers = {
            "request-id": f"req_inproc_{n:08d}",
            "anthropic-ratelimit-requests-limit": "4000",
            "anthropic-ratelimit-requests-remaining": str(4000 - n % 4000),
        }
        errors = {"overloaded": (529, "overloaded_error"), "rate_limit": (429, "rate_limit_error")}
        errors["billing"] = (403, "billing_error")
        if fault in errors:
            status, error_type = errors[fault]
            if "retry_after_ms=1" in params:
                headers["retry-after-ms"] = "1"
            error = {"type": "error", "error": {"type": error_type, "message": "soak"}}
            return httpx.Response(status, headers=headers, json=error)
        message = {
            "id": f"msg_inproc_{n}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [{"type": "text", "text": "soak soak"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 5, "output_tokens": 2},
        }
        if not body.get("stream"):
            return httpx.Response(200, headers=headers, json=message)
        headers["content-type"] = "text/event-stream"
        events = _sse(message, fault == "stream_error")
        return httpx.Response(200, headers=headers, content=_aiter(events) if async_ else events)

    def client(self, async_: bool = False, **options: Any) -> Any:
        httpx = _httpx()
        if async_:

            async def respond(request: Any) -> Any:
                return self._respond(request, async_=True)

            http_client = httpx.AsyncClient(transport=httpx.MockTransport(respond))
            return anthropic.AsyncAnthropic(api_key="sk-soak", http_client=http_client, **options)
        http_client = httpx.Client(transport=httpx.MockTransport(self._respond))
        return anthropic.Anthropic(api_key="sk-soak", http_client=http_client, **options)


async def _aiter(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def _sse(message: dict[str, Any], error: bool) -> Iterator[bytes]:
    def event(name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    start = {**message, "content": [], "stop_reason": None, "usage": {"input_tokens": 5, "output_tokens": 1}}
    yield event("message_start", {"type": "message_start", "message": start})
    yield event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}})
    delta = {"type": "text_delta", "text": "soak "}
    yield event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
    if error:
        yield event("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        return
    yield event("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield event("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {}})
    yield event("message_stop", {"type": "message_stop"})


@contextmanager
def make_clients(transport: str, lean: Lean) -> Iterator[Callable[..., Any]]:
    """Yields `new(async_=False, **options)`, a client factory for the chosen transport."""
    native = {"open_telemetry": {"tracer_provider": lean.tracer_provider}} if NATIVE else {}
    if transport == "inprocess":
        inproc = InProcess()
        yield lambda async_=False, **options: inproc.client(async_, **native, **options)
        return
    with Simulator(max_recorded=1) as sim:  # keep no history: it would grow with the soak

        def new(async_: bool = False, **options: Any) -> Any:
            cls = anthropic.AsyncAnthropic if async_ else anthropic.Anthropic
            return cls(api_key="sk-soak", base_url=sim.base_url, **native, **options)

        yield new


# --- the two soaks -------------------------------------------------------------------------------------------


def _one_call(client: anthropic.Anthropic, i: int) -> None:
    scenario, stream = MIX[i % len(MIX)]
    args: dict[str, Any] = {
        "model": MODELS[(i // len(MIX)) % len(MODELS)],
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "soak"}],
        "extra_headers": {"x-sim-scenario": scenario},
    }
    try:
        if stream:
            for _ in client.messages.create(**args, stream=True):
                pass
        else:
            client.messages.create(**args)
    except anthropic.APIStatusError:
        pass


def soak_calls(calls: int, transport: str, progress: bool = False) -> dict[str, Any]:
    with lean_telemetry() as lean, make_clients(transport, lean) as new:
        client = new(max_retries=2)
        warm = max(1, calls // 10)
        start = time.perf_counter()
        for i in range(calls):
            _one_call(client, i)
            if i + 1 == warm:
                lean.checkpoint("10%", i + 1)
            elif progress and (i + 1) % (calls // 10 or 1) == 0:
                point = lean.checkpoint(f"{(i + 1) * 100 // calls}%", i + 1)
                print(f"  calls {point}", flush=True)
        elapsed = time.perf_counter() - start
        client.close()
        del client
        end = lean.checkpoint("end", calls)
        first = lean.checkpoints[0]
        return {
            "calls": calls,
            "transport": transport,
            "seconds": round(elapsed, 1),
            "calls_per_second": round(calls / elapsed),
            "calls_counted": lean.counter("anthropic.client.calls"),
            "series_at_10pct": first["series"],
            "series_at_end": end["series"],
            "rss_mb_at_10pct": first["rss_mb"],
            "rss_mb_at_end": end["rss_mb"],
            "spans_exported": end["spans_exported"],
            "spans_open": end["spans_open"],
            "calls_alive": end["calls_alive"],
            "checkpoints": lean.checkpoints,
        }


STREAM_MODES = ["never-read", "read-one", "break-close", "with-raise"]
BATCH = 50


def _abandon_sync(client: anthropic.Anthropic, mode: str, model: str) -> None:
    args: dict[str, Any] = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "soak"}]}
    args["extra_headers"] = {"x-sim-scenario": "ok:deltas=6"}
    if mode == "with-raise":
        try:
            with client.messages.stream(**args) as stream:
                next(iter(stream))
                raise KeyError("the application fails while reading")
        except KeyError:
            pass
        return
    stream = client.messages.create(**args, stream=True)
    if mode == "read-one":
        next(iter(stream))
    elif mode == "break-close":
        for event in stream:
            if event.type == "content_block_delta":
                break
        stream.close()


async def _abandon_async(client: anthropic.AsyncAnthropic, mode: str, model: str) -> None:
    args: dict[str, Any] = {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "soak"}]}
    args["extra_headers"] = {"x-sim-scenario": "ok:deltas=6"}
    if mode == "with-raise":
        try:
            async with client.messages.stream(**args) as stream:
                await stream.__anext__()
                raise KeyError("the application fails while reading")
        except KeyError:
            pass
        return
    stream = await client.messages.create(**args, stream=True)
    if mode == "read-one":
        await stream.__anext__()
    elif mode == "break-close":
        async for event in stream:
            if event.type == "content_block_delta":
                break
        await stream.close()


def soak_streams(streams: int, transport: str, progress: bool = False) -> dict[str, Any]:
    """Abandoned streams in batches of 50 per client; after each batch one gc.collect() must end every span."""
    late: dict[str, int] = {}
    with lean_telemetry() as lean, make_clients(transport, lean) as new:
        batches = max(1, streams // BATCH)
        start = time.perf_counter()
        for b in range(batches):
            mode = STREAM_MODES[(b // 2) % len(STREAM_MODES)]  # every mode, sync then async
            if b % 2 == 0:
                client = new(max_retries=0)
                # With the cyclic GC free to run inside the next request, httpcore 1.0 (SDK < 1.0) deadlocks: the
                # finalizer of a dropped stream closes its response while the same thread holds the connection
                # pool's lock. That happens without anthropic-otel too; collect between requests instead.
                gc.disable()
                try:
                    for i in range(BATCH):
                        _abandon_sync(client, mode, MODELS[i % len(MODELS)])
                finally:
                    gc.enable()
                gc.collect()
                open_now = len(lean.open_spans.open)
                client.close()
            else:

                async def batch(mode: str = mode) -> int:
                    client = new(async_=True, max_retries=0)
                    # As for sync streams: collect in this loop's thread, between requests. The cyclic GC run by
                    # another thread (the simulator's) may otherwise finalize a dropped stream's async generator
                    # while it is executing here ("async generator already executing"), with or without us.
                    gc.disable()
                    try:
                        for i in range(BATCH):
                            await _abandon_async(client, mode, MODELS[i % len(MODELS)])
                    finally:
                        gc.enable()
                    # The event loop closes the async generators of a stream dropped in the middle, each in a task
                    # of its own: give it the turns the SDK's own test of dropped streams gives it.
                    gc.collect()
                    for _ in range(10):
                        await asyncio.sleep(0)
                    open_now = len(lean.open_spans.open)
                    await client.close()
                    # Finalize what is left while this loop runs: an async generator collected later, in another
                    # thread and after its loop closed, fails its aclose() ("async generator already executing").
                    gc.collect()
                    for _ in range(10):
                        await asyncio.sleep(0)
                    return open_now

                open_now = asyncio.run(batch())
                mode = f"async {mode}"
            if open_now:
                late[mode] = late.get(mode, 0) + open_now
            if b + 1 == min(batches, max(batches // 10, 2 * len(STREAM_MODES))):  # every mode seen, sync and async
                lean.checkpoint("warm", (b + 1) * BATCH)
            elif progress and (b + 1) % max(1, batches // 10) == 0:
                print(f"  streams {lean.checkpoint(f'{(b + 1) * 100 // batches}%', (b + 1) * BATCH)}", flush=True)
        elapsed = time.perf_counter() - start
        end = lean.checkpoint("end", batches * BATCH)
        first = next(c for c in lean.checkpoints if c["label"] == "warm")
        return {
            "streams": batches * BATCH,
            "transport": transport,
            "seconds": round(elapsed, 1),
            "calls_counted": lean.counter("anthropic.client.calls"),
            "spans_open_after_one_gc_by_mode": late,
            "series_at_10pct": first["series"],  # at the first checkpoint: 10%, or every mode seen once
            "series_at_end": end["series"],
            "rss_mb_at_10pct": first["rss_mb"],
            "rss_mb_at_end": end["rss_mb"],
            "spans_open": end["spans_open"],
            "calls_alive": end["calls_alive"],
            "checkpoints": lean.checkpoints,
        }


def problems(calls: dict[str, Any] | None, streams: dict[str, Any] | None, max_rss_growth_mb: float) -> list[str]:
    """The checks, as messages for what failed (empty when all hold)."""
    found = []
    for name, result, expected in (("calls", calls, "calls"), ("streams", streams, "streams")):
        if result is None:
            continue
        if result["calls_counted"] != result[expected]:
            found.append(f"{name}: anthropic.client.calls counted {result['calls_counted']} of {result[expected]}")
        if result["series_at_end"] != result["series_at_10pct"]:
            found.append(f"{name}: metric series grew from {result['series_at_10pct']} to {result['series_at_end']}")
        growth = result["rss_mb_at_end"] - result["rss_mb_at_10pct"]
        if growth > max_rss_growth_mb:
            found.append(f"{name}: RSS grew {growth:.1f} MB after the first 10% (limit {max_rss_growth_mb} MB)")
        if result["spans_open"]:
            found.append(f"{name}: {result['spans_open']} spans never ended")
        if result["calls_alive"]:
            found.append(f"{name}: {result['calls_alive']} Call objects still alive at the end")
    if streams is not None and streams["spans_open_after_one_gc_by_mode"]:
        found.append(
            "streams: spans still open right after the application dropped its streams and one gc.collect(): "
            f"{streams['spans_open_after_one_gc_by_mode']}"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--transport", choices=["loopback", "inprocess"], default="loopback")
    parser.add_argument("--max-rss-growth-mb", type=float, default=16.0)
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    print(f"anthropic {anthropic.__version__}, python {sys.version.split()[0]}, transport {args.transport}")
    calls = soak_calls(args.calls, args.transport, progress=True) if args.calls else None
    if calls:
        print({k: v for k, v in calls.items() if k != "checkpoints"}, flush=True)
    streams = soak_streams(args.streams, args.transport, progress=True) if args.streams else None
    if streams:
        print({k: v for k, v in streams.items() if k != "checkpoints"}, flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"calls": calls, "streams": streams}, out, indent=1)
    found = problems(calls, streams, args.max_rss_growth_mb)
    for line in found:
        print(f"FAILED: {line}")
    if not found:
        print("OK: counts exact, metric series and RSS flat, every span ended, no Call left alive")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
