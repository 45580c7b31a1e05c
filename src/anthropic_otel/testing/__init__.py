"""A fault-injecting, Anthropic-API-compatible HTTP server for tests and demos (stdlib only).

Point the real `anthropic` SDK at it and choose, per HTTP attempt, what the "API" does::

    import anthropic
    from anthropic_otel.testing import Simulator

    with Simulator("rate_limit:retry_after_ms=1,overloaded:retry_after_ms=1,ok") as sim:
        client = anthropic.Anthropic(base_url=sim.base_url, api_key="sk-ant-test", max_retries=2)
        message = client.messages.create(
            model="claude-sonnet-4-6", max_tokens=64, messages=[{"role": "user", "content": "Hello"}]
        )
        assert message.stop_reason == "end_turn"
        assert [r.fault for r in sim.requests] == ["rate_limit", "overloaded", "ok"]

        # One request can pick its own scenario, so parallel tests do not interfere:
        client.messages.create(..., extra_headers={"x-sim-scenario": "billing:status=403"})

With pytest, the `anthropic_simulator` fixture yields a started `Simulator`. From a shell:
`anthropic-otel simulate --scenario "mix:ok=90:overloaded=10"`.
"""

from ._responses import RateLimits
from ._scenario import FAULTS, Scenario, ScenarioError
from ._server import ReceivedRequest, Simulator

__all__ = ["FAULTS", "RateLimits", "ReceivedRequest", "Scenario", "ScenarioError", "Simulator"]
