"""Every Python code block in README.md and docs/*.md runs, as written, against the simulator.

Each ```python block is written to a file and run in a fresh interpreter with `ANTHROPIC_BASE_URL` pointing at a
running simulator and `ANTHROPIC_API_KEY` set, so `anthropic.Anthropic()` with no arguments talks to it. A block that
defines `test_…` functions is run with pytest instead (the simulator's fixtures come from our pytest plugin), and must
pass at least one test. A block directly followed by `<!-- output -->` and a ```text block must print exactly that
text. A block that cannot run anywhere (a real cloud credential, say) is preceded by `<!-- no-run: reason -->`; the
reason is required. `pytest -v tests/test_docs.py` lists every block by file and line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from anthropic_otel.testing import Simulator

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
NO_RUN = re.compile(r"^<!--\s*no-run:\s*(?P<reason>\S.*?)\s*-->$")
TIMEOUT_S = 90


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    code: str
    no_run: str | None  # the reason, when marked
    expected_output: str | None

    @property
    def id(self) -> str:
        path = self.path.relative_to(ROOT) if self.path.is_relative_to(ROOT) else self.path
        return f"{path}:{self.line}"

    @property
    def is_pytest(self) -> bool:
        return re.search(r"^(async )?def test_", self.code, re.MULTILINE) is not None


def _fenced(lines: list[str]) -> Iterator[tuple[int, str, str, str]]:
    """(line index of the fence, language, body, the last non-blank line before the fence) for every fence."""
    previous = ""
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            if lines[i].strip():
                previous = lines[i].strip()
            i += 1
            continue
        indent, lang = match["indent"], match["lang"]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        yield i, lang, "\n".join(body) + "\n", previous
        previous = "```"
        i = j + 1


def blocks(path: Path) -> list[Block]:
    found: list[Block] = []
    fences = list(_fenced(path.read_text(encoding="utf-8").splitlines()))
    for n, (index, lang, body, before) in enumerate(fences):
        if lang != "python":
            continue
        no_run = NO_RUN.match(before)
        expected = None
        if n + 1 < len(fences) and fences[n + 1][3] == "<!-- output -->":
            expected = fences[n + 1][2]
        found.append(Block(path, index + 1, body, no_run["reason"] if no_run else None, expected))
    return found


def all_blocks() -> list[Block]:
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [block for path in paths for block in blocks(path)]


BLOCKS = all_blocks()


@pytest.fixture(scope="module")
def simulator() -> Iterator[Simulator]:
    with Simulator("ok") as sim:
        yield sim


def _env(sim: Simulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ANTHROPIC_"))}
    env.update(
        ANTHROPIC_BASE_URL=sim.base_url,
        ANTHROPIC_API_KEY="sk-ant-docs-test",
        METRICS_PORT="0",  # a block that serves metrics takes a free port, not one another process may hold
        # This checkout's sources first, as the tests themselves run.
        PYTHONPATH=os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p),
    )
    return env


def _params() -> list[object]:
    # A block run under pytest starts a second pytest with every installed plugin: 10-25 s on a loaded machine.
    return [
        pytest.param(b, id=b.id, marks=[pytest.mark.slow] if b.is_pytest else []) for b in BLOCKS if b.no_run is None
    ]


def run_block(block: Block, sim: Simulator, workdir: Path) -> str | None:
    """Runs one block as the docs say it runs; what went wrong, or None."""
    script = workdir / ("test_block.py" if block.is_pytest else "block.py")
    script.write_text(block.code, encoding="utf-8")
    if block.is_pytest:
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", str(script)]
    else:
        command = [sys.executable, str(script)]
    done = subprocess.run(
        command, cwd=workdir, env=_env(sim), capture_output=True, text=True, timeout=TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        return f"{block.id} failed:\n{done.stdout}\n{done.stderr}"
    if block.is_pytest and not (
        re.search(r"\b[1-9]\d* passed\b", done.stdout) and not re.search(r"\b(failed|skipped)\b", done.stdout)
    ):
        return f"{block.id} ran no passing test:\n{done.stdout}"
    if block.expected_output is not None and done.stdout != block.expected_output:
        return f"{block.id} printed\n{done.stdout}\ninstead of its documented output\n{block.expected_output}"
    return None


# The dashboard generator needs grafana-foundation-sdk, which needs Python >= 3.11 (docs/grafana.md says so): its
# blocks run in the suite on 3.11 and later, and the CI job on 3.10 leaves them out.
GENERATOR_IMPORT = "from anthropic_otel.grafana import"


@pytest.mark.parametrize("block", _params())
def test_code_block_runs(block: Block, simulator: Simulator, tmp_path: Path) -> None:
    if GENERATOR_IMPORT in block.code and sys.version_info < (3, 11):
        pytest.skip("the dashboard generator needs Python >= 3.11; this block runs in the suite on 3.11+")
    problem = run_block(block, simulator, tmp_path)
    assert problem is None, problem


def test_a_broken_block_or_a_wrong_output_is_caught(simulator: Simulator, tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    ok = Block(doc, 1, "print('hi')\n", None, "hi\n")
    assert run_block(ok, simulator, tmp_path) is None
    assert "instead of its documented output" in str(
        run_block(Block(doc, 1, ok.code, None, "ho\n"), simulator, tmp_path)
    )
    assert "failed" in str(run_block(Block(doc, 1, "client.messages.create(...)\n", None, None), simulator, tmp_path))


def test_blocks_are_found_and_only_marked_ones_are_skipped() -> None:
    """The parser sees the blocks (a regression that found none would pass every parametrized test vacuously)."""
    readme = [b for b in BLOCKS if b.path.name == "README.md"]
    assert readme, "no Python block found in README.md"
    assert any(b.expected_output is not None for b in readme), "the quick start's output is no longer checked"
    skipped = [b for b in BLOCKS if b.no_run is not None]
    assert len(skipped) <= 2, f"too many blocks marked no-run: {[b.id for b in skipped]}"
    print("\n".join(f"ran {b.id}" for b in BLOCKS if b.no_run is None))
    print("\n".join(f"not run {b.id}: {b.no_run}" for b in skipped))


def test_the_parser(tmp_path: Path) -> None:
    doc = tmp_path / "x.md"
    doc.write_text(
        "text\n\n```python\nprint(1)\n```\n\n<!-- output -->\n\n```text\n1\n```\n\n"
        "<!-- no-run: needs AWS -->\n```python\nimport boto3\n```\n\n"
        "1. list item\n\n   ```python\n   x = 1\n   ```\n\n```bash\nls\n```\n",
        encoding="utf-8",
    )
    found = blocks(doc)
    assert [(b.line, b.code, b.no_run, b.expected_output) for b in found] == [
        (3, "print(1)\n", None, "1\n"),
        (14, "import boto3\n", "needs AWS", None),
        (20, "x = 1\n", None, None),
    ]
