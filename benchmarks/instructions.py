"""What `anthropic-otel` costs per call in CPU instructions, counted by callgrind: deterministic, unlike wall time.

    python benchmarks/instructions.py                 # full run: 200 calls per arm; writes benchmarks/instructions.json
    python benchmarks/instructions.py --quick         # CI smoke run: 10 calls per arm; exit 0 unless the harness fails
    python benchmarks/instructions.py --only ours,plain --calls 100
    python benchmarks/instructions.py --profile ours  # where the arm's instructions go, against its baseline

Each arm runs in its own client process (`_instructions_worker.py`) under `valgrind --tool=callgrind
--instr-atstart=no`, with PYTHONHASHSEED=0. It makes its warm-up calls uninstrumented by callgrind, then
collection is switched on with `callgrind_control -i on` around exactly the measured calls (`_callgrind.py`).
The calls go over loopback HTTP to the project's simulator (`anthropic-otel simulate`), which runs in another
process, not under valgrind: its instructions are not counted. Counted is the client's main thread, the
application thread; the batch span processor's export thread is reported apart. Targets are reported, not
enforced (`--strict` makes a failed target exit 1). Details: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from _callgrind import CallgrindError, Window, measure_window, self_cost

HERE = Path(__file__).resolve().parent
WORKER = HERE / "_instructions_worker.py"
PACKAGES = ("anthropic", "httpx2", "opentelemetry-api", "opentelemetry-sdk", "anthropic-otel", "wrapt", "pydantic")
# The simulator sends deltas + 6 events (message_start, content_block_start, ping, deltas, content_block_stop,
# message_delta, message_stop).
SHORT_DELTAS, LONG_DELTAS = 4, 494
SHORT_EVENTS, LONG_EVENTS = SHORT_DELTAS + 6, LONG_DELTAS + 6
SDK_SCOPE, OUR_SCOPE = "com.anthropic.sdk.python", "anthropic_otel"


@dataclass(frozen=True)
class ArmSpec:
    key: str
    worker_arm: str  # plain | native | ours | ours+native | noop (see _instructions_worker.ARMS)
    deltas: int = 0  # > 0: streamed calls of deltas + 6 events
    baseline: str | None = None  # the arm --profile compares it with

    @property
    def unit(self) -> str:
        return f"stream of {self.deltas + 6} events" if self.deltas else "call"


ARMS = (
    ArmSpec("plain", "plain"),
    ArmSpec("native", "native", baseline="plain"),
    ArmSpec("ours", "ours", baseline="plain"),
    ArmSpec("ours+native", "ours+native", baseline="native"),
    ArmSpec("noop", "noop", baseline="plain"),
    ArmSpec("stream.short.plain", "plain", SHORT_DELTAS),
    ArmSpec("stream.short.ours", "ours", SHORT_DELTAS, baseline="stream.short.plain"),
    ArmSpec("stream.long.plain", "plain", LONG_DELTAS),
    ArmSpec("stream.long.ours", "ours", LONG_DELTAS, baseline="stream.long.plain"),
)
BY_KEY = {arm.key: arm for arm in ARMS}


@dataclass(frozen=True)
class Settings:
    calls: int  # non-streamed calls per arm
    streams: int  # streamed calls per stream arm
    warmup: int


def settings_for(args: argparse.Namespace) -> Settings:
    calls = args.calls if args.calls is not None else (10 if args.quick else 200)
    streams = args.streams if args.streams is not None else max(3, calls // 10)
    return Settings(calls, streams, 3 if args.quick else 10)


# --- the simulator --------------------------------------------------------------------------------------------------


@contextmanager
def simulator() -> Iterator[str]:
    """`anthropic-otel simulate` on a free loopback port, in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "anthropic_otel", "simulate", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    try:
        first = proc.stdout.readline()
        match = re.search(r"on (http://\S+)", first)
        if match is None:
            raise CallgrindError(f"the simulator did not start: {first!r} {proc.stderr.read() if proc.stderr else ''}")
        yield match.group(1)
    finally:
        proc.send_signal(signal.SIGINT)  # KeyboardInterrupt: the CLI stops the server and exits 0
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- running arms ---------------------------------------------------------------------------------------------------


