"""`classify(exc)`: the taxonomy our telemetry uses, for the application's own retry and alerting code."""

from __future__ import annotations

from dataclasses import dataclass

from ._errors import RETRYABLE_ERROR_TYPES, classify_exception

_HINTS: dict[str, str] = {
    "billing_error": "Billing, not permissions: credits exhausted, spend limit reached or organization on hold "
    "(see error_code). Fix it in the Console; retrying will not help.",
    "authentication_error": "The API key is missing, malformed or revoked: check the key the process really "
    "uses (environment, secret store) and its workspace.",
    "permission_error": "The key may not use this model or feature (workspace access, tier, beta header).",
    "not_found_error": "Unknown model id or endpoint: use the exact, current model string.",
    "invalid_request_error": "The request is malformed (fields, message roles, max_tokens, tool schema): read the "
    "message and fix the request; do not retry it unchanged.",
    "request_too_large": "The request is over the size limit: send less (split documents, Files API, summarise).",
    "413": "The request is over the size limit (rejected at the edge): send less.",
    "rate_limit_error": "Rate limited: back off honouring retry-after, smooth bursts, or ask for a higher tier.",
    "overloaded_error": "Anthropic is overloaded (529): retry with longer backoff, or fall back to another model.",
    "api_error": "A server error on Anthropic's side: retry with backoff; check the status page if it persists.",
    "timeout_error": "The API timed out: retry, or stream long generations.",
    "client_timeout_error": "Our client gave up waiting: retry, raise the timeout, or stream long generations.",
    "connection_error": "No response (connection refused, reset or dropped): retry; check proxies, DNS, egress.",
}
_CODE_HINTS: dict[str, str] = {
    "enforced_spend_limit_reached": "The workspace or organization spend limit is reached: raise it in the Console.",
    "organization_on_hold": "The organization is on hold: contact Anthropic support with the request id.",
}
_DEFAULT_HINT = "Unclassified: log the request id and contact Anthropic support if it persists."


@dataclass(frozen=True)
class Classification:
    """What an exception raised by the `anthropic` SDK means, in the telemetry's terms."""

    error_type: str
    """`error.type`: the body's `error.type`, else `client_timeout_error`, `connection_error`, the HTTP status, or
    the exception's qualified class name."""
    error_code: str | None
    """The body's `error.details.error_code`, e.g. `enforced_spend_limit_reached`."""
    status: int | None
    """The HTTP status (200 for an error event in a stream), `None` when there was no response."""
    retryable: bool
    """Whether retrying the same request can succeed: 408, 409, 429, 5xx, connection errors, timeouts, and
    server-side errors that interrupted a stream. Terminal: 400, 401, 402, 403, 404, 413, 422."""
    request_id: str | None
    """The `request-id` Anthropic support asks for."""
    hint: str
    """One line on what to do."""


def classify(exc: BaseException) -> Classification:
    """Classify an exception the `anthropic` SDK raised, by status and body (never by exception class).

    >>> try:
    ...     client.messages.create(...)
    ... except anthropic.APIError as exc:
    ...     info = classify(exc)
    ...     if info.error_type == "billing_error":
    ...         page_the_finance_on_call(info.error_code, info.request_id)
    """
    info = classify_exception(exc)
    request_id = getattr(exc, "request_id", None)
    if not isinstance(request_id, str):
        headers = getattr(getattr(exc, "response", None), "headers", None)
        request_id = (headers.get("request-id") or headers.get("x-amzn-requestid")) if headers is not None else None
    retryable = info.retryable or (info.status == 200 and info.error_type in RETRYABLE_ERROR_TYPES)
    hint = (info.error_code and _CODE_HINTS.get(info.error_code)) or _HINTS.get(info.error_type, _DEFAULT_HINT)
    return Classification(info.error_type, info.error_code, info.status, retryable, request_id, hint)
