"""A pytest plugin for scripts/sdk_suite.sh, loaded in both runs of the SDK's test suite (plain and instrumented).

- Deselects the tests that `SDK_SUITE_EXCEPTIONS` (scripts/sdk_suite_exceptions.txt) lists under `[needs-service]`:
  they need a server that cannot run here (the Prism mock server built from the API spec).
- Points `TEST_API_BASE_URL` (where the SDK's tests expect Prism, default http://127.0.0.1:4010) at a stand-in on
  loopback that answers every request at once with HTTP 418 and the marker `SDK_SUITE_NO_PRISM`, so a test that
  needs Prism and is not listed fails fast and visibly, and never reaches whatever listens on port 4010.
- Writes every test's outcome (`SDK_SUITE_OUTCOMES`, a JSON file: node id -> outcome and the last line of the
  failure) from the controller, whatever the number of xdist workers.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

NO_PRISM = "SDK_SUITE_NO_PRISM"
_BODY = json.dumps(
    {"type": "error", "error": {"type": "not_found_error", "message": f"{NO_PRISM}: this test needs Prism"}}
).encode()


def read_exceptions(path: str | os.PathLike[str]) -> dict[str, list[tuple[str, str]]]:
    """{section: [(test, reason)]} from the exceptions file.

    A section starts with `[name] reason`; each following line is a pytest node id, optionally followed by
    `  # reason` (a reason of its own, which wins over the section's). A node id without `[params]` stands for all
    of its parametrizations.
    """
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    section_reason = ""
    for raw in Path(path).read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and "]" in line and "::" not in line:
            name, _, section_reason = line[1:].partition("]")
            current = sections.setdefault(name.strip(), [])
            section_reason = section_reason.strip()
            continue
        if current is None:
            raise ValueError(f"{path}: test listed before any [section]: {line}")
        test, _, reason = line.partition("  # ")
        current.append((test.strip(), reason.strip() or section_reason))
    return sections


def matches(nodeid: str, listed: set[str]) -> str | None:
    """The listed entry that covers `nodeid` (itself, or its function without parameters), if any."""
    if nodeid in listed:
        return nodeid
    base = nodeid.split("[", 1)[0]
    return base if base in listed else None


class _NoPrism(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(418)
        self.send_header("content-type", "application/json")
        self.send_header("x-should-retry", "false")
        self.send_header("content-length", str(len(_BODY)))
        self.end_headers()
        self.wfile.write(_BODY)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    if _is_worker(config) or os.environ.get("SDK_SUITE_NO_STAND_IN"):
        return
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoPrism)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    # xdist workers start after configure and inherit the environment.
    os.environ["TEST_API_BASE_URL"] = f"http://127.0.0.1:{server.server_address[1]}"
    config._sdk_suite_stand_in = server  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    path = os.environ.get("SDK_SUITE_EXCEPTIONS")
    if not path:
        return
    listed = {test for test, _ in read_exceptions(path).get("needs-service", [])}
    keep, drop = [], []
    for item in items:
        (drop if matches(item.nodeid, listed) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    out = os.environ.get("SDK_SUITE_OUTCOMES")
    if out and os.environ.get("PYTEST_XDIST_WORKER", "gw0") == "gw0":  # every worker collects the same tests
        Path(out + ".deselected").write_text("".join(f"{item.nodeid}\n" for item in drop), encoding="utf-8")


_RESULTS: dict[str, dict[str, str]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    entry = _RESULTS.setdefault(report.nodeid, {"outcome": "passed", "detail": ""})
    detail = ""
    if report.failed:
        text = report.longreprtext.strip().splitlines()
        detail = text[-1][:300] if text else ""
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    elif report.when == "call":
        outcome = report.outcome
    elif report.failed:
        outcome = "error" if report.when == "setup" else "passed+teardown-error"
        if report.when == "teardown" and entry["outcome"] != "passed":
            outcome = entry["outcome"] + "+teardown-error"
    elif report.skipped:
        outcome = "skipped"
    else:
        return
    entry["outcome"] = outcome
    if detail:
        entry["detail"] = detail


def pytest_sessionfinish(session: pytest.Session) -> None:
    out = os.environ.get("SDK_SUITE_OUTCOMES")
    if out and not _is_worker(session.config):
        Path(out).write_text(json.dumps(_RESULTS, indent=0, sort_keys=True), encoding="utf-8")
    server = getattr(session.config, "_sdk_suite_stand_in", None)
    if server is not None:
        server.shutdown()
