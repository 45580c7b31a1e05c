"""The settings users change when they regenerate the dashboards and rules (the mixin pattern's `_config`).

Every threshold, window and name the generated files depend on lives here, so `anthropic-otel grafana generate`
with other flags produces a consistent set: rules, the promtool tests that prove them, the Grafana-managed
copy, the runbook text and the dashboards' threshold lines all read the same values.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from .. import _catalog as catalog

Severity = str  # "critical" pages, "warning" opens a ticket (the convention of the monitoring mixins)

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _label(key: str) -> str:
    return key.replace(".", "_")


# Attributes every series the rules read carries (calls, attempts, latency histograms, rate-limit gauges):
# the only attributes alerts can be split by. Any other attribute label is missing on some of those series
# or says how a call ended, which would split a ratio's numerator from its denominator.
_RULE_METRICS = (
    catalog.CALLS,
    catalog.ATTEMPTS,
    catalog.OPERATION_DURATION,
    catalog.TIME_TO_FIRST_CHUNK,
    catalog.RATELIMIT_REMAINING,
    catalog.RATELIMIT_LIMIT,
)
_GROUPABLE = tuple(sorted(_label(k) for k in set.intersection(*(set(m.attributes) for m in _RULE_METRICS))))
_PER_CALL_LABELS = frozenset(_label(k) for m in catalog.METRICS for k in m.attributes) - set(_GROUPABLE)


def duration_seconds(text: str) -> float:
    """Seconds in a Prometheus duration with one unit (`5m`, `3d`); the generator never needs compound ones."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a single-unit Prometheus duration: {text!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class BurnWindow:
    """One pair of the multi-window, multi-burn-rate alert (Google SRE Workbook, ch. 5): the long window proves
    the budget is really burning, the short one that it still is, so the alert resets soon after recovery."""

    long: str
    short: str
    factor: float
    severity: Severity
    for_: str


