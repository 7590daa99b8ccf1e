"""The request size: how many documents one bulk request carries, adapted to the latency
the cluster shows.

A cluster that takes longer than ``request_timeout`` for a request of 2,000 documents will
time out on the same 2,000 however often they are sent. So the size follows AIMD (additive
increase, multiplicative decrease, as TCP's congestion window does, RFC 5681):

* a request that times out, is refused as too large (413), or answers slower than
  ``SLOW_FRACTION`` of ``request_timeout`` halves the size, from the size of that request
  (two requests of one size failing together halve it once, not twice);
* a request that carried the full size and answered fast enough grows it by
  ``maximum / GROWTH_STEPS`` documents, or by half the size where that is less (at least
  one): from 1, the size takes a few requests to reach a step (1, 2, 3, 4, 6, 9 …), then
  climbs back to the maximum over about GROWTH_STEPS fast requests, so a cluster that
  could only take a handful of documents is not sent a hundred at once the moment it
  answers; a request smaller than the size says nothing about whether a larger one would
  be fast, and leaves it;
* the size never exceeds ``elasticsearch.bulk_max_docs`` and never falls below 1.

A batch larger than the size goes out as several requests, one after the other.
"""

from __future__ import annotations

SLOW_FRACTION = 0.5
"""A request answered after more than this fraction of ``request_timeout`` counts as slow."""
GROWTH_STEPS = 20
"""Fast full requests that grow the size from 1 back to the maximum (about)."""


class RequestSize:
    """The current number of documents per bulk request (see the module's docstring).

    ``maximum``: ``elasticsearch.bulk_max_docs`` (≥ 1); ``request_timeout``: seconds (> 0).
    """

    def __init__(self, maximum: int, request_timeout: float) -> None:
        if maximum < 1 or request_timeout <= 0:
            raise ValueError("maximum must be ≥ 1 and request_timeout > 0")
        self.maximum = maximum
        self.current = maximum
        self.slow_s = request_timeout * SLOW_FRACTION
        self.step = max(1, maximum // GROWTH_STEPS)

    def shrink(self, documents: int) -> int:
        """A request of ``documents`` timed out or was too large: halve. The new size."""
        self.current = max(1, min(self.current, documents // 2))
        return self.current

    def observe(self, documents: int, seconds: float) -> int:
        """A request of ``documents`` was answered after ``seconds``. The new size."""
        if seconds > self.slow_s:
            return self.shrink(documents)
        if documents >= self.current:
            growth = max(1, min(self.step, self.current // 2))
            self.current = min(self.maximum, self.current + growth)
        return self.current
