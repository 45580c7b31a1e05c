"""`anthropic_otel.classify`: the same taxonomy as the telemetry, for the application's retry and alert code."""

from __future__ import annotations

import anthropic
import pytest

from anthropic_otel import classify
from anthropic_otel.testing import Simulator
from support import API_KEY, messages

CASES = [
    # scenario, error_type, error_code, status, retryable
    ("billing", "billing_error", None, 402, False),
    (
        "billing:status=403:code=enforced_spend_limit_reached",
        "billing_error",
        "enforced_spend_limit_reached",
        403,
        False,
    ),
    ("permission", "permission_error", None, 403, False),
    ("auth", "authentication_error", None, 401, False),
    ("not_found", "not_found_error", None, 404, False),
    ("bad_request", "invalid_request_error", None, 400, False),
    ("too_large", "413", None, 413, False),
    ("rate_limit:retry_after_ms=1", "rate_limit_error", None, 429, True),
    ("overloaded:retry_after_ms=1", "overloaded_error", None, 529, True),
    ("server_error:retry_after_ms=1", "api_error", None, 500, True),
    ("drop", "connection_error", None, None, True),
    ("stream_error", "overloaded_error", None, 200, True),
]


@pytest.mark.parametrize(("scenario", "error_type", "code", "status", "retryable"), CASES, ids=[c[0] for c in CASES])
def test_classify(scenario: str, error_type: str, code: str | None, status: int | None, retryable: bool) -> None:
    with Simulator(scenario) as sim:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, max_retries=0)
        with pytest.raises(anthropic.APIError) as caught:
            for _ in client.messages.create(**messages(stream=True)):
                pass
        info = classify(caught.value)
        assert (info.error_type, info.error_code, info.status, info.retryable) == (error_type, code, status, retryable)
        if status is not None and status != 200:
            assert info.request_id is not None and info.request_id.startswith("req_sim_")
        assert info.hint


def test_classify_billing_hint_names_the_cause() -> None:
    with Simulator("billing:status=403:code=enforced_spend_limit_reached") as sim:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, max_retries=0)
        with pytest.raises(anthropic.PermissionDeniedError) as caught:
            client.messages.create(**messages())
    assert "spend limit" in classify(caught.value).hint


def test_classify_timeout_and_unknown() -> None:
    with Simulator("stall:delay=5") as sim:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, max_retries=0, timeout=0.2)
        with pytest.raises(anthropic.APITimeoutError) as caught:
            client.messages.create(**messages())
    assert classify(caught.value).error_type == "client_timeout_error"
    assert classify(caught.value).retryable is True
    other = classify(ValueError("not from the SDK"))
    assert (other.error_type, other.retryable, other.status) == ("builtins.ValueError", False, None)
