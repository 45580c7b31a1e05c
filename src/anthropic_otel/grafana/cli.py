"""`anthropic-otel grafana export` writes the dashboards, rules, promtool tests, Grafana provisioning and runbook
shipped in the package (default settings, standard library only); `anthropic-otel grafana generate …` regenerates
them with your settings (needs the `[grafana]` extra and Python >= 3.11)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path

from . import artefacts
from .config import Config

# What `generate` imports beyond the standard library, and where it comes from.
_EXTRA_HINT = "pip install 'anthropic-otel[grafana]'"

# Flags with their own name; every other Config field is reachable with --set FIELD=VALUE.
_FLAGS = {
    "selector": "PromQL label matchers selecting your service's series, e.g. 'job=\"checkout\"'",
    "slo": "availability objective on server-side failures, e.g. 0.995",
    "group_by": "comma-separated labels alerts are split by (default: job)",
    "runbook_url": "URL of runbook.md as your responders open it (default: no link; descriptions name the section)",
    "latency_threshold": "latency SLO threshold in seconds (a bucket boundary of the duration histogram)",
    "ttft_threshold": "time-to-first-chunk SLO threshold in seconds (a bucket boundary)",
    "rule_interval": "evaluation interval of the rule groups (default: the server's)",
    "grafana_datasource_uid": "Prometheus datasource uid for Grafana-managed alerting",
    "dashboard_uid_prefix": "prefix of the dashboards' uids and file names",
    "spend_budget": "spend budget in USD per spend_period (default 30d) for the spend alerts and dashboard",
    "price_file": "JSON price table merged over the shipped one (docs/spend.md)",
}


def _convert(cfg_field: dataclasses.Field[object], text: str) -> object:
    hints = typing.get_type_hints(Config)
    kind = hints[cfg_field.name]
    if kind in (float, int, str):
        return kind(text)
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        return None if text.lower() in ("", "none") else text
    if origin is tuple and args[:1] == (str,):
        return tuple(part.strip() for part in text.split(",") if part.strip())
    raise ValueError(f"{cfg_field.name} cannot be set from the command line")


def config_from_args(args: argparse.Namespace) -> Config:
    fields = {f.name: f for f in dataclasses.fields(Config)}
    changes: dict[str, object] = {}
    for name in _FLAGS:
        value = getattr(args, name)
        if value is not None:
            changes[name] = _convert(fields[name], value)
    for item in args.set or []:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise SystemExit(f"--set {item!r}: expected FIELD=VALUE with FIELD one of {', '.join(sorted(fields))}")
        changes[key] = _convert(fields[key], value)
    return Config().replace(**changes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="anthropic-otel grafana", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    exp = sub.add_parser(
        "export", help="write the shipped dashboards, rules, tests, provisioning and runbook (no extra needed)"
    )
    exp.add_argument("--out", type=Path, default=Path("grafana"), help="output directory (default: ./grafana)")
    exp.add_argument("--force", action="store_true", help="overwrite files that differ from the shipped ones")
    gen = sub.add_parser("generate", help="regenerate them with your settings (the [grafana] extra, Python >= 3.11)")
    gen.add_argument("--out", type=Path, default=Path("grafana"), help="output directory (default: ./grafana)")
    gen.add_argument("--check", action="store_true", help="write nothing; exit 1 if --out differs")
    for name, text in _FLAGS.items():
        gen.add_argument("--" + name.replace("_", "-"), dest=name, default=None, help=text)
    gen.add_argument(
        "--set", action="append", metavar="FIELD=VALUE", help="any other Config field, e.g. headroom_ratio=0.2"
    )
    return p


def _export(args: argparse.Namespace) -> int:
    try:
        written = artefacts.export(args.out, force=args.force)
    except (FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def _generator_missing() -> str | None:
    """Why `generate` cannot run here, in one line, or None. Checked before importing the generator so that a
    missing dependency is a message, not a traceback."""
    if sys.version_info < (3, 11):
        # grafana-foundation-sdk requires Python >= 3.11; the extra's marker skips it on 3.10.
        return (
            "the generator needs Python >= 3.11 (grafana-foundation-sdk does); "
            "`anthropic-otel grafana export` writes the shipped files (default settings) on any Python"
        )
    import importlib.util

    missing = [m for m in ("grafana_foundation_sdk", "promql_parser", "yaml") if importlib.util.find_spec(m) is None]
    if missing:
        return f"the generator needs the [grafana] extra ({', '.join(missing)} missing): {_EXTRA_HINT}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command == "export":
        return _export(args)
    problem = _generator_missing()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from .generate import drift, write

    try:
        cfg = config_from_args(args)
        cfg.validate()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check:
        problems = drift(cfg, args.out)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{len(problems)} generated file(s) differ from {args.out}: regenerate", file=sys.stderr)
            return 1
        print(f"{args.out} is up to date")
        return 0
    written = write(cfg, args.out)
    print(f"wrote {len(written)} files to {args.out}")
    return 0
