"""Helpers of the Grafana/Prometheus tests: the generated files, the Prometheus binaries, and static checks of
PromQL (names from the catalog, counters and buckets used correctly).

There is deliberately no conftest.py here: the other tests import names from `tests/conftest.py` as the
module `conftest`, and a second conftest module on sys.path would shadow it.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser as pp
import pytest

from anthropic_otel import _catalog as c
from anthropic_otel.grafana import Config, render
from anthropic_otel.grafana.promql import label

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "grafana"


def require_binary(name: str) -> str:
    """promtool and prometheus come from Debian's `prometheus` package in CI. Without them the tests that need
    them skip locally but fail when CI=true: a CI run that silently skipped the rule tests would prove nothing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} not on PATH (Debian: apt-get install --no-install-recommends prometheus)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@functools.cache
def generated_files() -> dict[str, str]:
    """What the default Config generates (the committed files must equal it)."""
    return render(Config())


def generated_dashboards() -> dict[str, dict[str, Any]]:
    return {path: json.loads(text) for path, text in generated_files().items() if path.startswith("dashboards/")}


# Labels that are not attributes: the scrape's, the exporter's scope labels, the histogram layout's.
EXTRA_LABELS = frozenset({"job", "instance", "__name__"})
SCOPE_PREFIX = "otel_scope_"
COUNTER_FUNCS = frozenset({"rate", "increase", "irate"})

# Grafana's global variables, replaced by plausible values before parsing.
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__range": "1h", "__interval": "1m"}


@dataclass(frozen=True)
class Series:
    name: str
    metric: c.Metric | None  # None for recording rules
    counter_like: bool  # must be read through rate()/increase()
    bucket: bool  # must be read through histogram_quantile()

    def labels(self) -> frozenset[str]:
        if self.metric is None:
            return ALL_LABELS
        extra = {"le"} if self.bucket else set()
        return frozenset(label(k) for k in self.metric.attributes) | EXTRA_LABELS | extra


ALL_LABELS = frozenset(label(k) for m in c.METRICS for k in m.attributes) | EXTRA_LABELS | {"le"}


def catalog_series() -> dict[str, Series]:
    out: dict[str, Series] = {}
    for m in c.METRICS:
        base = m.prometheus_name
        if m.kind == "histogram":
            out[base + "_bucket"] = Series(base + "_bucket", m, True, True)
            out[base + "_sum"] = Series(base + "_sum", m, True, False)
            out[base + "_count"] = Series(base + "_count", m, True, False)
        else:
            out[base] = Series(base, m, m.kind == "counter", False)
    return out


def substitute(expr: str, variables: str = ".*") -> str:
    """Replace Grafana variables: built-ins by durations, dashboard variables (used in regex matchers) by
    `variables` (`{}` in it becomes the variable's name)."""
    for name, value in GRAFANA_BUILTINS.items():
        expr = expr.replace("${" + name + "}", value).replace("$" + name, value)
    return re.sub(r"\$\{?(\w+)(?::\w+)?\}?", lambda m: variables.replace("{}", m.group(1)), expr)


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """(metric name, {label: `op` + value}) of every selector, variables kept as `$name`."""
    tree = pp.parse(substitute(expr, "VAR_{}"))
    out = []
    for node, _ in _nodes(tree):
        if isinstance(node, pp.VectorSelector):
            ops = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
            matchers = {m.name: ops[str(m.op)] + m.value.replace("VAR_", "$") for m in node.matchers.matchers}
            out.append((node.name or "", matchers))
    return out


def label_ok(name: str, allowed: frozenset[str]) -> bool:
    return name in allowed or name.startswith(SCOPE_PREFIX)


def _nodes(expr: Any) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Every node with its ancestors (nearest last)."""
    found: list[tuple[Any, tuple[Any, ...]]] = []
    stack: list[Any] = []

    def pre(node: Any) -> None:
        found.append((node, tuple(stack)))
        stack.append(node)

    def post(node: Any) -> None:
        stack.pop()

    pp.walk(expr, pre, post)
    return iter(found)


def check_promql(expr: str, records: Iterable[str] = (), *, strict_usage: bool = True) -> list[str]:
    """Problems in one expression (empty when fine)."""
    try:
        tree = pp.parse(substitute(expr))
    except ValueError as exc:
        return [f"does not parse: {exc}"]
    known = catalog_series()
    for name in records:
        known[name] = Series(name, None, False, False)
    problems: list[str] = []
    for node, ancestors in _nodes(tree):
        if isinstance(node, pp.VectorSelector):
            series = known.get(node.name or "")
            if series is None:
                problems.append(f"unknown metric {node.name!r}")
                continue
            matchers = list(node.matchers.matchers) + [m for group in node.matchers.or_matchers for m in group]
            for m in matchers:
                if not label_ok(m.name, series.labels()):
                    problems.append(f"{node.name} has no label {m.name!r}")
            if strict_usage:
                problems += _usage(series, ancestors)
        elif isinstance(node, pp.AggregateExpr) and node.modifier is not None:
            problems += [
                f"unknown label {n!r} in {node.op}" for n in node.modifier.labels if not label_ok(n, ALL_LABELS)
            ]
        elif isinstance(node, pp.BinaryExpr) and node.modifier is not None:
            names = list(node.modifier.matching.labels) if node.modifier.matching else []
            names += list(node.modifier.group_labels or [])
            problems += [f"unknown label {n!r} in vector matching" for n in names if not label_ok(n, ALL_LABELS)]
        elif isinstance(node, pp.Call) and node.func.name == "label_replace":
            problems.append("label_replace hides label names from these checks")
    return problems


def _usage(series: Series, ancestors: tuple[Any, ...]) -> list[str]:
    parent = ancestors[-1] if ancestors else None
    if series.counter_like:
        grand = ancestors[-2] if len(ancestors) >= 2 else None
        if not (
            isinstance(parent, pp.MatrixSelector) and isinstance(grand, pp.Call) and grand.func.name in COUNTER_FUNCS
        ):
            return [f"{series.name} is cumulative: read it with rate() or increase()"]
    if series.bucket:
        aggregate = next((a for a in reversed(ancestors) if isinstance(a, pp.AggregateExpr)), None)
        quantile = next((a for a in reversed(ancestors) if isinstance(a, pp.Call) and a.func.name != "rate"), None)
        if quantile is None or quantile.func.name != "histogram_quantile":
            return [f"{series.name} must be read through histogram_quantile()"]
        if aggregate is None or "le" not in list(aggregate.modifier.labels if aggregate.modifier else []):
            return [f"{series.name}: aggregate by le before histogram_quantile()"]
    return []


_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.*),\s*(?P<label>\w+)\)$", re.S)


def check_variable_query(query: str) -> list[str]:
    """A Grafana `label_values(selector, label)` variable query."""
    match = _LABEL_VALUES.match(query.strip())
    if not match:
        return [f"not a label_values() query: {query!r}"]
    problems = check_promql(match["selector"], strict_usage=False)
    if not label_ok(match["label"], ALL_LABELS):
        problems.append(f"unknown label {match['label']!r}")
    return problems


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows and the panels of collapsed rows included."""
    out: list[dict[str, Any]] = []
    for panel in board.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def prometheus_targets(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in panels(board):
        if panel.get("type") == "row":
            continue
        if panel.get("datasource", {}).get("type") != "prometheus":
            continue
        for t in panel.get("targets", []):
            yield panel, t
