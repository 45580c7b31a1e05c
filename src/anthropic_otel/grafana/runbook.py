"""`grafana/runbook.md`: one section per alert (its heading is the `runbook_url` anchor), generated with the
same thresholds as the rules so the text never disagrees with what fired."""

from __future__ import annotations

from .config import Config
from .rules import Rules, pct

_TRACES = (
    "Find the request ids: the *Errors & retries* dashboard's Tempo panels, or your trace backend, query call "
    "spans with `anthropic.call.outcome = failed` and attempt spans with `error.type` set; each carries "
    "`anthropic.request.id`, which Anthropic support needs."
)


def _sections(cfg: Config) -> dict[str, tuple[str, str]]:
    """Alert name → (what it means, what to do)."""
    budget = cfg.error_budget
    windows = ", ".join(f"{w.long}/{w.short} above {w.factor:g}x ({w.severity})" for w in cfg.burn_windows)
    return {
        "AnthropicBillingError": (
            "A call failed with `error.type = billing_error` (HTTP 402, or 403 on APIs that use it). Despite the "
            "status, this is not a permission bug: the organization is out of prepaid credits, reached its "
            "spend limit (`error_code` `enforced_spend_limit_reached`), or is on hold (`organization_on_hold`). "
            "Every call will fail the same way; the SDK does not retry it. The alert fires on the first such "
            f"error and clears {cfg.any_error_window} after the last one.",
            "1. Read the `anthropic_error_code` label: it names the cause when the API gives one.\n"
            "2. Open the Claude Console → Billing (or the cloud provider's billing for Bedrock/Vertex): add "
            "credits, raise the spend limit, or resolve the hold.\n"
            "3. Do not restart or roll back the service: nothing in the code is wrong.\n"
            "4. Consider a fallback (queue work, degrade the feature) while billing is fixed.",
        ),
        "AnthropicAuthenticationError": (
            "Calls failed with `authentication_error` (HTTP 401): the API key is missing, malformed, revoked or was "
            "rotated. All calls from this service with that key will fail.",
            "1. Check that the service has `ANTHROPIC_API_KEY` (or its secret) set, with no stray whitespace.\n"
            "2. In the Console, check whether the key was revoked or rotated; deploy the new one.\n"
            "3. If only one deployment is affected, compare its secret with a healthy one.",
        ),
        "AnthropicPermissionError": (
            "Calls failed with `permission_error` (HTTP 403, not a billing error): the key works but its "
            "workspace or organization may not use this model or feature (e.g. a beta not enabled).",
            "1. Check the `gen_ai_request_model` label: a model the workspace cannot use, or a typo that happens "
            "to exist?\n"
            "2. Check the key's workspace limits and the beta headers the code sends.\n"
            "3. If access should be there, contact Anthropic support with a request id.\n\n" + _TRACES,
        ),
        "AnthropicErrorBudgetBurn": (
            f"Server-side failures are spending the {pct(cfg.slo)} availability SLO's error budget ({pct(budget)} "
            f"of calls over {cfg.slo_period}) too fast. Server-side: 5xx and 529 responses, `overloaded_error`, "
            "`api_error`, `timeout_error`, client timeouts and connection errors, and streams that failed after "
            "HTTP 200; only calls that finally failed count (a call the SDK recovered by retrying does not). "
            f"Multi-window, multi-burn-rate: {windows}. The short window makes the alert clear soon after "
            "recovery. `critical` pages, `warning` is a ticket.",
            "1. Check [status.anthropic.com](https://status.anthropic.com) and the provider (Bedrock/Vertex) "
            "status pages.\n"
            "2. On the *Errors & retries* dashboard, see which `error.type` dominates: `overloaded_error` (platform "
            "capacity: back off, shift load to another model if you can), `api_error`/5xx (Anthropic-side "
            "incident), `connection_error`/`client_timeout_error` (your network, proxy or a client timeout set "
            "too low: compare with latency).\n"
            "3. Errors after HTTP 200 are mid-stream failures: the stream broke after output began.\n"
            "4. Raise `max_retries` only if failures are brief and sparse; retries add load during overload.\n\n"
            + _TRACES,
        ),
        "AnthropicLatencyBudgetBurn": (
            f"More than the allowed {pct(1 - cfg.latency_objective)} of successful calls took longer than "
            f"{cfg.latency_threshold:g}s, fast enough to spend the latency budget early. Call duration includes "
            "every attempt, the backoff between them and whole streams, so retries and long outputs show up here.",
            "1. Compare *Latency* with *Time spent in backoff* and *Attempts per call*: retries (429/529) are the "
            "usual cause.\n"
            "2. Check output size (*Tokens / s*, max_tokens): longer answers take longer.\n"
            "3. Check status pages for degraded performance.",
        ),
        "AnthropicTimeToFirstChunkBudgetBurn": (
            f"More than the allowed {pct(1 - cfg.ttft_objective)} of streamed calls waited longer than "
            f"{cfg.ttft_threshold:g}s for their first content chunk: users see nothing happening.",
            "1. Check retries before the stream started (429/529 in *Attempts by HTTP status*).\n"
            "2. Large prompts raise time to first token: check input tokens and prompt-cache reads.\n"
            "3. Check status pages for degraded performance.",
        ),
        "AnthropicOverloaded": (
            f"More than {pct(cfg.overload_ratio)} of HTTP attempts got 529 `overloaded_error` for "
            f"{cfg.overload_for}: the platform is short of capacity (not your rate limit). The SDK retries these, "
            "so calls get slower first and fail only when retries run out.",
            "1. Check status pages.\n"
            "2. Reduce concurrency or queue non-urgent work; use longer backoff than for other 5xx.\n"
            "3. If the product allows, fall back to another model while overload lasts.",
        ),
        "AnthropicRateLimited": (
            f"More than {pct(cfg.rate_limited_ratio)} of HTTP attempts got 429 `rate_limit_error` for "
            f"{cfg.rate_limited_for}: this service exceeds its organization's requests or tokens per minute for "
            "the model. The SDK honours `retry-after`, so calls slow down.",
            "1. *Rate-limit headroom* shows which kind (requests, input or output tokens) ran out.\n"
            "2. Smooth bursts (client-side rate limiting, queues), use prompt caching to cut input tokens, or "
            "the Batch API for offline work.\n"
            "3. If the traffic is legitimate, ask for a higher usage tier.",
        ),
        "AnthropicRateLimitHeadroomLow": (
            f"The last `anthropic-ratelimit-<kind>-remaining` header was below {pct(cfg.headroom_ratio)} of its "
            f"`-limit` for {cfg.headroom_for} while calls were being made: 429s are close.",
            "1. See which model and kind (`anthropic_ratelimit_kind`) is short.\n"
            "2. Slow non-urgent producers now, before the 429s; see *AnthropicRateLimited* for lasting fixes.",
        ),
        "AnthropicClientErrorSpike": (
            f"More than {pct(cfg.client_error_ratio)} of calls failed with terminal client errors: 400 "
            "`invalid_request_error`, 404 `not_found_error` (often a wrong or retired model id), 413 "
            "`request_too_large` (sometimes a non-JSON body from the edge, then `error.type` is `413`) or 422. "
            "These are never retried and almost always follow a deploy or a config change.",
            "1. Check the latest deploy or config change and roll back if it matches.\n"
            "2. Group by `error_type` and model on the *Errors & retries* dashboard; the error message on the "
            "span (with content capture off, the status and type) tells which parameter.\n"
            "3. For 413: shrink the payload (chunk documents, trim history, use the Files API); do not retry.\n\n"
            + _TRACES,
        ),
        "AnthropicRetriesExhausted": (
            f"More than {pct(cfg.exhausted_ratio)} of calls failed with a retryable error (429, 408, 409, 5xx, "
            "529, timeouts, connection errors) after the SDK's last retry: retries are no longer hiding the "
            "problem from users.",
            "1. The dominant `error.type` says which runbook applies: rate limits (AnthropicRateLimited), "
            "overload (AnthropicOverloaded), server errors (AnthropicErrorBudgetBurn).\n"
            "2. Timeouts: compare the client timeout with p99 latency.\n\n" + _TRACES,
        ),
        "AnthropicHighTruncation": (
            f"More than {pct(cfg.truncation_ratio)} of messages from a model stopped at `max_tokens` or "
            f"`model_context_window_exceeded` over {cfg.truncation_window}: answers are cut off mid-way, which the "
            "API does not report as an error.",
            "1. Check recent prompt or `max_tokens` changes for that model.\n"
            "2. Raise `max_tokens`, ask for shorter output, or continue the answer in a follow-up call.\n"
            "3. For context-window stops, trim or summarise the conversation history.",
        ),
    }


