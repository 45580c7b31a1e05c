"""Prometheus recording and alerting rules, built from the catalog, the SLI classes and a `Config`.

Portable on purpose: plain PromQL in the Prometheus rule-file format, which Prometheus, Mimir, Thanos Ruler,
VictoriaMetrics (vmalert) and Grafana's importer all read. The Grafana-managed copy (`grafana_alerting.py`)
is derived from the same `AlertRule` objects.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .. import _catalog as c
from . import slis
from .config import BurnWindow, Config, duration_seconds
from .promql import M, by, indent, label, le_matcher, number, rate_sum, ratio, selector, series

PREFIX = "anthropic"  # recording rules: `anthropic:<what>:<operation>` (level:metric:operation convention)

PROVIDER = label(c.GEN_AI_PROVIDER_NAME)
MODEL = label(c.GEN_AI_REQUEST_MODEL)
STATUS = label(c.HTTP_RESPONSE_STATUS_CODE)
ERROR_CODE = label(c.ANTHROPIC_ERROR_CODE)
KIND = label(c.ANTHROPIC_RATELIMIT_KIND)


@dataclass(frozen=True)
class RecordingRule:
    record: str
    expr: str


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule. `summary`/`description` are Prometheus templates using `$labels` and `$value` only
    (plus `printf`, `humanizePercentage` and `or`), which Grafana-managed alerting also understands."""

    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    keeps: tuple[str, ...]  # the labels the expression's result carries: one alert per distinct value set
    static_labels: tuple[tuple[str, str], ...] = ()
    # A short tag that tells several rules of one alert apart (Grafana needs unique rule titles).
    variant: str = ""

    def labels(self) -> dict[str, str]:
        return {"severity": self.severity, **dict(self.static_labels)}

    def annotations(self, cfg: Config) -> dict[str, str]:
        return {
            "summary": self.summary,
            "description": self.description,
            "runbook_url": f"{cfg.runbook_url}#{self.alert.lower()}",
        }


@dataclass
class Rules:
    recording: list[tuple[str, list[RecordingRule]]] = field(default_factory=list)
    alerting: list[tuple[str, list[AlertRule]]] = field(default_factory=list)

    def records(self) -> dict[str, str]:
        return {r.record: r.expr for _, group in self.recording for r in group}

    def alerts(self) -> list[AlertRule]:
        return [a for _, group in self.alerting for a in group]


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


# --- text helpers -----------------------------------------------------------------------------------------


def who(cfg: Config) -> str:
    """How a description names the service: the values of the group-by labels, e.g. `{{ $labels.job }}`."""
    return "/".join("{{ $labels." + name + " }}" for name in cfg.group_by)


def pct(value: float) -> str:
    """A ratio as the runbook and descriptions print thresholds, matching `humanizePercentage` (`%.4g%%`)."""
    return f"{value * 100:.4g}%"


def human_duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            amount = seconds / size
            return f"{amount:.1f} {unit}" if amount != int(amount) else f"{int(amount)} {unit}"
    return f"{seconds:g} seconds"


VALUE_PCT = "{{ $value | humanizePercentage }}"
VALUE_COUNT = '{{ printf "%.0f" $value }}'


# --- recording rules --------------------------------------------------------------------------------------


def _windows(cfg: Config, *, paging_only: bool = False) -> list[str]:
    seen: list[str] = []
    for w in cfg.burn_windows:
        if paging_only and w.factor <= 1:
            continue
        for window in (w.short, w.long):
            if window not in seen:
                seen.append(window)
    return sorted(seen, key=duration_seconds)


def _latency_windows(cfg: Config) -> list[BurnWindow]:
    """Latency burn uses the fast-burn pairs only: a slow week is a capacity review, not an alert."""
    return [w for w in cfg.burn_windows if w.factor > 1]


def _calls(cfg: Config, window: str, group: Sequence[str], alts: slis.Alternatives = ((),)) -> str:
    return rate_sum(c.CALLS, cfg.selector, window, group, alts)


