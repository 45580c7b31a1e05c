"""Claude API prices as data: the table shipped in `prices.json`, a user's file merged over it, and what a call
cost.

The table is read by the Grafana generator (which renders it into Prometheus recording rules, so a price change
is a rules regeneration, never an application redeploy), by the simulator's spend limit and by the demo's
summary. Nothing here runs on the instrumentation's hot path.

A model belongs to a family when its id is the family id, optionally with a snapshot date (`-20250929`, Vertex's
`@20250929`), Bedrock's `[region.]anthropic.` prefix and `-v1:0` suffix. A model that matches no family is
*unpriced*: its tokens are counted as such, never priced by a guess.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

# A user's price file, read wherever no path is given (generator setting `price_file` takes precedence).
ENV_PRICE_FILE = "ANTHROPIC_OTEL_PRICE_FILE"
# The token categories a price row has, in the order the docs and the rules list them.
CATEGORIES: tuple[str, ...] = ("input", "cache_write_5m", "cache_write_1h", "cache_read", "output")


@dataclass(frozen=True)
class Rates:
    """USD per million tokens of each category."""

    input: float
    cache_write_5m: float
    cache_write_1h: float
    cache_read: float
    output: float

    def per_token(self, category: str) -> float:
        return float(getattr(self, category)) / 1_000_000

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> Rates:
        missing = [c for c in CATEGORIES if c not in data]
        if missing:
            raise ValueError(f"{where}: missing price(s) {missing}")
        values = {}
        for category in CATEGORIES:
            value = data[category]
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{where}: {category} must be a non-negative number, got {value!r}")
            values[category] = float(value)
        return cls(**values)


@dataclass(frozen=True)
class LongContext:
    """Rates for a whole request whose prompt (input + cache reads + cache writes) exceeds `above_prompt_tokens`."""

    above_prompt_tokens: int
    rates: Rates


@dataclass(frozen=True)
class Family:
    family: str  # the model id without a snapshot date, e.g. `claude-sonnet-4-5`
    rates: Rates
    long_context: LongContext | None = None
    source: str = ""

    @property
    def pattern(self) -> str:
        """The model ids of this family, as a regular expression that Python and Prometheus (RE2) read alike;
        Prometheus anchors it, Python's `fullmatch` does the same."""
        return model_regex((self,))


# Bedrock's optional `[region.]anthropic.` prefix; a snapshot date (`-20250929` or Vertex's `@20250929`) and
# Bedrock's version suffix (`-v1:0`), both optional. (No character classes: the dashboard checks read `[...]` as
# a range selector's window.)
MODEL_PREFIX = r"(?:\w+\.)?(?:anthropic\.)?"
MODEL_SUFFIX = r"(?:(?:-|@)\d{8})?(?:-v\d+(?::\d+)?)?"


def model_regex(families: Sequence[Family]) -> str:
    """The model ids of any of `families`, as one regular expression (prefix and suffix written once)."""
    ids = "|".join(re.escape(f.family).replace(r"\-", "-") for f in families)
    return f"{MODEL_PREFIX}(?:{ids}){MODEL_SUFFIX}"


@dataclass(frozen=True)
class Usage:
    """A call's token counts by price category. Cache writes whose lifetime the response did not tell are
    priced at the default lifetime (5 minutes): the API reports a breakdown whenever a 1-hour write happened."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    @property
    def prompt(self) -> int:
        return self.input + self.cache_read + self.cache_write_5m + self.cache_write_1h


@dataclass(frozen=True)
class PriceTable:
    source: str
    read: str
    currency: str
    batch_discount: float
    families: tuple[Family, ...]

    def family_of(self, model: str) -> Family | None:
        """The family of a model id, or None (unpriced). Longer family ids win: `claude-opus-4-5` is not
        `claude-opus-4` (the patterns cannot overlap anyway: the suffix after a family id is only a date)."""
        for family in self.families:
            if re.fullmatch(family.pattern, model):
                return family
        return None

    def cost(self, model: str, usage: Usage) -> float | None:
        """USD for one call, or None for an unpriced model. A long-context request pays the long-context rates
        on every token, output included (the pricing page's rule)."""
        family = self.family_of(model)
        if family is None:
            return None
        rates = family.rates
        if family.long_context is not None and usage.prompt > family.long_context.above_prompt_tokens:
            rates = family.long_context.rates
        return float(sum(getattr(usage, category) * rates.per_token(category) for category in CATEGORIES))

    def uncached_cost(self, model: str, usage: Usage) -> float | None:
        """What the same tokens would have cost with no prompt cache: every cached token at the input rate."""
        plain = Usage(input=usage.prompt, output=usage.output)
        return self.cost(model, plain)


def _family(data: Mapping[str, Any]) -> Family:
    name = data.get("family")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", name):
        raise ValueError(f"price family needs a lower-case model id as `family`, got {name!r}")
    long_context = None
    if data.get("long_context") is not None:
        lc = data["long_context"]
        threshold = lc.get("above_prompt_tokens")
        if not isinstance(threshold, int) or threshold <= 0:
            raise ValueError(f"{name}: long_context.above_prompt_tokens must be a positive integer")
        long_context = LongContext(threshold, Rates.from_dict(lc, f"{name}.long_context"))
    return Family(name, Rates.from_dict(data, name), long_context, str(data.get("source", "")))


def parse(data: Mapping[str, Any], base: PriceTable | None = None) -> PriceTable:
    """A table from its JSON form. With `base`, the families of `data` replace same-named ones of `base` and add
    new ones (a user's file need only list what differs), unless `data` says `"replace": true`."""
    families: dict[str, Family] = {}
    if base is not None and not data.get("replace", False):
        families = {f.family: f for f in base.families}
    for item in data.get("families", []):
        family = _family(item)
        families[family.family] = family
    discount = data.get("batch_discount", base.batch_discount if base else 0.5)
    if not isinstance(discount, (int, float)) or not 0 <= discount < 1:
        raise ValueError(f"batch_discount must be in [0, 1), got {discount!r}")
    # Longest family id first, so that a prefix family never shadows a longer one in `family_of`.
    ordered = tuple(sorted(families.values(), key=lambda f: (-len(f.family), f.family)))
    return PriceTable(
        source=str(data.get("source", base.source if base else "")),
        read=str(data.get("read", base.read if base else "")),
        currency=str(data.get("currency", base.currency if base else "USD")),
        batch_discount=float(discount),
        families=ordered,
    )


def shipped() -> PriceTable:
    """The table shipped with the package."""
    text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
    return parse(json.loads(text))


def load(path: str | os.PathLike[str] | None = None) -> PriceTable:
    """The shipped table, with the user's file (`path`, else $ANTHROPIC_OTEL_PRICE_FILE) merged over it."""
    table = shipped()
    chosen = path if path else os.environ.get(ENV_PRICE_FILE) or None
    if chosen:
        try:
            data = json.loads(Path(chosen).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValueError(f"price file {chosen}: {exc}") from exc
        if not isinstance(data, dict):
            raise ValueError(f"price file {chosen}: expected a JSON object")
        table = parse(data, table)
    return table


def groups(table: PriceTable) -> list[tuple[Rates, Sequence[Family]]]:
    """Families that share every rate, together (one PromQL term per distinct price row), in table order."""
    out: dict[Rates, list[Family]] = {}
    for family in table.families:
        out.setdefault(family.rates, []).append(family)
    return list(out.items())


__all__ = ["CATEGORIES", "ENV_PRICE_FILE", "Family", "LongContext", "PriceTable", "Rates", "Usage", "load", "shipped"]