def worker_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_"))}
    env["PYTHONHASHSEED"] = "0"  # dict and set layouts, hence instruction counts, the same in every run
    # The driver's sys.path (e.g. PYTHONPATH=src of a worktree) is the worker's: it imports the same anthropic_otel.
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p and Path(p).is_dir())
    return env


def worker_argv(arm: ArmSpec, base_url: str, calls: int, warmup: int) -> list[str]:
    argv = [sys.executable, str(WORKER), arm.worker_arm, "--base-url", base_url, "--calls", str(calls)]
    return [*argv, "--warmup", str(warmup), "--deltas", str(arm.deltas)]


def check_exported(arm: ArmSpec, check: dict[str, Any]) -> None:
    """The arm did what it claims: which instrumentation scopes exported spans, whether metrics were recorded."""
    scopes, metrics = set(check["spans"]), check["metrics"]
    ours = arm.worker_arm in ("ours", "ours+native")
    native = arm.worker_arm in ("native", "ours+native")
    problems = []
    if (OUR_SCOPE in scopes) != ours or bool(metrics) != ours:
        problems.append(f"our spans/metrics {'missing' if ours else 'present'}")
    if native and SDK_SCOPE not in scopes:
        problems.append("no span of the SDK's native tracing")
    if not native and SDK_SCOPE in scopes:
        problems.append("the SDK's native tracing was on")
    if scopes - {OUR_SCOPE, SDK_SCOPE}:
        problems.append(f"unexpected scopes {sorted(scopes - {OUR_SCOPE, SDK_SCOPE})}")
    if problems:
        raise CallgrindError(f"arm {arm.key}: {'; '.join(problems)} (exported: {check})")


@dataclass
class Result:
    arm: ArmSpec
    calls: int
    windows: list[Window]

    @property
    def per_call(self) -> float:
        """Main-thread instructions per call (per stream): the median over repeats."""
        return statistics.median(w.main / self.calls for w in self.windows)

    @property
    def spread(self) -> float:
        """Max - min per call over the repeats: how deterministic the count was."""
        counts = [w.main / self.calls for w in self.windows]
        return max(counts) - min(counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "unit": self.arm.unit,
            "calls": self.calls,
            "instructions_per_call": self.per_call,
            "spread": self.spread,
            "repeats": [
                {
                    "main_thread": w.main,
                    "other_threads": w.other_threads,
                    "after_off": w.after_off,
                    "window_wall_s": round(w.wall_s, 2),
                    "exported": w.check,
                }
                for w in self.windows
            ],
        }


def run_arm(arm: ArmSpec, base_url: str, settings: Settings, repeat: int, out_dir: Path) -> Result:
    calls = settings.streams if arm.deltas else settings.calls
    windows = []
    for i in range(repeat):
        t0 = time.monotonic()
        out = out_dir / f"callgrind.{arm.key.replace('+', '_')}.{i}"
        window = measure_window(worker_argv(arm, base_url, calls, settings.warmup), out, worker_env())
        if window.after_off:
            raise CallgrindError(f"arm {arm.key}: {window.after_off} instructions collected after -i off")
        check_exported(arm, window.check)
        windows.append(window)
        print(
            f"  {arm.key:<20} {window.main / calls:>13,.0f} instr/{arm.unit}  "
            f"({calls} in {window.wall_s:.0f} s under valgrind, {time.monotonic() - t0:.0f} s in all)",
            file=sys.stderr,
            flush=True,
        )
    return Result(arm, calls, windows)


