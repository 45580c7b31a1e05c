#!/usr/bin/env bash
# The anthropic SDK's own test suite, run twice against the newest supported SDK release: once without and once
# with anthropic-otel instrumenting it. Fails if any test's outcome differs, apart from the tests listed in
# scripts/sdk_suite_exceptions.txt (each with its reason); a test that differs is run again on its own in both modes,
# and only one that differs again fails (the SDK has timing-dependent tests).
#
#   bash scripts/sdk_suite.sh [PYTHON]          # PYTHON: the interpreter to build the temporary venv from
#
# Environment: SDK_SUITE_VERSION (default: the newest `anthropic>=0.108,<3` on the index), SDK_SUITE_WORKERS
# (pytest-xdist workers, default 2), SDK_SUITE_KEEP=1 (keep the work directory and print where it is).
#
# Both runs load scripts/anthropic_otel_plugin.py, which sets a real OpenTelemetry SDK TracerProvider and
# MeterProvider as the global providers (so the SDK's native tracing is on); only the instrumented run calls
# `AnthropicInstrumentor().instrument(...)` (ANTHROPIC_OTEL_PLUGIN_INSTRUMENT=1). So the one difference between
# the runs is our instrumentation. scripts/sdk_suite_outcomes.py records each test's outcome in both runs and
# deselects the tests that need the Prism mock server.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${1:-python3}
WORKERS=${SDK_SUITE_WORKERS:-2}
WORK=$(mktemp -d)
if [ "${SDK_SUITE_KEEP:-0}" = 1 ]; then
  echo "work directory: $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi
START=$SECONDS
step() { printf '\n=== %s (%ds) ===\n' "$*" $((SECONDS - START)); }
pipq() { "$@" -q --disable-pip-version-check 2>&1 | { grep -v "^WARNING: Location" || true; }; }

step "temporary venv from $PY"
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
pipq "$VPY" -m pip install --upgrade pip

SPEC="anthropic>=0.108,<3"
[ -n "${SDK_SUITE_VERSION:-}" ] && SPEC="anthropic==$SDK_SUITE_VERSION"
step "downloading the sdist of $SPEC (it ships the SDK's tests)"
pipq "$VPY" -m pip download --no-binary :all: --no-deps -d "$WORK/dl" "$SPEC"
SDIST=$(ls "$WORK"/dl/anthropic-*.tar.gz)
tar -xzf "$SDIST" -C "$WORK"
SRC=$(ls -d "$WORK"/anthropic-*/)
SRC=${SRC%/}
VERSION=${SRC##*/anthropic-}
echo "anthropic $VERSION"

step "installing anthropic $VERSION (all extras), its test dependencies and anthropic-otel"
# The test dependencies as the SDK pins them (requirements-dev.lock), less the type checkers, linters and stubs.
REQS="$WORK/test-requirements.txt"
if [ -f "$SRC/requirements-dev.lock" ]; then
  grep -E '^[A-Za-z0-9]' "$SRC/requirements-dev.lock" \
    | grep -viE '^(anthropic|pyright|ruff|nodeenv|boto3-stubs|botocore-stubs|types-)' > "$REQS"
else
  printf '%s\n' pytest pytest-asyncio pytest-xdist respx time-machine 'dirty-equals>=0.6.0' 'inline-snapshot>=0.28.0' \
    'http-snapshot[httpx]' hypothesis opentelemetry-sdk importlib-metadata rich packaging griffe > "$REQS"
fi
pipq "$VPY" -m pip install "$SRC[aiohttp,vertex,bedrock,aws,mcp,webhooks]" -r "$REQS" "$ROOT"
"$VPY" -c 'import anthropic, anthropic_otel, opentelemetry.sdk.version as v, sys
print("anthropic", anthropic.__version__, "| anthropic-otel", anthropic_otel.__version__,
      "| opentelemetry-sdk", v.__version__, "| python", sys.version.split()[0])'

run() {  # run NAME INSTRUMENT(0|1)
  local name=$1
  mkdir -p "$WORK/report-$name"
  step "the SDK's test suite, $name"
  (
    cd "$SRC"
    PYTHONPATH="$ROOT/scripts" \
      SDK_SUITE_EXCEPTIONS="$ROOT/scripts/sdk_suite_exceptions.txt" \
      SDK_SUITE_OUTCOMES="$WORK/$name.json" \
      ANTHROPIC_OTEL_PLUGIN_INSTRUMENT=$2 \
      ANTHROPIC_OTEL_PLUGIN_REPORT="$WORK/report-$name" \
      "$VPY" -m pytest -q -p no:cacheprovider -n "$WORKERS" -p sdk_suite_outcomes -p anthropic_otel_plugin \
      --junitxml="$WORK/$name.xml" -o junit_family=xunit2 > "$WORK/$name.log" 2>&1 || true
  )
  tail -n 1 "$WORK/$name.log"
}
run plain 0
run instrumented 1

compare() {  # compare [extra environment assignments...]
  env "$@" "$VPY" "$ROOT/scripts/sdk_suite_compare.py" "$WORK/plain.json" "$WORK/instrumented.json" \
    "$ROOT/scripts/sdk_suite_exceptions.txt" "$WORK/report-instrumented"
}
step "comparing per-test outcomes"
status=0
compare SDK_SUITE_DIFFERING="$WORK/differing.txt" || status=$?

# The SDK has timing-dependent tests, and a loaded machine can make one fail in one run only. The tests that differ
# run again, each run on its own (no xdist); only a test that differs again fails. At most 40: more is no accident.
count=$(grep -c . "$WORK/differing.txt" 2>/dev/null || true)
if [ "$status" != 0 ] && [ "${count:-0}" -gt 0 ] && [ "$count" -le 40 ]; then
  step "running the $count tests whose outcome differs again, plain and instrumented"
  mapfile -t again < "$WORK/differing.txt"
  for mode in plain:0 instrumented:1; do
    name=${mode%%:*}
    mkdir -p "$WORK/report-$name-again"
    (
      cd "$SRC"
      PYTHONPATH="$ROOT/scripts" \
        SDK_SUITE_EXCEPTIONS="$ROOT/scripts/sdk_suite_exceptions.txt" \
        SDK_SUITE_OUTCOMES="$WORK/$name-again.json" \
        ANTHROPIC_OTEL_PLUGIN_INSTRUMENT=${mode##*:} \
        ANTHROPIC_OTEL_PLUGIN_REPORT="$WORK/report-$name-again" \
        "$VPY" -m pytest -q -p no:cacheprovider -n 0 -p sdk_suite_outcomes -p anthropic_otel_plugin "${again[@]}" \
        > "$WORK/$name-again.log" 2>&1 || true
    )
    tail -n 1 "$WORK/$name-again.log"
  done
  step "comparing per-test outcomes, with the second run of those that differed"
  status=0
  compare SDK_SUITE_RERUN="$WORK/plain-again.json:$WORK/instrumented-again.json" || status=$?
fi
if [ "$status" != 0 ] && [ "${SDK_SUITE_KEEP:-0}" != 1 ]; then
  echo "(run with SDK_SUITE_KEEP=1 to keep the logs and junit files)"
fi
step "done"
exit "$status"
