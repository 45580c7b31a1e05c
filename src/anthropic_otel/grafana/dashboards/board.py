"""What both dashboards share above the panels: the queries with the dashboard variables applied, the
variables themselves, links, and the grid layout that gives every panel a stable id and position."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm

from ... import _catalog as c
from .. import slis
from ..config import Config
from ..promql import JOB, LE, M, rate_sum, selector, series
from .panels import MODEL, MODEL_VAR, PROMETHEUS, PROMETHEUS_VAR, RATE, TEMPO_VAR, Row


class Queries:
    """PromQL for one dashboard: the user's selector plus the `job` and `model` variables on every selector."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        variables = (M(JOB, "=~", "$job"), M(c.GEN_AI_REQUEST_MODEL, "=~", f"${MODEL_VAR}"))
        self.base = selector(cfg.selector, variables)[1:-1]

    def calls(
        self, group: Sequence[str] = (), alts: slis.Alternatives = ((),), window: str = RATE, func: str = "rate"
    ) -> str:
        return rate_sum(c.CALLS, self.base, window, group, alts, func=func)

    def attempts(self, group: Sequence[str] = (), alts: slis.Alternatives = ((),), window: str = RATE) -> str:
        return rate_sum(c.ATTEMPTS, self.base, window, group, alts)

    def buckets(self, metric: c.Metric, extra: Sequence[M] = (), group: Sequence[str] = ()) -> str:
        return rate_sum(metric, self.base, RATE, (LE, *group), (tuple(extra),), suffix="_bucket")

    def quantile(self, q: float, metric: c.Metric, extra: Sequence[M] = (), group: Sequence[str] = ()) -> str:
        return f"histogram_quantile({q}, {self.buckets(metric, extra, group)})"

    def sel(self, *matchers: M) -> str:
        return selector(self.base, matchers)


def _variables(cfg: Config, *, with_tempo: bool) -> list[cogbuilder.Builder[dm.VariableModel]]:
    calls_sel = selector(cfg.selector, ())
    job_query = f"label_values({series(c.CALLS)}{calls_sel}, {JOB})"
    model_sel = selector(cfg.selector, (M(JOB, "=~", "$job"),))
    model_query = f"label_values({series(c.CALLS)}{model_sel}, {MODEL})"

    def query_var(name: str, lbl: str, query: str) -> db.QueryVariable:
        variable: db.QueryVariable = (
            db.QueryVariable(name)
            .label(lbl)
            .datasource(PROMETHEUS)
            .query({"query": query, "refId": f"{name}-variable", "qryType": 1})
            .definition(query)
            .refresh(dm.VariableRefresh(2))
            .sort(dm.VariableSort(1))
            .multi(True)
            .include_all(True)
            .all_value(".*")  # a regex, not Grafana's list of every value: works with thousands of values
            .current(dm.VariableOption(selected=True, text="All", value="$__all"))
        )
        return variable

    out: list[cogbuilder.Builder[dm.VariableModel]] = [
        db.DatasourceVariable(PROMETHEUS_VAR).label("Prometheus").type("prometheus"),
        query_var(JOB, "Job", job_query),
        query_var(MODEL_VAR, "Model", model_query),
    ]
    if with_tempo:
        out.append(
            db.DatasourceVariable(TEMPO_VAR)
            .label("Tempo (optional)")
            .type("tempo")
            .description("Traces of failed calls and their request ids; leave empty without Tempo.")
        )
    return out


def assemble(
    cfg: Config, uid: str, title: str, description: str, rows: Sequence[Row], *, with_tempo: bool
) -> dict[str, object]:
    board: db.Dashboard = (
        db.Dashboard(f"{cfg.dashboard_title_prefix} / {title}")
        .uid(f"{cfg.dashboard_uid_prefix}-{uid}")
        .description(description)
        .tags(list(cfg.dashboard_tags))
        .editable()
        .tooltip(dm.DashboardCursorSync(1))
        .refresh("1m")
        .time("now-3h", "now")
        .timezone(common.TimeZoneBrowser)
        .link(
            db.DashboardLink("Claude API dashboards")
            .type(dm.DashboardLinkType("dashboards"))
            .tags([cfg.dashboard_tags[0]] if cfg.dashboard_tags else [])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .variables(_variables(cfg, with_tempo=with_tempo))
    )
    # Explicit ids and grid positions: stable across regenerations (links to `viewPanel=<id>` keep working)
    # and independent of the SDK's auto-layout.
    panel_id = 1
    y = 0
    for row in rows:
        board = board.with_row(db.Row(row.title).id(panel_id).grid_pos(dm.GridPos(h=1, w=24, x=0, y=y)))
        panel_id += 1
        y += 1
        x = 0
        row_height = 0
        for panel, w, h in row.panels:
            if x + w > 24:
                x, y, row_height = 0, y + row_height, 0
            board = board.with_panel(panel.id(panel_id).grid_pos(dm.GridPos(h=h, w=w, x=x, y=y)))
            panel_id += 1
            x += w
            row_height = max(row_height, h)
        y += row_height
    encoded = JSONEncoder(sort_keys=True, indent=2).encode(board.build())
    result: dict[str, Any] = json.loads(encoded)
    return for_minimum_grafana(result)


# The oldest Grafana the dashboards are written for, and its dashboard schema version. Newer Grafana versions
# migrate an older schema forward on load; an older one cannot read a newer schema's fields.
MINIMUM_GRAFANA = "11.0"
MINIMUM_SCHEMA_VERSION = 39


def for_minimum_grafana(board: dict[str, Any]) -> dict[str, Any]:
    """The SDK writes its own (latest) schema version and link placement; pin both to what `MINIMUM_GRAFANA`
    reads: the dashboards use nothing newer."""
    board["schemaVersion"] = MINIMUM_SCHEMA_VERSION
    for link in board.get("links", []):
        link.pop("placement", None)  # "inControlsMenu": a newer Grafana's controls menu; the default is the bar
    board["description"] = f"{board['description']} Needs Grafana {MINIMUM_GRAFANA} or newer."
    return board