def run_arms(arms: Sequence[ArmSpec], settings: Settings, repeat: int, jobs: int, out_dir: Path) -> dict[str, Result]:
    with simulator() as base_url, ThreadPoolExecutor(max_workers=jobs) as pool:
        # Instruction counts do not depend on what else runs: arms may run side by side.
        futures = {arm.key: pool.submit(run_arm, arm, base_url, settings, repeat, out_dir) for arm in arms}
        return {key: future.result() for key, future in futures.items()}


# --- derived figures and targets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    limit: str
    passed: bool


def derive(results: dict[str, Result]) -> tuple[dict[str, float], list[Target]]:
    r = {key: result.per_call for key, result in results.items()}
    figures: dict[str, float] = {}
    targets: list[Target] = []
    if {"plain", "native"} <= r.keys():
        figures["native_minus_plain"] = r["native"] - r["plain"]
    if {"plain", "ours"} <= r.keys():
        figures["ours_minus_plain"] = r["ours"] - r["plain"]
    if {"native", "ours+native"} <= r.keys():
        figures["ours_native_minus_native"] = r["ours+native"] - r["native"]
    if {"plain", "noop"} <= r.keys():
        figures["noop_minus_plain"] = r["noop"] - r["plain"]
        figures["noop_relative"] = (r["noop"] - r["plain"]) / r["plain"]
    stream_keys = {"stream.short.plain", "stream.short.ours", "stream.long.plain", "stream.long.ours"}
    extra = LONG_EVENTS - SHORT_EVENTS
    if stream_keys <= r.keys():
        short = r["stream.short.ours"] - r["stream.short.plain"]
        long = r["stream.long.ours"] - r["stream.long.plain"]
        figures["stream_short_ours_minus_plain"] = short
        figures["stream_long_ours_minus_plain"] = long
        figures["per_event_ours_minus_plain"] = (long - short) / extra
    if {"stream.short.plain", "stream.long.plain"} <= r.keys():
        figures["per_event_plain"] = (r["stream.long.plain"] - r["stream.short.plain"]) / extra

    native = figures.get("native_minus_plain")
    if native is not None and "ours_minus_plain" in figures:
        ours = figures["ours_minus_plain"]
        targets.append(Target("ours - plain <= native - plain", f"{ours:,.0f} vs {native:,.0f}",
                              f"<= {native:,.0f}", ours <= native))  # fmt: skip
    if native is not None and "ours_native_minus_native" in figures:
        on_native = figures["ours_native_minus_native"]
        targets.append(Target("(ours+native) - native <= 0.5 x (native - plain)", f"{on_native:,.0f}",
                              f"<= {0.5 * native:,.0f}", on_native <= 0.5 * native))  # fmt: skip
    if "per_event_ours_minus_plain" in figures:
        per_event = figures["per_event_ours_minus_plain"]
        targets.append(Target("per streamed event, ours beyond plain", f"{per_event:,.0f}", "<= 1,000",
                              per_event <= 1000))  # fmt: skip
    if "noop_relative" in figures:
        rel = figures["noop_relative"]
        targets.append(Target("noop within 1% of plain", f"{figures['noop_minus_plain']:+,.0f} ({rel:+.2%})",
                              "within ±1%", abs(rel) <= 0.01))  # fmt: skip
    return figures, targets


# --- report ---------------------------------------------------------------------------------------------------------


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def valgrind_version() -> str:
    return subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False).stdout.strip()


def git_commit() -> str:
    result = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False)  # fmt: skip
    return result.stdout.strip()


