"""Generated promtool tests pass for a spread of accepted settings, not only the defaults: SLOs, group-by label
sets and every ratio threshold at both ends of its range. Each configuration goes through the CLI as a user
would type it, then `promtool check rules` and `promtool test rules` on what it wrote."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from grafana_checks import require_binary

from anthropic_otel.grafana import main
from anthropic_otel.grafana.config import RATIO_THRESHOLDS

_SLOS = [["--slo", slo] for slo in ("0.95", "0.99", "0.995", "0.999", "0.9999")]
_GROUPINGS = [
    [],  # by job
    ["--group-by", "job,gen_ai_request_model"],
    ["--group-by", "gen_ai_provider_name"],
    ["--group-by", "job,namespace", "--selector", 'job="checkout", namespace=~"prod|canary"'],
    ["--group-by", "job,namespace,gen_ai_provider_name,gen_ai_request_model"],
]
# Every threshold at both ends of its accepted range, one configuration per end (the thresholds belong to
# different alerts, so one file tests them all): the ratio alerts' thresholds in (0, 1), the headroom and
# refusal ratios in (0, 1], the latency objectives above 1 - 1/14.4 (the fastest burn factor), the latency
# thresholds from the smallest to the largest bucket boundary.
_LOW_END = [
    *(f"{name}=0.001" for name in (*RATIO_THRESHOLDS, "headroom_ratio", "refusal_ratio")),
    "latency_objective=0.94",
    "ttft_objective=0.94",
]
_HIGH_END = [
    *(f"{name}=0.999" for name in RATIO_THRESHOLDS),
    "headroom_ratio=1",
    "refusal_ratio=1",
    "latency_objective=0.9999",
    "ttft_objective=0.9999",
]
_ENDS = [
    [*(a for item in _LOW_END for a in ("--set", item)), "--latency-threshold", "0.01", "--ttft-threshold", "0.01"],
    [*(a for item in _HIGH_END for a in ("--set", item)), "--latency-threshold", "81.92", "--ttft-threshold", "81.92"],
    # Long `for` durations and windows: the cases run long enough for the alerts to be firing, not pending.
    ["--set", "overload_for=2h", "--set", "exhausted_for=3h", "--set", "truncation_for=6h", "--set", "headroom_for=1h",
     "--set", "client_error_window=1h", "--set", "any_error_window=1h"],
]  # fmt: skip
_ISSUE_EXAMPLES = [
    ["--set", "overload_ratio=0.2", "--set", "rate_limited_ratio=0.2"],
    ["--set", "client_error_ratio=0.25", "--set", "exhausted_ratio=0.1"],
    ["--set", "truncation_ratio=0.5", "--set", "headroom_ratio=0.05"],
    ["--slo", "0.999", "--group-by", "job,gen_ai_request_model", "--set", "overload_ratio=0.001"],
    ["--selector", 'job="checkout"', "--slo", "0.999"],  # docs/grafana.md's Python example
]
CONFIGURATIONS = [*_SLOS, *_GROUPINGS, *_ENDS, *_ISSUE_EXAMPLES]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow
@pytest.mark.parametrize("argv", CONFIGURATIONS, ids=[" ".join(a) or "defaults" for a in CONFIGURATIONS])
def test_generated_promtool_tests_pass(argv: list[str], tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    assert main(["generate", "--out", str(tmp_path), *argv]) == 0
    rule_files = sorted(str(p) for p in (tmp_path / "rules").glob("*.yaml"))
    check = _run(promtool, "check", "rules", "--lint=all", "--lint-fatal", *rule_files)
    assert check.returncode == 0, check.stdout + check.stderr
    result = _run(promtool, "test", "rules", str(tmp_path / "tests" / "rules.test.yaml"))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--slo", "0.9"], "slo must be above 0.9306"),
        (["--set", "latency_objective=0.9"], "latency_objective must be above"),
        (["--set", "overload_ratio=1"], "overload_ratio must be between 0 and 1"),
        (["--group-by", "job,error_type"], "group_by: 'error_type'"),
        (["--group-by", "gen_ai_operation_name"], "group_by: 'gen_ai_operation_name'"),
    ],
)
def test_settings_whose_alerts_could_not_work_are_rejected(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An alert that can never fire (a burn threshold above 100%) or a ratio split by how calls ended would pass
    its own tests and still never page: refused with the reason instead."""
    assert main(["generate", "--out", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err
