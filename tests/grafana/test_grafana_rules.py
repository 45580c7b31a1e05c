"""Prometheus rules: promtool lint and unit tests, every alert proven both ways, Grafana-managed copy consistent."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_checks import GRAFANA, check_promql, require_binary

from anthropic_otel.grafana import BurnWindow, Config, demo_config, unittests, write, write_rules
from anthropic_otel.grafana import rules as rules_module
from anthropic_otel.grafana.config import duration_seconds
from anthropic_otel.grafana.grafana_alerting import uid

RULE_FILES = sorted((GRAFANA / "rules").glob("*.yaml"))
PROMTOOL_TESTS = GRAFANA / "tests" / "rules.test.yaml"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool")


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def all_alert_rules(directory: Path = GRAFANA) -> list[dict[str, Any]]:
    return [r for g in load(directory / "rules/alerts.yaml")["groups"] for r in g["rules"]]


def test_promtool_check_rules_lint_fatal(promtool: str) -> None:
    assert RULE_FILES, "no rule files in grafana/rules"
    result = run(promtool, "check", "rules", "--lint=all", "--lint-fatal", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests(promtool: str) -> None:
    result = run(promtool, "test", "rules", str(PROMTOOL_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_tests_follow_user_settings(promtool: str, tmp_path: Path) -> None:
    """Regenerated with another selector, SLO, grouping and windows, the rules still pass their own tests."""
    cfg = Config(
        selector='job="checkout", namespace=~"prod|canary"',
        group_by=("job", "namespace"),
        slo=0.999,
        burn_windows=(
            BurnWindow("2h", "10m", 10.0, "critical", "5m"),
            BurnWindow("1d", "2h", 2.0, "warning", "30m"),
        ),
        headroom_ratio=0.25,
        any_error_window="10m",
        rule_interval="30s",
    )
    write(cfg, tmp_path)
    lint = run(promtool, "check", "rules", "--lint-fatal", *map(str, sorted((tmp_path / "rules").glob("*.yaml"))))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    result = run(promtool, "test", "rules", str(tmp_path / "tests" / "rules.test.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_proven_to_fire_and_to_stay_silent() -> None:
    cfg = Config()
    built = rules_module.build(cfg)
    fired: set[tuple[str, str]] = set()
    silent: set[str] = set()
    for case in unittests.cases(cfg, built):
        for _, firing, quiet in case.checks:
            fired |= {(e.rule.alert, e.rule.variant) for e in firing}
            silent |= set(quiet)
    every = {(a.alert, a.variant) for a in built.alerts()}
    assert every - fired == set(), "alerts no promtool case makes fire"
    assert {name for name, _ in every} - silent == set(), "alerts no promtool case proves silent"


def test_a_call_recovered_after_one_529_pages_nobody() -> None:
    """A call the SDK's retry rescued is the commonest false page: the generated cases include it and assert
    every alert silent."""
    cfg = Config()
    built = rules_module.build(cfg)
    case = next(c for c in unittests.cases(cfg, built) if "recovered after one 529" in c.name)
    outcomes = {
        s.attributes.get("anthropic.call.outcome") for s in case.series if s.metric.name == "anthropic.client.calls"
    }
    assert "recovered" in outcomes
    [(_, firing, quiet)] = case.checks
    assert not firing
    assert set(quiet) == {a.alert for a in built.alerts()}


def test_alerts_have_severity_annotations_and_runbook_sections() -> None:
    runbook = (GRAFANA / "runbook.md").read_text()
    anchors = {h.strip().lower() for h in re.findall(r"^## (\S+)$", runbook, re.M)}
    for rule in all_alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        annotations = rule["annotations"]
        # No guessed link by default: the description names the runbook section, which must exist.
        assert set(annotations) == {"summary", "description"}, name
        assert "$value" in annotations["description"] or "$value" in annotations["summary"], f"{name}: no number"
        assert annotations["description"].endswith(
            f"Runbook: section {name} of runbook.md (`anthropic-otel grafana export` writes it)."
        ), name
        assert name.lower() in anchors, f"{name}: runbook section missing"
    billing = next(r for r in all_alert_rules() if r["alert"] == "AnthropicBillingError")
    assert billing["labels"]["severity"] == "critical" and billing["for"] == "0m"
    assert "anthropic_error_code" in billing["annotations"]["summary"]


def test_burn_rate_alerts_follow_the_sre_workbook() -> None:
    burns = {
        (r["labels"]["long"], r["labels"]["short"]): r
        for r in all_alert_rules()
        if r["alert"] == "AnthropicErrorBudgetBurn"
    }
    assert set(burns) == {("1h", "5m"), ("6h", "30m"), ("3d", "6h")}
    assert burns[("1h", "5m")]["labels"]["severity"] == "critical" and "14.4 * 0.005" in burns[("1h", "5m")]["expr"]
    assert burns[("6h", "30m")]["labels"]["severity"] == "critical" and "6 * 0.005" in burns[("6h", "30m")]["expr"]
    assert burns[("3d", "6h")]["labels"]["severity"] == "warning" and "1 * 0.005" in burns[("3d", "6h")]["expr"]


def test_rule_expressions_use_catalog_names_only() -> None:
    recording = [r for g in load(GRAFANA / "rules/recording.yaml")["groups"] for r in g["rules"]]
    records = [r["record"] for r in recording]
    assert len(records) == len(set(records))
    for rule in recording + all_alert_rules():
        # The "new series" arm of the any-error alerts reads a counter raw on purpose (see rules._any).
        problems = check_promql(rule["expr"], records, strict_usage=False)
        assert not problems, f"{rule.get('record') or rule.get('alert')}: {problems}"


def test_grafana_provisioning_file() -> None:
    doc = load(GRAFANA / "provisioning/alerting/anthropic-otel.yaml")
    assert doc["apiVersion"] == 1
    prometheus_rules = all_alert_rules()
    grafana_rules = [r for g in doc["groups"] for r in g["rules"]]
    assert len(grafana_rules) == len(prometheus_rules)
    uids = [r["uid"] for r in grafana_rules]
    titles = [r["title"] for r in grafana_rules]
    assert len(set(uids)) == len(uids) and all(len(u) <= 40 and re.fullmatch(r"[\w-]+", u) for u in uids)
    assert len(set(titles)) == len(titles)
    for group in doc["groups"]:
        assert group["interval"].endswith(("0s", "m", "h")) and group["folder"]
    for rule in grafana_rules:
        refs = {d["refId"]: d for d in rule["data"]}
        assert rule["condition"] in refs
        query = refs["A"]["model"]["expr"]
        # Everything Grafana would expand as an environment variable is escaped, except the datasource uid.
        text = yaml.safe_dump({k: v for k, v in rule.items() if k != "data"}) + query
        assert not re.search(r"(?<!\$)\$(?!\$)", text.replace("$$", "")), f"{rule['title']}: unescaped $"
        assert refs["A"]["datasourceUid"] == "${PROMETHEUS_DATASOURCE_UID}"
        assert "anthropic:" not in query, "recording rules must be expanded for Grafana-managed alerting"
        assert not check_promql(query.replace("$$", "$"), strict_usage=False), rule["title"]
        # Grafana's `$value` is a string of every expression; the number is `$values.B.Value`.
        assert not re.search(r"\$\$value\b", rule["annotations"]["description"]), rule["title"]
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["noDataState"] == "OK"
    assert uid(rules_module.build(Config()).alerts()[0]) == uids[0]


@pytest.mark.parametrize("name", ["recording.yaml", "alerts.yaml"])
def test_rule_files_are_plain_prometheus_format(name: str) -> None:
    """Only the keys the Prometheus rule-file format defines: Mimir, Thanos, vmalert and Grafana's importer
    read them unchanged."""
    allowed = {"record", "alert", "expr", "for", "labels", "annotations", "keep_firing_for"}
    for group in load(GRAFANA / "rules" / name)["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        for rule in group["rules"]:
            assert set(rule) <= allowed


def test_write_rules_matches_the_shipped_files(tmp_path: Path) -> None:
    """The stdlib-only writer the demo uses produces the same rules as the YAML files (JSON is YAML)."""
    write_rules(tmp_path)
    for name in ("recording.yaml", "alerts.yaml"):
        assert load(tmp_path / name) == load(GRAFANA / "rules" / name)


def test_demo_config_rules_pass_promtool(promtool: str, tmp_path: Path) -> None:
    write_rules(tmp_path, demo_config())
    result = run(promtool, "check", "rules", "--lint-fatal", *map(str, sorted(tmp_path.glob("*.yaml"))))
    assert result.returncode == 0, result.stdout + result.stderr
    alerts = [r for g in load(tmp_path / "alerts.yaml")["groups"] for r in g["rules"]]
    assert max(duration_seconds(r["for"]) for r in alerts) <= 10
