"""Lifetimes: the reduced CI variant of scripts/soak.py (3,000 calls, 1,000 abandoned streams, the same checks),
plus the SDK's own test of a dropped async stream, repeated with our instrumentation on.

The full run is `python scripts/soak.py` (100,000 calls and 10,000 streams by default): the same checks over more
calls, so that slower growth would show too.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from _helpers import HAS_NATIVE_TRACING, MODEL, PROMPT, harness, new_client

from anthropic_otel.testing import Simulator

_SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def _load_soak() -> Any:
    spec = importlib.util.spec_from_file_location("anthropic_otel_soak", _SOAK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


soak = _load_soak()


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k != "checkpoints"}


@pytest.mark.slow
def test_3000_calls_counted_once_with_flat_series_and_memory() -> None:
    result = soak.soak_calls(3000, "loopback")
    print(_summary(result))
    assert soak.problems(result, None, max_rss_growth_mb=16.0) == [], _summary(result)
    assert result["series_at_end"] <= 5 * 40, "series are bounded by models x outcomes, not by calls"


@pytest.mark.slow
def test_1000_abandoned_streams_all_end() -> None:
    result = soak.soak_streams(1000, "loopback")
    print(_summary(result))
    assert soak.problems(None, result, max_rss_growth_mb=16.0) == [], _summary(result)


NATIVE = [True, False] if HAS_NATIVE_TRACING else [False]


@pytest.mark.parametrize("reads", [0, 2], ids=["never read", "read in part"])
@pytest.mark.parametrize("native", NATIVE, ids=lambda v: "native" if v else "own")
def test_a_dropped_async_stream_ends_its_spans(native: bool, reads: int) -> None:
    """The SDK's tests/test_open_telemetry.py::TestCallSpans::test_async_dropped_stream, with us instrumenting:
    drop the stream, one gc.collect(), ten event-loop turns, and the call span (ours or the SDK's) has ended."""
    with Simulator() as sim, harness() as h:

        async def main() -> list[str]:
            client = new_client(sim.base_url, h, native=native, async_=True, max_retries=0)
            left: list[str] = []
            async with client:
                for _ in range(5):
                    stream = await client.messages.create(
                        model=MODEL, max_tokens=16, messages=[{"role": "user", "content": PROMPT}], stream=True
                    )
                    for _ in range(reads):
                        await stream.__anext__()
                    del stream
                    gc.collect()
                    for _ in range(10):
                        await asyncio.sleep(0)
                    left += sorted(h.open_spans.open.values())
            return left

        left_open = asyncio.run(main())
        assert left_open == [], "spans still open after the stream was dropped, collected and the loop turned"
        assert h.counter("anthropic.client.calls") == 5
