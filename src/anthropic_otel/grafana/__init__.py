"""Grafana dashboards and Prometheus rules for anthropic-otel's metrics, generated from the telemetry catalog.

`anthropic-otel grafana generate --selector 'job="checkout"' --slo 0.995 --out grafana` regenerates everything
with your settings. For the demo, standard library only: `write_rules(dir, demo_config())` writes the rule files
(with short windows), `run_prometheus(dir, "127.0.0.1:9464")` starts the `prometheus` on the PATH with them and
`firing_alerts(url)` reads what fires. The full generator (`main`, `render`, `write`, `drift`) also needs
`grafana-foundation-sdk`, `promql-parser` and `pyyaml`, imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .prometheus import INSTALL_HINT, Alert, PrometheusServer, firing_alerts, prometheus_available, run_prometheus

if TYPE_CHECKING:
    from .cli import main
    from .config import BurnWindow, Config, demo_config
    from .generate import drift, render, write
    from .rules import write_rules

_LAZY = {
    "main": "cli",
    "Config": "config",
    "BurnWindow": "config",
    "render": "generate",
    "write": "generate",
    "drift": "generate",
    "demo_config": "config",
    "write_rules": "rules",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "INSTALL_HINT",
    "Alert",
    "BurnWindow",
    "Config",
    "PrometheusServer",
    "demo_config",
    "drift",
    "firing_alerts",
    "main",
    "prometheus_available",
    "render",
    "run_prometheus",
    "write",
    "write_rules",
]
