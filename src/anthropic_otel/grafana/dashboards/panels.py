"""Shared panel builders for the dashboards: datasources, colours and thresholds, queries, and the
timeseries/stat panels every row is made of, all with the same legend, tooltip and threshold conventions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import bargauge, stat, table, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as prom_models

from ... import _catalog as c
from ..promql import label

PROMETHEUS_VAR = "datasource"
TEMPO_VAR = "tempo"
MODEL_VAR = "model"
PROMETHEUS = common.DataSourceRef(type_val="prometheus", uid=f"${{{PROMETHEUS_VAR}}}")
TEMPO = common.DataSourceRef(type_val="tempo", uid=f"${{{TEMPO_VAR}}}")
RATE = "$__rate_interval"
RANGE = "$__range"

OUTCOME = label(c.ANTHROPIC_CALL_OUTCOME)
ERROR_TYPE = label(c.ERROR_TYPE)
ERROR_CODE = label(c.ANTHROPIC_ERROR_CODE)
STATUS = label(c.HTTP_RESPONSE_STATUS_CODE)
MODEL = label(c.GEN_AI_REQUEST_MODEL)
STOP = label(c.ANTHROPIC_MESSAGE_STOP_REASON)
KIND = label(c.ANTHROPIC_RATELIMIT_KIND)
RETRYABLE = label(c.ANTHROPIC_ERROR_RETRYABLE)
IS_RETRY = label(c.ANTHROPIC_ATTEMPT_IS_RETRY)
TOKEN_TYPE = label(c.GEN_AI_TOKEN_TYPE)
TOKEN_CACHE = label(c.ANTHROPIC_TOKEN_CACHE)

GREEN, YELLOW, ORANGE, RED, BLUE = "green", "yellow", "orange", "red", "blue"


# --- small builders ---------------------------------------------------------------------------------------


def steps(base: str, *levels: tuple[float, str]) -> db.ThresholdsConfig:
    """Absolute thresholds: `base` colour below the first level, then each level's colour from its value up."""
    config: db.ThresholdsConfig = (
        db.ThresholdsConfig()
        .mode(dm.ThresholdsMode("absolute"))
        .steps([dm.Threshold(value=None, color=base), *(dm.Threshold(value=v, color=col) for v, col in levels)])
    )
    return config


NEUTRAL = steps(BLUE)  # for values that are never bad by themselves (traffic, token volume)


def bad_above(warn: float, crit: float) -> db.ThresholdsConfig:
    return steps(GREEN, (warn, YELLOW), (crit, RED))


def bad_below(warn: float, crit: float) -> db.ThresholdsConfig:
    return steps(RED, (crit, YELLOW), (warn, GREEN))


def target(
    expr: str, legend: str = "", *, instant: bool = False, exemplar: bool = False, fmt: str = ""
) -> prom.Dataquery:
    q: prom.Dataquery = prom.Dataquery().expr(expr).legend_format(legend or "__auto")
    q = q.instant() if instant else q.range()
    if exemplar:
        q = q.exemplar(True)
    if fmt == "table":
        q = q.format(prom_models.PromQueryFormat("table"))
    return q


PanelBuilder = timeseries.Panel | stat.Panel | table.Panel | bargauge.Panel


@dataclass
class Row:
    title: str
    panels: list[tuple[PanelBuilder, int, int]] = field(default_factory=list)  # (panel, width, height)

    def add(self, panel: PanelBuilder, w: int, h: int) -> Row:
        self.panels.append((panel, w, h))
        return self


def ts(
    title: str,
    description: str,
    unit: str,
    targets: Sequence[prom.Dataquery],
    thresholds: db.ThresholdsConfig = NEUTRAL,
    *,
    stacked: bool = False,
    show_thresholds: bool = False,
    max_value: float | None = None,
) -> timeseries.Panel:
    p: timeseries.Panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(PROMETHEUS)
        .thresholds(thresholds)
        .min(0)
        .fill_opacity(10 if not stacked else 40)
        .legend(
            common_builders.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode("list"))
            .placement(common.LegendPlacement("bottom"))
        )
        .tooltip(
            common_builders.VizTooltipOptions().mode(common.TooltipDisplayMode("multi")).sort(common.SortOrder("desc"))
        )
    )
    if max_value is not None:
        p = p.max(max_value)
    if stacked:
        p = p.stacking(common_builders.StackingConfig().mode(common.StackingMode("normal")))
    if show_thresholds:
        p = p.thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode("line"))
        )
    for i, t in enumerate(targets):
        p = p.with_target(t.ref_id(chr(ord("A") + i)))
    return p


def single(
    title: str,
    description: str,
    unit: str,
    expr: str,
    thresholds: db.ThresholdsConfig = NEUTRAL,
    *,
    decimals: int | None = None,
) -> stat.Panel:
    p: stat.Panel = (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(PROMETHEUS)
        .thresholds(thresholds)
        .color_mode(common.BigValueColorMode("background"))
        .graph_mode(common.BigValueGraphMode("none"))
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(target(expr, instant=True).ref_id("A"))
    )
    if decimals is not None:
        p = p.decimals(decimals)
    return p
