"""scripts/check_hook_points.py against the installed SDK: every hook point is where our hooks expect it, with the
arguments and results they read. And the checker does fail, loudly, when one moves."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from anthropic import _base_client

_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_hook_points.py"


def _load() -> Any:
    spec = importlib.util.spec_from_file_location("anthropic_otel_check_hook_points", _SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


check = _load()


def test_every_hook_point_fits_the_installed_sdk() -> None:
    assert check.static_problems() == []
    assert check.live_problems() == []


def test_a_missing_hook_point_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(_base_client.BaseClient, "_calculate_retry_timeout")
    found = check.static_problems()
    assert any("BaseClient._calculate_retry_timeout" in line and "gone" in line for line in found), found


def test_a_changed_signature_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def _attempt_request(self: Any, request: Any, *, stream: bool = False, attempt: int = 0) -> Any:
        raise AssertionError("never called")

    monkeypatch.setattr(_base_client.SyncAPIClient, "_attempt_request", _attempt_request)
    found = check.static_problems()
    assert any("SyncAPIClient._attempt_request" in line and "retries_taken" in line for line in found), found


def test_a_changed_result_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    original = _base_client.SyncAPIClient.__dict__["_attempt_request"]

    def _attempt_request(self: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, *args, **kwargs)[0]  # the response alone, no longer (response, options)

    monkeypatch.setattr(_base_client.SyncAPIClient, "_attempt_request", _attempt_request)
    found = check.live_problems()
    assert found, "a changed return shape must be reported"
