"""The generated files shipped inside the wheel, and `anthropic-otel grafana export`, which writes them out.

Standard library only: a pip user gets the dashboards, rules, promtool tests, Grafana provisioning and runbook
(generated with the default settings) without the generator's dependencies. The wheel carries the repository's
`grafana/` directory as `anthropic_otel/_artefacts/grafana` (see `[tool.hatch.build.targets.wheel.force-include]`
in pyproject.toml); a source checkout reads `grafana/` at the repository root instead.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # importlib.resources.abc is 3.11+; only the annotations need it
    from importlib.abc import Traversable

_PACKAGED = ("_artefacts", "grafana")
# src/anthropic_otel/grafana/artefacts.py → the repository root, in a source checkout or an editable install.
_CHECKOUT = Path(__file__).resolve().parents[3] / "grafana"


def shipped() -> Traversable | None:
    """The shipped `grafana/` directory, or None when neither the wheel's copy nor a checkout's is there."""
    packaged = resources.files("anthropic_otel").joinpath(_PACKAGED[0]).joinpath(_PACKAGED[1])
    if packaged.is_dir():
        return packaged
    if (_CHECKOUT / "rules" / "alerts.yaml").is_file():
        return _CHECKOUT
    return None


def _files(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        rel = f"{prefix}{entry.name}"
        if entry.is_dir():
            out.extend(_files(entry, rel + "/"))
        elif entry.is_file():
            out.append((rel, entry))
    return out


def export(out: Path, *, force: bool = False) -> list[Path]:
    """Copy every shipped file under `out` (keeping the layout: dashboards/, rules/, tests/, provisioning/,
    runbook.md). Refuses to overwrite a file that differs unless `force`: the user may have edited it."""
    root = shipped()
    if root is None:
        raise FileNotFoundError("this installation carries no Grafana files (a wheel built without them?)")
    files = _files(root)
    if not force:
        changed = [rel for rel, src in files if (out / rel).is_file() and (out / rel).read_bytes() != src.read_bytes()]
        if changed:
            raise FileExistsError(f"{len(changed)} file(s) in {out} differ, e.g. {changed[0]}; use --force")
    written = []
    for rel, src in files:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(src.read_bytes())
        written.append(path)
    return written
