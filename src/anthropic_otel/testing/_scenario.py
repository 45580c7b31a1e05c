"""Scenarios: which fault the simulator serves for each HTTP attempt.

A scenario is comma-separated steps; attempt n of a request (header `x-stainless-retry-count: n`) uses step n and
the last step repeats. A step is `name` or `name:key=value:key=value`. The step `mix:ok=70:rate_limit=5:...` draws
a fault by weight for every attempt.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ._platforms import AWS_ERRORS, AWS_STREAM_EXCEPTIONS, GCP_ERRORS, GCP_PASSTHROUGH

Kind = Literal["message", "error", "text_error", "stream_error", "stream_cut", "drop", "drop_mid_stream"]
ParamValue = int | float | str | bool

# Parameter name -> type; every fault accepts a subset.
_PARAM_TYPES: dict[str, type] = {
    "deltas": int,
    "interval": float,
    "delay": float,
    "cache_read": int,
    "cache_creation": int,
    "cache_creation_1h": int,
    "after": int,
    "retry_after": int,
    "retry_after_ms": int,
    "body_delay": float,
    "should_retry": bool,
    "message": str,
    "code": str,
    "type": str,
    "status": int,
    "aws": str,
    "gcp": str,
}
_MESSAGE_PARAMS = frozenset({"deltas", "interval", "delay", "cache_read", "cache_creation", "cache_creation_1h"})
# `aws=` / `gcp=` choose the error Bedrock / Vertex send instead of the one the fault maps to.
_PLATFORM_PARAMS = frozenset({"aws", "gcp"})
# `body_delay=S`: the error's headers at once, its body S seconds later, or as soon as `Simulator.release_held()`
# is called (a late body; a large S and no release: a body that never arrives before the client hangs up).
_ERROR_PARAMS = (
    frozenset({"retry_after", "retry_after_ms", "should_retry", "message", "code", "body_delay"}) | _PLATFORM_PARAMS
)
_TEXT_ERROR_PARAMS = frozenset({"retry_after", "retry_after_ms", "should_retry"})


@dataclass(frozen=True)
class FaultSpec:
    """What a fault does; `defaults` fill parameters the step leaves out."""

    name: str
    kind: Kind
    status: int = 200
    error_type: str = ""
    message: str = ""
    stop_reason: str = "end_turn"
    params: frozenset[str] = _MESSAGE_PARAMS
    defaults: Mapping[str, ParamValue] = field(default_factory=dict)
    description: str = ""


def _error(
    name: str, http_status: int, error_type: str, message: str, description: str, **extra: ParamValue
) -> FaultSpec:
    params = _ERROR_PARAMS | {"status"} | set(extra)
    return FaultSpec(
        name, "error", http_status, error_type, message, params=params, defaults=extra, description=description
    )


_SPECS: tuple[FaultSpec, ...] = (
    FaultSpec("ok", "message", description="200, stop_reason end_turn"),
    FaultSpec("max_tokens", "message", stop_reason="max_tokens", description="200, output_tokens == max_tokens"),
    FaultSpec("refusal", "message", stop_reason="refusal", description="200, stop_reason refusal"),
    FaultSpec("tool_use", "message", stop_reason="tool_use", description="200, a tool_use block"),
    FaultSpec("stop_sequence", "message", stop_reason="stop_sequence", description="200, stop_reason stop_sequence"),
    FaultSpec("ratelimit_low", "message", description="200, rate-limit headers at ~2% remaining"),
    FaultSpec("slow_first_token", "message", defaults={"delay": 0.5}, description="delay before the first token"),
    FaultSpec("slow_stream", "message", defaults={"interval": 0.2}, description="interval between deltas"),
    FaultSpec("stall", "message", defaults={"delay": 30.0}, description="sleep before sending anything"),
    _error(
        "rate_limit",
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit.",
        "429 with retry-after",
        retry_after=1,
    ),
    _error("overloaded", 529, "overloaded_error", "Overloaded", "529"),
    _error("server_error", 500, "api_error", "Internal server error", "500"),
    _error("timeout_error", 504, "timeout_error", "Request timed out", "504"),
    _error(
        "billing",
        402,
        "billing_error",
        "Your credit balance is too low to access the Anthropic API.",
        "402 (or status=403) with optional details.error_code",
        status=402,
    ),
    _error(
        "permission",
        403,
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
        "403",
    ),
    _error("auth", 401, "authentication_error", "invalid x-api-key", "401"),
    _error("not_found", 404, "not_found_error", "model: not found", "404"),
    _error("bad_request", 400, "invalid_request_error", "messages: field required", "400"),
    FaultSpec("too_large", "text_error", 413, params=_TEXT_ERROR_PARAMS, description="413 text/html body"),
    FaultSpec("bad_gateway", "text_error", 502, params=_TEXT_ERROR_PARAMS, description="502 text/plain body"),
    FaultSpec(
        "stream_error",
        "stream_error",
        529,
        "overloaded_error",
        "Overloaded",
        params=_ERROR_PARAMS | {"after", "type"},
        defaults={"after": 2},
        description="SSE `error` event after some deltas",
    ),
    FaultSpec(
        "stream_cut",
        "stream_cut",
        params=frozenset({"after"}),
        defaults={"after": 2},
        description="SSE ends cleanly without message_stop",
    ),
    FaultSpec("drop", "drop", 0, params=frozenset(), description="connection closed, no response"),
    FaultSpec(
        "drop_mid_stream",
        "drop_mid_stream",
        params=frozenset({"after"}),
        defaults={"after": 2},
        description="connection closed mid-body",
    ),
)
SPECS: dict[str, FaultSpec] = {spec.name: spec for spec in _SPECS}
FAULTS: tuple[str, ...] = tuple(SPECS)

# Statuses of the error types a `stream_error:type=...` step can name, used when the request does not stream.
ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class ScenarioError(ValueError):
    """A scenario string that does not parse."""


@dataclass(frozen=True)
class Step:
    """One fault with its parameters (defaults not applied; use `get`)."""

    name: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    weights: tuple[tuple[str, float], ...] = ()  # only for `mix`

    @property
    def spec(self) -> FaultSpec:
        return SPECS[self.name]

    def get(self, key: str, default: ParamValue | None = None) -> ParamValue | None:
        if key in self.params:
            return self.params[key]
        return self.spec.defaults.get(key, default)

    def number(self, key: str, default: float) -> float:
        value = self.get(key, default)
        return float(value) if isinstance(value, int | float) else default

    def __str__(self) -> str:
        if self.name == "mix":
            return "mix:" + ":".join(f"{n}={w:g}" for n, w in self.weights)
        return ":".join([self.name, *(f"{k}={_show(v)}" for k, v in self.params.items())])


def _show(value: ParamValue) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _convert(step: str, key: str, raw: str) -> ParamValue:
    kind = _PARAM_TYPES[key]
    try:
        if kind is bool:
            if raw.lower() not in ("true", "false"):
                raise ValueError(raw)
            return raw.lower() == "true"
        if kind is str:
            return raw
        value = int(raw) if kind is int else float(raw)
    except ValueError:
        raise ScenarioError(f"step {step!r}: {key}={raw!r} is not a valid {kind.__name__}") from None
    if value < 0 or value != value:  # negative or NaN
        raise ScenarioError(f"step {step!r}: {key}={raw!r} must not be negative")
    return value


def _parse_step(text: str) -> Step:
    name, *pairs = (part.strip() for part in text.split(":"))
    if name == "mix":
        return _parse_mix(text, pairs)
    spec = SPECS.get(name)
    if spec is None:
        raise ScenarioError(f"step {text!r}: unknown fault {name!r}; known faults: {', '.join(FAULTS)}, mix")
    params: dict[str, ParamValue] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ScenarioError(f"step {text!r}: expected key=value, got {pair!r}")
        if key not in spec.params:
            allowed = ", ".join(sorted(spec.params)) or "none"
            raise ScenarioError(f"step {text!r}: {name} takes no parameter {key!r} (allowed: {allowed})")
        params[key] = _convert(text, key, raw.strip())
    if name == "billing" and params.get("status", 402) not in (402, 403):
        raise ScenarioError(f"step {text!r}: billing status must be 402 or 403")
    status = params.get("status")
    if isinstance(status, int) and not 400 <= status <= 599:
        raise ScenarioError(f"step {text!r}: status must be an HTTP error status (400-599)")
    aws = params.get("aws")
    if aws is not None and aws not in AWS_ERRORS and aws not in AWS_STREAM_EXCEPTIONS:
        known = ", ".join(sorted(AWS_ERRORS))
        raise ScenarioError(f"step {text!r}: aws={aws!r} is not a Bedrock error; known: {known}")
    gcp = params.get("gcp")
    if gcp is not None and gcp not in GCP_ERRORS and gcp != GCP_PASSTHROUGH:
        known = ", ".join(sorted(GCP_ERRORS))
        raise ScenarioError(f"step {text!r}: gcp={gcp!r} is not a Google status; known: {known}, {GCP_PASSTHROUGH}")
    return Step(name, params)


def _parse_mix(text: str, pairs: list[str]) -> Step:
    weights: list[tuple[str, float]] = []
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if name not in SPECS:
            raise ScenarioError(f"step {text!r}: unknown fault {name!r} in mix; known faults: {', '.join(FAULTS)}")
        try:
            weight = float(raw) if sep else 1.0
        except ValueError:
            raise ScenarioError(f"step {text!r}: weight {raw!r} of {name} is not a number") from None
        if weight < 0 or weight != weight:
            raise ScenarioError(f"step {text!r}: weight of {name} must not be negative")
        weights.append((name, weight))
    if sum(w for _, w in weights) <= 0:
        raise ScenarioError(f"step {text!r}: a mix needs at least one fault with a positive weight")
    return Step("mix", weights=tuple(weights))


class Scenario:
    """A parsed scenario string such as `"rate_limit:retry_after_ms=1,overloaded,ok"`.

    Raises `ScenarioError` (a `ValueError`) when the string does not parse.
    """

    __slots__ = ("steps", "text")

    def __init__(self, text: str = "ok") -> None:
        parsed = _parse(text)
        self.text: str = parsed.text
        self.steps: tuple[Step, ...] = parsed.steps

    @classmethod
    def _build(cls, text: str, steps: tuple[Step, ...]) -> Scenario:
        scenario = cls.__new__(cls)
        scenario.text, scenario.steps = text, steps
        return scenario

    @classmethod
    def parse(cls, text: str | Scenario) -> Scenario:
        """A `Scenario` from a string (cached) or the scenario itself."""
        return text if isinstance(text, Scenario) else _parse(text)

    def step(self, attempt: int, rng: random.Random) -> Step:
        """The step serving `attempt` (0-based): a `mix` step draws a fault from `rng`."""
        step = self.steps[min(max(attempt, 0), len(self.steps) - 1)]
        if step.name != "mix":
            return step
        names = [n for n, _ in step.weights]
        return Step(rng.choices(names, weights=[w for _, w in step.weights])[0])

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Scenario({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scenario) and self.steps == other.steps

    def __hash__(self) -> int:
        return hash(self.text)


@functools.lru_cache(maxsize=512)
def _parse(text: str) -> Scenario:
    if not isinstance(text, str):
        raise ScenarioError(f"a scenario is a string, not {type(text).__name__}")
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(not p for p in parts):
        raise ScenarioError(f"scenario {text!r}: empty step")
    steps = tuple(_parse_step(p) for p in parts)
    return Scenario._build(",".join(str(s) for s in steps), steps)
