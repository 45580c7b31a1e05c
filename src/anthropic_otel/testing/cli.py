"""`anthropic-otel simulate`: run the fault-injecting Anthropic API simulator in the foreground."""

from __future__ import annotations

import argparse
import sys
import time

from .. import pricing
from ._scenario import FAULTS, SPECS, ScenarioError
from ._server import ReceivedRequest, Simulator, is_loopback
from ._spend import SpendLimit


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anthropic-otel simulate",
        description="Serve an Anthropic-API-compatible endpoint that injects faults.",
        epilog=f"faults: {', '.join(FAULTS)}; scenario grammar: step[:key=value...][,step...] or mix:fault=weight:...",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port (default 8089; 0 picks a free one)")
    parser.add_argument("--scenario", default="ok", help='scenario, e.g. "rate_limit,ok" (default ok)')
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--seed", type=int, default=None, help="seed for mix: scenarios")
    parser.add_argument("--list-faults", action="store_true", help="list the faults and exit")
    parser.add_argument("--quiet", "-q", action="store_true", help="do not print a line per request")
    parser.add_argument(
        "--spend-limit",
        type=float,
        default=None,
        metavar="USD",
        help="after this many USD of priced tokens, answer every Messages call with a billing error",
    )
    parser.add_argument(
        "--spend-limit-status",
        type=int,
        choices=(402, 403),
        default=402,
        help="402 billing_error (default) or 403 billing_error with error_code enforced_spend_limit_reached",
    )
    parser.add_argument("--price-file", default=None, help="JSON price table merged over the shipped one")
    parser.add_argument(
        "--allow-non-loopback", action="store_true", help="allow listening on a non-loopback address (unsafe)"
    )
    return parser


def _describe(request: ReceivedRequest) -> None:
    status = "dropped" if request.status is None else str(request.status)
    stream = " stream" if request.stream else ""
    print(
        f"{request.method} {request.path}{stream} attempt={request.retry_count} fault={request.fault} "
        f"status={status} {request.request_id}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.list_faults:
        for spec in SPECS.values():
            params = ", ".join(sorted(spec.params))
            print(f"{spec.name:<17} {spec.description}" + (f"  [params: {params}]" if params else ""))
        return 0
    if not is_loopback(args.host) and not args.allow_non_loopback:
        print(
            f"error: refusing to listen on {args.host!r}, which is not a loopback address; "
            "pass --allow-non-loopback to expose the simulator to other hosts",
            file=sys.stderr,
        )
        return 2
    try:
        limit = None
        if args.spend_limit is not None:
            limit = SpendLimit(args.spend_limit, args.spend_limit_status, pricing.load(args.price_file))
        sim = Simulator(
            args.scenario,
            host=args.host,
            port=args.port,
            seed=args.seed,
            allow_non_loopback=True,
            on_request=None if args.quiet else _describe,
            spend_limit=limit,
        )
    except (ScenarioError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        sim.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"Anthropic API simulator on {sim.base_url} (scenario {sim.scenario})", flush=True)
        if limit is not None:
            print(f"Spend limit: ${limit.usd:g} of priced tokens, then HTTP {limit.status} billing_error", flush=True)
        print("Point the SDK at it:")
        print(f"  export ANTHROPIC_BASE_URL={sim.base_url}")
        print("  export ANTHROPIC_API_KEY=sk-ant-sim   # any value is accepted")
        print(f'  or anthropic.Anthropic(base_url="{sim.base_url}", api_key="sk-ant-sim")')
        print(f'  Bedrock: anthropic.AnthropicBedrock(base_url="{sim.base_url}", aws_region="us-east-1", ...)')
        print(f'  Vertex:  anthropic.AnthropicVertex(base_url="{sim.base_url}", region=..., project_id=..., ...)')
        print('Per request: header "x-sim-scenario: rate_limit,ok" overrides the scenario.')
        until = f"for {args.duration:g} s or until Ctrl-C" if args.duration is not None else "until Ctrl-C"
        print(f"Serving {until}.", flush=True)
        deadline = None if args.duration is None else time.monotonic() + args.duration
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic())))
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
