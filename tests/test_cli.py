"""`anthropic-otel`: unknown commands and bad arguments give one clear line and exit 2; `--version`; the demo uses
or refuses an explicitly requested port, rejects an unknown scenario cleanly, and says which extra it needs."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from anthropic_otel import __main__ as cli
from anthropic_otel import demo
from anthropic_otel._version import __version__


def _run_cli(
    *args: str, env: dict[str, str] | None = None, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m anthropic_otel ARGS` (or `code`) in a fresh interpreter."""
    command = [sys.executable, "-c", code] if code is not None else [sys.executable, "-m", "anthropic_otel"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


@contextlib.contextmanager
def _listening(port: int = 0) -> Iterator[int]:
    """A socket listening on 127.0.0.1:`port` (a free one for 0): that port is busy meanwhile."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_unknown_command_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bogus"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "anthropic-otel: unknown command 'bogus' (commands: demo, simulate, grafana; see 'anthropic-otel --help')"
    ]


def test_unknown_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--frobnicate"]) == 2
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and "unknown option '--frobnicate'" in err


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([flag]) == 0
    assert capsys.readouterr().out == f"anthropic-otel {__version__}\n"


def test_help_and_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: anthropic-otel") and "demo" in out and err == ""
    assert cli.main([]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("usage: anthropic-otel")


def test_the_console_entry_point_behaves_the_same() -> None:
    done = _run_cli("bogus")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "anthropic-otel: unknown command 'bogus' (commands: demo, simulate, grafana; see 'anthropic-otel --help')"
    ]
    done = _run_cli("--version")
    assert (done.returncode, done.stdout) == (0, f"anthropic-otel {__version__}\n")


def test_demo_refuses_a_busy_port_it_was_asked_for(capsys: pytest.CaptureFixture[str]) -> None:
    with _listening() as port:
        assert demo.main(["--port", str(port), "--duration", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"anthropic-otel demo: error: cannot serve metrics on 127.0.0.1:{port}: ")
    assert "choose another --port" in line


def test_demo_rejects_an_unknown_scenario_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--scenario", "nosuch", "--port", "0"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("anthropic-otel demo: error: --scenario: ") and "nosuch" in line


def test_demo_rejects_a_port_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        demo.main(["--port", "70000"])
    assert exited.value.code == 2
    assert "--port 70000 is not a port" in capsys.readouterr().err


# A fresh interpreter in which the demo extra's packages cannot be imported, as after a plain
# `pip install anthropic-otel`.
_WITHOUT_EXTRAS = textwrap.dedent(
    """
    import sys

    class Missing:
        blocked = ("anthropic", "opentelemetry.sdk", "opentelemetry.exporter", "prometheus_client")

        def find_spec(self, name, path=None, target=None):
            if any(name == b or name.startswith(b + ".") for b in self.blocked):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Missing())
    from anthropic_otel.__main__ import main

    raise SystemExit(main(sys.argv[1:]))
    """
)


def test_demo_without_its_extra_says_what_to_install() -> None:
    done = _run_cli("demo", code=_WITHOUT_EXTRAS)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert "pip install 'anthropic-otel[demo]'" in line
    assert "anthropic" in line and "opentelemetry-sdk" in line


def test_simulate_needs_no_extra() -> None:
    done = _run_cli("simulate", "--list-faults", code=_WITHOUT_EXTRAS)
    assert done.returncode == 0, done.stderr
    assert "overloaded" in done.stdout


def test_summary_says_no_http_response_for_an_attempt_without_one() -> None:
    reader = InMemoryMetricReader()
    spans = [
        SimpleNamespace(
            attributes={"error.type": "connection_error", "url.path": "/v1/messages", "anthropic.request.id": "req_1"}
        ),
        SimpleNamespace(
            attributes={
                "error.type": "overloaded_error",
                "url.path": "/v1/messages",
                "anthropic.request.id": "req_2",
                "http.response.status_code": 529,
            }
        ),
    ]
    text = demo.summary(reader, spans)
    assert "req_1  connection_error (no HTTP response)" in text
    assert "req_2  overloaded_error (HTTP 529)" in text
    assert "HTTP None" not in text


def test_demo_runs_and_falls_back_from_the_usual_port_when_it_is_taken(tmp_path: Path) -> None:
    # The usual port busy (by us, or by something else already): the demo says so and serves on another.
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):
            stack.enter_context(_listening(demo.DEFAULT_PORT))
        # No Prometheus server on PATH: the demo runs without alerts (quicker), and says so.
        env = {"PATH": str(Path(sys.executable).parent)}
        done = _run_cli("demo", "--duration", "1", env=env)
    assert done.returncode == 0, done.stderr
    assert f"({demo.DEFAULT_PORT} is in use)" in done.stdout
    assert "What the telemetry shows" in done.stdout and "Calls: " in done.stdout
