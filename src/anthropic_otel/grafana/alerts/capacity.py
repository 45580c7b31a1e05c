"""Capacity alerts, per HTTP attempt: the platform is overloaded (529), we exceed our rate limit (429), or the
rate-limit headers say we are about to."""

from __future__ import annotations

from ... import _catalog as c
from ..config import Config
from ..promql import KIND, MODEL, PROVIDER, number
from ..recording import HEADROOM, attempts, overloaded_ratio, rate_limited_ratio
from .cases import Case, Expect, Series, above, attempt, below, gauge, roomy, settle_minutes, split
from .common import RATIO_ALERTS_GROUP, VALUE_PCT, labelled, pct, who
from .model import Alert, Rule, Rules, Runbook

# --- AnthropicOverloaded ----------------------------------------------------------------------------------


def _overloaded_rules(cfg: Config) -> list[Rule]:
    return [
        Rule(
            expr=f"{overloaded_ratio(cfg.overload_window)} > {number(cfg.overload_ratio)}",
            for_=cfg.overload_for,
            severity="warning",
            summary=f"{labelled(PROVIDER)} is overloaded for {who(cfg)}",
            description=(
                f"{VALUE_PCT} of HTTP attempts from {who(cfg)} to {labelled(PROVIDER)} got 529 "
                f"overloaded_error over the last {cfg.overload_window} (threshold {pct(cfg.overload_ratio)}, "
                f"for {cfg.overload_for}). The SDK retries them, so calls slow down before they fail."
            ),
            keeps=(*cfg.group_by, PROVIDER),
        )
    ]


def _overloaded_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"More than {pct(cfg.overload_ratio)} of HTTP attempts got 529 `overloaded_error` for "
        f"{cfg.overload_for}: the platform is short of capacity (not your rate limit). The SDK retries these, "
        "so calls get slower first and fail only when retries run out.",
        "1. Check status pages.\n"
        "2. Reduce concurrency or queue non-urgent work; use longer backoff than for other 5xx.\n"
        "3. If the product allows, fall back to another model while overload lasts.",
    )


def _overloaded_cases(cfg: Config, rules: Rules) -> list[Case]:
    minutes = settle_minutes(cfg.overload_for, at_least=30)

    def overloaded(ratio: float) -> list[Series]:
        bad, total = split(ratio)
        return [
            attempt(f"0+{total - bad}x{minutes}"),
            attempt(f"0+{bad}x{minutes}", status="529", error_type="overloaded_error"),
        ]

    high, low = above(cfg.overload_ratio), below(cfg.overload_ratio)
    return [
        Case(
            "sustained 529s on attempts raise the overload alert, not the rate-limit one",
            overloaded(high),
            [(f"{minutes}m", [Expect(rules.rule("AnthropicOverloaded"), high)], ["AnthropicRateLimited"])],
        ),
        Case(
            f"529s below the threshold ({pct(low)}) stay silent",
            overloaded(low),
            [(f"{minutes}m", [], ["AnthropicOverloaded"])],
        ),
    ]


OVERLOADED = Alert("AnthropicOverloaded", RATIO_ALERTS_GROUP, _overloaded_rules, _overloaded_runbook, _overloaded_cases)


# --- AnthropicRateLimited ---------------------------------------------------------------------------------


def _rate_limited_rules(cfg: Config) -> list[Rule]:
    return [
        Rule(
            expr=f"{rate_limited_ratio(cfg.rate_limited_window)} > {number(cfg.rate_limited_ratio)}",
            for_=cfg.rate_limited_for,
            severity="warning",
            summary=f"{who(cfg)} is rate limited on {labelled(MODEL)}",
            description=(
                f"{VALUE_PCT} of HTTP attempts from {who(cfg)} to {labelled(MODEL)} on "
                f"{labelled(PROVIDER)} got 429 rate_limit_error over the last {cfg.rate_limited_window} "
                f"(threshold {pct(cfg.rate_limited_ratio)}, for {cfg.rate_limited_for})."
            ),
            keeps=(*cfg.group_by, PROVIDER, MODEL),
        )
    ]


def _rate_limited_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"More than {pct(cfg.rate_limited_ratio)} of HTTP attempts got 429 `rate_limit_error` for "
        f"{cfg.rate_limited_for}: this service exceeds its organization's requests or tokens per minute for "
        "the model. The SDK honours `retry-after`, so calls slow down.",
        "1. *Rate-limit headroom* shows which kind (requests, input or output tokens) ran out.\n"
        "2. Smooth bursts (client-side rate limiting, queues), use prompt caching to cut input tokens, or "
        "the Batch API for offline work.\n"
        "3. If the traffic is legitimate, ask for a higher usage tier.",
    )


