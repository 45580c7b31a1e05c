"""Configuration: `instrument()` arguments, else environment variables, else defaults (docs/configuration.md).

A wrong argument passed in code raises `ValueError` naming it (a bug the developer should see at once);
a wrong environment variable logs a warning and the default is used (it must never stop the application).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._log import logger

CallSpanMode = Literal["auto", "own", "native-only"]
CALL_SPAN_MODES: tuple[CallSpanMode, ...] = ("auto", "own", "native-only")
ENV_CALL_SPAN = "ANTHROPIC_OTEL_CALL_SPAN"

# Where captured content goes: the values of the OpenTelemetry GenAI utilities (`opentelemetry-util-genai`).
ContentMode = Literal["NO_CONTENT", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT"]
CONTENT_MODES: tuple[ContentMode, ...] = ("NO_CONTENT", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT")
# The booleans this variable took before the modes existed (and still takes in many instrumentations).
_CONTENT_BOOLEANS: dict[str, ContentMode] = {"true": "SPAN_ONLY", "false": "NO_CONTENT"}
ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"  # the GenAI conventions' opt-in
ENV_PROPAGATE = "ANTHROPIC_OTEL_PROPAGATE"
ENV_MAX_CONTENT_BYTES = "ANTHROPIC_OTEL_MAX_CONTENT_BYTES"
ENV_METRIC_ATTRIBUTES = "ANTHROPIC_OTEL_METRIC_ATTRIBUTES"
DEFAULT_MAX_CONTENT_BYTES = 4096
# Extra metric attributes a user may opt into: bounded per deployment (a handful of workspaces), never per call.
OPTIONAL_METRIC_ATTRIBUTES: dict[str, str] = {
    "anthropic.workspace.id": "anthropic-workspace-id",
    "anthropic.organization.id": "anthropic-organization-id",
}

# Arguments `instrument()` accepts besides ours: the providers OpenTelemetry instrumentors are given (a set-up that
# loops over instrumentors passes all of them), and the options `BaseInstrumentor.instrument` consumes itself in
# the versions we support but older ones forwarded to `_instrument`.
PROVIDER_ARGS = ("tracer_provider", "meter_provider", "logger_provider", "event_logger_provider")
_BASE_INSTRUMENTOR_ARGS = ("skip_dep_check", "raise_exception_on_conflict")
OUR_ARGS = ("call_span", "capture_content", "max_content_bytes", "metric_attributes", "propagate")


@dataclass(frozen=True)
class Config:
    call_span: CallSpanMode = "auto"
    capture_content: ContentMode = "NO_CONTENT"
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES
    metric_attributes: tuple[str, ...] = ()
    propagate: bool = True  # requests carry the trace context of the call span we start

    @property
    def content_on_span(self) -> bool:
        return self.capture_content in ("SPAN_ONLY", "SPAN_AND_EVENT")

    @property
    def content_in_event(self) -> bool:
        """Whether each call emits the `gen_ai.client.inference.operation.details` event (with its content)."""
        return self.capture_content in ("EVENT_ONLY", "SPAN_AND_EVENT")


def from_arguments(kwargs: Mapping[str, Any], environ: Mapping[str, str] = os.environ) -> Config:
    unknown = sorted(set(kwargs) - {*PROVIDER_ARGS, *_BASE_INSTRUMENTOR_ARGS, *OUR_ARGS})
    if unknown:
        named = ", ".join(name + _did_you_mean(name) for name in unknown)
        raise ValueError(
            f"AnthropicInstrumentor.instrument() got unknown argument(s): {named}; "
            f"accepted: {', '.join((*OUR_ARGS, *PROVIDER_ARGS))}"
        )

    call_span = kwargs.get("call_span")
    if call_span is None:
        call_span = _env_choice(environ, ENV_CALL_SPAN, CALL_SPAN_MODES, "auto")
    elif call_span not in CALL_SPAN_MODES:
        raise ValueError(f"call_span must be one of {', '.join(CALL_SPAN_MODES)}; got {call_span!r}")

    capture = kwargs.get("capture_content")
    if capture is None:
        capture = _env_content_mode(environ)
    else:
        mode = _content_mode(capture)
        if mode is None:
            raise ValueError(
                f"capture_content must be True, False or one of {', '.join(CONTENT_MODES)}; got {capture!r}"
            )
        capture = mode

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

    propagate = kwargs.get("propagate")
    if propagate is None:
        propagate = _env_choice(environ, ENV_PROPAGATE, ("true", "false"), "true") == "true"
    elif not isinstance(propagate, bool):
        raise ValueError(f"propagate must be True or False; got {propagate!r}")
    return Config(
        call_span=call_span,
        capture_content=capture,
        max_content_bytes=limit,
        metric_attributes=extra,
        propagate=propagate,
    )


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, (*OUR_ARGS, *PROVIDER_ARGS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _content_mode(value: object) -> ContentMode | None:
    """A content mode given in code: a bool, or a mode's name in any case."""
    if isinstance(value, bool):
        return "SPAN_ONLY" if value else "NO_CONTENT"
    if isinstance(value, str):
        upper = value.strip().upper()
        for mode in CONTENT_MODES:
            if mode == upper:
                return mode
    return None


def _env_content_mode(environ: Mapping[str, str]) -> ContentMode:
    raw = environ.get(ENV_CAPTURE_CONTENT)
    if raw is None or raw.strip() == "":
        return "NO_CONTENT"
    mode = _CONTENT_BOOLEANS.get(raw.strip().lower()) or _content_mode(raw)
    if mode is None:
        choices = ", ".join((*CONTENT_MODES, *_CONTENT_BOOLEANS))
        logger.warning("anthropic-otel: %s=%r is not one of %s; using NO_CONTENT", ENV_CAPTURE_CONTENT, raw, choices)
        return "NO_CONTENT"
    return mode


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
