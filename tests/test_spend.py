"""Spend: cache writes recorded by lifetime, the price table (shipped, overridden, unpriced models) and the
simulator's spend limit, with the real SDK against the simulator."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import pytest

from anthropic_otel import pricing
from anthropic_otel.testing import Simulator, SpendLimit
from support import API_KEY, MODEL, Telemetry, messages


def _tokens(telemetry: Telemetry) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for attrs, point in telemetry.points("gen_ai.client.token.usage"):
        key = (
            str(attrs["gen_ai.token.type"]),
            str(attrs["anthropic.token.cache"]),
            str(attrs.get("anthropic.token.cache_ttl", "")),
        )
        out[key] = out.get(key, 0) + int(point.sum)
    return out


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_cache_writes_are_recorded_by_lifetime(make_client: Any, telemetry: Telemetry, stream: bool) -> None:
    client = make_client("ok:cache_read=7:cache_creation=3:cache_creation_1h=5")
    if stream:
        with client.messages.stream(**messages()) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**messages())
    assert message.usage.cache_creation_input_tokens == 8
    tokens = _tokens(telemetry)
    assert tokens == {
        ("input", "none", ""): message.usage.input_tokens,
        ("input", "read", ""): 7,
        ("input", "creation", "5m"): 3,
        ("input", "creation", "1h"): 5,
        ("output", "none", ""): message.usage.output_tokens,
    }
    # Existing queries on `anthropic.token.cache="creation"` still see every cache write.
    assert sum(v for (_, cache, _), v in tokens.items() if cache == "creation") == 8


def test_cache_writes_without_a_breakdown_stay_unsplit(
    simulator: Simulator, telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """APIs (or older responses) without `usage.cache_creation`: one creation point with no lifetime."""
    from anthropic_otel.testing import _responses

    original = _responses.Reply.usage

    def without_breakdown(self: _responses.Reply, output_tokens: int) -> dict[str, Any]:
        usage = original(self, output_tokens)
        del usage["cache_creation"]
        return usage

    monkeypatch.setattr(_responses.Reply, "usage", without_breakdown)
    client = anthropic.Anthropic(
        api_key=API_KEY,
        base_url=simulator.base_url,
        default_headers={"x-sim-scenario": "ok:cache_creation=4"},
        **telemetry.client_options(False),
    )
    client.messages.create(**messages())
    tokens = _tokens(telemetry)
    assert tokens[("input", "creation", "")] == 4
    assert not any(ttl for (_, _, ttl) in tokens)


# --- the price table --------------------------------------------------------------------------------------


def test_shipped_table_has_its_source_and_prices_known_models() -> None:
    table = pricing.shipped()
    assert table.source.startswith("https://") and table.read
    assert table.batch_discount == 0.5
    sonnet = table.family_of("claude-sonnet-4-5-20250929")
    assert sonnet is not None and sonnet.family == "claude-sonnet-4-5"
    # Vertex and Bedrock spell the same model differently.
    assert table.family_of("claude-sonnet-4-5@20250929") is sonnet
    assert table.family_of("us.anthropic.claude-sonnet-4-5-20250929-v1:0") is sonnet
    # A family id that prefixes another never claims it.
    opus4 = table.family_of("claude-opus-4-20250514")
    assert opus4 is not None and opus4.family == "claude-opus-4"
    opus45 = table.family_of("claude-opus-4-5")
    assert opus45 is not None and opus45.family == "claude-opus-4-5"
    assert table.family_of(MODEL) is not None


def test_cost_by_category_cache_lifetime_and_long_context() -> None:
    table = pricing.shipped()
    usage = pricing.Usage(input=1000, output=100, cache_read=10_000, cache_write_5m=2000, cache_write_1h=500)
    expected = (1000 * 3 + 100 * 15 + 10_000 * 0.3 + 2000 * 3.75 + 500 * 6) / 1e6
    assert table.cost("claude-sonnet-4-5", usage) == pytest.approx(expected)
    # What the cached tokens would have cost uncached: every prompt token at the input rate.
    assert table.uncached_cost("claude-sonnet-4-5", usage) == pytest.approx((13_500 * 3 + 100 * 15) / 1e6)
    # Above 200K prompt tokens the whole request pays the long-context rates, output included.
    long = pricing.Usage(input=150_000, cache_read=60_000, output=1000)
    assert table.cost("claude-sonnet-4-5", long) == pytest.approx((150_000 * 6 + 60_000 * 0.6 + 1000 * 22.5) / 1e6)
    assert table.cost("claude-sonnet-4-6", long) == pytest.approx((150_000 * 3 + 60_000 * 0.3 + 1000 * 15) / 1e6)


def test_unknown_models_are_unpriced_not_guessed() -> None:
    table = pricing.shipped()
    assert table.family_of("claude-sonnet-9") is None
    assert table.cost("claude-sonnet-9", pricing.Usage(input=1000)) is None
    assert table.family_of("my-fine-tune") is None


def test_a_price_file_overrides_and_extends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rates = {"input": 1, "cache_write_5m": 2, "cache_write_1h": 3, "cache_read": 0.5, "output": 4}
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "read": "2030-01-01",
                "families": [
                    {"family": "claude-sonnet-4-5", **rates},
                    {"family": "claude-sonnet-9", **rates, "output": 8},
                ],
            }
        )
    )
    table = pricing.load(path)
    assert table.read == "2030-01-01"
    assert table.cost("claude-sonnet-4-5", pricing.Usage(input=1_000_000)) == pytest.approx(1.0)
    assert table.cost("claude-sonnet-9", pricing.Usage(output=1_000_000)) == pytest.approx(8.0)
    assert table.family_of("claude-haiku-4-5") is not None  # the shipped families are kept
    monkeypatch.setenv(pricing.ENV_PRICE_FILE, str(path))
    assert pricing.load().family_of("claude-sonnet-9") is not None
    path.write_text(json.dumps({"replace": True, "families": [{"family": "claude-x", **rates}]}))
    assert [f.family for f in pricing.load(path).families] == ["claude-x"]


@pytest.mark.parametrize(
    "bad",
    [
        {"families": [{"family": "claude-x", "input": 1}]},
        {
            "families": [
                {
                    "family": "claude-x",
                    "input": -1,
                    "cache_write_5m": 1,
                    "cache_write_1h": 1,
                    "cache_read": 1,
                    "output": 1,
                }
            ]
        },
        {"families": [{"family": "Claude X"}]},
        {"batch_discount": 1.5},
    ],
)
def test_a_bad_price_file_is_refused(tmp_path: Path, bad: dict[str, Any]) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(bad))
    with pytest.raises(ValueError):
        pricing.load(path)


# --- the simulator's spend limit --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"), [(402, None), (403, "enforced_spend_limit_reached")], ids=["402", "403-spend-limit"]
)
def test_spend_limit_turns_every_call_into_a_billing_error(telemetry: Telemetry, status: int, code: str | None) -> None:
    table = pricing.shipped()
    limit = SpendLimit(0.001, status, table)
    with Simulator("ok:cache_read=100", spend_limit=limit) as sim:
        client = anthropic.Anthropic(
            api_key=API_KEY, base_url=sim.base_url, max_retries=0, **telemetry.client_options(False)
        )
        served = 0
        with pytest.raises(anthropic.APIStatusError) as failed:
            for _ in range(200):
                client.messages.create(**messages(model="claude-sonnet-4-5"))
                served += 1
        assert 0 < served < 200
        assert limit.spent >= limit.usd and limit.first_error_at is not None
        assert failed.value.status_code == status
        body: Any = failed.value.body
        assert body["error"]["type"] == "billing_error"
        assert (body["error"].get("details") or {}).get("error_code") == code
        # Every later call fails the same way until someone raises the limit.
        with pytest.raises(anthropic.APIStatusError):
            client.messages.create(**messages(model="claude-sonnet-4-5"))
    assert telemetry.counter("anthropic.client.calls", error__type="billing_error") == 2
    assert telemetry.counter("anthropic.client.calls", anthropic__call__outcome="ok") == served


def test_spend_limit_ignores_unpriced_models() -> None:
    limit = SpendLimit(0.000001, 402, pricing.shipped())
    with Simulator(spend_limit=limit) as sim:
        client = anthropic.Anthropic(api_key=API_KEY, base_url=sim.base_url, max_retries=0)
        for _ in range(3):
            client.messages.create(**messages(model="claude-unknown-1"))
    assert limit.spent == 0 and limit.first_error_at is None


def test_spend_limit_is_validated() -> None:
    with pytest.raises(ValueError):
        SpendLimit(0)
    with pytest.raises(ValueError):
        SpendLimit(1, 500)
