"""ABBA timing: the uninstrumented (A) and instrumented (B) arms alternate A B B A, B A A B, ... so that a slow
drift of the machine (frequency, other tenants, a growing heap) weighs on both arms equally and cancels in the
per-round difference. Each block times N calls with `time.perf_counter_ns`; the garbage collector stays enabled,
as in an application, so its pauses land in blocks of either arm and the medians absorb them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Arm:
    """One side of a comparison. `run(n)` makes n calls and returns the elapsed nanoseconds (it times itself, so
    an async arm measures inside its event loop); `setup`/`teardown` install and remove the instrumentation."""

    run: Callable[[int], int]
    setup: Callable[[], None] = _nothing
    teardown: Callable[[], None] = _nothing


@dataclass
class Comparison:
    """Per-call times (µs) of every block of each arm, and the per-round paired differences B - A."""

    base_us: list[float] = field(default_factory=list)
    test_us: list[float] = field(default_factory=list)
    diffs_us: list[float] = field(default_factory=list)

    @property
    def base(self) -> float:
        return statistics.median(self.base_us)

    @property
    def test(self) -> float:
        return statistics.median(self.test_us)

    @property
    def overhead(self) -> float:
        """Median of the per-round differences: robust to a block hit by a GC pause or a context switch."""
        return statistics.median(self.diffs_us)

    @property
    def noise(self) -> float:
        """Standard error of that median from the spread of the differences: SD ≈ 1.4826·MAD, SE ≈ 1.2533·SD/√n."""
        diffs = self.diffs_us
        if len(diffs) < 2:
            return math.nan
        mid = statistics.median(diffs)
        mad = statistics.median(abs(d - mid) for d in diffs)
        return 1.2533 * 1.4826 * mad / math.sqrt(len(diffs))

    @property
    def ratio(self) -> float:
        return (self.base + self.overhead) / self.base if self.base > 0 else math.nan


def _block(arm: Arm, calls: int) -> float:
    arm.setup()
    try:
        # One untimed call first: installing or removing the instrumentation between blocks leaves the CPU caches
        # cold, a one-off cost an application pays once, not per call (and a block of 3 long streams would
        # otherwise spread it over only 3 calls).
        arm.run(1)
        elapsed_ns = arm.run(calls)
    finally:
        arm.teardown()
    return elapsed_ns / calls / 1000.0


def compare(base: Arm, test: Arm, calls: int, rounds: int) -> Comparison:
    """`rounds` rounds of four blocks of `calls` calls, after one discarded warm-up block per arm."""
    _block(base, calls)
    _block(test, calls)
    result = Comparison()
    for r in range(rounds):
        if r % 2 == 0:
            a1, b1, b2, a2 = _block(base, calls), _block(test, calls), _block(test, calls), _block(base, calls)
        else:
            b1, a1, a2, b2 = _block(test, calls), _block(base, calls), _block(base, calls), _block(test, calls)
        result.base_us += [a1, a2]
        result.test_us += [b1, b2]
        result.diffs_us.append((b1 + b2 - a1 - a2) / 2)
    return result
