"""The *Overview* dashboard: is the Claude API working for us right now (rate, errors, SLO, latency, TTFT,
tokens), why did output stop, how close are we to the rate limits. One function per row."""

from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.models import common

from ... import _catalog as c
from .. import slis
from ..burn import paging_windows
from ..config import Config, duration_seconds
from ..promql import JOB, M, by, rate_sum, ratio, regex, selector, series
from ..recording import server_failures_ratio
from .board import Queries, assemble
from .panels import (
    GREEN,
    KIND,
    MODEL,
    ORANGE,
    OUTCOME,
    PROMETHEUS,
    RANGE,
    RATE,
    RED,
    STATUS,
    STOP,
    TOKEN_CACHE,
    TOKEN_TYPE,
    YELLOW,
    Row,
    bad_above,
    bad_below,
    single,
    steps,
    target,
    ts,
)


def health(cfg: Config, q: Queries) -> Row:
    budget = cfg.error_budget
    g_outcome = (OUTCOME,)
    answered = slis.ANSWERED
    failed_ratio = ratio(q.calls(alts=((slis.FAILED,),)), q.calls(alts=answered))
    server_ratio = ratio(q.calls(alts=slis.SERVER_FAILURES), q.calls(alts=answered))
    server_ratio_range = ratio(q.calls(alts=slis.SERVER_FAILURES, window=RANGE), q.calls(alts=answered, window=RANGE))
    fast = paging_windows(cfg)
    burn_targets = []
    record_sel = selector("", (M(JOB, "=~", "$job"),)) if JOB in cfg.group_by else ""
    for window in sorted({w.short for w in fast} | {w.long for w in fast}, key=duration_seconds):
        expr = f"{server_failures_ratio(window)}{record_sel} / {budget:.10g}"
        burn_targets.append(target(expr, f"{window} window"))
    quantiles = (0.5, 0.95, 0.99)
    success = (slis.SUCCESS,)

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
    return health


def stops(cfg: Config, q: Queries) -> Row:
    stop_sel = (slis.HAS_STOP_REASON,)
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
    return stops


def limits(cfg: Config, q: Queries) -> Row:
    headroom = (
        f"min {by((MODEL, KIND))} (\n  {series(c.RATELIMIT_REMAINING)}{q.sel()}\n  /\n"
        f"  {series(c.RATELIMIT_LIMIT)}{q.sel()}\n)"
    )
    headroom_steps = bad_below(2 * cfg.headroom_ratio, cfg.headroom_ratio)
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
    return limits


def overview(cfg: Config) -> dict[str, object]:
    q = Queries(cfg)
    return assemble(
        cfg,
        "overview",
        "Overview",
        "Claude API health as the anthropic-otel instrumentation sees it: traffic, failures against the SLO, "
        "latency, tokens, stop reasons and rate-limit headroom.",
        [health(cfg, q), stops(cfg, q), limits(cfg, q)],
        with_tempo=False,
    )