def _rate_limited_cases(cfg: Config, rules: Rules) -> list[Case]:
    minutes = settle_minutes(cfg.rate_limited_for, at_least=30)

    def limited(ratio: float) -> list[Series]:
        bad, total = split(ratio)
        return [
            attempt(f"0+{total - bad}x{minutes}"),
            attempt(f"0+{bad}x{minutes}", status="429", error_type="rate_limit_error"),
        ]

    high, low = above(cfg.rate_limited_ratio), below(cfg.rate_limited_ratio)
    return [
        Case(
            "sustained 429s on attempts raise the rate-limit alert, not the overload one",
            limited(high),
            [(f"{minutes}m", [Expect(rules.rule("AnthropicRateLimited"), high)], ["AnthropicOverloaded"])],
        ),
        Case(
            f"429s below the threshold ({pct(low)}) stay silent",
            limited(low),
            [(f"{minutes}m", [], ["AnthropicRateLimited"])],
        ),
    ]


RATE_LIMITED = Alert(
    "AnthropicRateLimited", RATIO_ALERTS_GROUP, _rate_limited_rules, _rate_limited_runbook, _rate_limited_cases
)


# --- AnthropicRateLimitHeadroomLow ------------------------------------------------------------------------


def _headroom_rules(cfg: Config) -> list[Rule]:
    gpm = (*cfg.group_by, PROVIDER, MODEL)
    return [
        Rule(
            expr=(
                f"{HEADROOM} < {number(cfg.headroom_ratio)}\n"
                f"and on ({', '.join(dict.fromkeys(gpm))})\n"
                # The gauges keep their last value after traffic stops: only alert while calls are being made.
                f"{attempts(cfg, cfg.headroom_for, gpm)} > 0"
            ),
            for_=cfg.headroom_for,
            severity="warning",
            summary=f"{who(cfg)} is close to its {labelled(KIND)} rate limit on {labelled(MODEL)}",
            description=(
                f"Only {VALUE_PCT} of the {labelled(KIND)} rate limit for {labelled(MODEL)} on "
                f"{labelled(PROVIDER)} was left in the last response to {who(cfg)} "
                f"(threshold {pct(cfg.headroom_ratio)}, for {cfg.headroom_for}): 429s come next."
            ),
            keeps=(*gpm, KIND),
        )
    ]


def _headroom_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"The last `anthropic-ratelimit-<kind>-remaining` header was below {pct(cfg.headroom_ratio)} of its "
        f"`-limit` for {cfg.headroom_for} while calls were being made: 429s are close.",
        "1. See which model and kind (`anthropic_ratelimit_kind`) is short.\n"
        "2. Slow non-urgent producers now, before the 429s; see *AnthropicRateLimited* for lasting fixes.",
    )


def _headroom_cases(cfg: Config, rules: Rules) -> list[Case]:
    minutes = settle_minutes(cfg.headroom_for, at_least=20)
    low = cfg.headroom_ratio / 2
    headroom_series = [
        gauge(c.RATELIMIT_REMAINING, f"{number(10000 * low)}+0x{minutes}", "tokens"),
        gauge(c.RATELIMIT_LIMIT, f"10000+0x{minutes}", "tokens"),
        gauge(c.RATELIMIT_REMAINING, f"{number(1000 * roomy(cfg.headroom_ratio))}+0x{minutes}", "requests"),
        gauge(c.RATELIMIT_LIMIT, f"1000+0x{minutes}", "requests"),
    ]
    return [
        Case(
            "little token headroom left while calls are made: warn before the 429s (requests still have room)",
            [*headroom_series, attempt(f"0+60x{minutes}")],
            [(f"{minutes}m", [Expect(rules.rule("AnthropicRateLimitHeadroomLow"), low, {KIND: "tokens"})], [])],
        ),
        Case(
            "a low headroom gauge left over from traffic that stopped does not alert",
            [*headroom_series, attempt(f"600+0x{minutes}")],
            [(f"{minutes}m", [], ["AnthropicRateLimitHeadroomLow"])],
        ),
    ]


HEADROOM_LOW = Alert(
    "AnthropicRateLimitHeadroomLow", RATIO_ALERTS_GROUP, _headroom_rules, _headroom_runbook, _headroom_cases
)

ALERTS = (OVERLOADED, RATE_LIMITED, HEADROOM_LOW)
