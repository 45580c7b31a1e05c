"""Alerts on any single error no retry can fix: billing, authentication, permission. They fire on the first
occurrence and clear `any_error_window` after the last one."""

from __future__ import annotations

from .. import slis
from ..config import Config, duration_seconds
from ..promql import ERROR_CODE, MODEL, PROVIDER, STATUS
from .cases import MODEL_B, Case, Expect, call
from .common import ERRORS_GROUP, TRACES, VALUE_COUNT, any_new, labelled, who
from .model import Alert, Rule, Rules, Runbook


def _minutes(cfg: Config) -> int:
    """The window in minutes. The cases' error series appear at minute 5 or 10 and grow 1/min, so an increase
    over the window is exactly its length in minutes."""
    return round(duration_seconds(cfg.any_error_window) / 60)


# --- AnthropicBillingError --------------------------------------------------------------------------------


def _billing_rules(cfg: Config) -> list[Rule]:
    keeps = (*cfg.group_by, PROVIDER, STATUS, ERROR_CODE)
    return [
        Rule(
            expr=any_new(cfg, slis.BILLING, keeps),
            for_="0m",
            severity="critical",
            summary=f"Claude API billing error in {who(cfg)}: " + "{{ or $labels." + ERROR_CODE + ' "no error_code" }}',
            description=(
                f"{VALUE_COUNT} Claude API call(s) from {who(cfg)} to {labelled(PROVIDER)} failed with "
                f"billing_error (HTTP {labelled(STATUS)}, error_code "
                f'{{{{ or $labels.{ERROR_CODE} "absent" }}}}) in the last {cfg.any_error_window}. Credits, the '
                "spend limit or the organization's standing must be fixed in the Console; retrying will not help."
            ),
            keeps=keeps,
        )
    ]


def _billing_runbook(cfg: Config) -> Runbook:
    return Runbook(
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
    )


def _billing_cases(cfg: Config, rules: Rules) -> list[Case]:
    minutes = _minutes(cfg)
    billing = rules.rule("AnthropicBillingError")
    spend_limit = {STATUS: "403", ERROR_CODE: "enforced_spend_limit_reached"}
    return [
        Case(
            "the first billing error ever pages at once, names its error_code, and resolves after the window",
            [
                call(f"0+60x{minutes + 20}"),
                call(
                    f"_x10 1+0x{minutes + 10}",
                    outcome="failed",
                    status="403",
                    error_type="billing_error",
                    code="enforced_spend_limit_reached",
                ),
            ],
            [
                (
                    "10m",
                    [Expect(billing, 1, spend_limit)],
                    ["AnthropicPermissionError", "AnthropicAuthenticationError", "AnthropicClientErrorSpike"],
                ),
                (f"{10 + minutes - 1}m", [Expect(billing, 1, spend_limit)], []),
                (f"{10 + minutes + 1}m", [], ["AnthropicBillingError"]),
            ],
        ),
        Case(
            "continuing 402 billing errors without an error_code keep paging, with the count",
            [
                call(f"0+60x{minutes + 10}"),
                call(f"1+2x{minutes + 10}", outcome="failed", status="402", error_type="billing_error"),
            ],
            [(f"{minutes + 10}m", [Expect(billing, 2 * minutes, {STATUS: "402"})], [])],
        ),
    ]


BILLING = Alert("AnthropicBillingError", ERRORS_GROUP, _billing_rules, _billing_runbook, _billing_cases)


# --- AnthropicAuthenticationError -------------------------------------------------------------------------


def _authentication_rules(cfg: Config) -> list[Rule]:
    keeps = (*cfg.group_by, PROVIDER)
    return [
        Rule(
            expr=any_new(cfg, slis.AUTHENTICATION, keeps),
            for_="0m",
            severity="critical",
            summary=f"Claude API rejects the API key of {who(cfg)}",
            description=(
                f"{VALUE_COUNT} Claude API call(s) from {who(cfg)} to {labelled(PROVIDER)} failed with "
                f"authentication_error in the last {cfg.any_error_window}: the API key is missing, invalid, "
                "revoked or rotated."
            ),
            keeps=keeps,
        )
    ]


def _authentication_runbook(cfg: Config) -> Runbook:
    return Runbook(
        "Calls failed with `authentication_error` (HTTP 401): the API key is missing, malformed, revoked or was "
        "rotated. All calls from this service with that key will fail.",
        "1. Check that the service has `ANTHROPIC_API_KEY` (or its secret) set, with no stray whitespace.\n"
        "2. In the Console, check whether the key was revoked or rotated; deploy the new one.\n"
        "3. If only one deployment is affected, compare its secret with a healthy one.",
    )


def _authentication_cases(cfg: Config, rules: Rules) -> list[Case]:
    """Also proves AnthropicPermissionError: the two differ only by error.type, and neither is a billing error."""
    minutes = _minutes(cfg)
    return [
        Case(
            "authentication and permission errors alert; a permission_error is not a billing error",
            [
                call(f"0+60x{minutes + 5}"),
                call(f"_x5 1+1x{minutes}", outcome="failed", status="401", error_type="authentication_error"),
                call(
                    f"_x5 1+1x{minutes}", outcome="failed", status="403", error_type="permission_error", model=MODEL_B
                ),
            ],
            [
                (
                    f"{minutes + 5}m",
                    [
                        Expect(rules.rule("AnthropicAuthenticationError"), minutes),
                        Expect(rules.rule("AnthropicPermissionError"), minutes, {MODEL: MODEL_B}),
                    ],
                    ["AnthropicBillingError"],
                ),
            ],
        ),
    ]


AUTHENTICATION = Alert(
    "AnthropicAuthenticationError", ERRORS_GROUP, _authentication_rules, _authentication_runbook, _authentication_cases
)


# --- AnthropicPermissionError (its case is AnthropicAuthenticationError's) ---------------------------------


def _permission_rules(cfg: Config) -> list[Rule]:
    keeps = (*cfg.group_by, PROVIDER, MODEL)
    return [
        Rule(
            expr=any_new(cfg, slis.PERMISSION, keeps),
            for_="0m",
            severity="warning",
            summary=f"Claude API denies {who(cfg)} access to {labelled(MODEL)}",
            description=(
                f"{VALUE_COUNT} Claude API call(s) from {who(cfg)} to {labelled(MODEL)} on "
                f"{labelled(PROVIDER)} failed with permission_error in the last {cfg.any_error_window}: the key's "
                "workspace or organization is not allowed this model or feature."
            ),
            keeps=keeps,
        )
    ]


def _permission_runbook(cfg: Config) -> Runbook:
    return Runbook(
        "Calls failed with `permission_error` (HTTP 403, not a billing error): the key works but its "
        "workspace or organization may not use this model or feature (e.g. a beta not enabled).",
        "1. Check the `gen_ai_request_model` label: a model the workspace cannot use, or a typo that happens "
        "to exist?\n"
        "2. Check the key's workspace limits and the beta headers the code sends.\n"
        "3. If access should be there, contact Anthropic support with a request id.\n\n" + TRACES,
    )


PERMISSION = Alert("AnthropicPermissionError", ERRORS_GROUP, _permission_rules, _permission_runbook)

ALERTS = (BILLING, AUTHENTICATION, PERMISSION)
