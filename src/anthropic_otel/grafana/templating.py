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
# A number computed from the alert's value (`derived`): Prometheus evaluates it with the `query` function.
_DERIVED = re.compile(
    r'\{\{ with printf "(?P<expr>[^"]*)" \$value \| query \}\}\{\{ \. \| first \| value \| printf "(?P<fmt>[^"]*)" \}\}'
    r"\{\{ end \}\}"
)
_OPERAND = r"(%f|\d+(?:\.\d+)?(?:e-?\d+)?)"
_DIVISION = re.compile(rf"^{_OPERAND} / {_OPERAND}$")


def derived(numerator: float | None, denominator: float | None, fmt: str) -> str:
    """A template printing `numerator / denominator` with printf `fmt`, where `None` is the alert's value:
    `derived(None, 0.005, "%.3g")` is the measured burn rate of a 0.5% budget. Alert templates have no
    arithmetic, so Prometheus evaluates the division with `query` and Grafana with a math expression."""
    if (numerator is None) == (denominator is None):
        raise ValueError("exactly one operand is the alert's value")
    expr = " / ".join("%f" if x is None else _number(x) for x in (numerator, denominator))
    return f'{{{{ with printf "{expr}" $value | query }}}}{{{{ . | first | value | printf "{fmt}" }}}}{{{{ end }}}}'


def _number(value: float) -> str:
    return f"{value:.10g}"


def _evaluate(expr: str, value: float) -> float:
    match = _DIVISION.match(expr)
    if not match:
        raise ValueError(f"derived expression outside the supported subset: {expr}")
    # Prometheus formats the value with Go's %f (6 decimals) before parsing the query: do the same.
    left, right = (float(f"{value:f}") if x == "%f" else float(x) for x in match.groups())
    return left / right


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

    def block(match: re.Match[str]) -> str:
        return match.group("fmt") % _evaluate(match.group("expr"), value)

    return _ACTION.sub(action, _DERIVED.sub(block, template))


def grafana_math(template: str, ref_id: str) -> list[str]:
    """The Grafana math expressions (`$B / 0.005`) the template's derived numbers need, in order of appearance."""
    out: list[str] = []
    for match in _DERIVED.finditer(template):
        expr = match.group("expr").replace("%f", f"${ref_id}")
        if expr not in out:
            out.append(expr)
    return out


def grafana(template: str, ref_id: str, math: dict[str, str] | None = None) -> str:
    """The same template for Grafana-managed alerting, where `$value` is a string of every expression's result;
    the number of the reduce or math expression `ref_id` is `$values.<ref_id>.Value`. `math` maps each derived
    number's Grafana expression (`grafana_math`) to the refId of the math expression that computes it."""

    def block(match: re.Match[str]) -> str:
        expr = match.group("expr").replace("%f", f"${ref_id}")
        if math is None or expr not in math:
            raise ValueError(f"no math expression for {expr}")
        return f'{{{{ printf "{match.group("fmt")}" $values.{math[expr]}.Value }}}}'

    return re.sub(r"\$value\b", f"$values.{ref_id}.Value", _DERIVED.sub(block, template))
