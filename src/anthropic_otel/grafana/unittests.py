"""promtool unit tests for the generated rules: for every alert, series that make it fire and series that must not.

The cases are data about calls and attempts as the instrumentation records them (catalog attribute keys,
outcome/status/error.type values), so they read as scenarios: "a call recovered after one 529", "the first
billing error ever". Expected labels come from each rule's `keeps`, expected annotations from rendering the
rule's own templates (`templating.render`), so a changed description or threshold regenerates its test too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .. import _catalog as c
from .config import Config, duration_seconds, selector_labels
from .promql import INSTANCE, JOB, label, number, quote, series
from .rules import AlertRule, Rules
from .templating import render

MODEL_A = "claude-sonnet-4-5"
MODEL_B = "claude-haiku-4-5"
DEFAULTS: dict[str, str] = {
    c.GEN_AI_OPERATION_NAME: c.OPERATION_CHAT,
    c.GEN_AI_PROVIDER_NAME: c.PROVIDER_ANTHROPIC,
    c.GEN_AI_REQUEST_MODEL: MODEL_A,
    c.SERVER_ADDRESS: "api.anthropic.com",
}


def base_labels(cfg: Config) -> dict[str, str]:
    """Labels every test series has: what the selector requires, the group-by labels, the scrape's instance
    and the exporter's scope label (so the rules are tested against series that carry extra labels)."""
    labels = {INSTANCE: "app:9464", "otel_scope_name": "anthropic_otel"}
    for name in cfg.group_by:
        labels[name] = "app" if name == JOB else f"{name}-1"
    labels.update(selector_labels(cfg.selector))
    return labels


@dataclass(frozen=True)
class Series:
    metric: c.Metric
    values: str
    attributes: Mapping[str, str]
    suffix: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # non-attribute labels: `le`

    def render(self, cfg: Config) -> dict[str, str]:
        unknown = set(self.attributes) - set(self.metric.attributes)
        if unknown:
            raise ValueError(f"{self.metric.name} has no attribute(s) {sorted(unknown)}")
        labels = base_labels(cfg)
        for key, value in {**DEFAULTS, **self.attributes}.items():
            if key in self.metric.attributes and value != "":  # Prometheus drops empty labels on ingestion
                labels[label(key)] = value
        labels.update(self.extra)
        body = ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()))
        return {"series": f"{series(self.metric, self.suffix)}{{{body}}}", "values": self.values}


def call(values: str, outcome: str = "ok", status: str = "200", error_type: str = "", **attrs: str) -> Series:
    stop = attrs.pop("stop", "end_turn" if outcome != "failed" else "")
    return Series(
        c.CALLS,
        values,
        {
            c.ANTHROPIC_CALL_OUTCOME: outcome,
            c.HTTP_RESPONSE_STATUS_CODE: status,
            c.ERROR_TYPE: error_type,
            c.ANTHROPIC_MESSAGE_STOP_REASON: stop,
            c.GEN_AI_REQUEST_STREAM: attrs.pop("stream", "false"),
            c.ANTHROPIC_ERROR_CODE: attrs.pop("code", ""),
            **{_key(k): v for k, v in attrs.items()},
        },
    )


def attempt(values: str, status: str = "200", error_type: str = "", retry: bool = False, **attrs: str) -> Series:
    retryable = "" if not error_type else attrs.pop("retryable", "true")
    return Series(
        c.ATTEMPTS,
        values,
        {
            c.HTTP_RESPONSE_STATUS_CODE: status,
            c.ERROR_TYPE: error_type,
            c.ANTHROPIC_ERROR_RETRYABLE: retryable,
            c.ANTHROPIC_ATTEMPT_IS_RETRY: "true" if retry else "false",
            **{_key(k): v for k, v in attrs.items()},
        },
    )


def histogram(metric: c.Metric, bound: float, fast: str, total: str, **attrs: str) -> list[Series]:
    """The two series a latency SLI reads: the bucket at the threshold and the count."""
    attributes = {_key(k): v for k, v in attrs.items()}
    return [
        Series(metric, fast, attributes, "_bucket", {"le": number(bound)}),
        Series(metric, total, attributes, "_count"),
    ]


