"""No secret and no content in any telemetry: a broad workload (every fault of the simulator, sync and async,
streamed and not, raw and streaming responses) with a distinctive API key, `Authorization` and `Cookie` default
headers, a secret in the query string and distinctive prompt text. Then every exported span (name, attributes,
events, links, status), every metric point's attributes and every log record of logger `anthropic_otel` (at DEBUG,
tracebacks included) is scanned: none of those values, nor the completion text, may appear. URL attributes never
carry a query string."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from _helpers import HAS_NATIVE_TRACING, MODEL, Harness, harness

from anthropic_otel.testing import FAULTS, Scenario, ScenarioError, Simulator

API_KEY = "sk-ant-api03-SECRETKEY-7f3a9c1e5b"
AUTHORIZATION = "Bearer SECRET-BEARER-TOKEN-42d1"
COOKIE = "session=SECRET-COOKIE-VALUE-99ab"
QUERY_SECRET = "SECRET-QUERY-VALUE-5e6f"
PROMPT = "PROMPT-Zanzibar-quokka-marmalade: what is the secret plan?"
SYSTEM = "SYSTEM-PROMPT-periwinkle-aardvark"
SECRETS = [API_KEY, "SECRETKEY-7f3a9c1e5b", AUTHORIZATION, "SECRET-BEARER", COOKIE, "SECRET-COOKIE", QUERY_SECRET]
CONTENT = [PROMPT, "Zanzibar-quokka", SYSTEM, "periwinkle-aardvark"]
# Quick faults only: parameters that would make a step slow are set small.
FAST = {"slow_first_token": "slow_first_token:delay=0.01", "slow_stream": "slow_stream:interval=0.001"}
FAST["stall"] = "stall:delay=0.01"


def _scenarios() -> list[tuple[str, int]]:
    """(scenario, max_retries): every fault once; retried errors ask for a 1 ms wait, and connection failures
    (whose backoff the SDK picks itself, ~0.5 s) are not retried."""
    found = []
    for fault in FAULTS:
        try:
            found.append((Scenario.parse(f"{fault}:retry_after_ms=1").text, 1))
        except ScenarioError:
            found.append((FAST.get(fault, fault), 0 if fault.startswith("drop") else 1))
    return found


class AllRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # The simulator (`anthropic_otel.testing`) plays the API: it sees the request, secrets and all.
        if not record.name.startswith("anthropic_otel.testing"):
            self.texts.append(self.format(record))


@pytest.fixture
def records() -> Iterator[AllRecords]:
    handler = AllRecords()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("anthropic_otel")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _client(sim: Simulator, h: Harness, native: bool, async_: bool) -> Any:
    options: dict[str, Any] = {}
    if HAS_NATIVE_TRACING:
        options["open_telemetry"] = {"tracer_provider": h.tracer_provider} if native else False
    cls = anthropic.AsyncAnthropic if async_ else anthropic.Anthropic
    return cls(
        api_key=API_KEY,
        base_url=sim.base_url,
        max_retries=1,
        timeout=5.0,
        default_headers={"Authorization": AUTHORIZATION, "Cookie": COOKIE},
        **options,
    )


def _args(scenario: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": MODEL,
        "max_tokens": 32,
        "system": SYSTEM,
        "messages": [{"role": "user", "content": PROMPT}],
        "extra_headers": {"x-sim-scenario": scenario},
        "extra_query": {"key": QUERY_SECRET},
        **extra,
    }


def _sync_workload(client: anthropic.Anthropic, completions: list[str], errors: list[str]) -> None:
    every = client
    for scenario, retries in _scenarios():
        client = every.with_options(max_retries=retries)
        for how in ("create", "stream", "raw", "streaming"):
            try:
                if how == "create":
                    message = client.messages.create(**_args(scenario))
                    completions += [getattr(b, "text", "") or "" for b in message.content]
                elif how == "stream":
                    text = []
                    for event in client.messages.create(**_args(scenario, stream=True)):
                        delta = getattr(event, "delta", None)
                        text.append(getattr(delta, "text", "") or "")
                    completions.append("".join(text))
                elif how == "raw":
                    raw = client.messages.with_raw_response.create(**_args(scenario))
                    completions.append(raw.http_response.text)
                else:
                    with client.messages.with_streaming_response.create(**_args(scenario)) as response:
                        completions.append(response.read().decode())
            except Exception as exc:  # an APIError, or the transport's own error for a body cut mid-stream
                errors.append(str(exc))
        try:
            client.messages.count_tokens(
                model=MODEL,
                messages=[{"role": "user", "content": PROMPT}],
                extra_headers={"x-sim-scenario": scenario},
                extra_query={"key": QUERY_SECRET},
            )
        except Exception as exc:
            errors.append(str(exc))


async def _async_workload(client: anthropic.AsyncAnthropic, completions: list[str], errors: list[str]) -> None:
    async with client:
        every = client
        for scenario, retries in _scenarios():
            client = every.with_options(max_retries=retries)
            for how in ("create", "stream", "helper"):
                try:
                    if how == "create":
                        message = await client.messages.create(**_args(scenario))
                        completions += [getattr(b, "text", "") or "" for b in message.content]
                    elif how == "stream":
                        text = []
                        async for event in await client.messages.create(**_args(scenario, stream=True)):
                            delta = getattr(event, "delta", None)
                            text.append(getattr(delta, "text", "") or "")
                        completions.append("".join(text))
                    else:
                        args = _args(scenario)
                        async with client.messages.stream(**args) as stream:
                            completions.append("".join([t async for t in stream.text_stream]))
                except Exception as exc:  # an APIError, or the transport's own error for a body cut mid-stream
                    errors.append(str(exc))


def _texts(h: Harness) -> list[tuple[str, str]]:
    """(where, text) for everything exported: spans in full, metric points' attributes."""
    found: list[tuple[str, str]] = []

    def add(where: str, value: Any) -> None:
        values = value if isinstance(value, (tuple, list)) else (value,)
        found.extend((where, str(v)) for v in values)

    for span in h.spans():
        where = f"span {span.name!r}"
        add(where, span.name)
        for key, value in (span.attributes or {}).items():
            add(f"{where} {key}", key)
            add(f"{where} {key}", value)
        for event in span.events:
            add(f"{where} event", event.name)
            for key, value in (event.attributes or {}).items():
                add(f"{where} event {key}", value)
        for link in span.links:
            for key, value in (link.attributes or {}).items():
                add(f"{where} link {key}", value)
        add(f"{where} status", span.status.description or "")
    for name, attrs, _ in h.series():
        for key, value in attrs.items():
            add(f"metric {name} {key}", key)
            add(f"metric {name} {key}", value)
    return found


