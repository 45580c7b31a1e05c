"""Spend as PromQL: the token metric multiplied by the price table, rendered into the rules and the dashboard.

Cost is never computed in the application: `gen_ai.client.token.usage` already counts every token by model,
direction, cache use and cache-write lifetime, so the price of a token category is a constant factor on a
token rate. The generator writes one term per (price row, token category):

    sum by (...) (
        rate(gen_ai_client_token_usage_sum{<selector>, model=~"<family ids>", <category matchers>}[w]) * <USD/token>
      or
        ...
    )

Each term selects a disjoint set of series (families and categories do not overlap), so `or` is their union and
the outer `sum` adds them up. A price change is a rules regeneration and a Prometheus reload; the application is
not touched. Models that match no family are *unpriced*: `unpriced_tokens` counts them instead.

Long-context rates (a request whose prompt exceeds a threshold pays more on every token) cannot be applied here:
the metric has no per-request prompt size next to each token category. The Python price table applies them
(`pricing.PriceTable.cost`); docs/spend.md states the gap.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .. import _catalog as c
from .. import pricing
from .promql import MODEL, M, by, eq, indent, label, number, scope_matchers, selector, series

TOKEN_SUM = series(c.TOKEN_USAGE, "_sum")
TTL = label(c.ANTHROPIC_TOKEN_CACHE_TTL)

# The token series each price category applies to. Cache writes whose lifetime the response did not tell (no
# `anthropic.token.cache_ttl`) are priced at the default lifetime, 5 minutes: `!= "1h"` also matches them.
CATEGORY_MATCHERS: dict[str, tuple[M, ...]] = {
    "input": (eq(c.GEN_AI_TOKEN_TYPE, c.TOKEN_INPUT), eq(c.ANTHROPIC_TOKEN_CACHE, c.CACHE_NONE)),
    "cache_read": (eq(c.ANTHROPIC_TOKEN_CACHE, c.CACHE_READ),),
    "cache_write_5m": (eq(c.ANTHROPIC_TOKEN_CACHE, c.CACHE_CREATION), M(c.ANTHROPIC_TOKEN_CACHE_TTL, "!=", "1h")),
    "cache_write_1h": (eq(c.ANTHROPIC_TOKEN_CACHE, c.CACHE_CREATION), eq(c.ANTHROPIC_TOKEN_CACHE_TTL, "1h")),
    "output": (eq(c.GEN_AI_TOKEN_TYPE, c.TOKEN_OUTPUT),),
}
if set(CATEGORY_MATCHERS) != set(pricing.CATEGORIES):  # pragma: no cover
    raise ImportError("every price category needs its token matchers")

# USD per token of one category at one price row (None or 0: no term).
Price = Callable[[pricing.Rates, str], float]


def list_price(rates: pricing.Rates, category: str) -> float:
    return rates.per_token(category)


def cache_savings(rates: pricing.Rates, category: str) -> float:
    """What each cached token saved against the same token sent uncached (input rate): positive for reads,
    negative (the premium) for writes; 0 for uncached categories."""
    if category in ("cache_read", "cache_write_5m", "cache_write_1h"):
        return rates.per_token("input") - rates.per_token(category)
    return 0.0


def _selector(model: M, base: str, rest: Sequence[M] = ()) -> str:
    """The family matcher first, then the user's selector (and a dashboard's `$model` variable, which further
    narrows the models), our instrumentation scope, then the category matchers."""
    return "{" + ", ".join(p for p in (str(model), base.strip(), *_SCOPE, *map(str, rest)) if p) + "}"


# The token metric's name is shared with other GenAI instrumentations: select ours.
_SCOPE = scope_matchers(c.TOKEN_USAGE)


def model_regex(families: Sequence[pricing.Family]) -> str:
    return pricing.model_regex(families)


def _model_matcher(regex: str, op: str = "=~") -> M:
    return M(c.GEN_AI_REQUEST_MODEL, op, regex)


def priced(
    table: pricing.PriceTable,
    base: str,
    window: str,
    group: Sequence[str],
    *,
    price: Price = list_price,
    func: str = "rate",
) -> str:
    """USD per second (`rate`) or USD (`increase`) over `window`, summed by `group`."""
    terms = []
    for rates, families in pricing.groups(table):
        model = _model_matcher(model_regex(families))
        for category in pricing.CATEGORIES:
            per_token = price(rates, category)
            if not per_token:
                continue
            sel = _selector(model, base, CATEGORY_MATCHERS[category])
            terms.append(f"{func}({TOKEN_SUM}{sel}[{window}]) * {number(per_token)}")
    if not terms:
        return "vector(0)"
    inner = "\nor\n".join(indent(t, 2) for t in terms)
    agg = f"sum {by(group)}" if group else "sum"
    return f"{agg} (\n{inner}\n)"


def unpriced_tokens(
    table: pricing.PriceTable, base: str, window: str, group: Sequence[str], *, func: str = "increase"
) -> str:
    """Tokens of models no price family matches, over `window`, by `group`."""
    sel = (
        _selector(_model_matcher(model_regex(table.families), "!~"), base) if table.families else selector(base, _SCOPE)
    )
    agg = f"sum {by(group)}" if group else "sum"
    return f"{agg} ({func}({TOKEN_SUM}{sel}[{window}]))"


def tokens(base: str, window: str, group: Sequence[str], matchers: Sequence[M], *, func: str = "rate") -> str:
    agg = f"sum {by(group)}" if group else "sum"
    return f"{agg} ({func}({TOKEN_SUM}{selector(base, (*_SCOPE, *matchers))}[{window}]))"


__all__ = ["MODEL", "TOKEN_SUM", "cache_savings", "list_price", "priced", "tokens", "unpriced_tokens"]
