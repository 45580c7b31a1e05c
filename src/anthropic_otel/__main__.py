"""`anthropic-otel`: demo | simulate | grafana generate."""

from __future__ import annotations

import sys

from ._version import __version__

PROG = "anthropic-otel"
COMMANDS = ("demo", "simulate", "grafana")
USAGE = f"""usage: {PROG} [--version] COMMAND [options]

commands:
  demo               run the simulator, an instrumented workload and a summary of its telemetry
  simulate           run the fault-injecting Anthropic API simulator
  grafana generate   regenerate the Grafana dashboards, alert rules and runbook

'{PROG} COMMAND --help' describes a command's options.
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
    if command in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0
    if command in ("-V", "--version"):
        print(f"{PROG} {__version__}")
        return 0
    if not command:
        print(USAGE, end="", file=sys.stderr)
        return 2
    what = "option" if command.startswith("-") else "command"
    print(
        f"{PROG}: unknown {what} {command!r} (commands: {', '.join(COMMANDS)}; see '{PROG} --help')",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