def print_report(results: dict[str, Result], figures: dict[str, float], targets: list[Target], header: str) -> None:
    print(header)
    print("main-thread instructions per call (per stream for the stream arms), counted by callgrind; "
          "median over repeats, spread = max - min")  # fmt: skip
    base = {key: ("plain" if not result.arm.deltas else f"stream.{key.split('.')[1]}.plain")
            for key, result in results.items()}  # fmt: skip
    print(f"{'arm':<20} {'unit':<20} {'calls':>6} {'instructions':>14} {'vs plain':>22} {'spread':>9} "
          f"{'other threads':>14}")  # fmt: skip
    print("-" * 111)
    for key, result in results.items():
        value = result.per_call
        ref = results.get(base[key])
        delta = "—"
        if ref is not None and ref is not result:
            delta = f"{value - ref.per_call:+,.0f} ({value / ref.per_call - 1:+.1%})"
        others = statistics.median(w.other_threads / result.calls for w in result.windows)
        spread = "—" if len(result.windows) < 2 else f"{result.spread:,.0f}"
        print(f"{key:<20} {result.arm.unit:<20} {result.calls:>6} {value:>14,.0f} {delta:>22} {spread:>9} "
              f"{others:>14,.0f}")  # fmt: skip
    if figures:
        print()
        names = {
            "native_minus_plain": "native - plain (the SDK's native span)",
            "ours_minus_plain": "ours - plain",
            "ours_native_minus_native": "(ours+native) - native",
            "noop_minus_plain": "noop - plain",
            "stream_short_ours_minus_plain": f"stream of {SHORT_EVENTS} events: ours - plain",
            "stream_long_ours_minus_plain": f"stream of {LONG_EVENTS} events: ours - plain",
            "per_event_ours_minus_plain": "per event, ours beyond plain",
            "per_event_plain": "per event, the SDK itself (plain)",
        }
        for key, name in names.items():
            if key in figures:
                print(f"{name:<45} {figures[key]:>14,.0f}")
    if targets:
        print(f"\n{'target':<52} {'measured':<30} {'limit':<14} result")
        for t in targets:
            print(f"{t.name:<52} {t.measured:<30} {t.limit:<14} {'PASS' if t.passed else 'FAIL'}")


# --- profile --------------------------------------------------------------------------------------------------------