@dataclass(frozen=True)
class Config:
    """Everything a user may change. Defaults are what `grafana/` in the repository is generated with."""

    # PromQL label matchers (without braces) that select this service's series, e.g. 'job="checkout"'.
    selector: str = ""
    # Labels every alert and recording rule keeps; one alert per distinct value set (one per service by default).
    group_by: tuple[str, ...] = ("job",)

    # Availability SLO on server-side failures (5xx, overload, timeouts, connection errors, mid-stream errors).
    slo: float = 0.995
    slo_period: str = "30d"
    burn_windows: tuple[BurnWindow, ...] = (
        BurnWindow("1h", "5m", 14.4, "critical", "2m"),
        BurnWindow("6h", "30m", 6.0, "critical", "15m"),
        BurnWindow("3d", "6h", 1.0, "warning", "1h"),
    )
    # Latency SLOs: the share of successful calls (time to first chunk of streams) under a bucket boundary.
    latency_objective: float = 0.99
    latency_threshold: float = 40.96
    ttft_objective: float = 0.99
    ttft_threshold: float = 5.12
    latency_severity: Severity = "warning"

    # Alerts on any occurrence look back this far (and keep firing this long after the last one).
    any_error_window: str = "5m"
    overload_ratio: float = 0.05
    overload_window: str = "10m"
    overload_for: str = "10m"
    rate_limited_ratio: float = 0.05
    rate_limited_window: str = "10m"
    rate_limited_for: str = "10m"
    headroom_ratio: float = 0.10
    headroom_for: str = "5m"
    client_error_ratio: float = 0.05
    client_error_window: str = "5m"
    client_error_for: str = "5m"
    exhausted_ratio: float = 0.02
    exhausted_window: str = "10m"
    exhausted_for: str = "5m"
    truncation_ratio: float = 0.10
    truncation_window: str = "30m"
    truncation_for: str = "15m"
    # Dashboard-only threshold (refusals are a product signal, not an outage: no alert).
    refusal_ratio: float = 0.05

    # Spend (docs/spend.md). The budget in USD per `spend_period` for everything the selector picks (Anthropic's
    # spend limits are per organization/workspace and month); `spend_group_by` splits it (e.g. by job).
    spend_budget: float = 1000.0
    spend_period: str = "30d"
    spend_group_by: tuple[str, ...] = ()
    spend_burn_windows: tuple[BurnWindow, ...] = (
        BurnWindow("1h", "5m", 14.4, "critical", "2m"),
        BurnWindow("6h", "30m", 6.0, "critical", "15m"),
        BurnWindow("1d", "2h", 1.5, "warning", "1h"),
    )
    # A model's spend over `spend_spike_window` above `spend_spike_factor` times its `spend_spike_baseline`
    # average, and above `spend_spike_min_usd_per_hour` (so that a model at pennies never pages).
    spend_spike_window: str = "15m"
    spend_spike_baseline: str = "6h"
    spend_spike_factor: float = 3.0
    spend_spike_min_usd_per_hour: float = 1.0
    spend_spike_for: str = "15m"
    unpriced_window: str = "30m"
    unpriced_for: str = "15m"
    # A JSON price table merged over the shipped one (None: $ANTHROPIC_OTEL_PRICE_FILE, else the shipped one).
    price_file: str | None = None

    # Rule-group evaluation interval; None leaves it to the server's global setting.
    rule_interval: str | None = None
    # Where your responders open runbook.md (e.g. its page in your wiki or repository). Unset, the rules carry
    # no runbook_url and each description names its runbook section instead: never a link that may not exist.
    runbook_url: str | None = None
    dashboard_uid_prefix: str = "anthropic-otel"
    dashboard_title_prefix: str = "Claude API"
    dashboard_tags: tuple[str, ...] = ("anthropic", "claude", "genai")
    # Grafana-managed alerting: the Prometheus datasource uid (Grafana expands `${VAR}` in provisioning files),
    # the folder and the group interval (a multiple of 10 s).
    grafana_datasource_uid: str = "${PROMETHEUS_DATASOURCE_UID}"
    grafana_folder: str = "Claude API"
    grafana_interval: str = "1m"

    def replace(self, **changes: object) -> Config:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def error_budget(self) -> float:
        return round(1 - self.slo, 12)  # 0.005, not 0.0050000000000000044, in thresholds and JSON

    def validate(self) -> None:
        """Fail early, with the flag to fix, rather than generate rules promtool or Prometheus would reject."""
        for name in ("slo", "latency_objective", "ttft_objective"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value}")
        # Alerts fire when a ratio exceeds these: at 100% they never could.
        for name in RATIO_THRESHOLDS:
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value}")
        for name in ("headroom_ratio", "refusal_ratio"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be in (0, 1], got {value}")
        for f in dataclasses.fields(self):
            if f.name.endswith(("_window", "_for", "_period")) or f.name == "rule_interval":
                value = getattr(self, f.name)
                if value is not None:
                    duration_seconds(value)
        if self.spend_budget <= 0 or self.spend_spike_factor <= 1 or self.spend_spike_min_usd_per_hour < 0:
            raise ValueError("spend_budget must be > 0, spend_spike_factor > 1, spend_spike_min_usd_per_hour >= 0")
        if duration_seconds(self.spend_spike_window) >= duration_seconds(self.spend_spike_baseline):
            raise ValueError("spend_spike_window must be shorter than spend_spike_baseline")
        for window in (*self.burn_windows, *self.spend_burn_windows):
            for text in (window.long, window.short, window.for_):
                duration_seconds(text)
            if duration_seconds(window.short) >= duration_seconds(window.long):
                raise ValueError(f"burn window {window.long}/{window.short}: the short window must be shorter")
            if not window.factor > 0:
                raise ValueError(f"burn window {window.long}/{window.short}: the factor must be positive")
        # A burn threshold at or above 100% of calls can never be crossed: the alert would be dead.
        objectives = [("slo", self.slo, self.burn_windows)]
        paging = tuple(w for w in self.burn_windows if w.factor > 1)
        objectives += [("latency_objective", self.latency_objective, paging)]
        objectives += [("ttft_objective", self.ttft_objective, paging)]
        for name, objective, windows in objectives:
            for window in windows:
                if window.factor * (1 - objective) >= 1:
                    raise ValueError(
                        f"{name} {objective:g}: burning its budget {window.factor:g}x ({window.long}/"
                        f"{window.short}) means more than 100% of calls failing, so that alert could never "
                        f"fire; {name} must be above {1 - 1 / window.factor:.4g}"
                    )
        if len({(w.long, w.short) for w in self.burn_windows}) != len(self.burn_windows):
            raise ValueError("burn windows must be distinct")
        # The latency SLIs read one histogram bucket: the threshold has to be one of its boundaries.
        for name, metric in (
            ("latency_threshold", catalog.OPERATION_DURATION),
            ("ttft_threshold", catalog.TIME_TO_FIRST_CHUNK),
        ):
            if getattr(self, name) not in (metric.buckets or ()):
                raise ValueError(f"{name} must be one of the bucket boundaries {metric.buckets}")
        if not self.group_by:
            raise ValueError("group_by needs at least one label")
        for name in self.group_by:
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) or name.startswith("__") or name == "le":
                raise ValueError(f"group_by: {name!r} is not a label the rules can group by")
            if name in _PER_CALL_LABELS:
                raise ValueError(
                    f"group_by: {name!r} is an attribute not every series the rules read carries (or describes "
                    f"how a call ended); group by target labels (job, namespace, ...) or {', '.join(_GROUPABLE)}"
                )
        if duration_seconds(self.grafana_interval) % 10:
            raise ValueError("grafana_interval must be a multiple of 10s")
        selector_labels(self.selector)


