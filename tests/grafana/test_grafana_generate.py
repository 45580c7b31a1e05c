"""The committed grafana/ directory is exactly what the generator produces, and the CLI accepts user settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from grafana_checks import GRAFANA

from anthropic_otel.grafana import Config, drift, main, render
from anthropic_otel.grafana.config import selector_labels


def test_committed_files_match_the_generator(tmp_path: Path) -> None:
    """Regenerate into a temp dir through the CLI and compare byte for byte with grafana/."""
    assert main(["generate", "--out", str(tmp_path)]) == 0
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    committed = {p.relative_to(GRAFANA): p.read_bytes() for p in GRAFANA.rglob("*") if p.is_file()}
    stale = sorted(str(p) for p in committed.keys() - fresh.keys())
    missing = sorted(str(p) for p in fresh.keys() - committed.keys())
    changed = sorted(str(p) for p in fresh.keys() & committed.keys() if fresh[p] != committed[p])
    hint = "run: python -m anthropic_otel.grafana generate --out grafana"
    assert not missing, f"not committed: {missing}; {hint}"
    assert not changed, f"out of date: {changed}; {hint}\n" + "\n".join(drift(Config(), GRAFANA))[:4000]
    assert not stale, f"no longer generated, delete: {stale}"


def test_check_mode_reports_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--out", str(tmp_path)]) == 0
    assert main(["generate", "--check", "--out", str(tmp_path)]) == 0
    (tmp_path / "runbook.md").write_text("edited by hand\n")
    assert main(["generate", "--check", "--out", str(tmp_path)]) == 1
    assert "runbook.md" in capsys.readouterr().err


def test_user_settings_flow_into_every_file(tmp_path: Path) -> None:
    argv = [
        "generate", "--out", str(tmp_path), "--selector", 'job="checkout", namespace=~"prod|canary"',
        "--slo", "0.999", "--group-by", "job,namespace", "--runbook-url", "https://runbooks.example/claude.md",
        "--set", "headroom_ratio=0.2", "--set", "rule_interval=30s",
    ]  # fmt: skip
    assert main(argv) == 0
    alerts = yaml.safe_load((tmp_path / "rules/alerts.yaml").read_text())
    recording = yaml.safe_load((tmp_path / "rules/recording.yaml").read_text())
    for group in alerts["groups"] + recording["groups"]:
        assert group["interval"] == "30s"
        for rule in group["rules"]:
            expr = rule["expr"]
            if "anthropic_client_calls_total" in expr and "anthropic:" not in expr:
                assert 'job="checkout", namespace=~"prod|canary"' in expr
            if "annotations" in rule:
                assert rule["annotations"]["runbook_url"].startswith("https://runbooks.example/claude.md#")
    burn = next(r for g in alerts["groups"] for r in g["rules"] if r["alert"] == "AnthropicErrorBudgetBurn")
    assert "(14.4 * 0.001)" in burn["expr"]
    headroom = next(r for g in alerts["groups"] for r in g["rules"] if r["alert"] == "AnthropicRateLimitHeadroomLow")
    assert "< 0.2" in headroom["expr"]
    assert "by (job, namespace" in (tmp_path / "rules/recording.yaml").read_text()
    board = (tmp_path / "dashboards/anthropic-otel-overview.json").read_text()
    assert 'job=\\"checkout\\", namespace=~\\"prod|canary\\"' in board
    assert "99.90%" in board


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--slo", "1.5"], "slo must be between 0 and 1"),
        (["--latency-threshold", "30"], "bucket boundaries"),
        (["--selector", "job="], "not a list of PromQL label matchers"),
        (["--set", "overload_window=ten minutes"], "duration"),
        (["--set", "burn_windows=1h"], "cannot be set"),
    ],
)
def test_bad_settings_are_rejected(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["generate", "--out", str(tmp_path), *argv])
    except SystemExit as exc:  # argparse-level errors
        code = int(exc.code or 0)
    assert code != 0
    assert message in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_selector_labels_satisfy_the_selector() -> None:
    assert selector_labels('job="a", ns=~"x|y", env!="dev"') == {"job": "a", "ns": "x", "env": "test"}
    with pytest.raises(ValueError, match="cannot derive"):
        selector_labels('job=~"[0-9]+"')


def test_render_is_deterministic() -> None:
    assert render(Config()) == render(Config())
