"""`anthropic-otel`: demo | simulate | grafana generate."""

from __future__ import annotations

import sys

USAGE = """usage: anthropic-otel COMMAND [options]

commands:
  demo               run the simulator, an instrumented workload and a summary of its telemetry
  simulate           run the fault-injecting Anthropic API simulator
  grafana generate   regenerate the Grafana dashboards, alert rules and runbook
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args else ""
    if command == "demo":
        from .demo import main as demo

        return int(demo(args))
    if command == "simulate":
        from .testing.cli import main as simulate

        return int(simulate(args))
    if command == "grafana":
        from .grafana.cli import main as grafana

        return int(grafana(args))
    print(USAGE, file=sys.stderr if command not in ("-h", "--help") else sys.stdout)
    return 0 if command in ("-h", "--help") else 2


if __name__ == "__main__":
    raise SystemExit(main())
