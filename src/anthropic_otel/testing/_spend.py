"""The simulator's spend limit: rehearse the outage a workspace's monthly spend limit causes.

Every Messages reply the simulator serves is priced with the price table (the package's, or the file given); once
the running total reaches `usd`, every Messages call is answered with the API's billing error, as the real API
does until someone raises the limit in the Console: 402 `billing_error`, or (`status=403`) 403 `billing_error`
with `error_code` `enforced_spend_limit_reached`. Unpriced models add nothing (the limit is in priced tokens).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from .. import pricing
from ._responses import Reply
from ._scenario import Scenario, Step

SPEND_LIMIT_CODE = "enforced_spend_limit_reached"


@dataclass
class SpendLimit:
    """`usd`: the limit; `status`: 402 (credit/spend exhausted) or 403 (`enforced_spend_limit_reached`)."""

    usd: float
    status: int = 402
    prices: pricing.PriceTable | None = None
    spent: float = 0.0
    # `time.time()` of the first billing error served for the limit, None until then.
    first_error_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.usd <= 0:
            raise ValueError(f"spend limit must be positive, got {self.usd}")
        if self.status not in (402, 403):
            raise ValueError(f"spend limit status must be 402 or 403, got {self.status}")
        if self.prices is None:
            self.prices = pricing.load()
        text = "billing" if self.status == 402 else f"billing:status=403:code={SPEND_LIMIT_CODE}"
        self._step: Step = Scenario.parse(text).steps[0]

    def reached(self) -> Step | None:
        """The billing-error step to serve instead of the scenario's, once the limit is reached."""
        with self._lock:
            if self.spent < self.usd:
                return None
            if self.first_error_at is None:
                self.first_error_at = time.time()
        return self._step

    def charge(self, reply: Reply) -> None:
        assert self.prices is not None
        usage = pricing.Usage(
            input=reply.input_tokens,
            output=reply.output_tokens,
            cache_read=reply.cache_read,
            cache_write_5m=reply.cache_creation,
            cache_write_1h=reply.cache_creation_1h,
        )
        cost = self.prices.cost(reply.model, usage)
        if cost:
            with self._lock:
                self.spent += cost
