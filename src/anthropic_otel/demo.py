"""`anthropic-otel demo`: the simulator, an instrumented workload with a realistic fault mix, metrics on a
Prometheus endpoint, and a summary of what the telemetry shows.

Everything runs on 127.0.0.1 and stops by itself after `--duration` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from anthropic_otel.testing._metrics import metric_points

DEFAULT_MIX = (
    "mix:ok=58:max_tokens=6:refusal=2:tool_use=4:stop_sequence=2:rate_limit=7:overloaded=6:server_error=2"
    ":stream_error=3:stream_cut=1:billing=1:auth=1:bad_request=1:drop=2:slow_first_token=3:ratelimit_low=1"
)
MODELS = ("claude-sonnet-5-5", "claude-haiku-5-5")
PROMPTS = ("Summarise the incident timeline.", "Draft a status page update.", "Classify this support ticket.")


DEFAULT_PORT = 9464  # the OpenTelemetry Prometheus exporter's usual port
PROG = "anthropic-otel demo"
# What the demo imports beyond the instrumentation's own dependencies: (module, distribution), all in the extra.
REQUIREMENTS = (
    ("anthropic", "anthropic"),
    ("opentelemetry.sdk", "opentelemetry-sdk"),
    ("opentelemetry.exporter.prometheus", "opentelemetry-exporter-prometheus"),
    ("prometheus_client", "prometheus-client"),
)
INSTALL_HINT = "pip install 'anthropic-otel[demo]'"


class DemoError(Exception):
    """A reason the demo cannot run, for one line on stderr (exit status 2)."""


def missing_requirements() -> list[str]:
    """The distributions of `REQUIREMENTS` whose module cannot be found."""
    missing = []
    for module, distribution in REQUIREMENTS:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a parent package is missing
            found = False
        if not found:
            missing.append(distribution)
    return missing


def _metrics_server(port: int | None) -> tuple[Any, threading.Thread]:
    """The Prometheus endpoint on 127.0.0.1: on `port` if one was asked for (or refused), else on the usual port,
    or any free one when that is taken."""
    from prometheus_client import start_http_server

    try:
        return start_http_server(DEFAULT_PORT if port is None else port, addr="127.0.0.1")  # type: ignore[no-any-return]
    except OSError as exc:
        if port is not None:
            raise DemoError(
                f"cannot serve metrics on 127.0.0.1:{port}: {exc.strerror or exc}; "
                "choose another --port (0 picks a free one)"
            ) from None
    return start_http_server(0, addr="127.0.0.1")  # type: ignore[no-any-return]


def _by(points: Iterable[tuple[dict[str, Any], Any]], *keys: str) -> Counter[tuple[Any, ...]]:
    counts: Counter[tuple[Any, ...]] = Counter()
    for attrs, point in points:
        counts[tuple(attrs.get(k, "") for k in keys)] += int(point.value)
    return counts


def _quantile(points: list[Any], q: float) -> float:
    """The upper bound of the bucket holding quantile `q`, over histogram points sharing their buckets."""
    bounds: list[float] = [*(float(b) for b in points[0].explicit_bounds), float("inf")]
    counts = [sum(p.bucket_counts[i] for p in points) for i in range(len(bounds))]
    target, seen = q * sum(counts), 0
    for bound, count in zip(bounds, counts, strict=True):
        seen += count
        if seen >= target:
            return bound
    return bounds[-1]


class Workload:
    """Sync threads and an asyncio loop calling the simulator through every Messages surface."""

    def __init__(self, base_url: str, seconds: float, seed: int) -> None:
        import anthropic

        self.anthropic = anthropic
        self.base_url = base_url
        self.deadline = time.monotonic() + seconds
        self.rng = random.Random(seed)
        self.done = Counter[str]()
        self._lock = threading.Lock()

    def _args(self, rng: random.Random) -> dict[str, Any]:
        return {
            "model": rng.choice(MODELS),
            "max_tokens": 256,
            "messages": [{"role": "user", "content": rng.choice(PROMPTS)}],
        }

    def _note(self, what: str) -> None:
        with self._lock:
            self.done[what] += 1

    def run_sync(self, worker: int) -> None:
        rng = random.Random(worker)
        client = self.anthropic.Anthropic(api_key="sk-ant-demo", base_url=self.base_url, max_retries=2, timeout=5)
        while time.monotonic() < self.deadline:
            kind = rng.choice(("create", "create", "stream", "helper", "count_tokens"))
            try:
                if kind == "create":
                    client.messages.create(**self._args(rng))
                elif kind == "stream":
                    for _ in client.messages.create(**self._args(rng), stream=True):
                        pass
                elif kind == "helper":
                    with client.messages.stream(**self._args(rng)) as stream:
                        stream.get_final_message()
                else:
                    args = self._args(rng)
                    client.messages.count_tokens(model=args["model"], messages=args["messages"])
            except (self.anthropic.APIError, OSError, Exception):
                pass
            self._note(kind)
        client.close()

    async def _async_task(self, task: int) -> None:
        rng = random.Random(1000 + task)
        client = self.anthropic.AsyncAnthropic(api_key="sk-ant-demo", base_url=self.base_url, max_retries=2, timeout=5)
        while time.monotonic() < self.deadline:
            streaming = rng.random() < 0.5
            try:
                if streaming:
                    async with client.messages.stream(**self._args(rng)) as stream:
                        async for _ in stream.text_stream:
                            pass
                else:
                    await client.messages.create(**self._args(rng))
            except Exception:
                pass
            self._note("async-stream" if streaming else "async-create")
        await client.close()

    def run_async(self, tasks: int) -> None:
        async def main() -> None:
            await asyncio.gather(*(self._async_task(i) for i in range(tasks)))

        asyncio.run(main())


def _progress(reader: Any, elapsed: float) -> str:
    outcomes = _by(metric_points(reader, "anthropic.client.calls"), "anthropic.call.outcome")
    attempts = sum(int(p.value) for _, p in metric_points(reader, "anthropic.client.attempts"))
    calls = sum(outcomes.values())
    return (
        f"[{elapsed:4.0f}s] calls {calls:5d} | ok {outcomes[('ok',)]:4d}  recovered {outcomes[('recovered',)]:4d}"
        f"  failed {outcomes[('failed',)]:4d} | attempts {attempts:5d}"
    )


# (gen_ai.token.type, anthropic.token.cache, anthropic.token.cache_ttl) -> the price category; cache writes
# without a lifetime are priced at the default one (5 minutes).
_PRICE_CATEGORY = {
    ("input", "none", None): "input",
    ("output", "none", None): "output",
    ("input", "read", None): "cache_read",
    ("input", "creation", "5m"): "cache_write_5m",
    ("input", "creation", None): "cache_write_5m",
    ("input", "creation", "1h"): "cache_write_1h",
}


def _spend(token_points: list[tuple[dict[str, Any], Any]], spans: list[Any]) -> list[str]:
    """Spend by model at list prices (the shipped table, or $ANTHROPIC_OTEL_PRICE_FILE), and a forecast at the
    run's pace. Token totals per model are priced without the long-context rates (per-call prompt sizes are not
    in the aggregated metric)."""
    from anthropic_otel import pricing

    table = pricing.load()
    per_model: dict[str, Counter[str]] = defaultdict(Counter)
    for attrs, point in token_points:
        key = (
            attrs.get("gen_ai.token.type"),
            attrs.get("anthropic.token.cache"),
            attrs.get("anthropic.token.cache_ttl"),
        )
        category = _PRICE_CATEGORY.get(key)  # type: ignore[arg-type]
        if category is not None:
            per_model[str(attrs.get("gen_ai.request.model"))][category] += int(point.sum)
    if not per_model:
        return []
    times = [(s.start_time, s.end_time) for s in spans if s.start_time and s.end_time]
    elapsed = (max(e for _, e in times) - min(b for b, _ in times)) / 1e9 if times else 0.0
    lines = [f"\nSpend at list prices (price table read {table.read}):"]
    total = 0.0
    for model, counts in sorted(per_model.items()):
        cost = table.cost(model, pricing.Usage(**counts))
        saved = None
        if cost is not None:
            uncached = table.uncached_cost(model, pricing.Usage(**counts))
            saved = (uncached or 0.0) - cost
            total += cost
        shown = f"{cost:10.4f} USD" if cost is not None else "  unpriced    "
        cache = f"  (prompt cache saved {saved:.4f} USD)" if saved else ""
        lines.append(f"  {model:<24} {shown}  {sum(counts.values()):>9} tokens{cache}")
    if elapsed > 0:
        hourly = total / elapsed * 3600
        lines.append(
            f"  total {total:.4f} USD in {elapsed:.0f} s; at this pace {hourly:.2f} USD/hour, "
            f"{hourly * 24 * 30:.2f} USD per 30 days (forecast)"
        )
    return lines


def summary(reader: Any, spans: list[Any]) -> str:
    """A readable account of what the exported telemetry says."""
    lines: list[str] = []
    calls = metric_points(reader, "anthropic.client.calls")
    outcomes = _by(calls, "anthropic.call.outcome")
    total = sum(outcomes.values()) or 1
    lines.append(f"Calls: {sum(outcomes.values())}")
    for outcome in ("ok", "recovered", "failed"):
        n = outcomes[(outcome,)]
        lines.append(f"  {outcome:<10} {n:6d}  {100 * n / total:5.1f}%")

    failed = _by(
        [(a, p) for a, p in calls if a.get("anthropic.call.outcome") == "failed"],
        "error.type", "anthropic.error.code", "http.response.status_code",
    )  # fmt: skip
    if failed:
        lines.append("\nFailed calls by error.type (error_code, final status):")
        for (etype, code, status), n in failed.most_common():
            extra = f" code={code}" if code else ""
            if status == 200:
                extra += " (failed mid-stream after HTTP 200)"
            lines.append(f"  {etype:<24} {n:5d}  status={status or '-'}{extra}")

    attempts = metric_points(reader, "anthropic.client.attempts")
    errors = _by([(a, p) for a, p in attempts if a.get("error.type")], "error.type", "anthropic.error.retryable")
    n_attempts = sum(int(p.value) for _, p in attempts)
    n_retries = sum(int(p.value) for a, p in attempts if a.get("anthropic.attempt.is_retry"))
    lines.append(f"\nAttempts: {n_attempts} ({n_retries} retries the SDK made internally)")
    for (etype, retryable), n in errors.most_common():
        lines.append(f"  {etype:<24} {n:5d}  {'retryable' if retryable else 'terminal'}")

    delays = metric_points(reader, "anthropic.client.retry.delay")
    waited = sum(p.sum for _, p in delays)
    n_delays = sum(p.count for _, p in delays)
    amplification = n_attempts / total
    lines.append(f"\nRetries: {n_delays} backoffs, {waited:.1f} s spent waiting; {amplification:.2f} attempts per call")
    per_cause: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for attrs, p in delays:
        totals = per_cause[str(attrs.get("error.type", "?"))]
        totals[0] += p.sum
        totals[1] += p.count
    for cause, (seconds, waits) in sorted(per_cause.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"  after {cause:<22} {int(waits):4d} waits, mean {seconds / max(waits, 1):.2f} s")

    lines.append("\nLatency (from the histograms' buckets):")
    for name, label in (
        ("gen_ai.client.operation.duration", "call duration"),
        ("gen_ai.client.operation.time_to_first_chunk", "time to first chunk"),
    ):
        points = [p for _, p in metric_points(reader, name)]
        if points:
            p50, p95 = _quantile(points, 0.5), _quantile(points, 0.95)
            lines.append(f"  {label:<22} p50 <= {p50:.2f} s   p95 <= {p95:.2f} s")

    stops = _by(calls, "anthropic.message.stop_reason")
    lines.append("\nStop reasons (calls that returned a message):")
    for (reason,), n in stops.most_common():
        if reason:
            lines.append(f"  {reason:<24} {n:5d}")

    remaining = {(a["anthropic.ratelimit.kind"], a.get("gen_ai.request.model")): p.value
                 for a, p in metric_points(reader, "anthropic.ratelimit.remaining")}  # fmt: skip
    limits = {(a["anthropic.ratelimit.kind"], a.get("gen_ai.request.model")): p.value
              for a, p in metric_points(reader, "anthropic.ratelimit.limit")}  # fmt: skip
    if remaining:
        lines.append("\nRate-limit headroom (last headers seen):")
        for key in sorted(remaining):
            limit = limits.get(key) or 0
            share = f"{100 * remaining[key] / limit:5.1f}%" if limit else "  n/a"
            lines.append(f"  {key[0]:<14} {key[1]:<20} {int(remaining[key]):>8} / {int(limit):<8} {share}")

    lines += _spend(metric_points(reader, "gen_ai.client.token.usage"), spans)

    failed_attempts = [
        s for s in spans if (s.attributes or {}).get("error.type") and "url.path" in (s.attributes or {})
    ]
    if failed_attempts:
        lines.append("\nSample request ids of failed attempts (give these to Anthropic support):")
        seen: set[str] = set()
        for span in failed_attempts:
            attrs = span.attributes or {}
            etype = str(attrs["error.type"])
            if etype in seen or "anthropic.request.id" not in attrs:
                continue
            seen.add(etype)
            status = attrs.get("http.response.status_code")
            response = f"HTTP {status}" if status is not None else "no HTTP response"
            lines.append(f"  {attrs['anthropic.request.id']}  {etype} ({response})")
    return "\n".join(lines)


def run(seconds: float, port: int | None, scenario: str, seed: int) -> int:
    """The demo; `port`: the metrics endpoint's, None for the usual one (or any free one if it is taken)."""
    from opentelemetry import trace
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from anthropic_otel import AnthropicInstrumentor
    from anthropic_otel.testing import ScenarioError, Simulator

    # What the user gave is checked before anything starts.
    try:
        simulator = Simulator(scenario, seed=seed)
    except ScenarioError as exc:
        raise DemoError(f"--scenario: {exc}") from None
    server, server_thread = _metrics_server(port)
    taken = f"  ({DEFAULT_PORT} is in use)" if port is None and server.server_port != DEFAULT_PORT else ""
    port = int(server.server_port)

    resource = Resource.create({"service.name": "anthropic-otel-demo"})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    trace.set_tracer_provider(tracer_provider)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader, PrometheusMetricReader()])
    AnthropicInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)

    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(simulator)
        print(f"simulator     {sim.base_url}  scenario {scenario}")
        print(f"metrics       http://127.0.0.1:{port}/metrics  (Prometheus format){taken}")
        prometheus = _start_prometheus(stack, port)
        print(f"workload      3 sync threads + 4 asyncio tasks, {seconds:.0f} s, sync/async, streaming and not\n")
        work = Workload(sim.base_url, seconds, seed)
        threads = [threading.Thread(target=work.run_sync, args=(i,), daemon=True) for i in range(3)]
        threads.append(threading.Thread(target=work.run_async, args=(4,), daemon=True))
        start = time.monotonic()
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            time.sleep(min(2.0, max(0.1, seconds + 30 - (time.monotonic() - start))))
            print(_progress(reader, time.monotonic() - start), flush=True)
            if time.monotonic() - start > seconds + 30:
                print("workload did not stop in time; summarising what was recorded")
                break
        print("\n" + "=" * 72 + "\nWhat the telemetry shows\n" + "=" * 72)
        print(summary(reader, list(spans.get_finished_spans())))
        if prometheus is not None:
            _report_alerts(prometheus)
    server.shutdown()
    server_thread.join(timeout=5)
    meter_provider.shutdown()
    tracer_provider.shutdown()
    return 0


