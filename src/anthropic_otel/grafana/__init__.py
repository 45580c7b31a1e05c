"""The generator of anthropic-otel's Grafana dashboards, Prometheus rules, promtool tests and runbook.

`anthropic-otel grafana generate --selector 'job="checkout"' --slo 0.995 --out grafana` regenerates everything
with your settings; `render`, `write` and `drift` do the same from Python with a `Config`. `write_rules` writes
the Prometheus rule files alone with the standard library (what the demo needs); the rest also needs
`grafana-foundation-sdk`, `promql-parser` and `pyyaml`, imported on first use, so importing this package costs
nothing.

Alerts are defined in `alerts/` (one `Alert` per alert: rule, runbook text and promtool cases together) and
dashboards in `dashboards/`. Running a local Prometheus for the demo is not part of the generator: see
`prometheus_runner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cli import main
    from .config import BurnWindow, Config, demo_config
    from .generate import drift, render, write
    from .rules import write_rules

_LAZY = {
    "main": "cli",
    "Config": "config",
    "BurnWindow": "config",
    "demo_config": "config",
    "render": "generate",
    "write": "generate",
    "drift": "generate",
    "write_rules": "rules",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = ["BurnWindow", "Config", "demo_config", "drift", "main", "render", "write", "write_rules"]
