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

To see what the instrumentation exports, `Recording()` builds OpenTelemetry SDK tracer and meter providers that keep
spans and metric points in memory (see its docstring); `OpenSpans` is its span processor that tracks spans not yet
ended. Both need `opentelemetry-sdk`, and are imported only when first used: the simulator itself needs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._responses import RateLimits
from ._scenario import FAULTS, Scenario, ScenarioError
from ._server import ReceivedRequest, Simulator
from ._spend import SpendLimit

if TYPE_CHECKING:
    from ._recording import Recording
    from ._spans import OpenSpans

__all__ = [
    "FAULTS",
    "OpenSpans",
    "RateLimits",
    "ReceivedRequest",
    "Recording",
    "Scenario",
    "ScenarioError",
    "Simulator",
    "SpendLimit",
]

# name -> module that defines it, imported on first access (PEP 562): they need opentelemetry-sdk.
_NEEDS_OTEL_SDK = {"OpenSpans": "._spans", "Recording": "._recording"}


def __getattr__(name: str) -> Any:
    if name in _NEEDS_OTEL_SDK:
        import importlib

        return getattr(importlib.import_module(_NEEDS_OTEL_SDK[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
