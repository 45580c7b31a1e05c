"""Configuration: `instrument()` arguments, else environment variables, else defaults.

A wrong argument passed in code raises `ValueError` naming it (a bug the developer should see at once);
a wrong environment variable logs a warning and the default is used (it must never stop the application).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._log import logger

CallSpanMode = Literal["auto", "own", "native-only"]
CALL_SPAN_MODES: tuple[CallSpanMode, ...] = ("auto", "own", "native-only")
ENV_CALL_SPAN = "ANTHROPIC_OTEL_CALL_SPAN"

ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"  # the GenAI conventions' opt-in
ENV_MAX_CONTENT_BYTES = "ANTHROPIC_OTEL_MAX_CONTENT_BYTES"
ENV_METRIC_ATTRIBUTES = "ANTHROPIC_OTEL_METRIC_ATTRIBUTES"
DEFAULT_MAX_CONTENT_BYTES = 4096
# Extra metric attributes a user may opt into: bounded per deployment (a handful of workspaces), never per call.
OPTIONAL_METRIC_ATTRIBUTES: dict[str, str] = {
    "anthropic.workspace.id": "anthropic-workspace-id",
    "anthropic.organization.id": "anthropic-organization-id",
}

# Arguments `instrument()` accepts besides ours: the providers.
_PROVIDER_ARGS = ("tracer_provider", "meter_provider")
_OUR_ARGS = ("call_span", "capture_content", "max_content_bytes", "metric_attributes")


@dataclass(frozen=True)
class Config:
    call_span: CallSpanMode = "auto"
    capture_content: bool = False
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    metric_attributes: tuple[str, ...] = ()


def from_arguments(kwargs: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Config:
    unknown = sorted(set(kwargs) - {*_PROVIDER_ARGS, *_OUR_ARGS})
    if unknown:
        raise ValueError(f"AnthropicInstrumentor.instrument() got unknown argument(s): {', '.join(unknown)}")

    call_span = kwargs.get("call_span")
    if call_span is None:
        call_span = _env_choice(environ, ENV_CALL_SPAN, CALL_SPAN_MODES, "auto")
    elif call_span not in CALL_SPAN_MODES:
        raise ValueError(f"call_span must be one of {', '.join(CALL_SPAN_MODES)}; got {call_span!r}")

    capture = kwargs.get("capture_content")
    if capture is None:
        capture = _env_choice(environ, ENV_CAPTURE_CONTENT, ("true", "false"), "false") == "true"
    elif not isinstance(capture, bool):
        raise ValueError(f"capture_content must be True or False; got {capture!r}")

    limit = kwargs.get("max_content_bytes")
    if limit is None:
        limit = _env_int(environ, ENV_MAX_CONTENT_BYTES, DEFAULT_MAX_CONTENT_BYTES)
    elif not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"max_content_bytes must be a positive int; got {limit!r}")

    extra = kwargs.get("metric_attributes")
    if extra is None:
        raw = environ.get(ENV_METRIC_ATTRIBUTES, "")
        extra = tuple(name.strip() for name in raw.split(",") if name.strip())
        bad = [name for name in extra if name not in OPTIONAL_METRIC_ATTRIBUTES]
        if bad:
            logger.warning("anthropic-otel: %s: ignoring unknown %s", ENV_METRIC_ATTRIBUTES, ", ".join(bad))
            extra = tuple(name for name in extra if name in OPTIONAL_METRIC_ATTRIBUTES)
    else:
        if isinstance(extra, str) or not all(isinstance(name, str) for name in extra):
            raise ValueError(f"metric_attributes must be a sequence of names; got {extra!r}")
        bad = [name for name in extra if name not in OPTIONAL_METRIC_ATTRIBUTES]
        if bad:
            known = ", ".join(OPTIONAL_METRIC_ATTRIBUTES)
            raise ValueError(f"metric_attributes: unknown {', '.join(bad)} (known: {known})")
        extra = tuple(extra)
    return Config(call_span=call_span, capture_content=capture, max_content_bytes=limit, metric_attributes=extra)


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    logger.warning("anthropic-otel: %s=%r is not a positive integer; using %d", name, raw, default)
    return default


def _env_choice(environ: Mapping[str, str], name: str, choices: tuple[Any, ...], default: Any) -> Any:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in choices:
        return value
    logger.warning("anthropic-otel: %s=%r is not one of %s; using %r", name, raw, ", ".join(choices), default)
    return default
