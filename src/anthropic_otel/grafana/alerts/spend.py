"""Spend alerts: the budget burns too fast (multi-window), a model's spend spikes, tokens nobody can price.

They read `anthropic:spend_usd:rate<window>`, the token metric priced by the table (`grafana/spend.py`), recorded
by (group-by labels, provider, model). The budget alert pages *before* the organization's spend limit turns every
call into a billing error; AnthropicBillingError pages when it has.
"""

from __future__ import annotations

from ... import _catalog as c
from ... import pricing
from ..burn import human_duration
from ..config import BurnWindow, Config, duration_seconds
from ..promql import MODEL, PROVIDER, by, number
from ..recording import PREFIX, RecordingRule
from ..spend import priced, unpriced_tokens
from .cases import MODEL_A, Case, Expect, Series
from .common import labelled, who
from .model import Alert, Rule, Rules, Runbook

SPEND_GROUP = f"{PREFIX}-otel.spend"
UNPRICED_MODEL = "claude-unpriced-test"


def spend_rate(window: str) -> str:
    """USD per second over `window`, by (group-by labels, provider, model)."""
    return f"{PREFIX}:spend_usd:rate{window}"


def prices(cfg: Config) -> pricing.PriceTable:
    return pricing.load(cfg.price_file)


def budget_per_second(cfg: Config) -> float:
    return cfg.spend_budget / duration_seconds(cfg.spend_period)


def _keeps(cfg: Config) -> tuple[str, ...]:
    return (*cfg.group_by, PROVIDER, MODEL)


def _windows(cfg: Config) -> list[str]:
    seen: list[str] = []
    for w in cfg.spend_burn_windows:
        seen += [w.short, w.long]
    seen += [cfg.spend_spike_window, cfg.spend_spike_baseline]
    return sorted(dict.fromkeys(seen), key=duration_seconds)


def _records(cfg: Config) -> list[RecordingRule]:
    """The priced rate over the shortest window, and its average over each longer one.

    The priced expression has a term per (price row, token category); evaluating it once per cycle instead of
    once per window keeps rule evaluation cheap. An average of the short rate over a long window is the long
    window's rate once the window is full (before that, the average of what there is)."""
    unknown = set(cfg.spend_group_by) - set(_keeps(cfg))
    if unknown:
        raise ValueError(f"spend_group_by {sorted(unknown)}: the spend records keep only {list(_keeps(cfg))}")
    base, *longer = _windows(cfg)
    out = [RecordingRule(spend_rate(base), priced(prices(cfg), cfg.selector, base, _keeps(cfg)))]
    # A subquery at the base window's step: the average of back-to-back base-window rates is exactly the long
    # window's rate, and the rule stays valid when Grafana-managed alerting expands the record into its expression.
    out += [RecordingRule(spend_rate(w), f"avg_over_time({spend_rate(base)}[{w}:{base}])") for w in longer]
    return out


def _total(cfg: Config, window: str) -> str:
    agg = f"sum {by(cfg.spend_group_by)}" if cfg.spend_group_by else "sum"
    return f"{agg} ({spend_rate(window)})"


def _whose(cfg: Config) -> str:
    return ("for " + "/".join(labelled(n) for n in cfg.spend_group_by)) if cfg.spend_group_by else "in total"


# --- AnthropicSpendBudgetBurn -----------------------------------------------------------------------------


def _burn_rules(cfg: Config) -> list[Rule]:
    bps = number(budget_per_second(cfg))
    period = duration_seconds(cfg.spend_period)

    def above(window: str, w: BurnWindow) -> str:
        return f"{_total(cfg, window)} / {bps} > {number(w.factor)}"

    return [
        Rule(
            expr=f"{above(w.long, w)}\nand\n{above(w.short, w)}",
            for_=w.for_,
            severity=w.severity,
            summary=f"Claude API spend {_whose(cfg)} would use up the {number(cfg.spend_budget)} USD "
            f"{cfg.spend_period} budget in {human_duration(period / w.factor)} or less",
            description=(
                'Claude API spend {{ printf "%.1f" $value }}x the pace the budget allows over the last '
                f"{w.long} (and still above {number(w.factor)}x over the last {w.short}), priced from "
                f"gen_ai.client.token.usage with the price table read {prices(cfg).read}. At this pace the "
                f"{number(cfg.spend_budget)} USD budget lasts {human_duration(period / w.factor)} or less, and "
                "when the organization's spend limit is reached every call fails with billing_error."
            ),
            keeps=cfg.spend_group_by,
            static_labels=(("long", w.long), ("short", w.short)),
            variant=f"{w.long}/{w.short}",
        )
        for w in cfg.spend_burn_windows
    ]


