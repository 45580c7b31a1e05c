"""Every alert, one `Alert` definition each (rules, runbook section, promtool cases), by family.

To add an alert, define it in its family's module (or a new one listed here) and add it to that module's
`ALERTS`: the rule files, the Grafana copy, the runbook and the promtool tests all iterate over `ALERTS`.
The order here is the order of the rules in alerts.yaml and of the runbook's sections, grouped by rule group.
"""

from __future__ import annotations

from . import calls, capacity, errors, slo_burn, spend
from .model import Alert, AlertRule, Rule, Rules, Runbook

ALERTS: tuple[Alert, ...] = (*errors.ALERTS, *slo_burn.ALERTS, *capacity.ALERTS, *calls.ALERTS, *spend.ALERTS)

__all__ = ["ALERTS", "Alert", "AlertRule", "Rule", "Rules", "Runbook"]
