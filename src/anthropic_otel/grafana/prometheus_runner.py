"""Demo plumbing, not the generator: run a local Prometheus with the shipped rules and read which alerts fire.

`anthropic-otel demo` and the end-to-end test use it. Standard library only, so the demo can import it without
the generator's dependencies. Everything listens on
127.0.0.1 and every process started here is stopped when the context manager exits.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INSTALL_HINT = (
    "Prometheus is not on the PATH. Install it (Debian/Ubuntu: `apt-get install --no-install-recommends "
    "prometheus`; elsewhere: https://prometheus.io/download/) to run the shipped alert rules locally."
)


@dataclass(frozen=True)
class FiringAlert:
    """An alert as Prometheus' `/api/v1/alerts` reports it (not an alert definition: see `alerts.Alert`)."""

    name: str
    state: str  # "pending" or "firing"
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float


def prometheus_available(binary: str = "prometheus") -> bool:
    return shutil.which(binary) is not None


def free_port() -> int:
    """A port free right now on 127.0.0.1 (another process could take it before use: callers retry)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def parse_alerts(payload: Any) -> list[FiringAlert]:
    out = []
    for a in payload["data"]["alerts"]:
        labels = dict(a.get("labels", {}))
        try:
            value = float(a.get("value", "nan"))
        except ValueError:
            value = float("nan")
        annotations = dict(a.get("annotations", {}))
        out.append(FiringAlert(labels.get("alertname", ""), a.get("state", ""), labels, annotations, value))
    return out


def firing_alerts(url: str, *, include_pending: bool = False) -> list[FiringAlert]:
    """Alerts of the Prometheus at `url` (e.g. `http://127.0.0.1:9090`) that are firing (or pending too)."""
    alerts = parse_alerts(_get(url.rstrip("/") + "/api/v1/alerts"))
    return [a for a in alerts if a.state == "firing" or (include_pending and a.state == "pending")]


class PrometheusServer:
    """A running Prometheus: its URL and a few API helpers."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], workdir: Path) -> None:
        self.url = url
        self.process = process
        self.workdir = workdir

    def api(self, path: str, **params: str | float) -> Any:
        query = urllib.parse.urlencode(params)
        payload = _get(f"{self.url}/api/v1/{path}" + (f"?{query}" if query else ""), timeout=30)
        if payload.get("status") != "success":
            raise RuntimeError(f"Prometheus API {path} failed: {payload}")
        return payload["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params: dict[str, str | float] = {"query": expr}
        if at is not None:
            params["time"] = at
        data = self.api("query", **params)
        result: list[dict[str, Any]] = data["result"] if data["resultType"] in ("vector", "matrix") else [data]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.api("query_range", query=expr, start=start, end=end, step=step)["result"]
        return result

    def alerts(self, *, include_pending: bool = True) -> list[FiringAlert]:
        return firing_alerts(self.url, include_pending=include_pending)

    def firing(self) -> list[FiringAlert]:
        return firing_alerts(self.url)

    def rule_health(self) -> list[tuple[str, str, str]]:
        """(rule name, health, last error) of every loaded rule: a rule that errors never fires."""
        out = []
        for group in self.api("rules")["groups"]:
            for rule in group["rules"]:
                out.append((rule["name"], rule.get("health", ""), rule.get("lastError", "")))
        return out

    def wait_for_scrape(self, timeout: float = 30.0) -> None:
        """Until every target has been scraped successfully once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            targets = self.api("targets")["activeTargets"]
            if targets and all(t.get("health") == "up" for t in targets):
                return
            time.sleep(0.2)
        raise TimeoutError(f"Prometheus targets not up after {timeout}s: {self.api('targets')['activeTargets']}")

    def logs(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _config(targets: Sequence[str], rule_files: Sequence[Path], job: str, scrape: str, evaluation: str) -> str:
    # JSON is YAML: no YAML library needed.
    return json.dumps(
        {
            "global": {"scrape_interval": scrape, "evaluation_interval": evaluation, "scrape_timeout": scrape},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}],
        },
        indent=2,
    )


@contextmanager
def run_prometheus(
    rules_dir: str | os.PathLike[str] | None,
    scrape_target: str | Sequence[str],
    *,
    job: str = "anthropic-otel",
    scrape_interval: str = "1s",
    evaluation_interval: str = "1s",
    port: int | None = None,
    binary: str = "prometheus",
    startup_timeout: float = 30.0,
) -> Iterator[PrometheusServer]:
    """Start Prometheus on 127.0.0.1 scraping `scrape_target` (`host:port`), with every `*.yaml` rule file of
    `rules_dir` (e.g. the repository's `grafana/rules`), and stop it (and delete its data) on exit.

    Raises FileNotFoundError with an install hint when `prometheus` is not on the PATH.
    """
    executable = shutil.which(binary)
    if executable is None:
        raise FileNotFoundError(INSTALL_HINT)
    targets = [scrape_target] if isinstance(scrape_target, str) else list(scrape_target)
    rule_files = sorted(Path(rules_dir).glob("*.yaml")) if rules_dir is not None else []
    with tempfile.TemporaryDirectory(prefix="anthropic-otel-prometheus-") as tmp:
        workdir = Path(tmp)
        config = workdir / "prometheus.yml"
        config.write_text(_config(targets, rule_files, job, scrape_interval, evaluation_interval))
        last_error = ""
        for _ in range(3):  # the free port may be taken between choosing and binding it
            chosen = port or free_port()
            url = f"http://127.0.0.1:{chosen}"
            with (workdir / "prometheus.log").open("wb") as log:
                process = subprocess.Popen(
                    [
                        executable,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={workdir / 'data'}",
                        f"--web.listen-address=127.0.0.1:{chosen}",
                        "--log.level=warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C in a terminal goes to us, and we stop it cleanly
                )
            server = PrometheusServer(url, process, workdir)
            try:
                if _wait_ready(server, startup_timeout):
                    try:
                        yield server
                    finally:
                        stop_process(process)
                    return
                last_error = server.logs()
            finally:
                stop_process(process)
            if port is not None:
                break
        raise RuntimeError(f"Prometheus did not start:\n{last_error[-2000:]}")


def _wait_ready(server: PrometheusServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(server.url + "/-/ready", timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    return False


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a child process, and kill it if it has not exited 10 s later (for the demo, the tests)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
