"""pytest fixtures for the simulator (registered as the `pytest11` entry point `anthropic_otel_simulator`).

`anthropic_simulator`: a `Simulator` started for the test and stopped after it.
`anthropic_simulator_session`: one `Simulator` for the whole session, reset (scenario `ok`, no recorded requests,
fresh rate-limit window) for every test that uses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from . import Simulator


@pytest.fixture
def anthropic_simulator() -> Iterator[Simulator]:
    """A started simulator serving scenario `ok`; use `set_scenario()` or the `x-sim-scenario` header."""
    from ._server import Simulator

    with Simulator() as sim:
        yield sim


@pytest.fixture(scope="session")
def _anthropic_simulator_shared() -> Iterator[Simulator]:
    from ._server import Simulator

    with Simulator() as sim:
        yield sim


@pytest.fixture
def anthropic_simulator_session(_anthropic_simulator_shared: Simulator) -> Simulator:
    """The session's simulator, reset to scenario `ok` with no recorded requests."""
    sim = _anthropic_simulator_shared
    sim.set_scenario("ok")
    sim.clear()
    return sim
