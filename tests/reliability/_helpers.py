"""Shared pieces of the reliability tests: an instrumented OpenTelemetry SDK setup with everything a test needs to
check (exported spans, open spans, metric points, our own WARNING records), and a workload that exercises every
way the application uses the SDK, described by what the application sees (never by ids, which are random)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import anthropic

from anthropic_otel import AnthropicInstrumentor, _log
from support import API_KEY, HAS_NATIVE_TRACING, MODEL, PROMPT, SDK_VERSION, Telemetry, is_attempt

__all__ = [
    "API_KEY",
    "HAS_NATIVE_TRACING",
    "MODEL",
    "PROMPT",
    "SDK_VERSION",
    "Harness",
    "WarningRecords",
    "harness",
    "is_attempt",
    "new_client",
    "run_async_workload",
    "run_sync_workload",
]

LOGGER = "anthropic_otel"


class WarningRecords(logging.Handler):
    """Collects the records of level WARNING and above that logger `anthropic_otel` emits."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self) -> list[str]:
        return [r.getMessage() for r in self.records]


class Harness(Telemetry):
    """The recording providers, with the instrumentor that uses them and our WARNING records."""

    def __init__(self) -> None:
        super().__init__()
        self.instrumentor = AnthropicInstrumentor()
        self.warnings = WarningRecords()


@contextmanager
def harness(*, instrument: bool = True, **instrument_args: Any) -> Iterator[Harness]:
    """A `Recording` (in-memory spans, open-span tracking, in-memory metrics), our WARNING records, and
    `AnthropicInstrumentor().instrument(...)` for the duration of the block."""
    logger = logging.getLogger(LOGGER)
    with Harness() as h:
        logger.addHandler(h.warnings)
        _log.reset()
        if instrument:
            h.instrumentor.instrument(
                tracer_provider=h.tracer_provider, meter_provider=h.meter_provider, **instrument_args
            )
        try:
            yield h
        finally:
            if instrument:
                h.instrumentor.uninstrument()
            logger.removeHandler(h.warnings)
            _log.reset()


def new_client(base_url: str, h: Harness | None, *, native: bool = False, async_: bool = False, **options: Any) -> Any:
    options.setdefault("max_retries", 2)
    options.setdefault("timeout", 10.0)
    if h is not None:
        options.update(h.client_options(native))
    elif HAS_NATIVE_TRACING:
        options.setdefault("open_telemetry", False)
    cls = anthropic.AsyncAnthropic if async_ else anthropic.Anthropic
    return cls(api_key=API_KEY, base_url=base_url, **options)


def _args(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}], **extra}


def _scenario(scenario: str) -> dict[str, Any]:
    return {"extra_headers": {"x-sim-scenario": scenario}}


def _error(exc: BaseException) -> tuple[Any, ...]:
    body = getattr(exc, "body", None)
    error_type = body.get("error", {}).get("type") if isinstance(body, dict) else None
    return ("raised", type(exc).__name__, getattr(exc, "status_code", None), error_type)


def _message(message: Any) -> tuple[Any, ...]:
    text = "".join(getattr(block, "text", "") or "" for block in message.content)
    usage = message.usage
    return ("message", message.stop_reason, text, usage.input_tokens, usage.output_tokens, message.model)


# (name, scenario, kind): every way the workload calls the SDK. `retried` scenarios recover after failures.
WORKLOAD: list[tuple[str, str]] = [
    ("create", "ok"),
    ("create", "overloaded:retry_after_ms=1,rate_limit:retry_after_ms=1,max_tokens"),
    ("create", "billing:status=403:code=enforced_spend_limit_reached"),
    ("create", "server_error:retry_after_ms=1"),  # retried, then exhausted
    ("create-no-retry", "drop"),  # a connection failure: no response at all
    ("stream", "ok:deltas=4"),
    ("stream", "overloaded:retry_after_ms=1,tool_use"),
    ("stream", "stream_error:after=2"),
    ("stream", "stream_cut:after=2"),
    ("stream-break", "ok:deltas=6"),
    ("stream-helper", "rate_limit:retry_after_ms=1,ok"),
    ("raw", "overloaded:retry_after_ms=1,ok"),
    ("streaming-response", "ok"),
    ("count-tokens", "ok"),
]


