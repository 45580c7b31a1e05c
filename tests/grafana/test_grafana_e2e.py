"""End to end: simulator → instrumented SDK → Prometheus exporter → a real Prometheus with the shipped rules.

Every dashboard query and variable query returns data, every rule evaluates without error, and switching the
simulator to billing errors fires AnthropicBillingError with the right labels and rendered annotations.
Bounded (about a minute) and everything it starts listens on 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_checks import GRAFANA, panels, prometheus_targets, require_binary

from anthropic_otel.grafana.prometheus_runner import PrometheusServer, free_port, run_prometheus, stop_process

JOB = "anthropic-otel-e2e"
WORKLOAD = Path(__file__).with_name("e2e_workload.py")
# Every fault the dashboards have a panel for, weighted so that ~25 s of traffic shows each several times.
MIX = (
    "mix:ok=40:max_tokens=8:refusal=4:tool_use=4:ratelimit_low=6:rate_limit=5:overloaded=6:server_error=3"
    ":stream_error=4:bad_request=2:not_found=1:too_large=1:drop=2:slow_first_token=3:permission=1"
)
BILLING = "billing:status=403:code=enforced_spend_limit_reached"
MIX_SECONDS = 25.0
# Panels that may legitimately be empty here, and why.
MAY_BE_EMPTY: dict[str, str] = {
    "Unpriced tokens": "every model of the workload has a price",
    "Unpriced tokens / s by model": "every model of the workload has a price",
    "Cache savings per hour by model": "the mix does not use prompt caching",
}
# Grafana's variables as this run's Prometheus needs them.
RATE_INTERVAL = "10s"


def _simulator() -> Any:
    """The real simulator and instrumentation are required; without them this test cannot mean anything."""
    try:
        from anthropic_otel import AnthropicInstrumentor  # noqa: F401
        from anthropic_otel.testing import Simulator
    except ImportError as exc:  # pragma: no cover - depends on the rest of the package
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the e2e test needs the instrumentation and the simulator: {exc}")
        pytest.skip(f"instrumentation or simulator not importable: {exc}")
    return Simulator


@pytest.fixture
def prometheus_binary() -> str:
    return require_binary("prometheus")


@pytest.fixture
def stack(prometheus_binary: str) -> Iterator[tuple[Any, PrometheusServer, float]]:
    simulator_class = _simulator()
    sim = simulator_class(MIX).start()
    port = free_port()
    workload = subprocess.Popen(
        [sys.executable, str(WORKLOAD), "--base-url", sim.base_url, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert workload.stdout is not None
        line = workload.stdout.readline()
        if line.strip() != "ready":
            errors = workload.stderr.read() if workload.stderr else ""
            pytest.fail(f"workload did not start: {line}{errors}")
        started = time.time()
        with run_prometheus(GRAFANA / "rules", f"127.0.0.1:{port}", job=JOB) as prometheus:
            prometheus.wait_for_scrape(timeout=30)
            yield sim, prometheus, started
    finally:
        stop_process(workload)
        sim.stop()


def _wait_for(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def grafana_to_prometheus(expr: str, range_seconds: int) -> str:
    """Substitute Grafana's variables the way Grafana would for this run (all jobs, all models)."""
    expr = expr.replace("$__rate_interval", RATE_INTERVAL).replace("$__range", f"{range_seconds}s")
    return re.sub(r"\$\{?(job|model)\}?", ".*", expr)


def _billing_alert(prometheus: PrometheusServer) -> Any:
    return [a for a in prometheus.firing() if a.name == "AnthropicBillingError"]


