"""Multi-window, multi-burn-rate helpers shared by the recording rules, the SLO alerts and the dashboards."""

from __future__ import annotations

from collections.abc import Callable

from .config import BurnWindow, Config, duration_seconds
from .promql import number


def paging_windows(cfg: Config) -> list[BurnWindow]:
    """The fast-burn pairs (factor above 1). Latency burn alerts use only these: a slow week is a capacity
    review, not an alert; the dashboards' burn-rate panel shows the same windows."""
    return [w for w in cfg.burn_windows if w.factor > 1]


def recorded_windows(cfg: Config, *, paging_only: bool = False) -> list[str]:
    """Every long and short window of the burn pairs, once each, shortest first: the windows to record."""
    seen: list[str] = []
    for w in paging_windows(cfg) if paging_only else cfg.burn_windows:
        for window in (w.short, w.long):
            if window not in seen:
                seen.append(window)
    return sorted(seen, key=duration_seconds)


def threshold(window: BurnWindow, budget: float) -> str:
    """The burn threshold as PromQL, `(factor * budget)`, left unevaluated so a reader sees both numbers."""
    return f"({number(window.factor)} * {number(budget)})"


def both_windows_above(record: Callable[[str], str], window: BurnWindow, budget: float) -> str:
    """The long window proves the budget is really burning, the short one that it still is."""
    limit = threshold(window, budget)
    return f"{record(window.long)} > {limit}\nand\n{record(window.short)} > {limit}"


def human_duration(seconds: float) -> str:
    """`2.1 days`, `5 hours`: a duration for alert and runbook text."""
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            amount = seconds / size
            return f"{amount:.1f} {unit}" if amount != int(amount) else f"{int(amount)} {unit}"
    return f"{seconds:g} seconds"
