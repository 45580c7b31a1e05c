"""The *Errors & retries* dashboard: what kind of errors, what retries cost, and (with Tempo) the failed calls'
request ids. One function per row."""

from __future__ import annotations

from grafana_foundation_sdk.builders import table, tempo
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import tempo as tempo_models

from ... import _catalog as c
from .. import slis
from ..config import Config
from ..promql import eq, ne, rate_sum, ratio, regex
from .board import Queries, assemble
from .panels import (
    ERROR_CODE,
    ERROR_TYPE,
    GREEN,
    MODEL,
    NEUTRAL,
    OUTCOME,
    PROMETHEUS,
    RANGE,
    RATE,
    RED,
    RETRYABLE,
    STATUS,
    TEMPO,
    YELLOW,
    Row,
    bad_above,
    single,
    steps,
    target,
    ts,
)


def kinds(cfg: Config, q: Queries) -> Row:
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
            [
                target(
                    # An attempt the application cancelled did not fail (`error.type=cancelled`, no retryable).
                    q.attempts((RETRYABLE,), ((ne(c.ERROR_TYPE, ""), ne(c.ERROR_TYPE, c.ERROR_TYPE_CANCELLED)),)),
                    f"retryable={{{{{RETRYABLE}}}}}",
                )
            ],
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
    return kinds


def retries(cfg: Config, q: Queries) -> Row:
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
            ratio(q.calls(alts=((slis.RECOVERED,),), window=RANGE), q.calls(alts=slis.ANSWERED, window=RANGE)),
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
    return retries


def traces(cfg: Config, q: Queries) -> Row:
    traces = Row("Failed calls in traces (Tempo)")

    def traceql(condition: str, *keys: str) -> str:
        return f"{{ {condition} }} | select({', '.join('span.' + k for k in keys)})"

    shown = (c.ANTHROPIC_REQUEST_ID, c.ERROR_TYPE, c.ANTHROPIC_ERROR_CODE, c.HTTP_RESPONSE_STATUS_CODE)
    call_query = traceql(f'span.{c.ANTHROPIC_CALL_OUTCOME} = "failed"', *shown, c.GEN_AI_REQUEST_MODEL)
    # Our failed attempt spans: error.type with anthropic.error.retryable, which only they carry (the SDK's
    # own call span also has an HTTP method and error.type, so those alone would list each failure twice).
    retryable = f"span.{c.ANTHROPIC_ERROR_RETRYABLE}"
    attempt_query = traceql(
        f'span.{c.ERROR_TYPE} != "" && ({retryable} = true || {retryable} = false)',
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
    return traces


def errors(cfg: Config) -> dict[str, object]:
    q = Queries(cfg)
    return assemble(
        cfg,
        "errors",
        "Errors & retries",
        "What kind of Claude API errors, what the SDK's retries cost, and the failed calls' request ids in traces.",
        [kinds(cfg, q), retries(cfg, q), traces(cfg, q)],
        with_tempo=True,
    )
