"""The retry backoff (capped exponential, full jitter) and the adaptive request size (AIMD),
each on its own, with seeded randomness and given latencies."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socd.sinks.elasticsearch.retry import BASE_S, Backoff
from socd.sinks.elasticsearch.size import GROWTH_STEPS, SLOW_FRACTION, RequestSize


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    """The longest wait doubles with each retry in a row, from BASE_S, and stops at the cap."""
    backoff = Backoff(cap=3.0)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [BASE_S, 0.4, 0.8, 1.6, 3.0, 3.0]
    assert backoff.ceiling(10_000) == 3.0
    with pytest.raises(ValueError, match="from 1"):
        backoff.ceiling(0)


def test_backoff_is_jittered_within_its_ceiling() -> None:
    """Seeded: every wait lies in [0, ceiling]; the waits of one step differ (jitter) and
    spread over the range (full jitter, not a narrow band); the same seed repeats them."""
    backoff = Backoff(cap=30.0, rng=random.Random(1))
    waits = [backoff.delay(4) for _ in range(400)]
    assert all(0.0 <= wait <= backoff.ceiling(4) for wait in waits)
    assert len(set(waits)) == len(waits)
    assert min(waits) < 0.1 * backoff.ceiling(4) and max(waits) > 0.9 * backoff.ceiling(4)
    again = Backoff(cap=30.0, rng=random.Random(1))
    assert [again.delay(4) for _ in range(400)] == waits


@given(st.integers(min_value=1, max_value=500), st.floats(min_value=0.01, max_value=600),
       st.integers(min_value=0, max_value=2**32))
def test_backoff_never_exceeds_the_cap(attempt: int, cap: float, seed: int) -> None:
    """Bounded: no wait is longer than ``retry_backoff_max``, however many retries."""
    assert 0.0 <= Backoff(cap=cap, rng=random.Random(seed)).delay(attempt) <= cap


def test_size_starts_at_the_maximum_and_halves_from_the_failed_request() -> None:
    """A timeout halves the size from the size of the request that failed; two requests
    of one size failing together halve it once; it never falls below 1."""
    size = RequestSize(2000, 30.0)
    assert size.current == 2000
    assert size.shrink(2000) == 1000
    assert size.shrink(2000) == 1000  # the concurrent request of the same size
    assert size.shrink(300) == 150    # a smaller request failed: from its size
    for _ in range(20):
        size.shrink(size.current)
    assert size.current == 1


def test_size_shrinks_when_slow_and_grows_back_while_fast_and_full() -> None:
    """Slower than SLOW_FRACTION of request_timeout: halved. Fast requests of the full size
    grow it by maximum/GROWTH_STEPS, up to the maximum and no further; a fast request
    smaller than the size leaves it (it says nothing about larger ones)."""
    size = RequestSize(2000, 30.0)
    slow = 30.0 * SLOW_FRACTION + 0.5
    assert size.observe(2000, slow) == 1000
    assert size.observe(1000, 1.0) == 1000 + 2000 // GROWTH_STEPS
    assert size.observe(10, 0.1) == 1100  # a small request: no growth
    grown = [size.observe(size.current, 1.0) for _ in range(GROWTH_STEPS)]
    assert grown[-1] == 2000 and max(grown) == 2000
    assert grown == sorted(grown)
    assert size.observe(2000, 30.0 * SLOW_FRACTION) == 2000  # at the threshold: not slow


@given(st.lists(st.tuples(st.integers(min_value=1, max_value=3000),
                          st.floats(min_value=0, max_value=100)), max_size=60),
       st.integers(min_value=1, max_value=3000))
def test_size_stays_within_one_and_the_maximum(requests: list[tuple[int, float]],
                                               maximum: int) -> None:
    """Whatever the latencies and timeouts: 1 ≤ size ≤ bulk_max_docs."""
    size = RequestSize(maximum, 30.0)
    for documents, seconds in requests:
        if seconds > 60:
            size.shrink(documents)
        else:
            size.observe(documents, seconds)
        assert 1 <= size.current <= maximum
