"""The vocabulary of the promtool cases in the alert definitions: series of calls and attempts as the
instrumentation records them (catalog attribute keys, outcome/status/error.type values), and what must fire.

Cases read as scenarios ("a call recovered after one 529", "the first billing error ever"); `unittests.py`
turns them into `tests/rules.test.yaml`, with expected labels from each rule's `keeps` and expected annotations
from rendering the rule's own templates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ... import _catalog as c
from ..config import Config, duration_seconds, selector_labels
from ..promql import INSTANCE, JOB, SCOPE, SCOPE_LABEL, label, number, quote, series
from .model import AlertRule

MODEL_A = "claude-sonnet-4-5"
MODEL_B = "claude-haiku-4-5"
DEFAULTS: dict[str, str] = {
    c.GEN_AI_OPERATION_NAME: c.OPERATION_CHAT,
    c.GEN_AI_PROVIDER_NAME: c.PROVIDER_ANTHROPIC,
    c.GEN_AI_REQUEST_MODEL: MODEL_A,
    c.SERVER_ADDRESS: "api.anthropic.com",
}


# Values for target labels a user may group by; any other non-attribute label gets `<name>-a`.
_TARGET_VALUES = {JOB: "app", "namespace": "prod", "service_name": "checkout", "cluster": "eu-1"}


def base_labels(cfg: Config) -> dict[str, str]:
    """Labels every test series has: what the selector requires, the group-by labels, the scrape's instance
    and the exporter's scope label (so the rules are tested against series that carry extra labels).

    A group-by label that is also an attribute (the model, the provider) takes the value the series carry by
    default, so the expected alert labels are the ones Prometheus computes from the series.
    """
    defaults = {label(k): v for k, v in DEFAULTS.items()}
    labels = {INSTANCE: "app:9464", SCOPE_LABEL: SCOPE}
    for name in cfg.group_by:
        labels[name] = defaults.get(name) or _TARGET_VALUES.get(name) or f"{name}-a"
    labels.update(selector_labels(cfg.selector))
    return labels


@dataclass(frozen=True)
class Series:
    metric: c.Metric
    values: str
    attributes: Mapping[str, str]
    suffix: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)  # non-attribute labels: `le`

    def render(self, cfg: Config) -> dict[str, str]:
        unknown = set(self.attributes) - set(self.metric.attributes)
        if unknown:
            raise ValueError(f"{self.metric.name} has no attribute(s) {sorted(unknown)}")
        labels = base_labels(cfg)
        for key, value in {**DEFAULTS, **self.attributes}.items():
            if key in self.metric.attributes and value != "":  # Prometheus drops empty labels on ingestion
                labels[label(key)] = value
        labels.update(self.extra)
        body = ", ".join(f"{k}={quote(v)}" for k, v in sorted(labels.items()))
        return {"series": f"{series(self.metric, self.suffix)}{{{body}}}", "values": self.values}


def call(values: str, outcome: str = "ok", status: str = "200", error_type: str = "", **attrs: str) -> Series:
    stop = attrs.pop("stop", "end_turn" if outcome != "failed" else "")
    return Series(
        c.CALLS,
        values,
        {
            c.ANTHROPIC_CALL_OUTCOME: outcome,
            c.HTTP_RESPONSE_STATUS_CODE: status,
            c.ERROR_TYPE: error_type,
            c.ANTHROPIC_MESSAGE_STOP_REASON: stop,
            c.GEN_AI_REQUEST_STREAM: attrs.pop("stream", "false"),
            c.ANTHROPIC_ERROR_CODE: attrs.pop("code", ""),
            **{_key(k): v for k, v in attrs.items()},
        },
    )


def cancelled_call(values: str, **attrs: str) -> Series:
    """A call the application cancelled, as recorded: outcome and `error.type` cancelled, no status, no stop reason."""
    return call(values, c.OUTCOME_CANCELLED, "", c.ERROR_TYPE_CANCELLED, stop="", **attrs)


def attempt(values: str, status: str = "200", error_type: str = "", retry: bool = False, **attrs: str) -> Series:
    retryable = "" if not error_type else attrs.pop("retryable", "true")
    return Series(
        c.ATTEMPTS,
        values,
        {
            c.HTTP_RESPONSE_STATUS_CODE: status,
            c.ERROR_TYPE: error_type,
            c.ANTHROPIC_ERROR_RETRYABLE: retryable,
            c.ANTHROPIC_ATTEMPT_IS_RETRY: "true" if retry else "false",
            **{_key(k): v for k, v in attrs.items()},
        },
    )


def histogram(metric: c.Metric, bound: float, fast: str, total: str, **attrs: str) -> list[Series]:
    """The two series a latency SLI reads: the bucket at the threshold and the count."""
    attributes = {_key(k): v for k, v in attrs.items()}
    return [
        Series(metric, fast, attributes, "_bucket", {"le": number(bound)}),
        Series(metric, total, attributes, "_count"),
    ]


def gauge(metric: c.Metric, values: str, kind: str, **attrs: str) -> Series:
    return Series(metric, values, {c.ANTHROPIC_RATELIMIT_KIND: kind, **{_key(k): v for k, v in attrs.items()}})


_KEYS = {"model": c.GEN_AI_REQUEST_MODEL, "provider": c.GEN_AI_PROVIDER_NAME, "error_type": c.ERROR_TYPE}


def _key(name: str) -> str:
    return _KEYS[name]


@dataclass(frozen=True)
class Expect:
    """An alert promtool must see firing: the rule, the non-group labels of the result, and its value."""

    rule: AlertRule
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    name: str
    series: Sequence[Series]
    checks: Sequence[tuple[str, Sequence[Expect], Sequence[str]]]  # (eval_time, firing, names that must not)


# --- inputs derived from the settings ---------------------------------------------------------------------
# A case's traffic is chosen from the threshold it tests, so that regenerated tests still pass with the user's
# settings: a firing case exceeds its threshold by a clear margin, a silent one stays well below it.


def above(threshold: float) -> float:
    """A ratio clearly above `threshold` (twice it, or half-way to 100%), with few significant digits so the
    expected `humanizePercentage` text is exact. `threshold` must be below 1: nothing exceeds 100%."""
    if not 0 <= threshold < 1:
        raise ValueError(f"no ratio exceeds {threshold}")
    target = min(2 * threshold, (1 + threshold) / 2) if threshold else 0.1
    for digits in range(3, 12):
        ratio = float(f"{target:.{digits}g}")
        if threshold < ratio <= 1:
            return ratio
    return target


def below(threshold: float) -> float:
    """A ratio clearly below `threshold` (half of it)."""
    return float(f"{threshold / 2:.3g}")


def split(ratio: float) -> tuple[int, int]:
    """`(bad, total)` per minute with `bad / total == ratio`: a power-of-ten total large enough for small ratios."""
    total = 100
    while total < 10**12 and (abs(round(ratio * total) - ratio * total) > 1e-6 or round(ratio * total) == 0 < ratio):
        total *= 10
    return round(ratio * total), total


def roomy(headroom_ratio: float) -> float:
    """A rate-limit headroom that does not alert: 90% left, or half-way from the threshold to a full window."""
    return 0.9 if headroom_ratio < 0.8 else (1 + headroom_ratio) / 2


def settle_minutes(*durations: str, at_least: int) -> int:
    """How long a case's traffic runs before it is evaluated: past the alert's `for` (so it has fired, not
    merely pending; the cases' ratios hold from the first minute), and at least `at_least` minutes (what the
    default settings use)."""
    needed = sum(duration_seconds(d) for d in durations) / 60
    return max(at_least, math.ceil(needed) + 5)
