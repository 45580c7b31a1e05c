"""Alerts on how calls end: rejected as invalid (a bad deploy), failing after the SDK's last retry, or with
their output cut short."""

from __future__ import annotations

from ..config import Config
from ..promql import MODEL, PROVIDER, number
from ..recording import client_failures_ratio, exhausted_ratio, truncated_ratio
from .cases import MODEL_B, Case, Expect, Series, above, below, call, cancelled_call, settle_minutes, split
from .common import RATIO_ALERTS_GROUP, TRACES, VALUE_PCT, labelled, pct, who
from .model import Alert, Rule, Rules, Runbook

# --- AnthropicClientErrorSpike ----------------------------------------------------------------------------


def _client_error_rules(cfg: Config) -> list[Rule]:
    return [
        Rule(
            expr=f"{client_failures_ratio(cfg.client_error_window)} > {number(cfg.client_error_ratio)}",
            for_=cfg.client_error_for,
            severity="critical",
            summary=f"Claude API rejects {VALUE_PCT} of the requests from {who(cfg)} as invalid",
            description=(
                f"{VALUE_PCT} of Claude API calls from {who(cfg)} failed with a terminal client error "
                f"(400 invalid_request_error, 404 not_found_error, 413 request_too_large, 422) over the last "
                f"{cfg.client_error_window} (threshold {pct(cfg.client_error_ratio)}). These are never retried "
                "and usually follow a deploy."
            ),
            keeps=cfg.group_by,
        )
    ]


def _client_error_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"More than {pct(cfg.client_error_ratio)} of calls failed with terminal client errors: 400 "
        "`invalid_request_error`, 404 `not_found_error` (often a wrong or retired model id), 413 "
        "`request_too_large` (sometimes a non-JSON body from the edge, then `error.type` is `413`) or 422. "
        "These are never retried and almost always follow a deploy or a config change.",
        "1. Check the latest deploy or config change and roll back if it matches.\n"
        "2. Group by `error_type` and model on the *Errors & retries* dashboard; the error message on the "
        "span (with content capture off, the status and type) tells which parameter.\n"
        "3. For 413: shrink the payload (chunk documents, trim history, use the Files API); do not retry.\n\n" + TRACES,
    )


def _client_error_cases(cfg: Config, rules: Rules) -> list[Case]:
    minutes = settle_minutes(cfg.client_error_for, at_least=30)

    def deploy(ratio: float) -> list[Series]:
        bad, total = split(ratio)
        return [
            call(f"0+{total - bad}x{minutes}"),
            call(f"0+{bad - bad // 2}x{minutes}", outcome="failed", status="400", error_type="invalid_request_error"),
            call(f"0+{bad // 2}x{minutes}", outcome="failed", status="413", error_type="413"),
        ]

    high, low = above(cfg.client_error_ratio), below(cfg.client_error_ratio)
    return [
        Case(
            "a bad deploy: 400s and a non-JSON 413 fire the client-error alert, not the SLO burn",
            deploy(high),
            [(f"{minutes}m", [Expect(rules.rule("AnthropicClientErrorSpike"), high)], ["AnthropicErrorBudgetBurn"])],
        ),
        Case(
            f"client errors below the threshold ({pct(low)}) stay silent",
            deploy(low),
            [(f"{minutes}m", [], ["AnthropicClientErrorSpike"])],
        ),
        Case(
            "the application's own timeouts cancel 90% of calls: no client-error, retries or SLO alert",
            [
                call(f"0+10x{minutes}"),
                cancelled_call(f"0+90x{minutes}"),
                cancelled_call(f"0+90x{minutes}", stream="true"),
            ],
            [
                (
                    f"{minutes}m",
                    [],
                    ["AnthropicClientErrorSpike", "AnthropicRetriesExhausted", "AnthropicErrorBudgetBurn"],
                )
            ],
        ),
    ]


CLIENT_ERROR_SPIKE = Alert(
    "AnthropicClientErrorSpike", RATIO_ALERTS_GROUP, _client_error_rules, _client_error_runbook, _client_error_cases
)


# --- AnthropicRetriesExhausted ----------------------------------------------------------------------------


def _exhausted_rules(cfg: Config) -> list[Rule]:
    return [
        Rule(
            expr=f"{exhausted_ratio(cfg.exhausted_window)} > {number(cfg.exhausted_ratio)}",
            for_=cfg.exhausted_for,
            severity="warning",
            summary=f"Claude API calls from {who(cfg)} fail after exhausting their retries",
            description=(
                f"{VALUE_PCT} of Claude API calls from {who(cfg)} to {labelled(PROVIDER)} failed with a "
                f"retryable error (429, 5xx, 529, timeout, connection) after the SDK's last retry over the last "
                f"{cfg.exhausted_window} (threshold {pct(cfg.exhausted_ratio)})."
            ),
            keeps=(*cfg.group_by, PROVIDER),
        )
    ]


