"""The *Spend* dashboard: what the Claude API costs us, by model; this month against the budget and its forecast;
what prompt caching saves; tokens no price covers. One function per row.

Cost is the token metric times the price table (`grafana/spend.py`), rendered into each query, so the dashboard
works without the recording rules; regenerate it with the rules when prices change.
"""

from __future__ import annotations

from ... import _catalog as c
from ..alerts.spend import prices
from ..config import Config
from ..promql import eq, number, ratio
from ..spend import cache_savings, priced, tokens, unpriced_tokens
from .board import Queries, assemble
from .panels import GREEN, MODEL, RANGE, RATE, RED, YELLOW, Row, bad_above, bad_below, single, steps, target, ts

USD = "currencyUSD"
# Seconds elapsed in the current calendar month (UTC, as Prometheus' date functions are), at least a minute.
_MONTH_ELAPSED = "((day_of_month() - 1) * 86400 + hour() * 3600 + minute() * 60 + 60)"


def this_month(cfg: Config, q: Queries) -> Row:
    table = prices(cfg)
    budget = cfg.spend_budget
    spent_range = priced(table, q.base, RANGE, (), func="increase")
    over_budget = steps(GREEN, (0.8 * budget, YELLOW), (budget, RED))
    row = Row(f"What are we spending? (budget {number(budget)} USD a month, list prices read {table.read})")
    row.add(
        single(
            "Spent this month",
            "Priced tokens since the start of the calendar month (UTC): every token of gen_ai.client.token.usage "
            "times its list price (input, output, cache reads, cache writes by lifetime). Unpriced models are "
            "not included.",
            USD,
            spent_range,
            over_budget,
            decimals=2,
        ).time_from("now/M"),
        5,
        4,
    )
    row.add(
        single(
            "Budget used this month",
            f"Spent this month as a share of the {number(budget)} USD budget (generator setting spend_budget). "
            "If the budget is the organization's spend limit, calls fail with billing_error at 100%.",
            "percentunit",
            f"{spent_range}\n/ {number(budget)}",
            bad_above(0.8, 1.0),
            decimals=1,
        ).time_from("now/M"),
        5,
        4,
    )
    row.add(
        single(
            "Forecast for the month",
            "Spent this month, extrapolated to the end of the calendar month at this month's average pace.",
            USD,
            f"{spent_range}\n/ {_MONTH_ELAPSED}\n* days_in_month() * 86400",
            over_budget,
            decimals=2,
        ).time_from("now/M"),
        5,
        4,
    )
    row.add(
        single(
            "Spent today",
            "Priced tokens since midnight (dashboard time zone).",
            USD,
            spent_range,
            steps(GREEN, (budget / 30, YELLOW), (2 * budget / 30, RED)),
            decimals=2,
        ).time_from("now/d"),
        5,
        4,
    )
    row.add(
        single(
            "Unpriced tokens",
            "Tokens over the dashboard's time range of models no price family matches: spend leaves them out. "
            "Add the model to a price file (docs/spend.md) and regenerate.",
            "short",
            unpriced_tokens(table, q.base, RANGE, ()),
            steps(GREEN, (1, YELLOW)),
            decimals=0,
        ),
        4,
        4,
    )
    row.add(
        ts(
            "Spend per hour by model",
            "USD per hour at each moment's pace, by model (list prices).",
            USD,
            [target(f"{priced(table, q.base, RATE, (MODEL,))}\n* 3600", "{{" + MODEL + "}}")],
            stacked=True,
        ),
        12,
        8,
    )
    row.add(
        ts(
            "Spend per day by model",
            "USD per day at each moment's pace, by model: what a day at this rate costs.",
            USD,
            [target(f"{priced(table, q.base, RATE, (MODEL,))}\n* 86400", "{{" + MODEL + "}}")],
            stacked=True,
        ),
        12,
        8,
    )
    return row


def prompt_cache(cfg: Config, q: Queries) -> Row:
    table = prices(cfg)
    read = eq(c.ANTHROPIC_TOKEN_CACHE, c.CACHE_READ)
    inputs = eq(c.GEN_AI_TOKEN_TYPE, c.TOKEN_INPUT)
    row = Row("What does prompt caching save?")
    row.add(
        ts(
            "Cache savings per hour by model",
            "What the cached tokens would have cost uncached, minus what they cost: cache reads at the input "
            "price less the read price, less the premium of cache writes (by lifetime). Negative: writes that "
            "were never read back.",
            USD,
            [target(f"{priced(table, q.base, RATE, (MODEL,), price=cache_savings)}\n* 3600", "{{" + MODEL + "}}")],
        ),
        12,
        8,
    )
    row.add(
        ts(
            "Cache hit ratio by model",
            "Share of input tokens read from the prompt cache. A collapse while spend jumps is a prompt-caching "
            "regression (AnthropicSpendSpike).",
            "percentunit",
            [
                target(
                    ratio(tokens(q.base, RATE, (MODEL,), (read,)), tokens(q.base, RATE, (MODEL,), (inputs,))),
                    "{{" + MODEL + "}}",
                )
            ],
            bad_below(0.3, 0.1),
            max_value=1,
        ),
        12,
        8,
    )
    row.add(
        ts(
            "Unpriced tokens / s by model",
            "Tokens of models the price table does not know (AnthropicUnpricedTokens).",
            "short",
            [target(unpriced_tokens(table, q.base, RATE, (MODEL,), func="rate"), "{{" + MODEL + "}}")],
        ),
        24,
        6,
    )
    return row


def spend(cfg: Config) -> dict[str, object]:
    q = Queries(cfg)
    return assemble(
        cfg,
        "spend",
        "Spend",
        "What the Claude API costs, by model: this month against the budget, its forecast, prompt-cache savings "
        "and unpriced tokens. Priced from gen_ai.client.token.usage with the price table (docs/spend.md).",
        [this_month(cfg, q), prompt_cache(cfg, q)],
        with_tempo=False,
    )
