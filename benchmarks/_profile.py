"""Where the instrumented hot path spends its time: cProfile tables, and optionally a py-spy sampling profile.

cProfile counts every call exactly but adds a fixed cost to each Python function call, so code made of many
small calls (the OpenTelemetry SDK's metric path, ours) looks 2-3x bigger than it is: read its ranking and call
counts. py-spy (`pip install py-spy`) samples the running process from outside, so its shares are undistorted:
read it for the split between our code, what our code calls, and the SDK.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import re
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

_OURS = re.compile(r"(?:^|[/\\])anthropic_otel[/\\]")
_SDK = re.compile(r"(?:^|[/\\])anthropic[/\\]")


def _where(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name  # a builtin
    parts = Path(path).parts
    for anchor in ("site-packages", "src", "lib"):
        if anchor in parts:
            parts = parts[len(parts) - parts[::-1].index(anchor) :]
            break
    return f"{'/'.join(parts)}:{line}({name})"


def print_cprofile(title: str, run: Callable[[int], int], calls: int, top: int = 15) -> None:
    """cProfile of `calls` instrumented calls; times in µs per SDK call."""
    run(max(calls // 10, 2))  # warm up outside the profile
    profiler = cProfile.Profile()
    profiler.enable()
    run(calls)
    profiler.disable()
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]

    def us(seconds: float) -> str:
        return f"{seconds / calls * 1e6:9.2f}"

    def row(func: Any, tt: float, ct: float, nc: float) -> str:
        return f"{us(tt)} {us(ct)} {nc / calls:10.1f}  {_where(func)}"

    total = sum(v[2] for v in stats.values())
    ours = {f: v for f, v in stats.items() if _OURS.search(f[0])}
    # What our code calls outside itself, by cumulative time from our call sites. The wrapped SDK methods (the
    # `wrapped(*args, **kwargs)` of each hook) are the application's own work: left out.
    called: dict[Any, list[float]] = {}
    for func, (_cc, _nc, _tt, _ct, callers) in stats.items():
        if _OURS.search(func[0]) or _SDK.search(func[0]):
            continue
        for caller, (_ccc, cnc, _ctt, cct) in callers.items():
            if _OURS.search(caller[0]):
                entry = called.setdefault(func, [0.0, 0.0])
                entry[0] += cnc
                entry[1] += cct
    own = sum(v[2] for v in ours.values())
    outside = sum(ct for _nc, ct in called.values())

    print(f"\n=== cProfile: {title} ({calls} calls; {us(total).strip()} µs/call under cProfile) ===")
    print(
        f"anthropic_otel: {us(own).strip()} µs/call in its own functions (tottime) + {us(outside).strip()} µs/call "
        "in what it calls directly outside itself and the SDK (cumtime; for streams this includes iterating the "
        "wrapped body)"
    )
    header = f"{'tottime':>9} {'cumtime':>9} {'calls/call':>10}  function"
    print(f"\n-- top {top} functions of anthropic_otel by tottime (µs per call) --\n{header}")
    for func, (_cc, nc, tt, ct, _callers) in sorted(ours.items(), key=lambda kv: -kv[1][2])[:top]:
        print(row(func, tt, ct, nc))
    print("\n-- called from anthropic_otel, outside it and the SDK: cumtime from our call sites (µs per call) --")
    print(f"{'cumtime':>9} {'calls/call':>10}  function")
    for func, (nc, ct) in sorted(called.items(), key=lambda kv: -kv[1][1])[:top]:
        print(f"{us(ct)} {nc / calls:10.1f}  {_where(func)}")
    print(f"\n-- top {top + 10} functions overall by tottime (µs per call) --\n{header}")
    for func, (_cc, nc, tt, ct, _callers) in sorted(stats.items(), key=lambda kv: -kv[1][2])[: top + 10]:
        print(row(func, tt, ct, nc))


_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>[^()]*):(?P<line>\d+)\)$")


def _frames(stack: str) -> list[tuple[str, str, str]]:
    frames = []
    for text in stack.split(";"):
        match = _FRAME.match(text)
        frames.append((match["func"], match["path"], match["line"]) if match else (text, "", ""))
    return frames


def analyze_py_spy(raw: Path, per_call_us: float, title: str, within: str, top: int = 15) -> None:
    """Attribute each sample to the innermost frame that is ours or the SDK's: ours (with whatever library code
    it called, e.g. the OpenTelemetry SDK) or the SDK's (with httpx2, pydantic...). Shares x time per call.
    Only the samples of stacks that pass through a frame named `within` (the profiled loop) count."""
    total = ours = 0
    by_function: Counter[str] = Counter()
    by_line: Counter[str] = Counter()
    by_leaf: Counter[str] = Counter()
    for text in raw.read_text().splitlines():
        stack, _, count = text.rpartition(" ")
        if not count.isdigit():
            continue
        if within not in stack:
            continue  # start-up (imports) and other threads: not the calls being profiled
        n = int(count)
        total += n
        frames = _frames(stack)
        inner = _innermost_ours_or_sdk(frames)
        if inner is None or not _OURS.search(frames[inner][1]):
            continue
        ours += n
        func, path, line = frames[inner]
        module = re.split(r"[/\\]", path)[-1]
        by_function[f"{module}:{func}"] += n
        by_line[f"{module}:{line}"] += n
        leaf_path = frames[-1][1]
        by_leaf["anthropic_otel itself" if inner == len(frames) - 1 else _package(leaf_path)] += n
    if not total:
        print(f"\n=== py-spy: {title}: no samples ===")
        return

    def us(n: int) -> str:
        return f"{n / total * per_call_us:8.1f} µs {100 * n / total:5.1f}%"

    print(f"\n=== py-spy: {title} ({total} samples; {per_call_us:.0f} µs/call while sampled) ===")
    print(f"under anthropic_otel frames: {us(ours)} of the whole call (the rest is the SDK, httpx2, pydantic)")
    print(f"-- top {top} functions of anthropic_otel, inclusive of the library code they call --")
    for key, n in by_function.most_common(top):
        print(f"{us(n)}  {key}")
    print("-- what that time is spent in (innermost frame's package) --")
    for key, n in by_leaf.most_common(8):
        print(f"{us(n)}  {key}")
    print(f"-- top {top} lines of anthropic_otel --")
    for key, n in by_line.most_common(top):
        print(f"{us(n)}  {key}")


def _innermost_ours_or_sdk(frames: list[tuple[str, str, str]]) -> int | None:
    for i in reversed(range(len(frames))):
        if _OURS.search(frames[i][1]) or _SDK.search(frames[i][1]):
            return i
    return None


def _package(path: str) -> str:
    parts = [p for p in re.split(r"[/\\]", path) if p]
    if "site-packages" in parts:
        parts = parts[parts.index("site-packages") + 1 :]
    if parts and parts[0] in ("sdk", "metrics", "trace", "context", "attributes", "util", "instrumentation"):
        return f"opentelemetry ({parts[0]})"  # py-spy shortens the namespace package's paths
    return parts[0] if parts else path


def run_py_spy(py_spy: str, script: Path, target: str, seconds: float, loop: str) -> None:
    """Record `script --spy-target target` under py-spy, then print the attribution of the samples that pass
    through the function named `loop`."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.txt"
        command = [py_spy, "record", "--nonblocking", "--rate", "1000", "--format", "raw", "--output", str(raw)]
        command += ["--", sys.executable, str(script), "--spy-target", target, "--spy-seconds", str(seconds)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env={**os.environ})
        per_call = re.search(r"PER_CALL_US=([\d.]+)", done.stdout)
        if done.returncode != 0 or per_call is None or not raw.exists():
            print(f"\npy-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}")
            return
        analyze_py_spy(raw, float(per_call[1]), target, within=f"{loop} (")