def _burn_runbook(cfg: Config) -> Runbook:
    windows = ", ".join(f"{w.long}/{w.short} above {w.factor:g}x ({w.severity})" for w in cfg.spend_burn_windows)
    return Runbook(
        f"Priced Claude API tokens are consuming the {cfg.spend_budget:g} USD budget per {cfg.spend_period} "
        "faster than it lasts: if the budget is your organization's or workspace's monthly spend limit, every "
        "call will fail with `billing_error` (402, or 403 `enforced_spend_limit_reached`) once it is reached, "
        f"until someone raises it in the Console. Multi-window, multi-burn-rate: {windows}; a short spike does "
        "not page, a sustained one does. Cost is derived from `gen_ai.client.token.usage` by the recording rules "
        f"`{spend_rate('<window>')}` (list prices, docs/spend.md); unpriced models are not included.",
        "1. Open the *Spend* dashboard: which model and which job spends, and since when.\n"
        "2. A runaway loop or retry storm (calls per second up), a prompt-caching regression (cache hit ratio "
        "down, input tokens up) or a deliberate launch?\n"
        "3. Stop the runaway work, or fix the caching; if the spend is wanted, raise the spend limit in the "
        "Claude Console (Settings → Limits) *before* it is reached, and raise `spend_budget` here.\n"
        "4. Compare with the Console's usage page: the alert uses list prices, not your invoice.",
    )


def _series(values: str, token_type: str, cache: str = c.CACHE_NONE, model: str = MODEL_A) -> Series:
    return Series(
        c.TOKEN_USAGE,
        values,
        {c.GEN_AI_TOKEN_TYPE: token_type, c.ANTHROPIC_TOKEN_CACHE: cache, c.GEN_AI_REQUEST_MODEL: model},
        "_sum",
    )


def _per_minute(cfg: Config, factor: float, category: str) -> str:
    """Tokens per minute of `category` on MODEL_A that spend at `factor` times the budget's pace."""
    family = prices(cfg).family_of(MODEL_A)
    if family is None:
        raise ValueError(f"the promtool cases need a price for {MODEL_A}")
    return number(factor * budget_per_second(cfg) * 60 / family.rates.per_token(category))


def _minutes(window: str) -> int:
    return max(1, round(duration_seconds(window) / 60))


def _recorded(cfg: Config, factor: float, window: str, at: int) -> float:
    """What `spend_rate(window)` reads at minute `at` of a case whose spend runs at `factor` from minute 0 on,
    evaluated every minute: the base rate ramps up over its first window, the others average it at the base
    window's step."""
    base = _minutes(_windows(cfg)[0])

    def short(minute: int) -> float:
        return factor * min(minute, base) / base

    if window == _windows(cfg)[0]:
        return short(at)
    steps = range(max(1, at - _minutes(window) + 1), at + 1)
    samples = [short(m) for m in steps if m % base == 0]
    return sum(samples) / len(samples)


def _burn_cases(cfg: Config, rules: Rules) -> list[Case]:
    factor = 1.5 * max(w.factor for w in cfg.spend_burn_windows)
    minutes = max(_minutes(w.for_) for w in cfg.spend_burn_windows) + _minutes(_windows(cfg)[0]) + 10
    firing = [
        Expect(rules.rule("AnthropicSpendBudgetBurn", f"{w.long}/{w.short}"), _recorded(cfg, factor, w.long, minutes))
        for w in cfg.spend_burn_windows
    ]
    quiet = ["AnthropicSpendBudgetBurn", "AnthropicSpendSpike", "AnthropicUnpricedTokens"]
    return [
        Case(
            f"output tokens spending {number(factor)}x the budget's pace, sustained, burn every window",
            [_series(f"0+{_per_minute(cfg, factor, 'output')}x{minutes}", c.TOKEN_OUTPUT)],
            [(f"{minutes}m", firing, quiet[1:])],
        ),
        Case(
            "spend at half the budget's pace burns nothing",
            [_series(f"0+{_per_minute(cfg, 0.5, 'output')}x{minutes}", c.TOKEN_OUTPUT)],
            [(f"{minutes}m", [], quiet)],
        ),
    ]


BUDGET_BURN = Alert("AnthropicSpendBudgetBurn", SPEND_GROUP, _burn_rules, _burn_runbook, _burn_cases, records=_records)


# --- AnthropicSpendSpike ----------------------------------------------------------------------------------


def _spike_rules(cfg: Config) -> list[Rule]:
    short, base = cfg.spend_spike_window, cfg.spend_spike_baseline
    return [
        Rule(
            expr=(
                f"(\n  {spend_rate(short)}\n  > {number(cfg.spend_spike_factor)} * {spend_rate(base)}\n)\n"
                f"* 3600 > {number(cfg.spend_spike_min_usd_per_hour)}"
            ),
            for_=cfg.spend_spike_for,
            severity="warning",
            summary=f"Claude API spend on {labelled(MODEL)} from {who(cfg)} jumped",
            description=(
                f"{labelled(MODEL)} calls from {who(cfg)} spent "
                '{{ printf "%.2f" $value }} USD/hour over the last '
                f"{short}, more than {number(cfg.spend_spike_factor)}x its {base} average, for "
                f"{cfg.spend_spike_for}. A loop, a retry storm, or prompt caching that stopped working."
            ),
            keeps=_keeps(cfg),
        )
    ]


