"""`tests/rules.test.yaml`: promtool unit tests for the generated rules, from each alert definition's `cases`,
after one case of healthy traffic in which every alert must stay silent.

Expected labels come from each rule's `keeps`, expected annotations from rendering the rule's own templates
(`templating.render`), so a changed description or threshold regenerates its test too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .. import _catalog as c
from .alerts import Rules
from .alerts.cases import DEFAULTS, Case, Expect, attempt, base_labels, call, gauge, histogram, roomy
from .config import Config
from .promql import label, number
from .templating import render

# The order in which the committed tests/rules.test.yaml lists the alerts' cases (the order they were first
# written, not the rule order). Kept so that moving the cases into the alert definitions left that file
# byte-identical; alerts not listed (new ones) follow in rule order. Deleting this tuple only reorders the
# cases in that file.
_FIRST_WRITTEN = (
    "AnthropicBillingError",
    "AnthropicAuthenticationError",
    "AnthropicErrorBudgetBurn",
    "AnthropicClientErrorSpike",
    "AnthropicOverloaded",
    "AnthropicRateLimited",
    "AnthropicRetriesExhausted",
    "AnthropicRateLimitHeadroomLow",
    "AnthropicHighTruncation",
    "AnthropicLatencyBudgetBurn",
)


def healthy_traffic(cfg: Config, rules: Rules) -> Case:
    """Healthy traffic, a call recovered after one 529 included, with every series an alert reads: no alert
    may fire, new ones included. With a low overload threshold the single 529 is diluted in more traffic."""
    ok = max(59, math.ceil(2 / cfg.overload_ratio))
    room = 0.8 if cfg.headroom_ratio < 0.6 else roomy(cfg.headroom_ratio)
    return Case(
        "healthy traffic, and a call recovered after one 529, wake nobody",
        [
            call(f"0+{ok}x180"),
            call("0+1x180", outcome="recovered"),
            attempt(f"0+{ok}x180"),
            attempt("0+1x180", status="529", error_type="overloaded_error"),
            attempt("0+1x180", retry=True),
            *histogram(c.OPERATION_DURATION, cfg.latency_threshold, "0+60x180", "0+60x180"),
            *histogram(c.TIME_TO_FIRST_CHUNK, cfg.ttft_threshold, "0+30x180", "0+30x180"),
            gauge(c.RATELIMIT_REMAINING, f"{number(1000 * room)}+0x180", "requests"),
            gauge(c.RATELIMIT_LIMIT, "1000+0x180", "requests"),
        ],
        [("180m", [], sorted({a.alert for a in rules.alerts()}))],
    )


def cases(cfg: Config, rules: Rules) -> list[Case]:
    """Every case: healthy traffic, then each alert definition's cases."""
    definitions = list(rules.definitions)
    position = {name: i for i, name in enumerate(_FIRST_WRITTEN)}
    definitions.sort(key=lambda a: position.get(a.name, len(position)))
    out = [healthy_traffic(cfg, rules)]
    for alert in definitions:
        out.extend(alert.cases(cfg, rules))
    known = {a.alert for a in rules.alerts()}
    for case in out:
        for _, _, silent in case.checks:
            # promtool passes a check on an alert that does not exist: a renamed alert must fail here instead.
            unknown = set(silent) - known
            if unknown:
                raise ValueError(f"case {case.name!r} expects unknown alerts {sorted(unknown)} to stay silent")
    return out


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
