"""The alert rules as a Grafana alerting provisioning file, for teams that use Grafana-managed alerting.

Same `AlertRule` objects as the Prometheus files, with three translations:
- recording-rule names are expanded into their expressions, so the file works against any Prometheus-compatible
  datasource without our recording rules loaded;
- each rule is query A (the PromQL, instant) → B (reduce: last) → C (math: "A returned a sample"), the usual
  shape for a PromQL expression that already contains its threshold;
- `$value` becomes `$values.B.Value`, numbers the annotations derive from it (computed by Prometheus with
  `query`) become math expressions D, E, … on B, and every `$` is doubled because Grafana expands `$VAR` / `${VAR}`
  environment references in provisioning files (only the datasource uid is meant to be expanded).
"""

from __future__ import annotations

import hashlib
import re

from .alerts import AlertRule, Rules
from .config import Config, duration_seconds
from .templating import grafana as grafana_template
from .templating import grafana_math

QUERY, REDUCE, CONDITION = "A", "B", "C"
_EXPR_DATASOURCE = {"type": "__expr__", "uid": "__expr__"}


def expand(expr: str, records: dict[str, str]) -> str:
    """Replace each recording-rule name by its parenthesised expression (repeatedly: records may nest)."""
    for _ in range(5):
        changed = False
        for name, body in records.items():
            pattern = re.compile(rf"(?<![\w:]){re.escape(name)}(?![\w:])")
            if pattern.search(expr):
                replacement = "(\n" + body + "\n)"
                expr = pattern.sub(lambda _m: replacement, expr)  # noqa: B023 (used at once, not stored)
                changed = True
        if not changed:
            return expr
    raise ValueError("recording rules nest too deeply")


def uid(rule: AlertRule) -> str:
    """Stable, ≤ 40 characters, from the alert name and window pair."""
    digest = hashlib.sha1(f"{rule.alert}/{rule.variant}".encode()).hexdigest()[:12]
    return f"anthropic-otel-{digest}"


def title(rule: AlertRule) -> str:
    return f"{rule.alert} {rule.variant}" if rule.variant else rule.alert


def _escape(text: str) -> str:
    return text.replace("$", "$$")


def _rule(cfg: Config, rule: AlertRule, records: dict[str, str]) -> dict[str, object]:
    # Look back as far as the longest window in the expression so Grafana's query inspector shows context.
    windows = [duration_seconds(w) for w in re.findall(r"\[(\d+[smhdw])\]", expand(rule.expr, records))]
    lookback = int(max([600.0, *windows]))
    texts = rule.annotations(cfg)
    # Numbers the annotations derive from the value (a burn rate, days left) are math expressions D, E, ….
    exprs = list(dict.fromkeys(e for text in texts.values() for e in grafana_math(text, REDUCE)))
    math = {expr: chr(ord(CONDITION) + 1 + i) for i, expr in enumerate(exprs)}
    annotations = {k: _escape(grafana_template(v, REDUCE, math)) for k, v in texts.items()}
    derived = [
        {
            "refId": ref,
            "datasourceUid": "__expr__",
            "model": {"refId": ref, "type": "math", "expression": _escape(expr), "datasource": _EXPR_DATASOURCE},
        }
        for expr, ref in math.items()
    ]
    return {
        "uid": uid(rule),
        "title": title(rule),
        "condition": CONDITION,
        "data": [
            {
                "refId": QUERY,
                "relativeTimeRange": {"from": lookback, "to": 0},
                "datasourceUid": cfg.grafana_datasource_uid,
                "model": {
                    "refId": QUERY,
                    "expr": _escape(expand(rule.expr, records)),
                    "instant": True,
                    "range": False,
                    "editorMode": "code",
                },
            },
            {
                "refId": REDUCE,
                "datasourceUid": "__expr__",
                "model": {
                    "refId": REDUCE,
                    "type": "reduce",
                    "expression": QUERY,
                    "reducer": "last",
                    "datasource": _EXPR_DATASOURCE,
                },
            },
            {
                "refId": CONDITION,
                "datasourceUid": "__expr__",
                "model": {
                    "refId": CONDITION,
                    "type": "math",
                    # The PromQL already holds the threshold: any returned sample means "firing".
                    "expression": _escape(f"is_number(${REDUCE}) || is_nan(${REDUCE}) || is_inf(${REDUCE})"),
                    "datasource": _EXPR_DATASOURCE,
                },
            },
            *derived,
        ],
        # No result is the healthy state of these expressions, not missing data.
        "noDataState": "OK",
        "execErrState": "Error",
        "for": rule.for_,
        "labels": rule.labels(),
        "annotations": annotations,
        "isPaused": False,
    }


def provisioning_file(cfg: Config, rules: Rules) -> dict[str, object]:
    records = rules.records()
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": name,
                "folder": cfg.grafana_folder,
                "interval": cfg.grafana_interval,
                "rules": [_rule(cfg, rule, records) for rule in group],
            }
            for name, group in rules.alerting
        ],
    }