@pytest.mark.parametrize("native", [True, False] if HAS_NATIVE_TRACING else [False], ids=lambda v: f"native={v}")
def test_no_secret_and_no_content_in_any_telemetry(native: bool, records: AllRecords) -> None:
    completions: list[str] = []
    errors: list[str] = []
    with Simulator() as sim, harness() as h:
        _sync_workload(_client(sim, h, native, async_=False), completions, errors)
        asyncio.run(_async_workload(_client(sim, h, native, async_=True), completions, errors))
        assert all(QUERY_SECRET in r.path for r in sim.requests), "the secrets really were sent"
        assert all(r.headers.get("cookie") == COOKIE for r in sim.requests)
        texts = _texts(h)
        ours = [s for s in h.spans() if s.instrumentation_scope and s.instrumentation_scope.name == "anthropic_otel"]
        assert h.left_open() == []

    assert len(ours) > 200 and len(texts) > 2000, "the workload produced telemetry to scan"
    assert completions and errors
    log_texts = [("log", text) for text in records.texts]
    needles = SECRETS + CONTENT + sorted({c for c in completions if len(c) >= 12})
    needles += sorted({e for e in errors if len(e) >= 24})  # error messages (they may quote the request)
    leaks = [(where, needle) for where, text in texts + log_texts for needle in needles if needle in text]
    assert leaks == [], leaks[:10]

    for span in ours:
        for key, value in (span.attributes or {}).items():
            if key.startswith("url.") or key.endswith(".url"):
                assert "?" not in str(value) and "key=" not in str(value), (span.name, key, value)
        assert "?" not in span.name, span.name
