"""Zero-code: `opentelemetry-instrument python app.py` loads us through the `anthropic_otel` entry point, and
`OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=anthropic_otel` turns us off alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from anthropic_otel.testing import Simulator

APP = textwrap.dedent(
    """
    import sys, anthropic
    client = anthropic.Anthropic(api_key="sk-ant-x", base_url=sys.argv[1], max_retries=2)
    message = client.messages.create(
        model="claude-sonnet-5-5", max_tokens=16, messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-sim-scenario": "overloaded:retry_after_ms=1,ok"},
    )
    print("STOP_REASON", message.stop_reason)
    """
)


def _run(tmp_path: Path, base_url: str, **env: str) -> str:
    launcher = Path(sys.executable).parent / "opentelemetry-instrument"
    if not launcher.exists():
        pytest.fail(f"{launcher} is missing: opentelemetry-instrumentation is a dependency")
    app = tmp_path / "app.py"
    app.write_text(APP)
    environ = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "console",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_METRIC_EXPORT_INTERVAL": "60000",
        "ANTHROPIC_OPEN_TELEMETRY": "false",
        **env,
    }
    done = subprocess.run(
        [str(launcher), sys.executable, str(app), base_url],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "STOP_REASON end_turn" in done.stdout
    return done.stdout


def test_opentelemetry_instrument_loads_us(tmp_path: Path) -> None:
    with Simulator() as sim:
        out = _run(tmp_path, sim.base_url)
    assert '"name": "POST /v1/messages"' in out
    assert '"anthropic.call.outcome": "recovered"' in out
    assert '"error.type": "overloaded_error"' in out
    assert '"name": "anthropic.client.attempts"' in out


def test_disabled_by_name(tmp_path: Path) -> None:
    with Simulator() as sim:
        out = _run(tmp_path, sim.base_url, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="anthropic_otel")
    assert "POST /v1/messages" not in out
    assert "anthropic.client.attempts" not in out