def profile(key: str, settings: Settings, keep: Path, cprofile: bool, top: int = 25) -> None:
    """Callgrind files of the arm and its baseline (kept in `keep`), the functions that gain the most
    instructions per call, and optionally a cProfile of the same calls without valgrind."""
    arm = BY_KEY[key]
    arms = [arm] + ([BY_KEY[arm.baseline]] if arm.baseline else [])
    results = run_arms(arms, settings, 1, 2, keep)
    per_call: dict[str, dict[str, float]] = {}
    for k, result in results.items():
        dump = next(f for f in result.windows[0].files if re.search(r"\.1-0*1$", f.name))
        print(f"{k}: {result.per_call:,.0f} instr/{result.arm.unit}; callgrind file {dump}")
        per_call[k] = {fn: n / result.calls for fn, n in self_cost(dump).items()}
    mine = per_call[key]
    print(f"\n-- top {top} functions of {key} by own instructions per {arm.unit} (callgrind_annotate) --")
    for fn, n in sorted(mine.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{n:>12,.0f}  {fn}")
    if arm.baseline:
        ref = per_call[arm.baseline]
        diff = {fn: mine.get(fn, 0.0) - ref.get(fn, 0.0) for fn in mine.keys() | ref.keys()}
        added = sum(diff.values())
        print(f"\n-- top {top} functions by instructions added per {arm.unit}, {key} - {arm.baseline} "
              f"(total {added:+,.0f}) --")  # fmt: skip
        for fn, n in sorted(diff.items(), key=lambda kv: -kv[1])[:top]:
            print(f"{n:>+12,.0f}  {fn}")
    if cprofile:
        with simulator() as base_url:
            calls = settings.streams if arm.deltas else settings.calls
            argv = [*worker_argv(arm, base_url, calls, settings.warmup)[1:], "--cprofile"]
            subprocess.run([sys.executable, *argv], env=worker_env(), check=True)


# --- main -------------------------------------------------------------------------------------------------------


def select(only: str | None) -> list[ArmSpec]:
    if not only:
        return list(ARMS)
    wanted = [w.strip() for w in only.split(",") if w.strip()]
    chosen = [arm for arm in ARMS if any(arm.key == w or arm.key.startswith(w + ".") for w in wanted)]
    unknown = [w for w in wanted if not any(a.key == w or a.key.startswith(w + ".") for a in ARMS)]
    if unknown:
        raise SystemExit(f"unknown arms {unknown}; arms: {', '.join(BY_KEY)}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 calls, 3 streams per arm")
    parser.add_argument("--calls", type=int, help="non-streamed calls per arm (default 200, quick 10)")
    parser.add_argument("--streams", type=int, help="streamed calls per stream arm (default calls / 10, min 3)")
    parser.add_argument("--repeat", type=int, default=1, help="processes per arm; the median is reported")
    parser.add_argument("--jobs", type=int, default=2, help="arms run side by side (default 2)")
    parser.add_argument("--only", metavar="ARMS", help=f"comma-separated arms or prefixes ({', '.join(BY_KEY)})")
    parser.add_argument("--out", type=Path, help="JSON results (default: benchmarks/instructions.json for a full "
                        "run of all arms; none otherwise)")  # fmt: skip
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument("--profile", metavar="ARM", choices=list(BY_KEY), help="profile one arm instead")
    parser.add_argument("--keep", type=Path, help="directory for the callgrind files (default: a temporary one, "
                        "deleted unless --profile)")  # fmt: skip
    parser.add_argument("--no-cprofile", action="store_true", help="with --profile: skip the cProfile run")
    args = parser.parse_args(argv)
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found (Debian: apt-get install valgrind)", file=sys.stderr)
            return 2
    settings = settings_for(args)

    if args.profile:
        keep = args.keep or Path(tempfile.mkdtemp(prefix="instructions-profile-"))
        keep.mkdir(parents=True, exist_ok=True)
        try:
            profile(args.profile, settings, keep, not args.no_cprofile)
        except CallgrindError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0

    arms = select(args.only)
    started = time.monotonic()
    print(f"{len(arms)} arms x {args.repeat}, {settings.calls} calls / {settings.streams} streams each, "
          f"{args.jobs} at a time ...", file=sys.stderr)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="instructions-") as tmp:
        out_dir = args.keep or Path(tmp)
        out_dir.mkdir(parents=True, exist_ok=True)
        try:
            results = run_arms(arms, settings, args.repeat, args.jobs, out_dir)
        except CallgrindError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    elapsed = time.monotonic() - started
    figures, targets = derive(results)
    vers = versions()
    header = (f"anthropic-otel instructions per call: Python {platform.python_version()}, "
              f"anthropic {vers['anthropic']}, opentelemetry-sdk {vers['opentelemetry-sdk']}, {valgrind_version()}, "
              f"commit {git_commit() or '?'}; {elapsed:.0f} s")  # fmt: skip
    print_report(results, figures, targets, header)

    out = args.out
    if out is None and not args.quick and not args.only:
        out = HERE / "instructions.json"
    if out is not None:
        document = {
            "settings": {"calls": settings.calls, "streams": settings.streams, "warmup": settings.warmup,
                         "repeat": args.repeat, "short_events": SHORT_EVENTS, "long_events": LONG_EVENTS},
            "machine": {"python": platform.python_version(), "valgrind": valgrind_version(),
                        "platform": platform.platform()},
            "versions": vers,
            "commit": git_commit(),
            "elapsed_s": round(elapsed, 1),
            "arms": {key: result.to_json() for key, result in results.items()},
            "figures": figures,
            "targets": [{"name": t.name, "measured": t.measured, "limit": t.limit, "passed": t.passed}
                        for t in targets],
        }  # fmt: skip
        out.write_text(json.dumps(document, indent=2) + "\n")
        print(f"\nJSON: {out}")
    return 1 if args.strict and not all(t.passed for t in targets) else 0


if __name__ == "__main__":
    raise SystemExit(main())
