"""The simulator's stateful endpoints: Message Batches, Models and Files, kept in memory (thread-safe).

Each handler returns an `Outcome`: a status with a JSON body, or raw bytes (batch results, file content).
Error outcomes carry a first-party `error.type` so the server can render them like any other error.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ._responses import new_id

BATCH_EXPIRY_S = 24 * 3600
DEFAULT_PAGE = 20
MAX_PAGE = 1000


@dataclass(frozen=True)
class Outcome:
    """What an endpoint answers: `body` (JSON) or `data` (bytes of `content_type`); `error_type` for an error."""

    status: int = 200
    body: Mapping[str, Any] | None = None
    data: bytes | None = None
    content_type: str = "application/json"
    error_type: str | None = None
    message: str = ""


def error(status: int, error_type: str, message: str) -> Outcome:
    return Outcome(status, error_type=error_type, message=message)


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _first(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def paginate(items: Sequence[Mapping[str, Any]], query: Mapping[str, list[str]]) -> Outcome:
    """One page of `items` (newest first) by `limit`, `after_id` and `before_id`, as the API pages lists."""
    raw_limit = _first(query, "limit")
    try:
        limit = DEFAULT_PAGE if raw_limit is None else int(raw_limit)
    except ValueError:
        return error(400, "invalid_request_error", f"limit: {raw_limit!r} is not an integer")
    if not 1 <= limit <= MAX_PAGE:
        return error(400, "invalid_request_error", f"limit: must be between 1 and {MAX_PAGE}")
    after, before = _first(query, "after_id"), _first(query, "before_id")
    if after and before:
        return error(400, "invalid_request_error", "after_id and before_id cannot both be given")
    ids = [str(item["id"]) for item in items]
    if before:
        end = ids.index(before) if before in ids else 0
        start = max(0, end - limit)
        page, has_more = items[start:end], start > 0
    else:
        start = ids.index(after) + 1 if after and after in ids else (len(ids) if after else 0)
        page, has_more = items[start : start + limit], start + limit < len(items)
    body = {
        "data": list(page),
        "has_more": has_more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }
    return Outcome(body=body)


# --- models -----------------------------------------------------------------------------------------------

# (id, display name, release date): newest first, as the API lists them.
MODELS: tuple[tuple[str, str, str], ...] = (
    ("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-01"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-14"),
)


def model_info(model_id: str, display_name: str, released: str) -> dict[str, Any]:
    return {
        "id": model_id,
        "type": "model",
        "display_name": display_name,
        "created_at": f"{released}T00:00:00Z",
        "lifecycle": "active",
        "max_input_tokens": 200_000,
        "max_tokens": 64_000,
    }


_MODEL_INFOS = [model_info(*m) for m in MODELS]


def list_models(query: Mapping[str, list[str]]) -> Outcome:
    return paginate(_MODEL_INFOS, query)


def retrieve_model(model_id: str) -> Outcome:
    for info in _MODEL_INFOS:
        if info["id"] == model_id:
            return Outcome(body=info)
    return error(404, "not_found_error", f"model: {model_id}")


# --- message batches and files ----------------------------------------------------------------------------


@dataclass
class _Batch:
    id: str
    created: float
    ends: float
    custom_ids: list[str]
    results: list[dict[str, Any]]  # one `result` object per request, by position
    canceled_at: float | None = None


@dataclass
class _File:
    id: str
    filename: str
    mime_type: str
    content: bytes
    created: float


@dataclass
class Store:
    """In-memory batches and files. `batch_seconds`: how long a new batch stays `in_progress`."""

    batch_seconds: float = 0.0
    clock: Callable[[], float] = time.time
    _batches: dict[str, _Batch] = field(default_factory=dict)
    _files: dict[str, _File] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()
            self._files.clear()

    # batches

    def _batch_view(self, batch: _Batch, base_url: str, now: float, canceling: bool = False) -> dict[str, Any]:
        n = len(batch.custom_ids)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        ended_at: float | None = None
        if canceling:
            status, counts["processing"] = "canceling", n
        elif batch.canceled_at is not None:
            status, counts["canceled"], ended_at = "ended", n, batch.canceled_at
        elif now >= batch.ends:
            status, ended_at = "ended", batch.ends
            for result in batch.results:
                counts[str(result["type"])] += 1
        else:
            status, counts["processing"] = "in_progress", n
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": _time(batch.created),
            "expires_at": _time(batch.created + BATCH_EXPIRY_S),
            "ended_at": _time(ended_at) if ended_at is not None else None,
            "cancel_initiated_at": _time(batch.canceled_at) if batch.canceled_at is not None else None,
            "archived_at": None,
            "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if ended_at is not None else None,
        }

    def create_batch(
        self, body: Mapping[str, Any], render: Callable[[Mapping[str, Any]], dict[str, Any]], base_url: str
    ) -> Outcome:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return error(400, "invalid_request_error", "requests: Field required (a non-empty list)")
        custom_ids: list[str] = []
        results: list[dict[str, Any]] = []
        for i, request in enumerate(requests):
            params = request.get("params") if isinstance(request, Mapping) else None
            custom_id = request.get("custom_id") if isinstance(request, Mapping) else None
            if not isinstance(custom_id, str) or not custom_id or not isinstance(params, Mapping):
                return error(400, "invalid_request_error", f"requests.{i}: custom_id and params are required")
            if custom_id in custom_ids:
                return error(400, "invalid_request_error", f"requests.{i}: duplicate custom_id {custom_id!r}")
            custom_ids.append(custom_id)
            results.append(render(params))
        now = self.clock()
        batch = _Batch(new_id("msgbatch_sim_"), now, now + self.batch_seconds, custom_ids, results)
        with self._lock:
            self._batches[batch.id] = batch
        # A new batch is always reported `in_progress`, however short its processing.
        view = self._batch_view(batch, base_url, now=batch.created - 1)
        return Outcome(body=view)

    def _get_batch(self, batch_id: str) -> _Batch | Outcome:
        batch = self._batches.get(batch_id)
        return batch if batch is not None else error(404, "not_found_error", f"message batch {batch_id} not found")

    def retrieve_batch(self, batch_id: str, base_url: str) -> Outcome:
        with self._lock:
            batch = self._get_batch(batch_id)
            if isinstance(batch, Outcome):
                return batch
            return Outcome(body=self._batch_view(batch, base_url, self.clock()))

    def list_batches(self, query: Mapping[str, list[str]], base_url: str) -> Outcome:
        now = self.clock()
        with self._lock:
            views = [self._batch_view(b, base_url, now) for b in reversed(self._batches.values())]
        return paginate(views, query)

    def cancel_batch(self, batch_id: str, base_url: str) -> Outcome:
        now = self.clock()
        with self._lock:
            batch = self._get_batch(batch_id)
            if isinstance(batch, Outcome):
                return batch
            if batch.canceled_at is not None or now >= batch.ends:
                return Outcome(body=self._batch_view(batch, base_url, now))
            # Cancellation is reported as `canceling` once and has finished by the next read.
            batch.canceled_at = now
            return Outcome(body=self._batch_view(batch, base_url, now, canceling=True))

    def delete_batch(self, batch_id: str) -> Outcome:
        now = self.clock()
        with self._lock:
            batch = self._get_batch(batch_id)
            if isinstance(batch, Outcome):
                return batch
            if batch.canceled_at is None and now < batch.ends:
                return error(400, "invalid_request_error", "a batch can only be deleted once it has ended")
            del self._batches[batch_id]
        return Outcome(body={"id": batch_id, "type": "message_batch_deleted"})

    def batch_results(self, batch_id: str) -> Outcome:
        now = self.clock()
        with self._lock:
            batch = self._get_batch(batch_id)
            if isinstance(batch, Outcome):
                return batch
            if batch.canceled_at is None and now < batch.ends:
                return error(400, "invalid_request_error", "the batch is still in progress: no results yet")
            canceled = batch.canceled_at is not None
            lines = [
                {"custom_id": custom_id, "result": {"type": "canceled"} if canceled else result}
                for custom_id, result in zip(batch.custom_ids, batch.results, strict=True)
            ]
        data = "".join(_json_line(line) for line in lines).encode()
        return Outcome(data=data, content_type="application/binary")

    # files

    @staticmethod
    def _file_view(stored: _File) -> dict[str, Any]:
        return {
            "id": stored.id,
            "type": "file",
            "filename": stored.filename,
            "mime_type": stored.mime_type,
            "size_bytes": len(stored.content),
            "created_at": _time(stored.created),
            "downloadable": True,
        }

    def add_file(self, filename: str, mime_type: str, content: bytes) -> Outcome:
        stored = _File(new_id("file_sim_"), filename, mime_type, content, self.clock())
        with self._lock:
            self._files[stored.id] = stored
        return Outcome(body=self._file_view(stored))

    def _get_file(self, file_id: str) -> _File | Outcome:
        stored = self._files.get(file_id)
        return stored if stored is not None else error(404, "not_found_error", f"file {file_id} not found")

    def list_files(self, query: Mapping[str, list[str]]) -> Outcome:
        with self._lock:
            views = [self._file_view(f) for f in reversed(self._files.values())]
        return paginate(views, query)

    def retrieve_file(self, file_id: str) -> Outcome:
        with self._lock:
            stored = self._get_file(file_id)
        return stored if isinstance(stored, Outcome) else Outcome(body=self._file_view(stored))

    def delete_file(self, file_id: str) -> Outcome:
        with self._lock:
            stored = self._get_file(file_id)
            if isinstance(stored, Outcome):
                return stored
            del self._files[file_id]
        return Outcome(body={"id": file_id, "type": "file_deleted"})

    def download_file(self, file_id: str) -> Outcome:
        with self._lock:
            stored = self._get_file(file_id)
        if isinstance(stored, Outcome):
            return stored
        return Outcome(data=stored.content, content_type=stored.mime_type)


def _json_line(value: Any) -> str:
    return json.dumps(value, separators=(",", ":")) + "\n"


def parse_multipart(content_type: str, raw: bytes) -> tuple[str, str, bytes] | None:
    """(filename, mime type, content) of the `file` part of a multipart/form-data body, or None."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        return None
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") != "file":
            continue
        content = part.get_payload(decode=True)
        if not isinstance(content, bytes):
            return None
        filename = part.get_filename() or "upload"
        return str(filename), part.get_content_type(), content
    return None
