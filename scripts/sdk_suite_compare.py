"""Compare the per-test outcomes of the SDK's test suite run plain and instrumented (see scripts/sdk_suite.sh).

    python scripts/sdk_suite_compare.py PLAIN.json INSTRUMENTED.json EXCEPTIONS.txt [PLUGIN_REPORT_DIR]

Exit 1 when a test's outcome differs and the test is not listed under `[tracing]` in the exceptions file, when a
test ran in one run only, or when the plugin reports show that the instrumentation was not active. Entries of the
exceptions file that match no test, tests that needed Prism but are not listed, and `[tracing]` entries whose
outcome did not differ are reported as warnings.

Environment: `SDK_SUITE_DIFFERING=FILE` writes the node ids of the unlisted tests whose outcome differs, one per
line, for the driver to run again. `SDK_SUITE_RERUN=PLAIN.json:INSTRUMENTED.json` gives the outcomes of that second
run (each test alone, no xdist): a test whose outcome is then the same with and without us differed by chance (the
SDK has timing-dependent tests, and the machine is shared) and is reported as a warning; one that differs again
fails.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sdk_suite_outcomes import NO_PRISM, matches, read_exceptions


def load(path: str) -> dict[str, dict[str, str]]:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def main(argv: list[str]) -> int:
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    plain, instrumented = load(argv[1]), load(argv[2])
    exceptions = read_exceptions(argv[3])
    tracing = dict(exceptions.get("tracing", []))
    service = {test for test, _ in exceptions.get("needs-service", [])}
    failures: list[str] = []
    warnings: list[str] = []

    counts = {
        name: Counter(v["outcome"] for v in run.values()) for name, run in (("plain", plain), ("instr", instrumented))
    }
    print(f"tests run: plain {len(plain)}, instrumented {len(instrumented)}")
    for name, counter in counts.items():
        print(f"  {name:6} " + ", ".join(f"{k} {v}" for k, v in sorted(counter.items())))

    differing, excused, used = [], [], set()
    for test in sorted(set(plain) | set(instrumented)):
        before, after = plain.get(test), instrumented.get(test)
        if before is None or after is None:
            failures.append(f"ran in one run only: {test}")
            continue
        if before["outcome"] == after["outcome"]:
            continue
        entry = matches(test, set(tracing))
        line = f"{test}: {before['outcome']} -> {after['outcome']}"
        if entry is not None:
            used.add(entry)
            excused.append(f"{line}\n      reason: {tracing[entry]}")
        else:
            differing.append(f"{line}\n      {after['detail'] or before['detail']}")

    differing_tests = [line.split(": ", 1)[0] for line in differing]
    if out := os.environ.get("SDK_SUITE_DIFFERING"):
        Path(out).write_text("".join(f"{test}\n" for test in differing_tests), encoding="utf-8")
    if rerun := os.environ.get("SDK_SUITE_RERUN"):
        plain_again, instrumented_again = (load(path) for path in rerun.split(":"))
        confirmed = []
        for test, line in zip(differing_tests, differing, strict=True):
            before, after = plain_again.get(test), instrumented_again.get(test)
            if before is not None and after is not None and before["outcome"] == after["outcome"]:
                warnings.append(f"differed by chance (the same with and without us when run again): {test}")
            else:
                confirmed.append(line + "\n      (differs again when run on its own)")
        differing = confirmed

    print(f"outcomes that differ: {len(differing) + len(excused)} ({len(excused)} listed under [tracing])")
    for line in excused:
        print(f"  excused  {line}")
    for line in differing:
        print(f"  DIFFERS  {line}")
    failures += [f"outcome differs: {line}" for line in differing]

    for entry in sorted(set(tracing) - used):
        hit = [t for t in plain if matches(t, {entry})]
        warnings.append(f"[tracing] entry did not differ this time ({len(hit)} tests): {entry}")
    deselected = Path(argv[1] + ".deselected")
    all_tests = set(plain) | set(instrumented)
    if deselected.exists():
        all_tests |= set(deselected.read_text(encoding="utf-8").splitlines())
        print(f"deselected in both runs (need Prism): {len(all_tests - set(plain) - set(instrumented))} tests")
    stale = [e for e in service if not any(matches(t, {e}) for t in all_tests)]
    if stale:
        warnings.append(f"{len(stale)} [needs-service] entries match no test, e.g. {sorted(stale)[:3]}")
    unlisted = sorted(t for t, v in plain.items() if NO_PRISM in v["detail"])
    if unlisted:
        warnings.append(
            f"{len(unlisted)} tests need Prism but are not listed under [needs-service], e.g. {unlisted[:3]}"
        )

    if len(argv) == 5:
        reports = [json.loads(p.read_text()) for p in sorted(Path(argv[4]).glob("*.json"))]
        spans: Counter[str] = Counter()
        for report in reports:
            spans.update(report["spans_by_scope"])
        ours = spans.get("anthropic_otel", 0)
        calls = sum(r["calls"] for r in reports)
        attempts = sum(r["attempts"] for r in reports)
        left_open = sorted({name for r in reports for name in r["spans_left_open"]})
        own_warnings = [w for r in reports for w in r["warnings"]]
        print(
            f"instrumented run: {ours} spans of ours, {spans.total() - ours} native SDK spans, "
            f"anthropic.client.calls {calls}, anthropic.client.attempts {attempts}, "
            f"{len(own_warnings)} WARNING(s) from logger anthropic_otel, spans left open at exit: {left_open or 'none'}"
        )
        for message in sorted(set(own_warnings)):
            print(f"  anthropic_otel WARNING: {message}")
        if not reports or not all(r["instrumented"] for r in reports) or ours == 0 or calls == 0:
            failures.append("the instrumentation was not active in the instrumented run: the comparison proves nothing")

    for line in warnings:
        print(f"warning: {line}")
    if failures:
        print(f"\nFAILED: {len(failures)} problem(s)")
        for line in failures:
            print(f"  {line}")
        return 1
    print("\nOK: every test's outcome is the same with and without anthropic-otel (apart from the listed ones)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
