"""Grafana dashboards, built with grafana-foundation-sdk from the catalog, the SLI classes and a `Config`.

Two dashboards that link to each other:
- Overview: is the Claude API working for us right now (rate, errors, SLO, latency, TTFT, tokens), why did
  output stop, how close are we to the rate limits;
- Errors & retries: what kind of errors, what retries cost, and (with Tempo) the failed calls' request ids.

Queries use the raw metrics so the dashboards work without our recording rules, except the burn-rate panel,
which says so in its description.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from grafana_foundation_sdk.builders import bargauge, stat, table, tempo, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as prom
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as prom_models
from grafana_foundation_sdk.models import tempo as tempo_models

from .. import _catalog as c
from . import recording as r
from . import slis
from .config import Config, duration_seconds
from .promql import JOB, LE, M, by, eq, label, ne, rate_sum, ratio, regex, selector, series

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


# --- the dashboards ---------------------------------------------------------------------------------------


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


def _assemble(
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
    result: dict[str, object] = json.loads(encoded)
    return result


def overview(cfg: Config) -> dict[str, object]:
    q = Queries(cfg)
    budget = cfg.error_budget
    g_outcome = (OUTCOME,)
    failed_ratio = ratio(q.calls(alts=((slis.FAILED,),)), q.calls())
    server_ratio = ratio(q.calls(alts=slis.SERVER_FAILURES), q.calls())
    server_ratio_range = ratio(q.calls(alts=slis.SERVER_FAILURES, window=RANGE), q.calls(window=RANGE))
    fast = [w for w in cfg.burn_windows if w.factor > 1]
    burn_targets = []
    record_sel = selector("", (M(JOB, "=~", "$job"),)) if JOB in cfg.group_by else ""
    for window in sorted({w.short for w in fast} | {w.long for w in fast}, key=duration_seconds):
        expr = f"{r.server_failures_ratio(window)}{record_sel} / {budget:.10g}"
        burn_targets.append(target(expr, f"{window} window"))
    quantiles = (0.5, 0.95, 0.99)
    success = (slis.SUCCESS,)
    stop_sel = (slis.HAS_STOP_REASON,)
    headroom = (
        f"min {by((MODEL, KIND))} (\n  {series(c.RATELIMIT_REMAINING)}{q.sel()}\n  /\n"
        f"  {series(c.RATELIMIT_LIMIT)}{q.sel()}\n)"
    )
    headroom_steps = bad_below(2 * cfg.headroom_ratio, cfg.headroom_ratio)

    health = Row("Is the Claude API working for us right now?")
    health.add(
        single(
            "Calls / s",
            "SDK calls per second (each call counts once, however many HTTP attempts it took).",
            "reqps",
            q.calls(),
        ),
        4,
        4,
    )
    health.add(
        single(
            "Failed calls",
            "Share of calls that raised to the application, for any reason (server, client, "
            "billing, rate limit after retries).",
            "percentunit",
            failed_ratio,
            bad_above(budget, 5 * budget),
            decimals=2,
        ),
        4,
        4,
    )
    health.add(
        single(
            f"Availability vs {cfg.slo:.2%} SLO",
            "1 - server-side failures / calls over the dashboard's time range. Server-side: 5xx and 529, "
            "overloaded/api/timeout errors, connection errors and client timeouts, and streams that failed after "
            "HTTP 200. Client errors (4xx) and billing do not count against the SLO.",
            "percentunit",
            f"1 - (\n{server_ratio_range}\n)",
            bad_below(cfg.slo, cfg.slo - budget),
            decimals=3,
        ),
        4,
        4,
    )
    health.add(
        single(
            "Error budget left (range)",
            f"Share of the error budget ({budget:.2%} of calls) not spent over the dashboard's time range; "
            "negative means the SLO is missed for this range.",
            "percentunit",
            f"1 - (\n{server_ratio_range}\n) / {budget:.10g}",
            steps(RED, (0, YELLOW), (0.5, GREEN)),
            decimals=1,
        ),
        4,
        4,
    )
    health.add(
        single(
            "p95 latency",
            "95th percentile duration of successful calls (all attempts, backoff and whole streams included).",
            "s",
            q.quantile(0.95, c.OPERATION_DURATION, success),
            bad_above(cfg.latency_threshold / 2, cfg.latency_threshold),
        ),
        4,
        4,
    )
    health.add(
        single(
            "Recovered after retries",
            "Share of calls that succeeded only after the SDK retried a failed attempt (429, 529, 5xx, "
            "connection). Not errors, but each one waited in backoff.",
            "percentunit",
            ratio(q.calls(alts=((slis.RECOVERED,),)), q.calls()),
            bad_above(0.05, 0.2),
            decimals=2,
        ),
        4,
        4,
    )
    health.add(
        ts(
            "Calls by outcome",
            "Calls per second: ok, recovered (succeeded after ≥ 1 retried failure) and failed.",
            "reqps",
            [target(q.calls(g_outcome), f"{{{{{OUTCOME}}}}}")],
            stacked=True,
        ),
        8,
        8,
    )
    health.add(
        ts(
            "Failure ratio vs error budget",
            f"Server-side failure ratio (the SLO's) and all failures, against the error budget of {budget:.2%} "
            "(red line).",
            "percentunit",
            [target(server_ratio, "server-side"), target(failed_ratio, "all failures")],
            steps(GREEN, (budget, RED)),
            show_thresholds=True,
        ),
        8,
        8,
    )
    health.add(
        ts(
            "Error-budget burn rate",
            "Server-side failure ratio divided by the error budget, from the recording rules (load "
            "grafana/rules/recording.yaml). 1 spends the budget exactly over the SLO period; the alert "
            f"thresholds are {', '.join(f'{w.factor:g}' for w in fast)}.",
            "short",
            burn_targets,
            bad_above(min(w.factor for w in fast), max(w.factor for w in fast)),
            show_thresholds=True,
        ),
        8,
        8,
    )
    health.add(
        ts(
            "Latency (successful calls)",
            "p50/p95/p99 of call duration, streams included. Exemplars (when your pipeline keeps them) link to "
            f"the trace; the red line is the latency SLO threshold ({cfg.latency_threshold:g}s).",
            "s",
            [
                target(q.quantile(qq, c.OPERATION_DURATION, success), f"p{qq * 100:g}", exemplar=True)
                for qq in quantiles
            ],
            steps(GREEN, (cfg.latency_threshold, RED)),
            show_thresholds=True,
        ),
        8,
        8,
    )
    health.add(
        ts(
            "Time to first chunk (streams)",
            "p50/p95/p99 from the start of a streamed call to its first content delta; the red line is the TTFT "
            f"SLO threshold ({cfg.ttft_threshold:g}s).",
            "s",
            [target(q.quantile(qq, c.TIME_TO_FIRST_CHUNK), f"p{qq * 100:g}", exemplar=True) for qq in quantiles],
            steps(GREEN, (cfg.ttft_threshold, RED)),
            show_thresholds=True,
        ),
        8,
        8,
    )
    health.add(
        ts(
            "Tokens / s",
            "Tokens per second by direction, and input tokens by prompt-cache use (read is cheap, "
            "creation costs extra).",
            "short",
            [
                target(
                    rate_sum(c.TOKEN_USAGE, q.base, RATE, (TOKEN_TYPE, TOKEN_CACHE), suffix="_sum"),
                    f"{{{{{TOKEN_TYPE}}}}} (cache: {{{{{TOKEN_CACHE}}}}})",
                )
            ],
            stacked=True,
        ),
        8,
        8,
    )
    health.add(
        ts(
            "p95 latency by model",
            "95th percentile duration of successful calls, per requested model.",
            "s",
            [target(q.quantile(0.95, c.OPERATION_DURATION, success, (MODEL,)), f"{{{{{MODEL}}}}}", exemplar=True)],
            steps(GREEN, (cfg.latency_threshold, RED)),
            show_thresholds=True,
        ),
        12,
        8,
    )
    health.add(
        ts(
            "Calls by model",
            "Calls per second per requested model.",
            "reqps",
            [target(q.calls((MODEL,)), f"{{{{{MODEL}}}}}")],
            stacked=True,
        ),
        12,
        8,
    )

    stops = Row("Why did output stop?")
    stop_total = q.calls(alts=(stop_sel,))
    stops.add(
        ts(
            "Stop reasons",
            "Share of completed messages by stop_reason: end_turn is normal, tool_use expected "
            "with tools; max_tokens and model_context_window_exceeded are truncation, refusal a declined answer.",
            "percentunit",
            [
                target(
                    f"{q.calls((STOP,), (stop_sel,))}\n/ ignoring ({STOP}) group_left\n{stop_total}", f"{{{{{STOP}}}}}"
                )
            ],
            stacked=True,
            max_value=1,
        ),
        8,
        8,
    )
    stops.add(
        ts(
            "Truncated answers",
            "Share of messages cut at max_tokens or the context window: the answer is "
            f"incomplete. The alert fires above {cfg.truncation_ratio:.0%}.",
            "percentunit",
            [target(ratio(q.calls(alts=((slis.TRUNCATED,),)), stop_total), "truncated")],
            bad_above(cfg.truncation_ratio / 2, cfg.truncation_ratio),
            show_thresholds=True,
        ),
        8,
        8,
    )
    stops.add(
        ts(
            "Refusals",
            "Share of messages with stop_reason refusal.",
            "percentunit",
            [target(ratio(q.calls(alts=((slis.REFUSED,),)), stop_total), "refusal")],
            bad_above(cfg.refusal_ratio / 2, cfg.refusal_ratio),
            show_thresholds=True,
        ),
        8,
        8,
    )

    limits = Row("How close are we to the rate limits?")
    limits.add(
        ts(
            "Rate-limit headroom",
            "remaining / limit from the last anthropic-ratelimit-* headers, per model and "
            f"kind (requests, tokens, input/output tokens). The alert fires below {cfg.headroom_ratio:.0%} while "
            "calls are made.",
            "percentunit",
            [target(headroom, f"{{{{{MODEL}}}}} {{{{{KIND}}}}}")],
            headroom_steps,
            show_thresholds=True,
            max_value=1,
        ),
        12,
        8,
    )
    limits.add(
        bargauge.Panel()
        .title("Headroom now")
        .description("Current remaining / limit per model and kind; the shortest bar is the first limit you will hit.")
        .unit("percentunit")
        .datasource(PROMETHEUS)
        .thresholds(headroom_steps)
        .min(0)
        .max(1)
        .display_mode(common.BarGaugeDisplayMode("gradient"))
        .orientation(common.VizOrientation("horizontal"))
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(target(headroom, f"{{{{{MODEL}}}}} {{{{{KIND}}}}}", instant=True).ref_id("A")),
        12,
        8,
    )
    limits.add(
        ts(
            "Remaining",
            "Requests or tokens left in the current rate-limit window (last header seen).",
            "short",
            [
                target(
                    f"min {by((MODEL, KIND))} ({series(c.RATELIMIT_REMAINING)}{q.sel()})",
                    f"{{{{{MODEL}}}}} {{{{{KIND}}}}}",
                )
            ],
        ),
        8,
        8,
    )
    limits.add(
        ts(
            "Limit",
            "Size of the rate-limit window per kind (last header seen).",
            "short",
            [
                target(
                    f"max {by((MODEL, KIND))} ({series(c.RATELIMIT_LIMIT)}{q.sel()})", f"{{{{{MODEL}}}}} {{{{{KIND}}}}}"
                )
            ],
        ),
        8,
        8,
    )
    limits.add(
        ts(
            "429 and 529 attempts / s",
            "HTTP attempts answered 429 (our rate limit) or 529 (platform overload), "
            "including those the SDK retried successfully.",
            "reqps",
            [
                target(
                    q.attempts((STATUS,), ((regex(c.HTTP_RESPONSE_STATUS_CODE, ("429", "529")),),)), f"{{{{{STATUS}}}}}"
                )
            ],
            steps(GREEN, (1e-9, ORANGE)),
            stacked=True,
        ),
        8,
        8,
    )

    return _assemble(
        cfg,
        "overview",
        "Overview",
        "Claude API health as the anthropic-otel instrumentation sees it: traffic, failures against the SLO, "
        "latency, tokens, stop reasons and rate-limit headroom.",
        [health, stops, limits],
        with_tempo=False,
    )


def errors(cfg: Config) -> dict[str, object]:
    q = Queries(cfg)
    failed = ((slis.FAILED,),)
    billing_range = f"{q.calls(alts=((slis.BILLING,),), window=RANGE, func='increase')} or vector(0)"
    auth = ((regex(c.ERROR_TYPE, (slis.AUTHENTICATION.value, slis.PERMISSION.value)),),)
    auth_range = f"{q.calls(alts=auth, window=RANGE, func='increase')} or vector(0)"

    kinds = Row("What kind of errors?")
    kinds.add(
        single(
            "Billing errors",
            "Calls that failed with billing_error (HTTP 402/403) in the time range: "
            "credits, spend limit or organization status. Pages at once.",
            "short",
            billing_range,
            steps(GREEN, (1, RED)),
            decimals=0,
        ),
        6,
        4,
    )
    kinds.add(
        single(
            "Authentication / permission errors",
            "Calls rejected with authentication_error (401) or permission_error (403) in the time range.",
            "short",
            auth_range,
            steps(GREEN, (1, RED)),
            decimals=0,
        ),
        6,
        4,
    )
    kinds.add(
        single(
            "Failed calls",
            "Calls that raised to the application in the time range.",
            "short",
            f"{q.calls(alts=failed, window=RANGE, func='increase')} or vector(0)",
            steps(GREEN, (1, YELLOW)),
            decimals=0,
        ),
        6,
        4,
    )
    kinds.add(
        single(
            "Terminal client errors",
            "400/404/413/422 failures in the time range: never retried, usually a bad deploy or a wrong model id.",
            "short",
            f"{q.calls(alts=slis.CLIENT_FAILURES, window=RANGE, func='increase')} or vector(0)",
            steps(GREEN, (1, YELLOW)),
            decimals=0,
        ),
        6,
        4,
    )
    kinds.add(
        ts(
            "Failed calls by error.type",
            "Final error of failed calls: the response body's error.type "
            "(billing_error, overloaded_error, …), client_timeout_error, connection_error, or the HTTP status "
            "for non-JSON bodies.",
            "reqps",
            [target(q.calls((ERROR_TYPE,), failed), f"{{{{{ERROR_TYPE}}}}}")],
            steps(GREEN, (1e-9, RED)),
            stacked=True,
        ),
        12,
        8,
    )
    kinds.add(
        ts(
            "Errors by error_code",
            "Calls whose error body named an error_code (e.g. enforced_spend_limit_reached, organization_on_hold).",
            "reqps",
            [
                target(
                    q.calls((ERROR_TYPE, ERROR_CODE), ((ne(c.ANTHROPIC_ERROR_CODE, ""),),)),
                    f"{{{{{ERROR_TYPE}}}}} {{{{{ERROR_CODE}}}}}",
                )
            ],
            steps(GREEN, (1e-9, RED)),
            stacked=True,
        ),
        12,
        8,
    )
    kinds.add(
        ts(
            "Attempts by HTTP status",
            "Every HTTP attempt, including those the SDK retried; no status "
            "means no response (timeout, connection error).",
            "reqps",
            [target(q.attempts((STATUS,)), f"{{{{{STATUS}}}}}")],
            stacked=True,
        ),
        12,
        8,
    )
    kinds.add(
        ts(
            "Failed attempts: retryable vs terminal",
            "Failed attempts by whether the SDK's rule retries "
            "them (429, 408, 409, 5xx, connection) or not (400, 401, 402, 403, 404, 413, 422).",
            "reqps",
            [target(q.attempts((RETRYABLE,), ((ne(c.ERROR_TYPE, ""),),)), f"retryable={{{{{RETRYABLE}}}}}")],
            stacked=True,
        ),
        12,
        8,
    )
    kinds.add(
        table.Panel()
        .title("Failed calls in range by cause")
        .description("Failed calls over the time range by error.type, error_code, HTTP status and model.")
        .unit("short")
        .datasource(PROMETHEUS)
        .thresholds(NEUTRAL)
        .with_target(
            target(
                f"sort_desc(\n{q.calls((ERROR_TYPE, ERROR_CODE, STATUS, MODEL), failed, RANGE, 'increase')}\n) > 0",
                instant=True,
                fmt="table",
            ).ref_id("A")
        )
        .with_transformation(
            dm.DataTransformerConfig(
                id_val="organize", options={"excludeByName": {"Time": True}, "renameByName": {"Value": "failed calls"}}
            )
        ),
        24,
        8,
    )

    retries = Row("What do retries cost?")
    attempts_per_call = f"{q.attempts(window=RANGE)}\n/\n{q.calls(window=RANGE)}"
    retries.add(
        single(
            "Attempts per call",
            "HTTP attempts per SDK call over the time range; 1 means no retries.",
            "short",
            attempts_per_call,
            bad_above(1.1, 1.5),
            decimals=2,
        ),
        6,
        4,
    )
    retries.add(
        single(
            "Recovered calls",
            "Calls that succeeded only after retries, over the time range.",
            "percentunit",
            ratio(q.calls(alts=((slis.RECOVERED,),), window=RANGE), q.calls(window=RANGE)),
            bad_above(0.05, 0.2),
            decimals=2,
        ),
        6,
        4,
    )
    retries.add(
        single(
            "Retries exhausted",
            "Failed calls whose last error was retryable (the SDK gave up), over the time range.",
            "short",
            f"{q.calls(alts=slis.EXHAUSTED, window=RANGE, func='increase')} or vector(0)",
            steps(GREEN, (1, YELLOW)),
            decimals=0,
        ),
        6,
        4,
    )
    retries.add(
        single(
            "Backoff per call",
            "Average seconds a call spent sleeping between attempts, over the time range.",
            "s",
            f"{rate_sum(c.RETRY_DELAY, q.base, RANGE, (), suffix='_sum')}\n/\n{q.calls(window=RANGE)}",
            bad_above(1, 5),
            decimals=2,
        ),
        6,
        4,
    )
    retries.add(
        ts(
            "Recovered vs failed calls",
            "Calls that needed retries and made it (recovered) vs calls that raised (failed).",
            "reqps",
            [
                target(
                    q.calls((OUTCOME,), ((regex(c.ANTHROPIC_CALL_OUTCOME, ("recovered", "failed")),),)),
                    f"{{{{{OUTCOME}}}}}",
                )
            ],
        ),
        8,
        8,
    )
    retries.add(
        ts(
            "Retry amplification",
            "Retried attempts per first attempt: the extra load retries put on the API (and on your rate limit).",
            "percentunit",
            [
                target(
                    f"{q.attempts(alts=((eq(c.ANTHROPIC_ATTEMPT_IS_RETRY, 'true'),),))}\n/\n"
                    f"{q.attempts(alts=((eq(c.ANTHROPIC_ATTEMPT_IS_RETRY, 'false'),),))}",
                    "retries / first attempts",
                )
            ],
            bad_above(0.1, 0.5),
            show_thresholds=True,
        ),
        8,
        8,
    )
    retries.add(
        ts(
            "Attempts per call",
            "HTTP attempts per SDK call; 1 means no retries.",
            "short",
            [target(f"{q.attempts()}\n/\n{q.calls()}", "attempts / call")],
            bad_above(1.1, 1.5),
            show_thresholds=True,
        ),
        8,
        8,
    )
    retries.add(
        ts(
            "Time spent in backoff",
            "Seconds the SDK slept before retries per second of wall time, by "
            "the error that caused the retry: 2 means two calls are asleep at any moment on average.",
            "s",
            [target(rate_sum(c.RETRY_DELAY, q.base, RATE, (ERROR_TYPE,), suffix="_sum"), f"{{{{{ERROR_TYPE}}}}}")],
            stacked=True,
        ),
        8,
        8,
    )
    retries.add(
        ts(
            "Retries by cause",
            "Retries per second by the error.type of the attempt that failed.",
            "reqps",
            [target(rate_sum(c.RETRY_DELAY, q.base, RATE, (ERROR_TYPE,), suffix="_count"), f"{{{{{ERROR_TYPE}}}}}")],
            stacked=True,
        ),
        8,
        8,
    )
    retries.add(
        ts(
            "Backoff before a retry",
            "p50/p95 of the wait before each retry (retry-after header or the SDK's exponential backoff).",
            "s",
            [target(f"histogram_quantile({qq}, {q.buckets(c.RETRY_DELAY)})", f"p{qq * 100:g}") for qq in (0.5, 0.95)],
        ),
        8,
        8,
    )

    traces = Row("Failed calls in traces (Tempo)")

    def traceql(condition: str, *keys: str) -> str:
        return f"{{ {condition} }} | select({', '.join('span.' + k for k in keys)})"

    shown = (c.ANTHROPIC_REQUEST_ID, c.ERROR_TYPE, c.ANTHROPIC_ERROR_CODE, c.HTTP_RESPONSE_STATUS_CODE)
    call_query = traceql(f'span.{c.ANTHROPIC_CALL_OUTCOME} = "failed"', *shown, c.GEN_AI_REQUEST_MODEL)
    # Attempt spans are the ones with an HTTP method (call spans have none); error.type is set when one failed.
    attempt_query = traceql(
        f'span.{c.HTTP_REQUEST_METHOD} != "" && span.{c.ERROR_TYPE} != ""',
        *shown,
        c.ANTHROPIC_ERROR_RETRYABLE,
        c.ANTHROPIC_RETRY_DELAY,
    )
    for title, description, query in (
        (
            "Recent failed calls",
            "Call spans with outcome failed: the final request id to give Anthropic support, "
            "error.type, error_code and status. Click a trace id to open the trace.",
            call_query,
        ),
        (
            "Recent failed attempts (retried ones too)",
            "Attempt spans that failed, including those the SDK retried "
            "successfully, with their request ids and the backoff that followed.",
            attempt_query,
        ),
    ):
        traces.add(
            table.Panel()
            .title(title)
            .description(description)
            .unit("none")
            .datasource(TEMPO)
            .thresholds(NEUTRAL)
            .with_target(
                tempo.Dataquery()
                .ref_id("A")
                .query_type("traceql")
                .query(query)
                .limit(50)
                .table_type(tempo_models.SearchTableType("spans"))
            ),
            12,
            10,
        )

    return _assemble(
        cfg,
        "errors",
        "Errors & retries",
        "What kind of Claude API errors, what the SDK's retries cost, and the failed calls' request ids in traces.",
        [kinds, retries, traces],
        with_tempo=True,
    )


def build(cfg: Config) -> dict[str, dict[str, object]]:
    """File name → dashboard JSON model."""
    cfg.validate()
    return {
        f"{cfg.dashboard_uid_prefix}-overview.json": overview(cfg),
        f"{cfg.dashboard_uid_prefix}-errors.json": errors(cfg),
    }