@pytest.mark.timeout(180)
def test_dashboards_and_alerts_against_real_prometheus(stack: tuple[Any, PrometheusServer, float]) -> None:
    sim, prometheus, started = stack

    # Phase 1: a realistic mix of faults, no billing errors.
    time.sleep(MIX_SECONDS)
    health = prometheus.rule_health()
    assert health and all(h == "ok" for _, h, _ in health), [r for r in health if r[1] != "ok"]
    assert not [a for a in prometheus.alerts() if a.name == "AnthropicBillingError"], "billing alert without billing"
    recorded = prometheus.query(f'anthropic:calls_server_failures:ratio_rate5m{{job="{JOB}"}}')
    assert recorded, "the SLO recording rule produced nothing"

    # Phase 2: the organization runs out of money.
    sim.set_scenario(BILLING)
    switched = time.monotonic()
    [alert] = _wait_for(lambda: _billing_alert(prometheus), 30, "AnthropicBillingError to fire")
    print(f"\ne2e: AnthropicBillingError firing {time.monotonic() - switched:.1f} s after the switch to billing errors")
    assert alert.labels["severity"] == "critical"
    assert alert.labels["job"] == JOB
    assert alert.labels["anthropic_error_code"] == "enforced_spend_limit_reached"
    assert alert.labels["http_response_status_code"] == "403"
    assert alert.labels["gen_ai_provider_name"] == "anthropic"
    assert alert.annotations["summary"] == f"Claude API billing error in {JOB}: enforced_spend_limit_reached"
    description = alert.annotations["description"]
    assert re.match(r"^\d+ Claude API call\(s\) from " + re.escape(JOB), description), description
    assert "HTTP 403" in description and "error_code enforced_spend_limit_reached" in description
    # No runbook link unless the user gives one: the description names the section to read.
    assert "runbook_url" not in alert.annotations
    assert description.endswith(
        "Runbook: section AnthropicBillingError of runbook.md (`anthropic-otel grafana export` writes it)."
    )
    assert not any("{{" in v for v in alert.annotations.values())
    sim.set_scenario(MIX)  # back to normal traffic so the last minute has every kind of data
    time.sleep(3)

    # Every dashboard query returns data over the run.
    end = time.time()
    range_seconds = int(end - started) + 1
    empty: list[str] = []
    checked = 0
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            match = re.match(r"label_values\((.*),\s*(\w+)\)$", variable["query"]["query"])
            assert match, variable["query"]
            selector = grafana_to_prometheus(match[1], range_seconds)
            params: dict[str, str | float] = {"match[]": selector, "start": started, "end": end}
            values = prometheus.api(f"label/{match[2]}/values", **params)
            checked += 1
            if not values:
                empty.append(f"{board['uid']}: variable {variable['name']}")
        for panel, target in prometheus_targets(board):
            expr = grafana_to_prometheus(target["expr"], range_seconds)
            if target.get("instant"):
                result = prometheus.query(expr, at=end)
            else:
                result = prometheus.query_range(expr, started, end, 2)
            checked += 1
            if not result and panel["title"] not in MAY_BE_EMPTY:
                empty.append(f"{board['uid']}: {panel['title']} [{target['refId']}]")
        tempo_panels = [p["title"] for p in panels(board) if p.get("datasource", {}).get("type") == "tempo"]
        # Tempo panels query traces, which this test does not export (no Tempo here): checked statically.
        assert all("Recent failed" in t for t in tempo_panels)
    assert not empty, "queries without data:\n" + "\n".join(empty)
    print(f"e2e: {checked} dashboard queries and variable queries returned data")

    # The Grafana-managed copy of every alert evaluates against real data (its expressions are expanded).
    provisioning = yaml.safe_load((GRAFANA / "provisioning/alerting/anthropic-otel.yaml").read_text())
    for group in provisioning["groups"]:
        for rule in group["rules"]:
            expr = rule["data"][0]["model"]["expr"].replace("$$", "$")
            prometheus.query(expr)  # raises on a query error
    billing_rule = next(r for g in provisioning["groups"] for r in g["rules"] if r["title"] == "AnthropicBillingError")
    assert prometheus.query(billing_rule["data"][0]["model"]["expr"]), "Grafana's billing rule sees no billing error"
    assert urllib.parse.urlparse(prometheus.url).hostname == "127.0.0.1"
