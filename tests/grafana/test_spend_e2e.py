"""End to end: a workload spends toward the simulator's spend limit; with a real Prometheus and the generated
rules, AnthropicSpendBudgetBurn fires *before* the first billing error is served, and AnthropicBillingError after.

The rules are generated for this run: the budget is the simulated spend limit, the period short enough that the
workload's measured pace would use it up well before the period ends, the windows seconds long. Everything
listens on 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from grafana_checks import require_binary

from anthropic_otel import pricing
from anthropic_otel.grafana.config import BurnWindow, demo_config
from anthropic_otel.grafana.prometheus_runner import PrometheusServer, free_port, run_prometheus, stop_process
from anthropic_otel.grafana.rules import write_rules
from anthropic_otel.testing import Simulator, SpendLimit

JOB = "anthropic-otel-spend-e2e"
WORKLOAD = Path(__file__).with_name("e2e_workload.py")
# Every call writes and reads the prompt cache, as a real agent would: most of the spend is cached input.
SCENARIO = "ok:cache_creation=400:cache_creation_1h=100:cache_read=4000"
MEASURE_SECONDS = 3.0
# The limit is reached after about this many seconds of the workload's pace.
SECONDS_TO_LIMIT = 35.0
# The budget-burn threshold: the pace that would use up the budget in a tenth of the period pages.
BURN_FACTOR = 2.0
PACE_OVER_BUDGET = 10.0


def _firing(prometheus: PrometheusServer, name: str) -> bool:
    return any(a.name == name for a in prometheus.firing())


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_spend_alert_fires_before_the_spend_limit_turns_calls_into_billing_errors(tmp_path: Path) -> None:
    require_binary("prometheus")
    limit = SpendLimit(1e9, 403, pricing.shipped())  # lowered to the real limit once the pace is known
    sim = Simulator(SCENARIO, spend_limit=limit).start()
    port = free_port()
    workload = subprocess.Popen(
        [sys.executable, str(WORKLOAD), "--base-url", sim.base_url, "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert workload.stdout is not None
        if workload.stdout.readline().strip() != "ready":
            pytest.fail(f"workload did not start: {workload.stderr.read() if workload.stderr else ''}")
        start = time.time()
        time.sleep(MEASURE_SECONDS)
        pace = limit.spent / (time.time() - start)  # USD per second
        assert pace > 0, "the workload spent nothing"
        # The budget is the spend limit; the period is long enough that the budget would last it at a tenth of
        # the workload's pace. At the real pace it runs out in a tenth of the period: the alert must page.
        budget = limit.spent + pace * SECONDS_TO_LIMIT
        period = math.ceil(PACE_OVER_BUDGET * budget / pace)
        cfg = demo_config().replace(
            spend_budget=budget,
            spend_period=f"{period}s",
            spend_burn_windows=(BurnWindow("20s", "5s", BURN_FACTOR, "critical", "0s"),),
            spend_spike_window="5s",
            spend_spike_baseline="1m",
            any_error_window="30s",
        )
        write_rules(tmp_path / "rules", cfg)
        limit.usd = budget
        with run_prometheus(tmp_path / "rules", f"127.0.0.1:{port}", job=JOB) as prometheus:
            prometheus.wait_for_scrape(timeout=30)
            spend_alert_at = billing_alert_at = None
            deadline = time.monotonic() + SECONDS_TO_LIMIT + 60
            while time.monotonic() < deadline and billing_alert_at is None:
                now = time.time()
                if spend_alert_at is None and _firing(prometheus, "AnthropicSpendBudgetBurn"):
                    spend_alert_at = now
                if _firing(prometheus, "AnthropicBillingError"):
                    billing_alert_at = now
                time.sleep(0.25)
            health = prometheus.rule_health()
            assert health and all(h == "ok" for _, h, _ in health), [r for r in health if r[1] != "ok"]
        first_402 = limit.first_error_at
        assert spend_alert_at is not None, "AnthropicSpendBudgetBurn never fired"
        assert first_402 is not None, "the spend limit was never reached"
        assert billing_alert_at is not None, "AnthropicBillingError never fired"
        print(
            f"\nspend e2e: pace {pace * 3600:.2f} USD/h, budget = spend limit {budget:.4f} USD per {period} s;"
            f"\n  t1 AnthropicSpendBudgetBurn firing  {spend_alert_at - start:6.1f} s"
            f"\n  t2 first billing error (403 enforced_spend_limit_reached) served {first_402 - start:6.1f} s"
            f"\n  t3 AnthropicBillingError firing     {billing_alert_at - start:6.1f} s"
        )
        assert spend_alert_at < first_402 < billing_alert_at
    finally:
        stop_process(workload)
        sim.stop()