def gauge(metric: c.Metric, values: str, kind: str, **attrs: str) -> Series:
    return Series(metric, values, {c.ANTHROPIC_RATELIMIT_KIND: kind, **{_key(k): v for k, v in attrs.items()}})


_KEYS = {"model": c.GEN_AI_REQUEST_MODEL, "provider": c.GEN_AI_PROVIDER_NAME}


def _key(name: str) -> str:
    return _KEYS[name]


@dataclass(frozen=True)
class Expect:
    """An alert promtool must see firing: the rule, the non-group labels of the result, and its value."""

    rule: AlertRule
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    series: Sequence[Series]
    checks: Sequence[tuple[str, Sequence[Expect], Sequence[str]]]  # (eval_time, firing, names that must not)


def _alert_labels(cfg: Config, expect: Expect) -> dict[str, str]:
    defaults = {label(k): v for k, v in DEFAULTS.items()}
    base = base_labels(cfg)
    out: dict[str, str] = {"alertname": expect.rule.alert, **expect.rule.labels()}
    for name in expect.rule.keeps:
        value = expect.labels.get(name, base.get(name, defaults.get(name, "")))
        if value:
            out[name] = value
    extra = set(expect.labels) - set(expect.rule.keeps)
    if extra:
        raise ValueError(f"{expect.rule.alert} does not keep {sorted(extra)}")
    return out


def _expected(cfg: Config, expect: Expect) -> dict[str, object]:
    labels = _alert_labels(cfg, expect)
    annotations = {k: render(v, labels, expect.value) for k, v in expect.rule.annotations(cfg).items()}
    return {"exp_labels": labels, "exp_annotations": annotations}


