"""Adding an alert is one `Alert` definition: its rule, recording rule, runbook section and promtool cases reach
every generated file, and promtool proves it. Mistakes in a definition fail at generation, not silently."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from grafana_checks import require_binary

from anthropic_otel.grafana import Config, render, slis
from anthropic_otel.grafana import rules as rules_module
from anthropic_otel.grafana.alerts import ALERTS, Alert, Rule, Rules, Runbook
from anthropic_otel.grafana.alerts.cases import MODEL_B, Case, Expect, call
from anthropic_otel.grafana.alerts.common import RATIO_ALERTS_GROUP, VALUE_PCT, labelled, who
from anthropic_otel.grafana.promql import MODEL, number, ratio
from anthropic_otel.grafana.recording import RecordingRule, calls
from anthropic_otel.grafana.unittests import cases

NAME = "AnthropicHighRefusals"
RECORD = "anthropic:calls_refused:ratio_rate30m"


def _records(cfg: Config) -> list[RecordingRule]:
    group = (*cfg.group_by, MODEL)
    refused = calls(cfg, "30m", group, ((slis.REFUSED,),))
    return [RecordingRule(RECORD, ratio(refused, calls(cfg, "30m", group, ((slis.HAS_STOP_REASON,),))))]


def _rules(cfg: Config) -> list[Rule]:
    return [
        Rule(
            expr=f"{RECORD} > {number(cfg.refusal_ratio)}",
            for_="5m",
            severity="warning",
            summary=f"Claude refuses {VALUE_PCT} of the messages {who(cfg)} sends {labelled(MODEL)}",
            description=f"{VALUE_PCT} of the messages from {who(cfg)} to {labelled(MODEL)} ended in a refusal.",
            keeps=(*cfg.group_by, MODEL),
        )
    ]


def _runbook(cfg: Config) -> Runbook:
    return Runbook("Claude declines many requests.", "1. Read the refused prompts.")


def _cases(cfg: Config, rules: Rules) -> list[Case]:
    return [
        Case(
            "one model refuses 1 in 10 messages: warn for that model only",
            [call("0+10x40", stop="refusal"), call("0+90x40"), call("0+100x40", model=MODEL_B)],
            [("40m", [Expect(rules.rule(NAME), 0.1)], ["AnthropicHighTruncation"])],
        )
    ]


REFUSALS = Alert(NAME, RATIO_ALERTS_GROUP, _rules, _runbook, _cases, _records)


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def test_one_new_definition_reaches_every_generated_file(promtool: str, tmp_path: Path) -> None:
    files = render(Config(), alerts=(*ALERTS, REFUSALS))
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(content)
    recording = yaml.safe_load(files["rules/recording.yaml"])
    assert RECORD in [r["record"] for g in recording["groups"] for r in g["rules"]]
    alerting = yaml.safe_load(files["rules/alerts.yaml"])
    group = next(g for g in alerting["groups"] if g["name"] == RATIO_ALERTS_GROUP)
    assert group["rules"][-1]["alert"] == NAME
    assert f"\n## {NAME}\n" in files["runbook.md"] and "Read the refused prompts." in files["runbook.md"]
    grafana = yaml.safe_load(files["provisioning/alerting/anthropic-otel.yaml"])
    assert NAME in [r["title"] for g in grafana["groups"] for r in g["rules"]]
    tests = yaml.safe_load(files["tests/rules.test.yaml"])["tests"]
    [healthy] = [t for t in tests if "wake nobody" in t["name"]]
    assert NAME in [check["alertname"] for check in healthy["alert_rule_test"]], "not proven silent"
    assert any(NAME in str(t["alert_rule_test"]) and "refuses" in t["name"] for t in tests)

    rule_files = sorted(map(str, (tmp_path / "rules").glob("*.yaml")))
    lint = subprocess.run([promtool, "check", "rules", "--lint=all", "--lint-fatal", *rule_files], **_RUN)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    result = subprocess.run([promtool, "test", "rules", str(tmp_path / "tests/rules.test.yaml")], **_RUN)
    assert result.returncode == 0, result.stdout + result.stderr


_RUN: dict[str, object] = {"capture_output": True, "text": True, "timeout": 120, "check": False}


def test_a_case_naming_an_unknown_alert_fails_generation() -> None:
    """promtool passes a silence check on an alert that does not exist; the generator must not."""

    def renamed(cfg: Config, rules: Rules) -> list[Case]:
        return [Case("typo", [call("0+1x5")], [("5m", [], ["AnthropicHighTruncations"])])]

    alert = Alert(NAME, RATIO_ALERTS_GROUP, _rules, _runbook, renamed, _records)
    built = rules_module.build(Config(), (*ALERTS, alert))
    with pytest.raises(ValueError, match="AnthropicHighTruncations"):
        cases(Config(), built)


def test_duplicate_alert_or_record_names_fail_generation() -> None:
    with pytest.raises(ValueError, match="alert names must be unique"):
        rules_module.build(Config(), (*ALERTS, ALERTS[0]))
    twice = Alert("AnthropicOther", RATIO_ALERTS_GROUP, _rules, _runbook, _cases, _records)
    with pytest.raises(ValueError, match="recording rule names must be unique"):
        rules_module.build(Config(), (*ALERTS, REFUSALS, twice))


def test_the_demo_writes_rules_with_the_standard_library_only(tmp_path: Path) -> None:
    """The demo runs from an installed wheel without the generator's extras: neither the alert definitions nor
    the Prometheus runner may import them."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from anthropic_otel.grafana import prometheus_runner, demo_config, write_rules\n"
        f"write_rules(Path({str(tmp_path)!r}), demo_config())\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'yaml', 'grafana_foundation_sdk', 'promql_parser'}))\n"
    )
    src = str(Path(__file__).resolve().parents[2] / "src")
    result = subprocess.run([sys.executable, "-c", script], env={"PYTHONPATH": src}, **_RUN)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alerts.yaml", "recording.yaml"]