def run_sync_workload(
    client: anthropic.Anthropic, workload: list[tuple[str, str]] = WORKLOAD, *, parallel: bool = True
) -> list[Any]:
    """What the application sees for each item of `workload`, with a sync client (items run in threads at once,
    unless `parallel=False`: the simulator's error responses take ~40 ms each over loopback)."""
    if not parallel:
        return [_sync_item(client, kind, scenario) for kind, scenario in workload]
    with ThreadPoolExecutor(max_workers=len(workload)) as pool:
        return list(pool.map(lambda item: _sync_item(client, *item), workload))


def _sync_item(client: anthropic.Anthropic, kind: str, scenario: str) -> Any:
    headers = _scenario(scenario)
    try:
        if kind == "create":
            return _message(client.messages.create(**_args(), **headers))
        elif kind == "create-no-retry":
            return _message(client.with_options(max_retries=0).messages.create(**_args(), **headers))
        elif kind == "stream":
            events = []
            for event in client.messages.create(**_args(stream=True), **headers):
                events.append(event.type)
            return ("events", events)
        elif kind == "stream-break":
            stream = client.messages.create(**_args(stream=True), **headers)
            events = []
            for event in stream:
                events.append(event.type)
                if event.type == "content_block_delta":
                    break
            stream.close()
            return ("events", events)
        elif kind == "stream-helper":
            with client.messages.stream(**_args(), **headers) as helper:
                text = "".join(helper.text_stream)
                final = helper.get_final_message()
            return ("helper", text, _message(final))
        elif kind == "raw":
            raw = client.messages.with_raw_response.create(**_args(), **headers)
            return ("raw", raw.status_code, _message(raw.parse()))
        elif kind == "streaming-response":
            with client.messages.with_streaming_response.create(**_args(), **headers) as response:
                body = b"".join(response.iter_bytes())
            return ("bytes", response.status_code, len(body) > 0)
        elif kind == "count-tokens":
            counted = client.messages.count_tokens(
                model=MODEL, messages=[{"role": "user", "content": PROMPT}], **headers
            )
            return ("count", counted.input_tokens)
        else:  # pragma: no cover
            raise AssertionError(kind)
    except anthropic.APIError as exc:
        return _error(exc)


async def _async_item(client: anthropic.AsyncAnthropic, kind: str, scenario: str) -> Any:
    headers = _scenario(scenario)
    try:
        if kind == "create":
            return _message(await client.messages.create(**_args(), **headers))
        elif kind == "create-no-retry":
            no_retry = client.with_options(max_retries=0)
            return _message(await no_retry.messages.create(**_args(), **headers))
        elif kind == "stream":
            events = [event.type async for event in await client.messages.create(**_args(stream=True), **headers)]
            return ("events", events)
        elif kind == "stream-break":
            stream = await client.messages.create(**_args(stream=True), **headers)
            events = []
            async for event in stream:
                events.append(event.type)
                if event.type == "content_block_delta":
                    break
            await stream.close()
            return ("events", events)
        elif kind == "stream-helper":
            async with client.messages.stream(**_args(), **headers) as helper:
                text = "".join([t async for t in helper.text_stream])
                final = await helper.get_final_message()
            return ("helper", text, _message(final))
        elif kind == "raw":
            raw = await client.messages.with_raw_response.create(**_args(), **headers)
            parsed = raw.parse()  # a coroutine on SDKs >= 1.0, the message itself on older ones
            return ("raw", raw.status_code, _message(await parsed if inspect.isawaitable(parsed) else parsed))
        elif kind == "streaming-response":
            async with client.messages.with_streaming_response.create(**_args(), **headers) as response:
                body = b"".join([chunk async for chunk in response.iter_bytes()])
            return ("bytes", response.status_code, len(body) > 0)
        elif kind == "count-tokens":
            counted = await client.messages.count_tokens(
                model=MODEL, messages=[{"role": "user", "content": PROMPT}], **headers
            )
            return ("count", counted.input_tokens)
        else:  # pragma: no cover
            raise AssertionError(kind)
    except anthropic.APIError as exc:
        return _error(exc)


async def _run_async(client: anthropic.AsyncAnthropic, workload: list[tuple[str, str]], parallel: bool) -> list[Any]:
    try:
        if parallel:
            return list(await asyncio.gather(*(_async_item(client, *item) for item in workload)))
        return [await _async_item(client, *item) for item in workload]
    finally:
        await client.close()


def run_async_workload(
    client: anthropic.AsyncAnthropic, workload: list[tuple[str, str]] = WORKLOAD, *, parallel: bool = True
) -> list[Any]:
    """What the application sees for each item of `workload`, with an async client (in a fresh event loop; the
    items run as concurrent tasks unless `parallel=False`)."""
    return asyncio.run(_run_async(client, workload, parallel))
