"""Render the small subset of Prometheus alert templates the rules use, to write promtool's expected annotations.

promtool compares annotations exactly, so the tests need the text Prometheus will produce. Rather than copy
strings by hand (and let them drift from the rules), the generator renders each rule's own template with the
labels and value the test case predicts. Anything outside the subset is an error, not a silent mismatch.
"""

from __future__ import annotations

import re

_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_LABEL = re.compile(r"^\$labels\.(\w+)$")
_PIPE_PCT = re.compile(r"^\$value\s*\|\s*humanizePercentage$")
_PRINTF = re.compile(r'^printf\s+"([^"]*)"\s+\$value$')
_OR = re.compile(r'^or\s+\$labels\.(\w+)\s+"([^"]*)"$')


def go_g4(value: float) -> str:
    """Go's `%.4g` (as Prometheus' humanizePercentage uses it); Python's `%g` matches it for finite values."""
    return f"{value:.4g}"


def render(template: str, labels: dict[str, str], value: float) -> str:
    def action(match: re.Match[str]) -> str:
        body = match.group(1)
        if m := _LABEL.match(body):
            return labels.get(m.group(1), "")
        if _PIPE_PCT.match(body):
            return go_g4(value * 100) + "%"
        if m := _PRINTF.match(body):
            return m.group(1) % value
        if m := _OR.match(body):
            return labels.get(m.group(1)) or m.group(2)
        raise ValueError(f"template action outside the supported subset: {{{{ {body} }}}}")

    return _ACTION.sub(action, template)


def grafana(template: str, ref_id: str) -> str:
    """The same template for Grafana-managed alerting, where `$value` is a string of every expression's result;
    the number of the reduce or math expression `ref_id` is `$values.<ref_id>.Value`."""
    return re.sub(r"\$value\b", f"$values.{ref_id}.Value", template)
