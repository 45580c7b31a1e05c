"""SLO alerts: multi-window, multi-burn-rate alerts on the availability SLO (server-side failures) and on the
two latency SLOs (call duration, time to first chunk), over the recorded ratios of `recording.py`."""

from __future__ import annotations

from collections.abc import Callable

from ... import _catalog as c
from ..burn import both_windows_above, paging_windows
from ..config import Config, duration_seconds
from ..promql import number
from ..recording import server_failures_ratio, slow_calls_ratio, slow_first_chunk_ratio
from ..templating import derived
from .cases import Case, Expect, above, call, cancelled_call, histogram, settle_minutes, split
from .common import SLO_BURN_GROUP, TRACES, VALUE_PCT, pct, who
from .model import Alert, Rule, Rules, Runbook

# --- AnthropicErrorBudgetBurn -----------------------------------------------------------------------------


def _availability_rules(cfg: Config) -> list[Rule]:
    budget = cfg.error_budget
    days = duration_seconds(cfg.slo_period) / 86400
    # The value is the long window's failure ratio; the burn rate and the days the budget lasts are derived
    # from it, so the text states what was measured, not the threshold.
    burn = derived(None, budget, "%.3g")
    lasts = derived(days * budget, None, "%.3g")
    return [
        Rule(
            expr=both_windows_above(server_failures_ratio, w, budget),
            for_=w.for_,
            severity=w.severity,
            summary=f"Claude API calls from {who(cfg)} are burning the {pct(cfg.slo)} availability SLO's "
            f"error budget at {burn}x the sustainable rate",
            description=(
                f"{VALUE_PCT} of Claude API calls from {who(cfg)} failed server-side (5xx, overloaded, "
                f"timeouts, connection errors, errors mid-stream) over the last {w.long}: {burn}x the budget of "
                f"{pct(budget)} of calls (this alert: above {number(w.factor)}x over {w.long} and {w.short}). "
                f"At this rate a {cfg.slo_period} budget lasts {lasts} days."
            ),
            keeps=cfg.group_by,
            static_labels=(("long", w.long), ("short", w.short)),
            variant=f"{w.long}/{w.short}",
        )
        for w in cfg.burn_windows
    ]


def _availability_runbook(cfg: Config) -> Runbook:
    windows = ", ".join(f"{w.long}/{w.short} above {w.factor:g}x ({w.severity})" for w in cfg.burn_windows)
    return Runbook(
        f"Server-side failures are spending the {pct(cfg.slo)} availability SLO's error budget "
        f"({pct(cfg.error_budget)} of calls over {cfg.slo_period}) too fast. Server-side: 5xx and 529 responses, "
        "`overloaded_error`, `api_error`, `timeout_error`, client timeouts and connection errors, and streams that "
        "failed after HTTP 200; only calls that finally failed count (a call the SDK recovered by retrying does "
        f"not). Multi-window, multi-burn-rate: {windows}. The short window makes the alert clear soon after "
        "recovery. `critical` pages, `warning` is a ticket.",
        "1. Check [status.anthropic.com](https://status.anthropic.com) and the provider (Bedrock/Vertex) "
        "status pages.\n"
        "2. On the *Errors & retries* dashboard, see which `error.type` dominates: `overloaded_error` (platform "
        "capacity: back off, shift load to another model if you can), `api_error`/5xx (Anthropic-side "
        "incident), `connection_error`/`client_timeout_error` (your network, proxy or a client timeout set "
        "too low: compare with latency).\n"
        "3. Errors after HTTP 200 are mid-stream failures: the stream broke after output began.\n"
        "4. Raise `max_retries` only if failures are brief and sparse; retries add load during overload.\n\n" + TRACES,
    )


def _window_ratio(window: str, bad_minutes: float, minutes: float, ratio: float) -> float:
    """The failure ratio a window ending at the last sample sees when the last `bad_minutes` of `minutes` of
    traffic failed at `ratio` and the rest did not (the window cannot reach before the first sample)."""
    span = min(duration_seconds(window) / 60, minutes)
    return ratio * min(span, bad_minutes) / span


def _minutes(cfg: Config) -> int:
    """3 hours of traffic, or longer when a pair's `for` needs it to be firing by the end (the ratios are
    constant from the first minute, so every window's condition holds from then on)."""
    return max(settle_minutes(w.for_, at_least=180) for w in cfg.burn_windows)