def _attempts(cfg: Config, window: str, group: Sequence[str], alts: slis.Alternatives = ((),)) -> str:
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
    for window in _windows(cfg):
        slo.append(
            RecordingRule(
                server_failures_ratio(window),
                ratio(_calls(cfg, window, g, slis.SERVER_FAILURES), _calls(cfg, window, g)),
            )
        )
    for window in _windows(cfg, paging_only=True):
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
                _attempts(cfg, cfg.overload_window, gp, slis.OVERLOADED),
                _attempts(cfg, cfg.overload_window, gp),
            ),
        ),
        RecordingRule(
            rate_limited_ratio(cfg.rate_limited_window),
            ratio(
                _attempts(cfg, cfg.rate_limited_window, gpm, slis.RATE_LIMITED),
                _attempts(cfg, cfg.rate_limited_window, gpm),
            ),
        ),
        RecordingRule(
            client_failures_ratio(cfg.client_error_window),
            ratio(
                _calls(cfg, cfg.client_error_window, g, slis.CLIENT_FAILURES),
                _calls(cfg, cfg.client_error_window, g),
            ),
        ),
        RecordingRule(
            exhausted_ratio(cfg.exhausted_window),
            ratio(
                _calls(cfg, cfg.exhausted_window, gp, slis.EXHAUSTED),
                _calls(cfg, cfg.exhausted_window, gp),
            ),
        ),
        RecordingRule(
            truncated_ratio(cfg.truncation_window),
            ratio(
                _calls(cfg, cfg.truncation_window, (*g, MODEL), ((slis.TRUNCATED,),)),
                _calls(cfg, cfg.truncation_window, (*g, MODEL), ((slis.HAS_STOP_REASON,),)),
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
    return [(f"{PREFIX}-otel.slo", slo), (f"{PREFIX}-otel.ratios", ratios)]


# --- alerts -----------------------------------------------------------------------------------------------


def _any(cfg: Config, matcher: M, keep: Sequence[str]) -> str:
    """Fires on any new failure in the window, including the very first one.

    `increase()` needs two samples of a series, and the exporter creates a counter series at its first
    increment (value 1): the first billing error ever would read as an increase of 0. The `unless … offset`
    arm catches a series that did not exist one window ago.
    """
    name = series(c.CALLS)
    sel = selector(cfg.selector, (matcher,))
    w = cfg.any_error_window
    return (
        f"sum {by(keep)} (increase({name}{sel}[{w}])) > 0\n"
        f"or\n"
        f"sum {by(keep)} ({name}{sel} unless {name}{sel} offset {w})"
    )


def _burn_alerts(cfg: Config) -> list[AlertRule]:
    out: list[AlertRule] = []
    budget = cfg.error_budget
    period = duration_seconds(cfg.slo_period)
    for w in cfg.burn_windows:
        threshold = f"({number(w.factor)} * {number(budget)})"
        expr = f"{server_failures_ratio(w.long)} > {threshold}\nand\n{server_failures_ratio(w.short)} > {threshold}"
        exhaust = human_duration(period / w.factor)
        out.append(
            AlertRule(
                alert="AnthropicErrorBudgetBurn",
                expr=expr,
                for_=w.for_,
                severity=w.severity,
                summary=f"Claude API calls from {who(cfg)} are burning the {pct(cfg.slo)} availability SLO's "
                f"error budget at {number(w.factor)}x the sustainable rate",
                description=(
                    f"{VALUE_PCT} of Claude API calls from {who(cfg)} failed server-side (5xx, overloaded, "
                    f"timeouts, connection errors, errors mid-stream) over the last {w.long}, and the last "
                    f"{w.short} is above {pct(w.factor * budget)} too. The budget is {pct(budget)} of calls; "
                    f"at this rate a {cfg.slo_period} budget lasts {exhaust}."
                ),
                keeps=cfg.group_by,
                static_labels=(("long", w.long), ("short", w.short)),
                variant=f"{w.long}/{w.short}",
            )
        )
    for name, record, objective, threshold_s, subject, verb in (
        (
            "AnthropicLatencyBudgetBurn",
            slow_calls_ratio,
            cfg.latency_objective,
            cfg.latency_threshold,
            "successful Claude API calls",
            "took longer than",
        ),
        (
            "AnthropicTimeToFirstChunkBudgetBurn",
            slow_first_chunk_ratio,
            cfg.ttft_objective,
            cfg.ttft_threshold,
            "streamed Claude API calls",
            "waited for their first chunk longer than",
        ),
    ):
        budget = 1 - objective
        for w in _latency_windows(cfg):
            threshold = f"({number(w.factor)} * {number(budget)})"
            out.append(
                AlertRule(
                    alert=name,
                    expr=f"{record(w.long)} > {threshold}\nand\n{record(w.short)} > {threshold}",
                    for_=w.for_,
                    severity=cfg.latency_severity,
                    summary=f"{subject[0].upper()}{subject[1:]} from {who(cfg)} are too often slower than "
                    f"{number(threshold_s)}s",
                    description=(
                        f"{VALUE_PCT} of {subject} from {who(cfg)} {verb} {number(threshold_s)}s over the last "
                        f"{w.long} (and the last {w.short}). The objective allows {pct(budget)}: its error budget "
                        f"burns at {number(w.factor)}x the sustainable rate."
                    ),
                    keeps=cfg.group_by,
                    static_labels=(("long", w.long), ("short", w.short)),
                    variant=f"{w.long}/{w.short}",
                )
            )
    return out


def alert_rules(cfg: Config) -> list[tuple[str, list[AlertRule]]]:
    g = cfg.group_by
    any_w = cfg.any_error_window
    immediate = [
        AlertRule(
            alert="AnthropicBillingError",
            expr=_any(cfg, slis.BILLING, (*g, PROVIDER, STATUS, ERROR_CODE)),
            for_="0m",
            severity="critical",
            summary=f"Claude API billing error in {who(cfg)}: " + "{{ or $labels." + ERROR_CODE + ' "no error_code" }}',
            description=(
                f"{VALUE_COUNT} Claude API call(s) from {who(cfg)} to {{{{ $labels.{PROVIDER} }}}} failed with "
                f"billing_error (HTTP {{{{ $labels.{STATUS} }}}}, error_code "
                f'{{{{ or $labels.{ERROR_CODE} "absent" }}}}) in the last {any_w}. Credits, the spend limit or '
                "the organization's standing must be fixed in the Console; retrying will not help."
            ),
            keeps=(*g, PROVIDER, STATUS, ERROR_CODE),
        ),
        AlertRule(
            alert="AnthropicAuthenticationError",
            expr=_any(cfg, slis.AUTHENTICATION, (*g, PROVIDER)),
            for_="0m",
            severity="critical",
            summary=f"Claude API rejects the API key of {who(cfg)}",
            description=(
                f"{VALUE_COUNT} Claude API call(s) from {who(cfg)} to {{{{ $labels.{PROVIDER} }}}} failed with "
                f"authentication_error in the last {any_w}: the API key is missing, invalid, revoked or rotated."
            ),
            keeps=(*g, PROVIDER),
        ),
        AlertRule(
            alert="AnthropicPermissionError",
            expr=_any(cfg, slis.PERMISSION, (*g, PROVIDER, MODEL)),
            for_="0m",
            severity="warning",
            summary=f"Claude API denies {who(cfg)} access to {{{{ $labels.{MODEL} }}}}",
            description=(
                f"{VALUE_COUNT} Claude API call(s) from {who(cfg)} to {{{{ $labels.{MODEL} }}}} on "
                f"{{{{ $labels.{PROVIDER} }}}} failed with permission_error in the last {any_w}: the key's "
                "workspace or organization is not allowed this model or feature."
            ),
            keeps=(*g, PROVIDER, MODEL),
        ),
    ]
    ratios = [
        AlertRule(
            alert="AnthropicOverloaded",
            expr=f"{overloaded_ratio(cfg.overload_window)} > {number(cfg.overload_ratio)}",
            for_=cfg.overload_for,
            severity="warning",
            summary=f"{{{{ $labels.{PROVIDER} }}}} is overloaded for {who(cfg)}",
            description=(
                f"{VALUE_PCT} of HTTP attempts from {who(cfg)} to {{{{ $labels.{PROVIDER} }}}} got 529 "
                f"overloaded_error over the last {cfg.overload_window} (threshold {pct(cfg.overload_ratio)}, "
                f"for {cfg.overload_for}). The SDK retries them, so calls slow down before they fail."
            ),
            keeps=(*g, PROVIDER),
        ),
        AlertRule(
            alert="AnthropicRateLimited",
            expr=f"{rate_limited_ratio(cfg.rate_limited_window)} > {number(cfg.rate_limited_ratio)}",
            for_=cfg.rate_limited_for,
            severity="warning",
            summary=f"{who(cfg)} is rate limited on {{{{ $labels.{MODEL} }}}}",
            description=(
                f"{VALUE_PCT} of HTTP attempts from {who(cfg)} to {{{{ $labels.{MODEL} }}}} on "
                f"{{{{ $labels.{PROVIDER} }}}} got 429 rate_limit_error over the last {cfg.rate_limited_window} "
                f"(threshold {pct(cfg.rate_limited_ratio)}, for {cfg.rate_limited_for})."
            ),
            keeps=(*g, PROVIDER, MODEL),
        ),
        AlertRule(
            alert="AnthropicRateLimitHeadroomLow",
            expr=(
                f"{HEADROOM} < {number(cfg.headroom_ratio)}\n"
                f"and on ({', '.join((*g, PROVIDER, MODEL))})\n"
                # The gauges keep their last value after traffic stops: only alert while calls are being made.
                f"{_attempts(cfg, cfg.headroom_for, (*g, PROVIDER, MODEL))} > 0"
            ),
            for_=cfg.headroom_for,
            severity="warning",
            summary=f"{who(cfg)} is close to its {{{{ $labels.{KIND} }}}} rate limit on {{{{ $labels.{MODEL} }}}}",
            description=(
                f"Only {VALUE_PCT} of the {{{{ $labels.{KIND} }}}} rate limit for {{{{ $labels.{MODEL} }}}} on "
                f"{{{{ $labels.{PROVIDER} }}}} was left in the last response to {who(cfg)} "
                f"(threshold {pct(cfg.headroom_ratio)}, for {cfg.headroom_for}): 429s come next."
            ),
            keeps=(*g, PROVIDER, MODEL, KIND),
        ),
        AlertRule(
            alert="AnthropicClientErrorSpike",
            expr=f"{client_failures_ratio(cfg.client_error_window)} > {number(cfg.client_error_ratio)}",
            for_=cfg.client_error_for,
            severity="critical",
            summary=f"Claude API rejects {VALUE_PCT} of the requests from {who(cfg)} as invalid",
            description=(
                f"{VALUE_PCT} of Claude API calls from {who(cfg)} failed with a terminal client error "
                f"(400 invalid_request_error, 404 not_found_error, 413 request_too_large, 422) over the last "
                f"{cfg.client_error_window} (threshold {pct(cfg.client_error_ratio)}). These are never retried "
                "and usually follow a deploy."
            ),
            keeps=g,
        ),
        AlertRule(
            alert="AnthropicRetriesExhausted",
            expr=f"{exhausted_ratio(cfg.exhausted_window)} > {number(cfg.exhausted_ratio)}",
            for_=cfg.exhausted_for,
            severity="warning",
            summary=f"Claude API calls from {who(cfg)} fail after exhausting their retries",
            description=(
                f"{VALUE_PCT} of Claude API calls from {who(cfg)} to {{{{ $labels.{PROVIDER} }}}} failed with a "
                f"retryable error (429, 5xx, 529, timeout, connection) after the SDK's last retry over the last "
                f"{cfg.exhausted_window} (threshold {pct(cfg.exhausted_ratio)})."
            ),
            keeps=(*g, PROVIDER),
        ),
        AlertRule(
            alert="AnthropicHighTruncation",
            expr=f"{truncated_ratio(cfg.truncation_window)} > {number(cfg.truncation_ratio)}",
            for_=cfg.truncation_for,
            severity="warning",
            summary=f"Claude output from {{{{ $labels.{MODEL} }}}} is cut short for {who(cfg)}",
            description=(
                f"{VALUE_PCT} of the messages {who(cfg)} got from {{{{ $labels.{MODEL} }}}} stopped at "
                f"max_tokens or the context window over the last {cfg.truncation_window} "
                f"(threshold {pct(cfg.truncation_ratio)}): answers are incomplete."
            ),
            keeps=(*g, MODEL),
        ),
    ]
    return [
        (f"{PREFIX}-otel.errors", immediate),
        (f"{PREFIX}-otel.slo-burn", _burn_alerts(cfg)),
        (f"{PREFIX}-otel.alerts", ratios),
    ]


def build(cfg: Config) -> Rules:
    cfg.validate()
    return Rules(recording=recording_rules(cfg), alerting=alert_rules(cfg))


def prometheus_files(cfg: Config, rules: Rules) -> dict[str, object]:
    """The rule files as YAML-ready dicts: `recording.yaml` and `alerts.yaml`."""

    def group(name: str, items: list[dict[str, object]]) -> dict[str, object]:
        out: dict[str, object] = {"name": name}
        if cfg.rule_interval:
            out["interval"] = cfg.rule_interval
        out["rules"] = items
        return out

    recording = {
        "groups": [group(name, [{"record": r.record, "expr": r.expr} for r in rs]) for name, rs in rules.recording]
    }
    alerting = {
        "groups": [
            group(
                name,
                [
                    {
                        "alert": a.alert,
                        "expr": a.expr,
                        "for": a.for_,
                        "labels": a.labels(),
                        "annotations": a.annotations(cfg),
                    }
                    for a in alerts
                ],
            )
            for name, alerts in rules.alerting
        ]
    }
    return {"recording.yaml": recording, "alerts.yaml": alerting}


def write_rules(directory: Path, cfg: Config | None = None) -> list[Path]:
    """Only the Prometheus rule files, as JSON (which is YAML), with the standard library alone: what the demo
    needs from an installed wheel, where the repository's grafana/ directory does not exist."""
    cfg = cfg or Config()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in prometheus_files(cfg, build(cfg)).items():
        path = directory / name
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written
