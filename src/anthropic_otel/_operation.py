"""What a request is, in the telemetry's terms: its `gen_ai.operation.name` and `gen_ai.provider.name`."""

from __future__ import annotations

from . import _catalog as cat
from . import _sdk

_ACTIONS = frozenset(("cancel", "results"))


def operation_name(method: str, path: str) -> str:
    """A short, stable `gen_ai.operation.name` for an API request: `chat` for messages, else `<resource>.<verb>`
    named after the SDK method (`batches.create`, `models.list`, `files.download`). Ids never appear in it."""
    path = path.split("?", 1)[0].rstrip("/")
    known = cat.OPERATIONS.get(path)
    if known is not None:
        return known
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["v1"]:
        parts = parts[1:]
    if parts[:2] == ["messages", "batches"]:
        resource, rest = "batches", parts[2:]
    elif parts and parts[0] in ("models", "files"):
        resource, rest = parts[0], parts[1:]
    else:
        return "_OTHER"
    method = method.upper()
    if not rest:
        verb = {"GET": "list", "POST": "upload" if resource == "files" else "create"}.get(method, "_OTHER")
    elif len(rest) == 1:
        verb = {"GET": "retrieve", "DELETE": "delete", "POST": "update"}.get(method, "_OTHER")
    else:
        verb = {"content": "download"}.get(rest[1], rest[1] if rest[1] in _ACTIONS else "_OTHER")
    return f"{resource}.{verb}"


_providers: dict[type, str] = {}


def provider_name(client: object) -> str:
    """`aws.bedrock`, `gcp.vertex_ai` or `anthropic`, by the client's class (cached per class)."""
    klass = type(client)
    provider = _providers.get(klass)
    if provider is None:
        names = _sdk.client_class_names(client)
        if "Bedrock" in names:
            provider = cat.PROVIDER_BEDROCK
        elif "Vertex" in names:
            provider = cat.PROVIDER_VERTEX
        else:
            provider = cat.PROVIDER_ANTHROPIC
        _providers[klass] = provider
    return provider