def render(cfg: Config, rules: Rules) -> str:
    sections = _sections(cfg)
    names = list(dict.fromkeys(a.alert for a in rules.alerts()))
    missing = [n for n in names if n not in sections]
    if missing:
        raise ValueError(f"runbook sections missing for {missing}")
    severities: dict[str, list[str]] = {}
    for a in rules.alerts():
        severities.setdefault(a.alert, [])
        if a.severity not in severities[a.alert]:
            severities[a.alert].append(a.severity)
    lines = [
        "# anthropic-otel alert runbook",
        "",
        "<!-- Generated by `anthropic-otel grafana generate`; edit src/anthropic_otel/grafana/runbook.py. -->",
        "",
        "Each alert's `runbook_url` points at its section. `critical` alerts page; `warning` alerts open a "
        "ticket. Labels: `job` (the service), `gen_ai_provider_name` (anthropic, aws.bedrock, gcp.vertex_ai), "
        "`gen_ai_request_model`, and the error's own labels.",
        "",
    ]
    for name in names:
        meaning, action = sections[name]
        lines += [
            f"## {name}",
            "",
            f"Severity: {', '.join(severities[name])}.",
            "",
            f"**What it means.** {meaning}",
            "",
            "**What to do.**",
            "",
            action,
            "",
        ]
    return "\n".join(lines)
