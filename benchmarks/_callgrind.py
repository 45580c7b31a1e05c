"""Counting the instructions of a window of a process under callgrind, switched on and off from outside.

The process runs under `valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes`: nothing is
collected until `callgrind_control -i on <pid>`. callgrind_control reaches the process through vgdb (ptrace),
so it works while the process is blocked reading its stdin, and it answers "OK." once valgrind has executed the
command: each command's answer is checked, and a missing "OK." is retried, then an error. After `-i off` a
`-d` (dump) writes the window's counts to `<out>.<pid>.1-<thread>`; the files written at exit must then hold 0
instructions, which confirms that collection really was off outside the window.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


class CallgrindError(RuntimeError):
    """The harness failed (not a target): valgrind, callgrind_control or the worker did not do what was asked."""


@dataclass
class Window:
    """Instructions collected between `-i on` and `-i off`, by thread (1 is the main, application thread)."""

    threads: dict[int, int]
    after_off: int  # instructions in the files written at exit: 0 when collection was off after the window
    wall_s: float  # the window's wall-clock time under valgrind (for planning runs, not a measurement)
    check: dict[str, Any]  # what the worker reported after the window
    files: list[Path] = field(default_factory=list)

    @property
    def main(self) -> int:
        return self.threads.get(1, 0)

    @property
    def other_threads(self) -> int:
        return sum(n for tid, n in self.threads.items() if tid != 1)


def totals(path: Path) -> int:
    """The `totals:` line of a callgrind output file (its `summary:` line when there is none)."""
    summary = None
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
        if line.startswith("summary:"):
            summary = int(line.split()[1])
    if summary is None:
        raise CallgrindError(f"{path}: no totals or summary line")
    return summary


def control(pid: int, *command: str, attempts: int = 3) -> None:
    """Run `callgrind_control <command> <pid>` until valgrind answers OK (its exit status is 0 even on errors)."""
    detail = ""
    for attempt in range(attempts):
        result = subprocess.run(
            ["callgrind_control", *command, str(pid)], capture_output=True, text=True, timeout=60, check=False
        )
        if "OK." in result.stdout:
            return
        detail = (result.stdout + result.stderr).strip()
        time.sleep(0.5 * (attempt + 1))
    raise CallgrindError(f"callgrind_control {' '.join(command)} {pid} failed: {detail}")


class _Lines:
    """The worker's stdout, line by line, with a timeout (a reader thread feeds a queue)."""

    def __init__(self, stream: IO[str]) -> None:
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise CallgrindError(f"no {prefix!r} from the worker within {timeout:.0f} s") from None
            if line is None:
                raise CallgrindError(f"the worker exited before printing {prefix!r}")
            if line.startswith(prefix):
                return line


def _thread_of(path: Path) -> int:
    match = re.search(r"-(\d+)$", path.name)
    if match is None:
        raise CallgrindError(f"{path}: not a per-thread callgrind file")
    return int(match.group(1))


def measure_window(argv: Sequence[str], out: Path, env: Mapping[str, str], timeout: float = 1800.0) -> Window:
    """Run `argv` (a worker speaking the READY/go/DONE/exit protocol) under callgrind; count its window.

    Callgrind files go to `<out>.<pid>...`, valgrind's log to `<out>.log`, the worker's stderr to `<out>.stderr`.
    """
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        "--separate-threads=yes",
        f"--callgrind-out-file={out}.%p",
        f"--log-file={out}.log",
        *argv,
    ]
    with open(f"{out}.stderr", "w") as stderr:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=dict(env)
        )
    assert proc.stdin is not None and proc.stdout is not None
    lines = _Lines(proc.stdout)
    try:
        lines.expect("READY", timeout)
        control(proc.pid, "-i", "on")
        t0 = time.monotonic()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        lines.expect("DONE", timeout)
        control(proc.pid, "-i", "off")
        wall = time.monotonic() - t0
        control(proc.pid, "-d")
        proc.stdin.write("exit\n")
        proc.stdin.flush()
        check = lines.expect("CHECK ", timeout)
        if proc.wait(timeout) != 0:
            raise CallgrindError(f"the worker exited with status {proc.returncode}")
    except BaseException as exc:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        tail = Path(f"{out}.stderr").read_text(errors="replace")[-2000:]
        if isinstance(exc, CallgrindError):
            raise CallgrindError(f"{exc}\n--- worker stderr ({out}.stderr) ---\n{tail}") from exc
        raise
    dumped = sorted(out.parent.glob(f"{out.name}.{proc.pid}.1-*"))
    at_exit = sorted(out.parent.glob(f"{out.name}.{proc.pid}-*"))
    if not dumped:
        raise CallgrindError(f"no dump {out}.{proc.pid}.1-* after callgrind_control -d")
    return Window(
        threads={_thread_of(p): totals(p) for p in dumped},
        after_off=sum(totals(p) for p in at_exit),
        wall_s=wall,
        check=json.loads(check.removeprefix("CHECK ")),
        files=dumped + at_exit,
    )


_ANNOTATED = re.compile(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*$")


def self_cost(path: Path) -> dict[str, int]:
    """Instructions per function, exclusive of callees (`callgrind_annotate`), keyed `file:function [object]`."""
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", "--auto=no", os.fspath(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    costs: dict[str, int] = {}
    in_table = False
    for line in text.splitlines():
        if "file:function" in line:
            in_table = True
            continue
        match = _ANNOTATED.match(line) if in_table else None
        if match and ":" in match.group(2):
            name = _short(match.group(2))
            costs[name] = costs.get(name, 0) + int(match.group(1).replace(",", ""))
    return costs


_LOCATION = re.compile(r"^(?P<file>.*?):(?P<fn>.*?)(?: \[(?P<obj>[^\]]*)\])?$")


def _short(location: str) -> str:
    """`/build/.../Objects/dictobject.c:_Py_dict_lookup'2 [/.../libpython3.11.so.1.0]` ->
    `_Py_dict_lookup (dictobject.c, libpython3.11.so.1.0)`: recursion levels merged, directories dropped."""
    match = _LOCATION.match(location)
    if match is None:
        return location
    fn = re.sub(r"'\d+$", "", match["fn"])
    where = [Path(p).name for p in (match["file"], match["obj"] or "") if p and p != "???"]
    return f"{fn} ({', '.join(where)})" if where else fn
