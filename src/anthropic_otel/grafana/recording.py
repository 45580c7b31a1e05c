"""The recording rules: SLI ratios over the burn windows and each ratio alert's window, shared by the alerts and
the dashboards (the burn-rate panel reads `server_failures_ratio`).

Names follow the `level:metric:operation` convention: `anthropic:<what>:ratio_rate<window>`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .. import _catalog as c
from . import slis
from .burn import recorded_windows
from .config import Config
from .promql import KIND, MODEL, PROVIDER, M, by, indent, le_matcher, rate_sum, ratio, selector, series

PREFIX = "anthropic"
SLO_GROUP = f"{PREFIX}-otel.slo"
RATIOS_GROUP = f"{PREFIX}-otel.ratios"


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str


# --- names ------------------------------------------------------------------------------------------------


def server_failures_ratio(window: str) -> str:
    return f"{PREFIX}:calls_server_failures:ratio_rate{window}"


def slow_calls_ratio(window: str) -> str:
    return f"{PREFIX}:calls_slow:ratio_rate{window}"


def slow_first_chunk_ratio(window: str) -> str:
    return f"{PREFIX}:first_chunk_slow:ratio_rate{window}"


def overloaded_ratio(window: str) -> str:
    return f"{PREFIX}:attempts_overloaded:ratio_rate{window}"


def rate_limited_ratio(window: str) -> str:
    return f"{PREFIX}:attempts_rate_limited:ratio_rate{window}"


def client_failures_ratio(window: str) -> str:
    return f"{PREFIX}:calls_client_failures:ratio_rate{window}"


def exhausted_ratio(window: str) -> str:
    return f"{PREFIX}:calls_retries_exhausted:ratio_rate{window}"


def truncated_ratio(window: str) -> str:
    return f"{PREFIX}:calls_truncated:ratio_rate{window}"


HEADROOM = f"{PREFIX}:ratelimit_headroom:ratio"


# --- expressions ------------------------------------------------------------------------------------------


def calls(cfg: Config, window: str, group: Sequence[str], alts: slis.Alternatives = ((),)) -> str:
    return rate_sum(c.CALLS, cfg.selector, window, group, alts)


def attempts(cfg: Config, window: str, group: Sequence[str], alts: slis.Alternatives = ((),)) -> str:
    return rate_sum(c.ATTEMPTS, cfg.selector, window, group, alts)


def _slow_ratio(cfg: Config, metric: c.Metric, threshold: float, window: str, extra: Sequence[M]) -> str:
    """Share of observations above `threshold`: 1 - bucket(le=threshold) / count."""
    group = cfg.group_by
    fast = rate_sum(metric, cfg.selector, window, group, ((*extra, le_matcher(threshold)),), suffix="_bucket")
    total = rate_sum(metric, cfg.selector, window, group, (tuple(extra),), suffix="_count")
    return f"1 - (\n{indent(fast, 2)}\n/\n{indent(total, 2)}\n)"


def recording_rules(cfg: Config) -> list[tuple[str, list[RecordingRule]]]:
    g = cfg.group_by
    slo: list[RecordingRule] = []
    for window in recorded_windows(cfg):
        slo.append(
            RecordingRule(
                server_failures_ratio(window),
                ratio(calls(cfg, window, g, slis.SERVER_FAILURES), calls(cfg, window, g, slis.ANSWERED)),
            )
        )
    for window in recorded_windows(cfg, paging_only=True):
        slo.append(
            RecordingRule(
                slow_calls_ratio(window),
                _slow_ratio(cfg, c.OPERATION_DURATION, cfg.latency_threshold, window, (slis.SUCCESS,)),
            )
        )
        slo.append(
            RecordingRule(
                slow_first_chunk_ratio(window),
                _slow_ratio(cfg, c.TIME_TO_FIRST_CHUNK, cfg.ttft_threshold, window, ()),
            )
        )

    gp = (*g, PROVIDER)
    gpm = (*g, PROVIDER, MODEL)
    ratios = [
        RecordingRule(
            overloaded_ratio(cfg.overload_window),
            ratio(
                attempts(cfg, cfg.overload_window, gp, slis.OVERLOADED),
                attempts(cfg, cfg.overload_window, gp),
            ),
        ),
        RecordingRule(
            rate_limited_ratio(cfg.rate_limited_window),
            ratio(
                attempts(cfg, cfg.rate_limited_window, gpm, slis.RATE_LIMITED),
                attempts(cfg, cfg.rate_limited_window, gpm),
            ),
        ),
        RecordingRule(
            client_failures_ratio(cfg.client_error_window),
            ratio(
                calls(cfg, cfg.client_error_window, g, slis.CLIENT_FAILURES),
                calls(cfg, cfg.client_error_window, g, slis.ANSWERED),
            ),
        ),
        RecordingRule(
            exhausted_ratio(cfg.exhausted_window),
            ratio(
                calls(cfg, cfg.exhausted_window, gp, slis.EXHAUSTED),
                calls(cfg, cfg.exhausted_window, gp, slis.ANSWERED),
            ),
        ),
        RecordingRule(
            truncated_ratio(cfg.truncation_window),
            ratio(
                calls(cfg, cfg.truncation_window, (*g, MODEL), ((slis.TRUNCATED,),)),
                calls(cfg, cfg.truncation_window, (*g, MODEL), ((slis.HAS_STOP_REASON,),)),
            ),
        ),
        RecordingRule(
            HEADROOM,
            # Both gauges carry identical labels, so they divide one-to-one; `min` keeps the tightest server.
            f"min {by((*gpm, KIND))} (\n"
            f"  {series(c.RATELIMIT_REMAINING)}{selector(cfg.selector, ())}\n"
            f"  /\n"
            f"  {series(c.RATELIMIT_LIMIT)}{selector(cfg.selector, ())}\n"
            f")",
        ),
    ]
    return [(SLO_GROUP, slo), (RATIOS_GROUP, ratios)]