def selector_matchers(selector: str) -> list[tuple[str, str, str]]:
    """The `(label, op, value)` matchers of a selector such as `job="checkout", namespace=~"prod|canary"`."""
    if not selector.strip():
        return []
    import promql_parser  # only needed for a custom selector: the demo writes rules without it

    try:
        expr = promql_parser.parse("{" + selector + "}")
    except ValueError as exc:
        raise ValueError(f"--selector {selector!r} is not a list of PromQL label matchers: {exc}") from exc
    if not isinstance(expr, promql_parser.VectorSelector) or expr.name:
        raise ValueError(f"--selector {selector!r} must be label matchers only, e.g. 'job=\"checkout\"'")
    if expr.matchers.or_matchers:
        raise ValueError(f"--selector {selector!r}: `or` inside a selector is not supported")
    ops = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
    return [(m.name, ops[str(m.op)], m.value) for m in expr.matchers.matchers]


def selector_labels(selector: str) -> dict[str, str]:
    """Label values that satisfy the selector: the promtool tests' series must match it to be selected."""
    labels: dict[str, str] = {}
    for name, op, value in selector_matchers(selector):
        if op == "=":
            candidate = value
        elif op == "=~":
            candidate = value.split("|")[0]
        else:
            candidate = labels.get(name, "test")
        ok = {
            "=": candidate == value,
            "!=": candidate != value,
            "=~": bool(candidate) and re.fullmatch(value, candidate) is not None,
            "!~": re.fullmatch(value, candidate) is None,
        }[op]
        if not ok or (name in labels and labels[name] != candidate):
            raise ValueError(
                f"--selector {selector!r}: cannot derive a test value for {name}{op}{value!r}; "
                'use plain `label="value"` or `label=~"a|b"` matchers'
            )
        labels[name] = candidate
    return labels


# The ratio thresholds of the alerts that fire above them (`--set NAME=VALUE`, each in (0, 1)).
RATIO_THRESHOLDS = (
    "overload_ratio",
    "rate_limited_ratio",
    "client_error_ratio",
    "exhausted_ratio",
    "truncation_ratio",
)


def demo_config() -> Config:
    """Windows and `for` durations short enough that alerts fire within a demo's minute of traffic (never for
    production: a 30 s window pages on noise)."""
    return Config(
        burn_windows=(
            BurnWindow("2m", "20s", 14.4, "critical", "0s"),
            BurnWindow("5m", "1m", 6.0, "critical", "0s"),
            BurnWindow("10m", "2m", 1.0, "warning", "0s"),
        ),
        any_error_window="1m",
        overload_window="30s",
        overload_for="10s",
        rate_limited_window="30s",
        rate_limited_for="10s",
        headroom_for="10s",
        client_error_window="30s",
        client_error_for="10s",
        exhausted_window="30s",
        exhausted_for="10s",
        truncation_window="1m",
        truncation_for="10s",
        spend_burn_windows=(
            BurnWindow("2m", "20s", 14.4, "critical", "0s"),
            BurnWindow("10m", "1m", 1.5, "warning", "0s"),
        ),
        spend_spike_window="1m",
        spend_spike_baseline="10m",
        spend_spike_for="10s",
        unpriced_window="1m",
        unpriced_for="10s",
    )
