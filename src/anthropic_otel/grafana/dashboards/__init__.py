"""Grafana dashboards, built with grafana-foundation-sdk from the catalog, the SLI classes and a `Config`.

Two dashboards that link to each other, one module each, one function per row:
- `overview`: is the Claude API working for us right now (rate, errors, SLO, latency, TTFT, tokens), why did
  output stop, how close are we to the rate limits;
- `errors`: what kind of errors, what retries cost, and (with Tempo) the failed calls' request ids.
`panels` holds the shared panel builders, `board` the variables and the layout.

Queries use the raw metrics so the dashboards work without our recording rules, except the burn-rate panel,
which says so in its description.
"""

from __future__ import annotations

from ..config import Config
from .errors import errors
from .overview import overview
from .spend import spend


def build(cfg: Config) -> dict[str, dict[str, object]]:
    """File name → dashboard JSON model."""
    cfg.validate()
    return {
        f"{cfg.dashboard_uid_prefix}-overview.json": overview(cfg),
        f"{cfg.dashboard_uid_prefix}-errors.json": errors(cfg),
        f"{cfg.dashboard_uid_prefix}-spend.json": spend(cfg),
    }
