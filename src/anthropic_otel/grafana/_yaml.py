"""Deterministic, readable YAML: insertion order kept, multi-line strings (PromQL, descriptions) as `|` blocks."""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as hand-written rule files do (and yamllint expects).
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True  # repeated small dicts stay inline copies: anchors confuse readers and some tools


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump(data: Any, header: str = "") -> str:
    body = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=100_000, allow_unicode=True, default_flow_style=False)
    return header + body