def _start_prometheus(stack: contextlib.ExitStack, metrics_port: int) -> Any:
    """Prometheus with the shipped alert and recording rules (short demo windows), if it is installed."""
    from anthropic_otel.grafana import prometheus_runner as prom

    if not prom.prometheus_available():
        print(f"alerts        {prom.INSTALL_HINT}")
        return None
    try:
        # The rule generator may need the grafana extra: without it, the demo runs without alerts.
        from anthropic_otel.grafana.config import demo_config
        from anthropic_otel.grafana.rules import write_rules

        rules_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="anthropic-otel-demo-rules-")))
        write_rules(rules_dir, demo_config())
        server = stack.enter_context(prom.run_prometheus(rules_dir, f"127.0.0.1:{metrics_port}"))
    except Exception as exc:
        print(f"alerts        could not start prometheus: {exc}")
        return None
    print(f"prometheus    {server.url}  (shipped alert and recording rules, demo-length windows)")
    return server


def _report_alerts(server: Any) -> None:
    # One more scrape and rule evaluation after the last calls.
    time.sleep(3)
    try:
        alerts = server.alerts(include_pending=True)
    except Exception as exc:
        print(f"\nAlerts: could not query prometheus: {exc}")
        return
    print("\nAlerts (Prometheus with the shipped rules):")
    if not alerts:
        print("  none pending or firing")
    for alert in sorted(alerts, key=lambda a: (a.state != "firing", a.name)):
        extra = " ".join(
            f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in ("alertname", "severity") and v
        )
        print(f"  {alert.state:<8} {alert.name:<36} [{alert.labels.get('severity', '?')}] {extra}")
        summary = alert.annotations.get("summary")
        if summary:
            print(f"           {summary}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of workload (default 20)")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"Prometheus endpoint port on 127.0.0.1 (default {DEFAULT_PORT}, or a free one if it is taken; "
        "a port given here is used or the demo stops; 0 picks a free one)",
    )
    parser.add_argument("--scenario", default=DEFAULT_MIX, help="simulator scenario (default: a realistic mix)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    missing = missing_requirements()
    if missing:
        print(f"{PROG}: needs {', '.join(missing)}, from the demo extra: {INSTALL_HINT}", file=sys.stderr)
        return 2
    if args.port is not None and not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port (0 to 65535)")
    try:
        return run(args.duration, args.port, args.scenario, args.seed)
    except DemoError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