def _spike_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"One model's spend over {cfg.spend_spike_window} is more than {cfg.spend_spike_factor:g}x its "
        f"{cfg.spend_spike_baseline} average (and above {cfg.spend_spike_min_usd_per_hour:g} USD/hour) for "
        f"{cfg.spend_spike_for}. A warning, not a page: a launch or a batch job looks the same; the budget-burn "
        "alert pages if it lasts.",
        "1. On the *Spend* dashboard, compare *Cache hit ratio* with *Spend per hour by model*: a hit ratio "
        "that collapsed while spend jumped is a prompt-caching regression (a changed system prompt or tool "
        "list, a timestamp in the cached prefix, a cache breakpoint moved).\n"
        "2. Calls per second up with the same tokens per call: a loop or a retry storm (*Errors & retries*).\n"
        "3. Tokens per call up: longer prompts or conversations, or `max_tokens` raised.",
    )


def _spike_cases(cfg: Config, rules: Rules) -> list[Case]:
    # A steady 100 minutes first, so that the baseline (an average of what there is) is mostly steady spend;
    # then a spike long enough to fill the spike window and last `spend_spike_for`.
    spike_minutes = _minutes(cfg.spend_spike_window) + _minutes(_windows(cfg)[0]) + 5
    minutes = spike_minutes + 100
    steady, spike = 0.5, 20.0
    usd_per_hour = (steady + spike) * budget_per_second(cfg) * 3600
    return [
        Case(
            f"uncached input tokens jump to {spike:g}x the budget's pace for {spike_minutes} minutes: a spend "
            "spike, not (yet) a budget burn",
            [
                _series(f"0+{_per_minute(cfg, steady, 'output')}x{minutes}", c.TOKEN_OUTPUT),
                _series(
                    f"0x{minutes - spike_minutes} {_per_minute(cfg, spike, 'input')}+"
                    f"{_per_minute(cfg, spike, 'input')}x{spike_minutes - 1}",
                    c.TOKEN_INPUT,
                ),
            ],
            [
                (
                    f"{minutes}m",
                    [Expect(rules.rule("AnthropicSpendSpike"), usd_per_hour, {MODEL: MODEL_A})],
                    ["AnthropicSpendBudgetBurn", "AnthropicUnpricedTokens"],
                )
            ],
        )
    ]


SPIKE = Alert("AnthropicSpendSpike", SPEND_GROUP, _spike_rules, _spike_runbook, _spike_cases)


# --- AnthropicUnpricedTokens ------------------------------------------------------------------------------


def _unpriced_rules(cfg: Config) -> list[Rule]:
    expr = unpriced_tokens(prices(cfg), cfg.selector, cfg.unpriced_window, _keeps(cfg))
    return [
        Rule(
            expr=f"{expr} > 0",
            for_=cfg.unpriced_for,
            severity="warning",
            summary=f"Claude API tokens of {labelled(MODEL)} have no price",
            description=(
                f'{{{{ printf "%.0f" $value }}}} tokens of {labelled(MODEL)} from {who(cfg)} in the last '
                f"{cfg.unpriced_window} match no family of the price table (read {prices(cfg).read}): spend, "
                "the budget alert and the forecast leave them out."
            ),
            keeps=_keeps(cfg),
        )
    ]


def _unpriced_runbook(cfg: Config) -> Runbook:
    return Runbook(
        "Calls used a model that no family of the price table matches (a new model, a fine-tune, a proxy's "
        "alias). Its tokens are counted but never priced by a guess, so spend is understated.",
        "1. Find the model's price on the Anthropic pricing page (or your cloud provider's).\n"
        "2. Add it to a price file (docs/spend.md) and regenerate the rules with `--price-file`, or upgrade "
        "anthropic-otel for a newer shipped table; reload Prometheus. The application needs no redeploy.",
    )


def _unpriced_cases(cfg: Config, rules: Rules) -> list[Case]:
    window = round(duration_seconds(cfg.unpriced_window) / 60)
    minutes = window + round(duration_seconds(cfg.unpriced_for) / 60) + 10
    return [
        Case(
            "tokens of a model the price table does not know are reported, not priced",
            [
                _series(f"0+100x{minutes}", c.TOKEN_INPUT, model=UNPRICED_MODEL),
                _series(f"0+{_per_minute(cfg, 0.5, 'output')}x{minutes}", c.TOKEN_OUTPUT),
            ],
            [
                (
                    f"{minutes}m",
                    [Expect(rules.rule("AnthropicUnpricedTokens"), 100 * window, {MODEL: UNPRICED_MODEL})],
                    ["AnthropicSpendBudgetBurn", "AnthropicSpendSpike"],
                )
            ],
        )
    ]


UNPRICED = Alert("AnthropicUnpricedTokens", SPEND_GROUP, _unpriced_rules, _unpriced_runbook, _unpriced_cases)

ALERTS = (BUDGET_BURN, SPIKE, UNPRICED)