def _availability_cases(cfg: Config, rules: Rules) -> list[Case]:
    minutes = _minutes(cfg)
    # 3 hours of traffic; counters start at 0 so that every window's rate is exact (no extrapolation), and the
    # failure ratios are derived from the burn thresholds so the cases hold for any SLO and windows.
    burn = [rules.rule("AnthropicErrorBudgetBurn", f"{w.long}/{w.short}") for w in cfg.burn_windows]
    budget = cfg.error_budget
    limits = [w.factor * budget for w in cfg.burn_windows]
    fastest = max(limits)

    def burning(ratio: float) -> list[Expect]:
        pairs = zip(limits, burn, strict=True)
        return [Expect(rule, ratio) for limit, rule in pairs if ratio > limit]

    # Server-side failures of every kind: 529, a stream that failed after its 200, no response at all.
    everywhere = above(fastest)
    bad, total = split(everywhere)
    if bad < 3:
        bad, total = 10 * bad, 10 * total
    each = bad // 3
    retried = (bad - each) / total  # 529s and connection errors count as exhausted retries; mid-stream ones not
    exhausted = []
    if retried > cfg.exhausted_ratio and duration_seconds(cfg.exhausted_for) < 60 * minutes:
        exhausted = [Expect(rules.rule("AnthropicRetriesExhausted"), retried)]
    out = [
        Case(
            f"{pct(everywhere)} server-side failures (529, mid-stream overload, connection errors) burn every window",
            [
                call(f"0+{total - bad}x{minutes}"),
                call(f"0+{each}x{minutes}", outcome="failed", status="529", error_type="overloaded_error"),
                call(
                    f"0+{each}x{minutes}", outcome="failed", status="200", error_type="overloaded_error", stream="true"
                ),
                call(f"0+{bad - 2 * each}x{minutes}", outcome="failed", status="", error_type="connection_error"),
                # The application cancelling as many calls again changes nothing: not failures, not in the ratio.
                cancelled_call(f"0+{total}x{minutes}"),
            ],
            [(f"{minutes}m", [*burning(everywhere), *exhausted], [])],
        )
    ]
    # Between two burn thresholds: 1.5x a slower window's threshold fires it (and the slower ones), not faster.
    for limit in limits:
        r = float(f"{1.5 * limit:.3g}")
        if limit == fastest or r > fastest or any(0.8 < r / other < 1.25 for other in limits):
            continue
        bad, total = split(r)
        out.append(
            Case(
                f"{pct(r)} of calls failing with 500 api_error fires only the windows whose threshold it exceeds",
                [
                    call(f"0+{total - bad}x{minutes}"),
                    call(f"0+{bad}x{minutes}", outcome="failed", status="500", error_type="api_error"),
                ],
                [(f"{minutes}m", burning(r), [])],
            )
        )
    out.append(
        Case(
            "the application cancels most calls (its own timeouts): no error budget burns",
            [
                call(f"0+10x{minutes}"),
                cancelled_call(f"0+90x{minutes}"),
                cancelled_call(f"0+90x{minutes}", stream="true"),
            ],
            [(f"{minutes}m", [], ["AnthropicErrorBudgetBurn", "AnthropicRetriesExhausted"])],
        )
    )
    # A spike as long as the fastest pair's short window, at twice its threshold: the short window alone would
    # page, the long one disagrees. Only where the settings keep every pair silent with a margin.
    quick = next(w for w, limit in zip(cfg.burn_windows, limits, strict=True) if limit == fastest)
    spike_minutes = max(1, round(duration_seconds(quick.short) / 60))
    spike = above(fastest)
    # Before the spike every ratio is 0, so a pair whose `for` outlasts the spike cannot be firing yet.
    quiet = all(
        duration_seconds(w.for_) > 60 * spike_minutes
        or min(
            _window_ratio(w.long, spike_minutes, minutes, spike), _window_ratio(w.short, spike_minutes, minutes, spike)
        )
        < limit / 1.2
        for w, limit in zip(cfg.burn_windows, limits, strict=True)
    )
    if quiet and spike_minutes < minutes:
        bad, total = split(spike)
        out.append(
            Case(
                f"a {spike_minutes}-minute spike of 529s does not page: the long window disagrees",
                [
                    call(f"0+{total - bad}x{minutes}"),
                    call(
                        f"0+0x{minutes - spike_minutes} {bad}+{bad}x{spike_minutes - 1}",
                        outcome="failed",
                        status="529",
                        error_type="overloaded_error",
                    ),
                ],
                [(f"{minutes}m", [], ["AnthropicErrorBudgetBurn"])],
            )
        )
    return out


AVAILABILITY = Alert(
    "AnthropicErrorBudgetBurn", SLO_BURN_GROUP, _availability_rules, _availability_runbook, _availability_cases
)


# --- AnthropicLatencyBudgetBurn and AnthropicTimeToFirstChunkBudgetBurn ------------------------------------


