"""Check that every place anthropic-otel hooks is still where, and what, our hooks expect, in an anthropic release.

    python scripts/check_hook_points.py                 # the newest anthropic on PyPI, in a temporary venv
    python scripts/check_hook_points.py --version 2.12.0
    python scripts/check_hook_points.py --installed     # the anthropic installed with this interpreter

Static checks: every entry of `anthropic_otel._sdk.HOOK_POINTS` exists in its class's own `__dict__`
(where `wrapt` replaces it) with the signature our hooks read (`request(cast_to, options, *, stream, stream_cls)`,
`_attempt_request(options, *, stream, retries_taken, ...)`, `_calculate_retry_timeout(remaining_retries, options,
response_headers)`, `_iter_events(self)`), sync or async as expected. Live checks, with real calls against the
simulator through probes placed on the same methods: `request` receives `options` (with `.url`, `.method`,
`.json_data`) and `stream` as a keyword; `_attempt_request` receives `retries_taken` as a keyword (0, then 1 on
a retry) and returns `(response, options)` whose response has `.status_code`, `.headers`, `.is_closed` and a
`.stream` that is an httpx/httpx2 byte stream of the client's kind; `_calculate_retry_timeout` returns a float
(the 1 ms the response asked for); `Stream._iter_events` / `AsyncStream._iter_events` yield objects with `.event`
(equal to their `._event`, which the event observer reads) and `.data`; a stream that `request()` returns is
recognised as one (each stream observes its events through an `_iter_events` set on it).
Exit status 1 with one line per broken
expectation.

tests/reliability/test_rel_hook_points.py runs the same checks against the installed SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import inspect
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def static_problems() -> list[str]:
    from anthropic_otel._sdk import HOOK_POINTS, OPTIONAL_HOOK_POINTS

    found: list[str] = []
    for point in HOOK_POINTS:
        module_name, class_name, method, where = point.module, point.owner, point.name, point.where
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            found.append(f"{where}: module cannot be imported ({exc!r})")
            continue
        owner = getattr(module, class_name, None) if class_name else module
        if owner is None:
            found.append(f"{where}: class {class_name} is gone from {module_name}")
            continue
        function = owner.__dict__.get(method)
        if function is None:
            inherited = getattr(owner, method, None)
            hint = "it is only inherited now" if inherited is not None else "it is gone"
            found.append(f"{where}: not defined on {class_name} itself ({hint}); wrapt would not find it there")
            continue
        if not callable(function):
            found.append(f"{where}: is not a function any more ({type(function).__name__})")
            continue
        found += _signature_problems(where, function, point.parameters, point.keyword, point.kind)
    for point in OPTIONAL_HOOK_POINTS:
        with contextlib.suppress(Exception):
            module = importlib.import_module(point.module)
            owner = getattr(module, point.owner) if point.owner else module
            if point.name in owner.__dict__ and not callable(owner.__dict__[point.name]):
                found.append(f"{point.where}: present but not callable")
    return found


def _signature_problems(
    where: str, function: Any, names: tuple[str, ...], keyword: tuple[str, ...], kind: str
) -> list[str]:
    found = []
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError) as exc:
        return [f"{where}: signature cannot be read ({exc})"]
    if parameters and parameters[0].name == "self":
        parameters = parameters[1:]
    by_name = {p.name: p for p in parameters}
    missing = [n for n in names if n not in by_name]
    if missing:
        found.append(f"{where}: parameter(s) {missing} gone; signature is now {inspect.signature(function)}")
    positional = [p.name for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    for index, name in enumerate(n for n in names if n not in keyword):
        if name in by_name and (index >= len(positional) or positional[index] != name):
            found.append(f"{where}: `{name}` is no longer positional argument {index} (our hook reads args[{index}])")
    for name in keyword:
        if name in by_name and by_name[name].kind == by_name[name].POSITIONAL_ONLY:
            found.append(f"{where}: `{name}` became positional-only (our hook reads it from kwargs)")
    required_extra = [
        p.name
        for p in parameters
        if p.name not in names and p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if required_extra:
        found.append(f"{where}: new required parameter(s) {required_extra}")
    if kind == "coroutine" and not inspect.iscoroutinefunction(function):
        found.append(f"{where}: is no longer a coroutine function (our async hook awaits it)")
    if kind == "function" and (inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)):
        found.append(f"{where}: became async (our sync hook calls it directly)")
    if kind == "asyncgen-or-function" and inspect.iscoroutinefunction(function):
        found.append(f"{where}: became a coroutine function (our hook expects it to return an async iterator)")
    return found


# --- live checks: real calls through probes on the hook points ----------------------------------------------


@contextlib.contextmanager
def _probe(owner: Any, method: str, record: list[tuple[Any, ...]], kind: str) -> Iterator[None]:
    original = owner.__dict__[method]

    if kind == "coroutine":

        async def probe(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = await original(self, *args, **kwargs)
            record.append((args, kwargs, result))
            return result

    elif kind == "asyncgen":

        def probe(self: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            async def events() -> Any:
                async for item in original(self, *args, **kwargs):
                    record.append((args, kwargs, item))
                    yield item

            return events()

    elif kind == "generator":

        def probe(self: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            for item in original(self, *args, **kwargs):
                record.append((args, kwargs, item))
                yield item

    else:

        def probe(self: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
            result = original(self, *args, **kwargs)
            record.append((args, kwargs, result))
            return result

    setattr(owner, method, probe)
    try:
        yield
    finally:
        setattr(owner, method, original)


def live_problems() -> list[str]:
    import anthropic
    from anthropic import _base_client, _streaming

    from anthropic_otel.testing import Simulator

    found: list[str] = []
    seen: dict[str, list[tuple[Any, ...]]] = {k: [] for k in ("request", "attempt", "timeout", "events")}
    seen_async: dict[str, list[tuple[Any, ...]]] = {k: [] for k in ("request", "attempt", "events")}
    scenario = {"x-sim-scenario": "overloaded:retry_after_ms=1,ok:deltas=2"}
    args: dict[str, Any] = {"model": "claude-check", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
    no_tracing = (
        {"open_telemetry": False} if "open_telemetry" in inspect.signature(anthropic.Anthropic).parameters else {}
    )
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(Simulator())
        stack.enter_context(_probe(_base_client.SyncAPIClient, "request", seen["request"], "function"))
        stack.enter_context(_probe(_base_client.SyncAPIClient, "_attempt_request", seen["attempt"], "function"))
        stack.enter_context(_probe(_base_client.BaseClient, "_calculate_retry_timeout", seen["timeout"], "function"))
        stack.enter_context(_probe(_streaming.Stream, "_iter_events", seen["events"], "generator"))
        stack.enter_context(_probe(_base_client.AsyncAPIClient, "request", seen_async["request"], "coroutine"))
        stack.enter_context(_probe(_base_client.AsyncAPIClient, "_attempt_request", seen_async["attempt"], "coroutine"))
        stack.enter_context(_probe(_streaming.AsyncStream, "_iter_events", seen_async["events"], "asyncgen"))
        client = anthropic.Anthropic(api_key="sk-check", base_url=sim.base_url, max_retries=1, **no_tracing)
        try:
            for _ in client.messages.create(**args, stream=True, extra_headers=scenario):
                pass
            client.messages.create(**args, extra_headers=scenario)
        except Exception as exc:
            return [f"a real call through the probes failed: {exc!r}"]

        async def run_async() -> None:
            async with anthropic.AsyncAnthropic(
                api_key="sk-check", base_url=sim.base_url, max_retries=1, **no_tracing
            ) as async_client:
                async for _ in await async_client.messages.create(**args, stream=True, extra_headers=scenario):
                    pass

        try:
            asyncio.run(run_async())
        except Exception as exc:
            return [f"a real async call through the probes failed: {exc!r}"]

    found += _check_requests("SyncAPIClient.request", seen["request"])
    found += _check_requests("AsyncAPIClient.request", seen_async["request"])
    found += _check_attempts("SyncAPIClient._attempt_request", seen["attempt"], sync=True)
    found += _check_attempts("AsyncAPIClient._attempt_request", seen_async["attempt"], sync=False)
    found += _check_events("Stream._iter_events", seen["events"])
    found += _check_events("AsyncStream._iter_events", seen_async["events"])
    found += _check_returned_streams("SyncAPIClient.request", seen["request"])
    found += _check_returned_streams("AsyncAPIClient.request", seen_async["request"])
    timeouts = [result for _, _, result in seen["timeout"]]
    if not timeouts:
        found.append("BaseClient._calculate_retry_timeout: not called before a retry any more")
    elif not all(isinstance(t, float) for t in timeouts):
        found.append(f"BaseClient._calculate_retry_timeout: returns {[type(t).__name__ for t in timeouts]}, not float")
    elif abs(timeouts[0] - 0.001) > 1e-9:
        found.append(f"BaseClient._calculate_retry_timeout: returned {timeouts[0]} for `retry-after-ms: 1`")
    return found


def _check_requests(where: str, calls: list[tuple[Any, ...]]) -> list[str]:
    if len(calls) < 1:
        return [f"{where}: never called for a Messages call"]
    found = []
    for args, kwargs, _ in calls:
        options = kwargs["options"] if "options" in kwargs else (args[1] if len(args) > 1 else None)
        if options is None:
            found.append(
                f"{where}: `options` neither in kwargs nor args[1] (args {len(args)}, kwargs {sorted(kwargs)})"
            )
            continue
        for attribute in ("url", "method", "json_data"):
            if not hasattr(options, attribute):
                found.append(f"{where}: options has no `.{attribute}` any more")
        if "stream" not in kwargs:
            found.append(f"{where}: `stream` is no longer passed as a keyword (kwargs {sorted(kwargs)})")
    return sorted(set(found))


def _check_attempts(where: str, calls: list[tuple[Any, ...]], sync: bool) -> list[str]:
    if len(calls) < 2:
        return [f"{where}: {len(calls)} call(s) for a call that made 2 HTTP attempts"]
    found = []
    retries = [kwargs.get("retries_taken") for _, kwargs, _ in calls]
    if 1 not in retries:
        found.append(f"{where}: `retries_taken` not passed as a keyword of value 1 on a retry (saw {retries})")
    for _, _, result in calls:
        if not (isinstance(result, tuple) and len(result) == 2):
            found.append(f"{where}: returns {type(result).__name__}, not (response, options)")
            continue
        response = result[0]
        for attribute in ("status_code", "headers", "is_closed", "stream", "request"):
            if not hasattr(response, attribute):
                found.append(f"{where}: the response has no `.{attribute}`")
        httpx = sys.modules.get(type(response).__module__.partition(".")[0])
        kind = "SyncByteStream" if sync else "AsyncByteStream"
        byte_stream = getattr(httpx, kind, None)
        if byte_stream is None or not isinstance(getattr(response, "stream", None), byte_stream):
            found.append(
                f"{where}: response.stream is {type(getattr(response, 'stream', None)).__name__}, not a {kind}"
            )
    return sorted(set(found))


def _check_events(where: str, items: list[tuple[Any, ...]]) -> list[str]:
    if not items:
        return [f"{where}: yielded nothing for a streamed call"]
    names = [getattr(item, "event", None) for _, _, item in items]
    found = []
    if not all(isinstance(getattr(item, "data", None), str) for _, _, item in items):
        found.append(f"{where}: the events have no `.data` string")
    if "message_start" not in names or "content_block_delta" not in names:
        found.append(f"{where}: the events' `.event` names are not the SSE event names (saw {names[:4]})")
    # The event observer reads the name from `_event`, the attribute behind the `event` property (falling back
    # to `.event` only where `_event` is missing): the two must agree.
    if any(getattr(item, "_event", name) != name for (_, _, item), name in zip(items, names, strict=True)):
        found.append(f"{where}: the events' `_event` is not what their `.event` property returns")
    return found


def _check_returned_streams(where: str, calls: list[tuple[Any, ...]]) -> list[str]:
    """A stream that `request()` returns observes its own events through an `_iter_events` of its own
    (`_streams.observe_stream`): it must be recognised as a stream, with `_iter_events` from its class."""
    from anthropic_otel import _sdk

    streams = [result for _, kwargs, result in calls if kwargs.get("stream")]
    if not streams:
        return [f"{where}: returned nothing for a streamed call"]
    found = []
    for stream in streams:
        if _sdk.event_stream_kind(stream) is None:
            found.append(f"{where}: returned a {type(stream).__name__}, not recognised as the SDK's Stream")
        elif _sdk.own_events_method(stream) is not None or not callable(getattr(stream, "_iter_events", None)):
            found.append(f"{where}: its stream's `_iter_events` is not the class's method")
    return found


def problems() -> list[str]:
    return static_problems() + live_problems()


# --- a temporary venv with the newest release ----------------------------------------------------------------


def _in_fresh_venv(version: str | None) -> int:
    with tempfile.TemporaryDirectory() as work:
        venv = Path(work) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
        spec = f"anthropic=={version}" if version else "anthropic"
        quiet = ["-q", "--disable-pip-version-check"]
        subprocess.run([python, "-m", "pip", "install", *quiet, "--upgrade", "pip"], check=True)
        # Ours first (its `instruments` range may pin an older SDK), then the release under test on top.
        subprocess.run([python, "-m", "pip", "install", *quiet, str(ROOT)], check=True)
        subprocess.run([python, "-m", "pip", "install", *quiet, "--upgrade", spec], check=True)
        return subprocess.run([python, __file__, "--installed"], check=False).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--installed", action="store_true", help="check the anthropic installed here")
    parser.add_argument("--version", help="check this release (default: the newest on the index)")
    args = parser.parse_args(argv)
    if not args.installed:
        return _in_fresh_venv(args.version)
    import anthropic

    from anthropic_otel._sdk import HOOK_POINTS

    found = problems()
    print(f"anthropic {anthropic.__version__}: {len(HOOK_POINTS)} hook points checked")
    for line in found:
        print(f"MOVED: {line}")
    if found:
        print("anthropic-otel's hooks do not fit this release: that part of the telemetry would be off or wrong.")
        return 1
    print("OK: every hook point is where our hooks expect it, with the arguments and results they read")
    return 0


if __name__ == "__main__":
    sys.exit(main())
