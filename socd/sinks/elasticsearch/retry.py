"""The retry policy: what a failed bulk request or item gets, and how long to wait.

Statuses (Elasticsearch's bulk API reference and Vector's ``ElasticsearchRetryLogic``, which
retries 429 and 5xx and gives up on other 4xx; socd never gives up on a retriable failure,
since an offset is committed only once its document is durable)::

    status / error                        a whole request              one item of a response
    2xx                                   read the items               durable
    429, 5xx (except 504)                 RETRY after a backoff        RETRY after a backoff
    connection refused/reset, TLS,        RETRY after a backoff        -
      unreadable response
    timeout (client side), 408, 504       RETRY_SMALLER: in halves     RETRY after a backoff
    413 request too large                 SPLIT in halves at once;     -
                                          one document: REJECT
    401, 403 credentials, privileges      REFUSED: RETRY, logged as    REFUSED (the same)
                                          an error naming the keys
    409 version_conflict_engine_exception -                            create: durable (socd's
                                                                       create found its own
                                                                       document); update (an
                                                                       alert): RETRY
    other 4xx (400 mapper_parsing_exception, document_parsing_exception, 404 index_not_found,
      …)                                  REJECT every document        REJECT that document
                                          with the reason              with the reason

A document is dead-lettered only for what is wrong with the document itself; what is wrong
with the cluster or with socd's access to it (overload, outage, credentials, privileges) is
waited out, with the partitions paused, so nothing is lost.

Backoff: capped exponential with *full jitter* (Marc Brooker, "Exponential Backoff And
Jitter", AWS Architecture Blog, 2015; Vector's default ``JitterMode::Full``): the wait before
the n-th retry in a row is drawn uniformly from ``[0, min(cap, base · 2^(n-1))]``, so that
socd processes recovering from the same outage do not retry in step. ``cap`` is
``elasticsearch.retry_backoff_max``.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

BASE_S = 0.2
"""The ceiling of the first wait (seconds); each retry in a row doubles it, up to the cap."""


class Action(enum.Enum):
    """What a failed request, or an item of a response, gets."""

    DURABLE = "durable"
    """Elasticsearch has the document."""
    RETRY = "retry"
    """Send the same documents again after a backoff."""
    RETRY_SMALLER = "retry_smaller"
    """The request timed out: send its documents again, in smaller requests."""
    SPLIT = "split"
    """The request was too large: send it again at once, in two halves."""
    REFUSED = "refused"
    """Credentials or privileges refused: retried like RETRY, logged as an error."""
    REJECT = "reject"
    """The document can never be indexed as it is: dead-letter it with the reason."""


def request_action(status: int) -> Action:
    """What a whole bulk request answered with HTTP ``status`` (not 2xx) gets."""
    if status == 413:
        return Action.SPLIT
    if status in (408, 504):
        return Action.RETRY_SMALLER
    if status == 429 or status >= 500:
        return Action.RETRY
    if status in (401, 403):
        return Action.REFUSED
    return Action.REJECT


ALREADY_THERE = "version_conflict_engine_exception"
"""The error of a ``create`` whose ``_id`` exists in the index (409): written before."""


def item_action(status: int, error_type: str = "", op: str = "create") -> Action:
    """What one item of a bulk response with ``status`` (and the ``error_type`` of its
    error, if any) gets; ``op``: the item's action (``create`` or ``update``).

    socd creates documents under deterministic ids, so a 409
    ``version_conflict_engine_exception`` to a ``create`` means this very document is
    already there (a delivery that was not committed, a retry after a timeout the server
    completed): it is durable. The same 409 to an ``update`` (a suppressed alert) means
    that concurrent writers kept it busy past its ``retry_on_conflict``: nothing was
    written, and it is sent again."""
    if status < 300 or (status == 409 and error_type == ALREADY_THERE and op == "create"):
        return Action.DURABLE
    if status == 429 or status >= 500 or status == 408 or (status == 409 and op == "update"):
        return Action.RETRY
    if status in (401, 403):
        return Action.REFUSED
    return Action.REJECT


@dataclass(slots=True)
class Backoff:
    """Capped exponential backoff with full jitter (see the module's docstring).

    ``cap``: the longest wait, seconds (> 0). ``rng``: the source of jitter (seeded in tests).
    """

    cap: float
    base: float = BASE_S
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, attempt: int) -> float:
        """The longest wait before retry number ``attempt`` (1 for the first) in a row."""
        if attempt < 1:
            raise ValueError(f"attempt {attempt}: retries are counted from 1")
        return min(self.cap, self.base * 2.0 ** min(attempt - 1, 60))

    def delay(self, attempt: int) -> float:
        """A wait, in seconds, in ``[0, ceiling(attempt)]``."""
        return self.rng.uniform(0.0, self.ceiling(attempt))