def _latency_rules(
    cfg: Config, record: Callable[[str], str], objective: float, threshold_s: float, subject: str, verb: str
) -> list[Rule]:
    budget = 1 - objective
    return [
        Rule(
            expr=both_windows_above(record, w, budget),
            for_=w.for_,
            severity=cfg.latency_severity,
            summary=f"{subject[0].upper()}{subject[1:]} from {who(cfg)} are too often slower than "
            f"{number(threshold_s)}s",
            description=(
                f"{VALUE_PCT} of {subject} from {who(cfg)} {verb} {number(threshold_s)}s over the last "
                f"{w.long} (and the last {w.short} is above {number(w.factor)}x too). The objective allows "
                f"{pct(budget)}: its error budget burns at {derived(None, budget, '%.3g')}x the sustainable rate."
            ),
            keeps=cfg.group_by,
            static_labels=(("long", w.long), ("short", w.short)),
            variant=f"{w.long}/{w.short}",
        )
        for w in paging_windows(cfg)
    ]


def _duration_rules(cfg: Config) -> list[Rule]:
    return _latency_rules(
        cfg,
        slow_calls_ratio,
        cfg.latency_objective,
        cfg.latency_threshold,
        "successful Claude API calls",
        "took longer than",
    )


def _duration_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"More than the allowed {pct(1 - cfg.latency_objective)} of successful calls took longer than "
        f"{cfg.latency_threshold:g}s, fast enough to spend the latency budget early. Call duration includes "
        "every attempt, the backoff between them and whole streams, so retries and long outputs show up here.",
        "1. Compare *Latency* with *Time spent in backoff* and *Attempts per call*: retries (429/529) are the "
        "usual cause.\n"
        "2. Check output size (*Tokens / s*, max_tokens): longer answers take longer.\n"
        "3. Check status pages for degraded performance.",
    )


def _latency_cases(cfg: Config, rules: Rules) -> list[Case]:
    """Proves both latency alerts at once: their SLIs read different histograms. The slow shares exceed the
    fastest paging threshold of each objective."""
    minutes = _minutes(cfg)
    fastest = max(w.factor for w in paging_windows(cfg))
    slow = above(fastest * (1 - cfg.latency_objective))
    slow_first = above(fastest * (1 - cfg.ttft_objective))
    slow_calls, calls_total = split(slow)
    slow_chunks, chunks_total = split(slow_first)
    firing: list[Expect] = []
    for w in paging_windows(cfg):
        variant = f"{w.long}/{w.short}"
        firing.append(Expect(rules.rule("AnthropicLatencyBudgetBurn", variant), slow))
        firing.append(Expect(rules.rule("AnthropicTimeToFirstChunkBudgetBurn", variant), slow_first))
    return [
        Case(
            f"{pct(slow)} of calls over the latency threshold and {pct(slow_first)} of first chunks over the TTFT "
            "threshold",
            [
                *histogram(
                    c.OPERATION_DURATION,
                    cfg.latency_threshold,
                    f"0+{calls_total - slow_calls}x{minutes}",
                    f"0+{calls_total}x{minutes}",
                ),
                # Cancelled calls, all cut short under the threshold: no fast successes, the ratio is unchanged.
                *histogram(
                    c.OPERATION_DURATION,
                    cfg.latency_threshold,
                    f"0+{calls_total}x{minutes}",
                    f"0+{calls_total}x{minutes}",
                    error_type="cancelled",
                ),
                *histogram(
                    c.TIME_TO_FIRST_CHUNK,
                    cfg.ttft_threshold,
                    f"0+{chunks_total - slow_chunks}x{minutes}",
                    f"0+{chunks_total}x{minutes}",
                ),
            ],
            [(f"{minutes}m", firing, [])],
        )
    ]


LATENCY = Alert("AnthropicLatencyBudgetBurn", SLO_BURN_GROUP, _duration_rules, _duration_runbook, _latency_cases)


def _first_chunk_rules(cfg: Config) -> list[Rule]:
    return _latency_rules(
        cfg,
        slow_first_chunk_ratio,
        cfg.ttft_objective,
        cfg.ttft_threshold,
        "streamed Claude API calls",
        "waited for their first chunk longer than",
    )


def _first_chunk_runbook(cfg: Config) -> Runbook:
    return Runbook(
        f"More than the allowed {pct(1 - cfg.ttft_objective)} of streamed calls waited longer than "
        f"{cfg.ttft_threshold:g}s for their first content chunk: users see nothing happening.",
        "1. Check retries before the stream started (429/529 in *Attempts by HTTP status*).\n"
        "2. Large prompts raise time to first token: check input tokens and prompt-cache reads.\n"
        "3. Check status pages for degraded performance.",
    )


# Its case is AnthropicLatencyBudgetBurn's.
TIME_TO_FIRST_CHUNK = Alert(
    "AnthropicTimeToFirstChunkBudgetBurn", SLO_BURN_GROUP, _first_chunk_rules, _first_chunk_runbook
)

ALERTS = (AVAILABILITY, LATENCY, TIME_TO_FIRST_CHUNK)