def cases(cfg: Config, rules: Rules) -> list[Case]:
    by_name: dict[tuple[str, str], AlertRule] = {(a.alert, a.variant): a for a in rules.alerts()}

    def rule(name: str, variant: str = "") -> AlertRule:
        return by_name[(name, variant)]

    burn = [rule("AnthropicErrorBudgetBurn", f"{w.long}/{w.short}") for w in cfg.burn_windows]
    fast_burn = [w for w in cfg.burn_windows if w.factor > 1]
    every = sorted({a.alert for a in rules.alerts()})
    model = label(c.GEN_AI_REQUEST_MODEL)
    status = label(c.HTTP_RESPONSE_STATUS_CODE)
    code = label(c.ANTHROPIC_ERROR_CODE)
    kind = label(c.ANTHROPIC_RATELIMIT_KIND)
    # Burn-rate cases: 3 hours of traffic; counters start at 0 so that every window's rate is exact (no
    # extrapolation) and the expected percentages are round.
    fastest = max(w.factor for w in cfg.burn_windows)
    # "Any error" alerts: series appear at minute 5 or 10 and grow 1/min, so an increase over the window is
    # exactly its length in minutes.
    minutes = round(duration_seconds(cfg.any_error_window) / 60)

    def burning(ratio: float) -> list[Expect]:
        pairs = zip(cfg.burn_windows, burn, strict=True)
        return [Expect(rule_, ratio) for w, rule_ in pairs if ratio > w.factor * cfg.error_budget]

    def split(total: int, ratio: float) -> tuple[int, int]:
        bad = round(total * ratio)
        return total - bad, bad

    out = [
        Case(
            "healthy traffic, and a call recovered after one 529, wake nobody",
            [
                call("0+59x180"),
                call("0+1x180", outcome="recovered"),
                attempt("0+59x180"),
                attempt("0+1x180", status="529", error_type="overloaded_error"),
                attempt("0+1x180", retry=True),
                *histogram(c.OPERATION_DURATION, cfg.latency_threshold, "0+60x180", "0+60x180"),
                *histogram(c.TIME_TO_FIRST_CHUNK, cfg.ttft_threshold, "0+30x180", "0+30x180"),
                gauge(c.RATELIMIT_REMAINING, "800+0x180", "requests"),
                gauge(c.RATELIMIT_LIMIT, "1000+0x180", "requests"),
            ],
            [("180m", [], every)],
        ),
        Case(
            "the first billing error ever pages at once, names its error_code, and resolves after the window",
            [
                call(f"0+60x{minutes + 20}"),
                call(
                    f"_x10 1+0x{minutes + 10}",
                    outcome="failed",
                    status="403",
                    error_type="billing_error",
                    code="enforced_spend_limit_reached",
                ),
            ],
            [
                (
                    "10m",
                    [Expect(rule("AnthropicBillingError"), 1, {status: "403", code: "enforced_spend_limit_reached"})],
                    ["AnthropicPermissionError", "AnthropicAuthenticationError", "AnthropicClientErrorSpike"],
                ),
                (
                    f"{10 + minutes - 1}m",
                    [Expect(rule("AnthropicBillingError"), 1, {status: "403", code: "enforced_spend_limit_reached"})],
                    [],
                ),
                (f"{10 + minutes + 1}m", [], ["AnthropicBillingError"]),
            ],
        ),
        Case(
            "continuing 402 billing errors without an error_code keep paging, with the count",
            [
                call(f"0+60x{minutes + 10}"),
                call(f"1+2x{minutes + 10}", outcome="failed", status="402", error_type="billing_error"),
            ],
            [(f"{minutes + 10}m", [Expect(rule("AnthropicBillingError"), 2 * minutes, {status: "402"})], [])],
        ),
        Case(
            "authentication and permission errors alert; a permission_error is not a billing error",
            [
                call(f"0+60x{minutes + 5}"),
                call(f"_x5 1+1x{minutes}", outcome="failed", status="401", error_type="authentication_error"),
                call(
                    f"_x5 1+1x{minutes}", outcome="failed", status="403", error_type="permission_error", model=MODEL_B
                ),
            ],
            [
                (
                    f"{minutes + 5}m",
                    [
                        Expect(rule("AnthropicAuthenticationError"), minutes),
                        Expect(rule("AnthropicPermissionError"), minutes, {model: MODEL_B}),
                    ],
                    ["AnthropicBillingError"],
                ),
            ],
        ),
    ]

    # Server-side failures of every kind: 529, a stream that failed after its 200, no response at all.
    ok, bad = split(60, 0.1)
    each = bad // 3
    out.append(
        Case(
            f"{pct(0.1)} server-side failures (529, mid-stream overload, connection errors) burn every window",
            [
                call(f"0+{ok}x180"),
                call(f"0+{each}x180", outcome="failed", status="529", error_type="overloaded_error"),
                call(f"0+{each}x180", outcome="failed", status="200", error_type="overloaded_error", stream="true"),
                call(f"0+{bad - 2 * each}x180", outcome="failed", status="", error_type="connection_error"),
            ],
            [
                ("180m", [*burning(0.1), Expect(rule("AnthropicRetriesExhausted"), (bad - each) / 60)], []),
            ],
        )
    )
    # Between two burn thresholds: 1.5x a slower window's threshold fires it (and the slower ones), not faster.
    for w in cfg.burn_windows:
        r = round(1.5 * w.factor * cfg.error_budget, 6)
        if w.factor == fastest or r > fastest * cfg.error_budget:
            continue
        bad = round(10000 * r)
        out.append(
            Case(
                f"{pct(r)} of calls failing with 500 api_error fires only the windows whose threshold it exceeds",
                [
                    call(f"0+{10000 - bad}x180"),
                    call(f"0+{bad}x180", outcome="failed", status="500", error_type="api_error"),
                ],
                [("180m", burning(r), [])],
            )
        )
    out.append(
        Case(
            "a 5-minute spike of 529s does not page: the long window disagrees",
            [call("0+60x180"), call("0+0x175 30+30x4", outcome="failed", status="529", error_type="overloaded_error")],
            [("180m", [], ["AnthropicErrorBudgetBurn"])],
        )
    )
    out.append(
        Case(
            "a bad deploy: 400s and a non-JSON 413 fire the client-error alert, not the SLO burn",
            [
                call("0+90x30"),
                call("0+5x30", outcome="failed", status="400", error_type="invalid_request_error"),
                call("0+5x30", outcome="failed", status="413", error_type="413"),
            ],
            [("30m", [Expect(rule("AnthropicClientErrorSpike"), 0.1)], ["AnthropicErrorBudgetBurn"])],
        )
    )
    out.append(
        Case(
            "sustained 529s on attempts raise the overload alert, not the rate-limit one",
            [attempt("0+80x30"), attempt("0+20x30", status="529", error_type="overloaded_error")],
            [("30m", [Expect(rule("AnthropicOverloaded"), 0.2)], ["AnthropicRateLimited"])],
        )
    )
    out.append(
        Case(
            "sustained 429s on attempts raise the rate-limit alert, not the overload one",
            [attempt("0+90x30"), attempt("0+10x30", status="429", error_type="rate_limit_error")],
            [("30m", [Expect(rule("AnthropicRateLimited"), 0.1)], ["AnthropicOverloaded"])],
        )
    )
    out.append(
        Case(
            "calls that still fail with 429 after their retries: retries exhausted, not an SLO burn",
            [call("0+97x30"), call("0+3x30", outcome="failed", status="429", error_type="rate_limit_error")],
            [("30m", [Expect(rule("AnthropicRetriesExhausted"), 0.03)], ["AnthropicErrorBudgetBurn"])],
        )
    )
    low = cfg.headroom_ratio / 2
    headroom_series = [
        gauge(c.RATELIMIT_REMAINING, f"{number(10000 * low)}+0x20", "tokens"),
        gauge(c.RATELIMIT_LIMIT, "10000+0x20", "tokens"),
        gauge(c.RATELIMIT_REMAINING, "900+0x20", "requests"),
        gauge(c.RATELIMIT_LIMIT, "1000+0x20", "requests"),
    ]
    out.append(
        Case(
            "little token headroom left while calls are made: warn before the 429s (requests still have room)",
            [*headroom_series, attempt("0+60x20")],
            [("20m", [Expect(rule("AnthropicRateLimitHeadroomLow"), low, {kind: "tokens"})], [])],
        )
    )
    out.append(
        Case(
            "a low headroom gauge left over from traffic that stopped does not alert",
            [*headroom_series, attempt("600+0x20")],
            [("20m", [], ["AnthropicRateLimitHeadroomLow"])],
        )
    )
    out.append(
        Case(
            "one model's answers are cut at max_tokens: warn for that model only",
            [
                call("0+20x60", stop="max_tokens"),
                call("0+80x60", stop="end_turn"),
                call("0+100x60", stop="end_turn", model=MODEL_B),
            ],
            [("60m", [Expect(rule("AnthropicHighTruncation"), 0.2)], [])],
        )
    )
    latency_firing: list[Expect] = []
    for w in fast_burn:
        variant = f"{w.long}/{w.short}"
        latency_firing.append(Expect(rule("AnthropicLatencyBudgetBurn", variant), 1 - 42 / 60))
        latency_firing.append(Expect(rule("AnthropicTimeToFirstChunkBudgetBurn", variant), 1 - 50 / 60))
    out.append(
        Case(
            "30% of calls over the latency threshold and 1 in 6 first chunks over the TTFT threshold",
            [
                *histogram(c.OPERATION_DURATION, cfg.latency_threshold, "0+42x180", "0+60x180"),
                *histogram(c.TIME_TO_FIRST_CHUNK, cfg.ttft_threshold, "0+50x180", "0+60x180"),
            ],
            [("180m", latency_firing, [])],
        )
    )
    return out


def pct(value: float) -> str:
    return f"{value * 100:.4g}%"


def promtool_file(cfg: Config, rules: Rules, rule_files: Sequence[str]) -> dict[str, object]:
    tests: list[dict[str, object]] = []
    for case in cases(cfg, rules):
        alert_tests: list[dict[str, object]] = []
        for eval_time, firing, silent in case.checks:
            names = sorted({e.rule.alert for e in firing} | set(silent))
            for name in names:
                alert_tests.append(
                    {
                        "eval_time": eval_time,
                        "alertname": name,
                        "exp_alerts": [_expected(cfg, e) for e in firing if e.rule.alert == name],
                    }
                )
        tests.append(
            {
                "name": case.name,
                "interval": "1m",
                "input_series": [s.render(cfg) for s in case.series],
                "alert_rule_test": alert_tests,
            }
        )
    return {"rule_files": list(rule_files), "evaluation_interval": "1m", "tests": tests}
