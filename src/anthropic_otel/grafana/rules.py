"""The Prometheus rule files, `recording.yaml` and `alerts.yaml`: the shared recording rules and every alert
definition's rules, grouped by rule group.

Portable on purpose: plain PromQL in the Prometheus rule-file format, which Prometheus, Mimir, Thanos Ruler,
VictoriaMetrics (vmalert) and Grafana's importer all read. The Grafana-managed copy (`grafana_alerting.py`)
is derived from the same `Rules`. Standard library only, so the demo can write the rules from an installed
wheel.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .alerts import ALERTS, Alert, AlertRule, Rules
from .config import Config
from .recording import RATIOS_GROUP, recording_rules


def build(cfg: Config, alerts: Sequence[Alert] = ALERTS) -> Rules:
    cfg.validate()
    names = [a.name for a in alerts]
    if len(set(names)) != len(names):
        raise ValueError(f"alert names must be unique: {names}")
    recording = recording_rules(cfg)
    owned = [r for a in alerts for r in a.records(cfg)]
    for name, group in recording:
        if name == RATIOS_GROUP:
            group.extend(owned)
    records = [r.record for _, group in recording for r in group]
    if len(set(records)) != len(records):
        raise ValueError(f"recording rule names must be unique: {records}")
    alerting: dict[str, list[AlertRule]] = {}
    for alert in alerts:
        alerting.setdefault(alert.group, []).extend(alert.alert_rules(cfg))
    return Rules(recording=recording, alerting=list(alerting.items()), definitions=tuple(alerts))


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
