"""Pieces several alert definitions share: rule groups, template snippets, how thresholds are printed, the
"any new error" expression and the runbook's paragraph on finding request ids."""

from __future__ import annotations

from collections.abc import Sequence

from ... import _catalog as c
from ..config import Config
from ..promql import M, by, selector, series
from ..recording import PREFIX

# Rule groups of alerts.yaml (and of Grafana-managed alerting), in the order their first alert is defined.
ERRORS_GROUP = f"{PREFIX}-otel.errors"
SLO_BURN_GROUP = f"{PREFIX}-otel.slo-burn"
RATIO_ALERTS_GROUP = f"{PREFIX}-otel.alerts"

VALUE_PCT = "{{ $value | humanizePercentage }}"
VALUE_COUNT = '{{ printf "%.0f" $value }}'

TRACES = (
    "Find the request ids: the *Errors & retries* dashboard's Tempo panels, or your trace backend, query call "
    "spans with `anthropic.call.outcome = failed` and attempt spans with `error.type` set; each carries "
    "`anthropic.request.id`, which Anthropic support needs."
)


def who(cfg: Config) -> str:
    """How a description names the service: the values of the group-by labels, e.g. `{{ $labels.job }}`."""
    return "/".join("{{ $labels." + name + " }}" for name in cfg.group_by)


def labelled(name: str) -> str:
    """A label's value in a template: `{{ $labels.<name> }}`."""
    return f"{{{{ $labels.{name} }}}}"


def pct(value: float) -> str:
    """A ratio as the runbook and descriptions print thresholds, matching `humanizePercentage` (`%.4g%%`)."""
    return f"{value * 100:.4g}%"


def any_new(cfg: Config, matcher: M, keep: Sequence[str]) -> str:
    """Fires on any new failure in the window, including the very first one.

    `increase()` needs two samples of a series, and the exporter creates a counter series at its first
    increment (value 1): the first billing error ever would read as an increase of 0. The `unless … offset`
    arm catches a series that did not exist one window ago.
    """
    name = series(c.CALLS)
    sel = selector(cfg.selector, (matcher,))
    w = cfg.any_error_window
    return (
        f"sum {by(keep)} (increase({name}{sel}[{w}])) > 0\n"
        f"or\n"
        f"sum {by(keep)} ({name}{sel} unless {name}{sel} offset {w})"
    )
