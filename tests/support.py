"""What the tests share besides fixtures: the SDK under test, the constants of a call, and telemetry read back.

Test modules import from here (`from support import ...`; pytest puts this directory on sys.path); `conftest.py`
holds only fixtures, which pytest injects: no module imports `conftest`.
"""

from __future__ import annotations

from typing import Any

import anthropic
from opentelemetry.sdk.trace import ReadableSpan

from anthropic_otel.testing import Recording

SDK_VERSION = tuple(int(p) for p in anthropic.__version__.split(".")[:2])
HAS_NATIVE_TRACING = SDK_VERSION >= (1, 14)
API_KEY = "sk-ant-test-SECRET-KEY-0123456789"
PROMPT = "PROMPT-TEXT-must-never-appear-in-telemetry"
MODEL = "claude-sonnet-5-5"


class Telemetry(Recording):
    """A `Recording`, told apart into call spans (ours or the SDK's native ones) and our attempt spans."""

    def call_spans(self) -> list[ReadableSpan]:
        """Call spans: ours or the SDK's native ones (both carry `gen_ai.operation.name`)."""
        return [s for s in self.spans() if not is_attempt(s)]

    def attempt_spans(self) -> list[ReadableSpan]:
        """Our attempt spans, in the order they started."""
        return sorted((s for s in self.spans() if is_attempt(s)), key=lambda s: s.start_time or 0)

    def call_span(self) -> ReadableSpan:
        calls = self.call_spans()
        assert len(calls) == 1, [s.name for s in calls]
        return calls[0]

    def counter(self, name: str, **match: Any) -> int:
        """Sum of counter `name` over points whose attributes include `match` (dots spelled as `__`)."""
        return int(self.total(name, {k.replace("__", "."): v for k, v in match.items()}))

    def client_options(self, native: bool) -> dict[str, Any]:
        """The SDK client's tracing options: its native call span to our tracer provider, or off."""
        return client_options(self, native)


def is_attempt(span: ReadableSpan) -> bool:
    """One of our attempt spans (our scope, no `gen_ai.operation.name`), not a call span."""
    scope = span.instrumentation_scope
    return (
        scope is not None and scope.name == "anthropic_otel" and "gen_ai.operation.name" not in (span.attributes or {})
    )


def client_options(recording: Recording, native: bool) -> dict[str, Any]:
    """The SDK client's tracing options: on SDKs with native tracing, its own call span goes to `recording`'s tracer
    provider (`native`) or is off; older SDKs take no such option."""
    if not HAS_NATIVE_TRACING:
        return {}
    if native:
        return {"open_telemetry": {"tracer_provider": recording.tracer_provider}}
    return {"open_telemetry": False}


def messages(**extra: Any) -> dict[str, Any]:
    """The arguments of a small Messages call."""
    return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": PROMPT}], **extra}