def _exhausted_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"More than {pct(cfg.exhausted_ratio)} of calls failed with a retryable error (429, 408, 409, 5xx, "
        "529, timeouts, connection errors) after the SDK's last retry: retries are no longer hiding the "
        "problem from users.",
        "1. The dominant `error.type` says which runbook applies: rate limits (AnthropicRateLimited), "
        "overload (AnthropicOverloaded), server errors (AnthropicErrorBudgetBurn).\n"
        "2. Timeouts: compare the client timeout with p99 latency.\n\n" + TRACES,
    )


def _exhausted_cases(cfg: Config, rules: Rules) -> list[Case]:
    minutes = settle_minutes(cfg.exhausted_for, at_least=30)

    def failing(ratio: float) -> list[Series]:
        bad, total = split(ratio)
        return [
            call(f"0+{total - bad}x{minutes}"),
            call(f"0+{bad}x{minutes}", outcome="failed", status="429", error_type="rate_limit_error"),
        ]

    high, low = above(cfg.exhausted_ratio), below(cfg.exhausted_ratio)
    return [
        Case(
            "calls that still fail with 429 after their retries: retries exhausted, not an SLO burn",
            failing(high),
            [(f"{minutes}m", [Expect(rules.rule("AnthropicRetriesExhausted"), high)], ["AnthropicErrorBudgetBurn"])],
        ),
        Case(
            f"calls failing after their retries below the threshold ({pct(low)}) stay silent",
            failing(low),
            [(f"{minutes}m", [], ["AnthropicRetriesExhausted"])],
        ),
        Case(
            "cancelled calls neither count as exhausted retries nor dilute the ratio of those that are",
            [*failing(high), cancelled_call(f"0+{3 * split(high)[1]}x{minutes}")],
            [(f"{minutes}m", [Expect(rules.rule("AnthropicRetriesExhausted"), high)], ["AnthropicErrorBudgetBurn"])],
        ),
    ]


RETRIES_EXHAUSTED = Alert(
    "AnthropicRetriesExhausted", RATIO_ALERTS_GROUP, _exhausted_rules, _exhausted_runbook, _exhausted_cases
)


# --- AnthropicHighTruncation ------------------------------------------------------------------------------


def _truncation_rules(cfg: Config) -> list[Rule]:
    return [
        Rule(
            expr=f"{truncated_ratio(cfg.truncation_window)} > {number(cfg.truncation_ratio)}",
            for_=cfg.truncation_for,
            severity="warning",
            summary=f"Claude output from {labelled(MODEL)} is cut short for {who(cfg)}",
            description=(
                f"{VALUE_PCT} of the messages {who(cfg)} got from {labelled(MODEL)} stopped at "
                f"max_tokens or the context window over the last {cfg.truncation_window} "
                f"(threshold {pct(cfg.truncation_ratio)}): answers are incomplete."
            ),
            keeps=(*cfg.group_by, MODEL),
        )
    ]


def _truncation_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"More than {pct(cfg.truncation_ratio)} of messages from a model stopped at `max_tokens` or "
        f"`model_context_window_exceeded` over {cfg.truncation_window}: answers are cut off mid-way, which the "
        "API does not report as an error.",
        "1. Check recent prompt or `max_tokens` changes for that model.\n"
        "2. Raise `max_tokens`, ask for shorter output, or continue the answer in a follow-up call.\n"
        "3. For context-window stops, trim or summarise the conversation history.",
    )


def _truncation_cases(cfg: Config, rules: Rules) -> list[Case]:
    minutes = settle_minutes(cfg.truncation_for, at_least=60)

    def cut(ratio: float) -> list[Series]:
        bad, total = split(ratio)
        return [
            call(f"0+{bad}x{minutes}", stop="max_tokens"),
            call(f"0+{total - bad}x{minutes}", stop="end_turn"),
            call(f"0+{total}x{minutes}", stop="end_turn", model=MODEL_B),
        ]

    high, low = above(cfg.truncation_ratio), below(cfg.truncation_ratio)
    return [
        Case(
            "one model's answers are cut at max_tokens: warn for that model only",
            cut(high),
            [(f"{minutes}m", [Expect(rules.rule("AnthropicHighTruncation"), high)], [])],
        ),
        Case(
            f"answers cut short below the threshold ({pct(low)}) stay silent",
            cut(low),
            [(f"{minutes}m", [], ["AnthropicHighTruncation"])],
        ),
    ]


HIGH_TRUNCATION = Alert(
    "AnthropicHighTruncation", RATIO_ALERTS_GROUP, _truncation_rules, _truncation_runbook, _truncation_cases
)

ALERTS = (CLIENT_ERROR_SPIKE, RETRIES_EXHAUSTED, HIGH_TRUNCATION)
