"""Small PromQL builders. Metric and label names come from the catalog only, through `label()` and `series()`.

Everything here returns plain strings: the generated files are text, and a string is what the static checks,
promtool and the e2e test all consume.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .. import _catalog as catalog

# Labels that are not OpenTelemetry attributes: added by the scrape, the exporter or the histogram layout.
JOB = "job"
INSTANCE = "instance"
LE = "le"
OTEL_SCOPE_PREFIX = "otel_scope_"
# The instrumentation scope label the Prometheus exporter adds, and our scope's name: metric names such as
# gen_ai.client.token.usage are shared with other GenAI instrumentations, so queries on them select ours.
SCOPE_LABEL = "otel_scope_name"
SCOPE = "anthropic_otel"


def label(key: str) -> str:
    """The Prometheus label an attribute key becomes (the exporter and the OTLP translator agree: dots → `_`)."""
    return key.replace(".", "_")


# Labels the rules group by or name in their annotations.
PROVIDER = label(catalog.GEN_AI_PROVIDER_NAME)
MODEL = label(catalog.GEN_AI_REQUEST_MODEL)
STATUS = label(catalog.HTTP_RESPONSE_STATUS_CODE)
ERROR_CODE = label(catalog.ANTHROPIC_ERROR_CODE)
KIND = label(catalog.ANTHROPIC_RATELIMIT_KIND)


def series(metric: catalog.Metric, suffix: str = "") -> str:
    """A series name of `metric`: counters and gauges as is, histograms with `_bucket`, `_sum` or `_count`."""
    if metric.kind == "histogram":
        if suffix not in ("_bucket", "_sum", "_count"):
            raise ValueError(f"{metric.name} is a histogram: name one of its _bucket/_sum/_count series")
    elif suffix:
        raise ValueError(f"{metric.name} is a {metric.kind}: it has no {suffix} series")
    return metric.prometheus_name + suffix


def scope_matchers(metric: catalog.Metric) -> tuple[str, ...]:
    """Our instrumentation scope, for metrics whose names the GenAI conventions share with other
    instrumentations (pydantic-ai, the OpenTelemetry GenAI instrumentations record gen_ai.client.* too).

    The label may be absent (an OTLP ingestion path that does not promote scope metadata): such series are kept,
    as there is nothing to tell them apart by, rather than losing every series of the deployment.
    """
    if metric.name.startswith("gen_ai."):
        return (f'{SCOPE_LABEL}=~"{SCOPE}|"',)
    return ()


def quote(value: str) -> str:
    """A PromQL string literal (JSON escaping is a subset PromQL accepts)."""
    return json.dumps(value)


@dataclass(frozen=True)
class M:
    """One label matcher on an attribute key, e.g. `M(ERROR_TYPE, "=", "billing_error")`."""

    key: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{label(self.key)}{self.op}{quote(self.value)}"


def eq(key: str, value: str) -> M:
    return M(key, "=", value)


def ne(key: str, value: str) -> M:
    return M(key, "!=", value)


def regex(key: str, values: Iterable[str]) -> M:
    """`key=~"a|b"`; values are API enums or status codes, written as literal alternatives or `5..`."""
    return M(key, "=~", "|".join(values))


def selector(base: str, matchers: Iterable[M | str]) -> str:
    """`{base, m1, m2}`: the user's selector first, then the metric-specific matchers."""
    parts = [base.strip()] if base.strip() else []
    parts += [str(m) for m in matchers]
    return "{" + ", ".join(parts) + "}" if parts else ""


def by(labels: Iterable[str]) -> str:
    """`by (a, b)`, each label once: a group-by label may also be one an alert adds (the model)."""
    return "by (" + ", ".join(dict.fromkeys(labels)) + ")"


def rate_sum(
    metric: catalog.Metric,
    base: str,
    window: str,
    group: Sequence[str],
    alternatives: Sequence[Sequence[M | str]] = ((),),
    *,
    suffix: str = "",
    func: str = "rate",
) -> str:
    """`sum by (group) (rate(m{a}[w]) or rate(m{b}[w]))`.

    PromQL selectors cannot say "label A is x OR label B is y"; `or` of two rates over the same metric is the
    union of their series (a series matching both appears once, with its own labels), so nothing is counted
    twice.
    """
    name = series(metric, suffix)
    agg = f"sum {by(group)}" if group else "sum"
    scope = scope_matchers(metric)
    terms = [f"{func}({name}{selector(base, (*scope, *alt))}[{window}])" for alt in alternatives]
    if len(terms) == 1:
        return f"{agg} ({terms[0]})"
    inner = "\n  or\n".join(indent(term, 4) for term in terms)
    return f"{agg} (\n{inner}\n)"


def ratio(numerator: str, denominator: str) -> str:
    """`numerator / denominator`, with a missing numerator read as 0 where there is traffic.

    Without the `or 0 * …` fill, a service with no errors has no ratio series at all: dashboards would show
    "no data" instead of 0 and a reader could not tell a healthy service from a missing one.
    """
    return f"(\n{indent(numerator, 2)}\nor\n{indent('0 * ' + denominator, 2)}\n)\n/\n{denominator}"


def indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())


def number(value: float) -> str:
    """A float as PromQL and humans write it: 0.005 not 0.005000000000000004."""
    text = f"{value:.10g}"
    return text


def le_matcher(bound: float) -> M:
    """The `le` bucket label for `bound`. Exporters disagree on integers (`1` vs `1.0`); the catalog's latency
    bounds are not integers, but accept both spellings so a user's integer threshold still matches."""
    text = number(bound)
    if bound == int(bound):
        return M(LE, "=~", f"{int(bound)}(\\.0)?")
    return M(LE, "=", text)


def attribute_labels(metric: catalog.Metric) -> frozenset[str]:
    return frozenset(label(key) for key in metric.attributes)
