"""Our own failures: logged once per kind with a traceback, then only at debug level. Never raised."""

from __future__ import annotations

import logging
import os
import threading

logger = logging.getLogger("anthropic_otel")

_seen: set[str] = set()
_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A fork while another thread was logging copies `_lock` held by a thread the child does not have."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_after_fork_in_child)


def internal_error(kind: str) -> None:
    """Log the exception being handled as an internal failure of `kind`. Call from an `except` block."""
    with _lock:
        first = kind not in _seen
        _seen.add(kind)
    if first:
        logger.warning("anthropic-otel: %s failed; telemetry for this call may be incomplete", kind, exc_info=True)
    else:
        logger.debug("anthropic-otel: %s failed", kind, exc_info=True)


def reset() -> None:
    """Forget which kinds were logged (for tests and re-instrumentation)."""
    with _lock:
        _seen.clear()
