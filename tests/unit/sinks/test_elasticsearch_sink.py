"""ElasticsearchSink.index through a fake ``client.bulk``: what is sent, sent again, split
and rejected, how long it waits, and how the request size follows the cluster's latency.
(The real server's HTTP behaviour: tests/integration/test_elasticsearch_sink.py.)"""

from __future__ import annotations

from typing import Any

import pytest
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from structlog.testing import capture_logs

from socd.sinks.elasticsearch.retry import Backoff
from socd.sinks.elasticsearch.sink import PROBE_S
from socd.sinks.elasticsearch.size import GROWTH_STEPS
from tests.unit.sinks.es_fakes import (
    actions,
    api_error,
    durable,
    ids,
    items,
    sample,
    started_sink,
)


def scripted(*answers: Any) -> Any:
    """Answer the requests in turn with ``answers`` (a body, an exception, or a function
    of the request's ids), then make everything durable."""
    queue = list(answers)

    def answer(request: list[str]) -> Any:
        if not queue:
            return durable(request)
        head = queue.pop(0)
        return head(request) if callable(head) else head

    return answer


async def test_a_batch_all_durable_is_one_request() -> None:
    """The common path: one request, nothing rejected, nothing retried, no wait."""
    sink, client, clock, metrics = await started_sink(durable)
    assert await sink.index(actions(5)) == []
    assert client.requests == [[f"d{i}" for i in range(5)]]
    assert clock.slept == []
    assert sample(metrics, "socd_indexed_documents_total") == 5
    assert sample(metrics, "socd_bulk_retries_total") == 0
    assert sample(metrics, "socd_bulk_request_documents") == 2000


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_whole_request_429_or_5xx_is_sent_again_after_a_backoff(status: int) -> None:
    """The same documents, again, after a wait within the first backoff step."""
    sink, client, clock, metrics = await started_sink(scripted(api_error(status, "busy")))
    assert await sink.index(actions(3)) == []
    assert client.requests == [["d0", "d1", "d2"]] * 2
    assert len(clock.slept) == 1 and 0 <= clock.slept[0] <= Backoff(30).ceiling(1)
    assert sample(metrics, "socd_bulk_retries_total") == 1
    assert sample(metrics, "socd_indexed_documents_total") == 3
    assert sample(metrics, "socd_bulk_request_documents") == 2000  # not a size problem


@pytest.mark.parametrize("error", [TransportConnectionError("refused"),
                                   TransportConnectionError("reset by peer")])
async def test_connection_errors_are_retried_with_growing_bounded_waits(
        error: Exception) -> None:
    """Connection lost for several attempts: each retried, the waits within a ceiling that
    doubles per failure in a row and stays under retry_backoff_max; nothing rejected."""
    sink, client, _, _ = await started_sink(scripted(*[error] * 8), retry_backoff_max=2.0)
    assert await sink.index(actions(2)) == []
    assert len(client.requests) == 9
    backoff = Backoff(2.0)
    latency = 0.01
    waits = [b - a - latency for a, b in zip(client.sent_at, client.sent_at[1:], strict=False)]
    assert len(waits) == 8
    for attempt, waited in enumerate(waits, start=1):
        assert -1e-9 <= waited <= backoff.ceiling(attempt) + 1e-9 <= 2.0 + 1e-9


async def test_the_wait_ends_when_an_unreachable_cluster_answers_again() -> None:
    """Connection refused for 20 s: the backoff grows toward retry_backoff_max (30 s), but
    the cluster is asked every PROBE_S whether it is back, and the documents go within
    PROBE_S of its return instead of at the end of a long wait."""
    back_at = 1000.0 + 20.0
    clocks: list[Any] = []

    def answer(request: list[str]) -> Any:
        if clocks[0].now >= back_at:
            return durable(request)
        return TransportConnectionError("refused")

    sink, client, clock, _ = await started_sink(answer, retry_backoff_max=30.0, seed=3)
    clocks.append(clock)
    client.up = lambda: clock.now >= back_at
    assert await sink.index(actions(2)) == []
    assert client.requests[-1] == ["d0", "d1"]
    assert back_at <= clock.now <= back_at + PROBE_S + 0.02  # the last request's latency
    assert client.pings > 0


async def test_a_busy_cluster_is_waited_out_not_probed() -> None:
    """503 is an answer: the cluster is there and overloaded, so the backoff is waited in
    full and nothing else is asked of it meanwhile."""
    sink, client, clock, _ = await started_sink(scripted(*[api_error(503, "busy")] * 6))
    client.up = lambda: True
    assert await sink.index(actions(2)) == []
    assert client.pings == 0
    assert len(clock.slept) == 6


async def test_items_refused_with_429_or_5xx_alone_are_sent_again() -> None:
    """A 200 with ``errors: true``: only the 429/5xx items go again; a 400 item is
    returned with its reason and never sent again."""
    first = items(201, 429, 400, 503, 200, error_type="x")
    sink, client, _, metrics = await started_sink(scripted(first))
    rejected = await sink.index(actions(5))
    assert client.requests == [["d0", "d1", "d2", "d3", "d4"], ["d1", "d3"]]
    assert [(a.doc_id, why) for a, why in rejected] == [("d2", "HTTP 400: x: failed with 400")]
    assert sample(metrics, "socd_indexed_documents_total") == 4
    assert sample(metrics, "socd_bulk_retries_total") == 1


@pytest.mark.parametrize("error_type", ["mapper_parsing_exception",
                                        "document_parsing_exception"])
async def test_mapping_and_parse_errors_are_rejected_with_the_reason(error_type: str) -> None:
    """A 400 mapping or parse error is returned (to be dead-lettered) with Elasticsearch's
    type and reason; the rest is durable; no retry."""
    sink, client, clock, _ = await started_sink(
        scripted(items(201, 400, error_type=error_type)))
    rejected = await sink.index(actions(2))
    assert [(a.doc_id, why) for a, why in rejected] == [
        ("d1", f"HTTP 400: {error_type}: failed with 400")]
    assert len(client.requests) == 1 and clock.slept == []


async def test_whole_request_400_rejects_every_document_with_the_reason() -> None:
    """A request refused as a whole for a reason retrying cannot change: every document
    rejected with it."""
    sink, _, _, _ = await started_sink(scripted(
        api_error(400, "illegal_argument_exception", "bad index name")))
    rejected = await sink.index(actions(2))
    assert [why for _, why in rejected] == [
        "HTTP 400: illegal_argument_exception: bad index name"] * 2


def too_large_above(limit: int, always: frozenset[str] = frozenset()) -> Any:
    """A cluster that answers 413 to requests of more than ``limit`` documents, and to any
    request carrying one of ``always`` (a document too large on its own)."""
    def answer(request: list[str]) -> Any:
        if len(request) > limit or always.intersection(request):
            return api_error(413, "content_too_long", "request too large")
        return durable(request)
    return answer


async def test_413_splits_in_halves_recursively() -> None:
    """413 on 8 documents when only 2 fit: 8 → 4+4 → 2+2+2+2, at once (no backoff)."""
    sink, client, clock, _ = await started_sink(too_large_above(2))
    assert await sink.index(actions(8)) == []
    assert [len(r) for r in client.requests] == [8, 4, 2, 2, 4, 2, 2]
    assert [doc for r in client.requests if len(r) == 2 for doc in r] == [
        f"d{i}" for i in range(8)]
    assert clock.slept == []


async def test_one_document_still_too_large_is_rejected_with_the_reason() -> None:
    """Split down to one document that is still 413: that one is rejected (dead-lettered)
    with the reason; the others are durable."""
    sink, client, _, metrics = await started_sink(too_large_above(100, always=frozenset({"d2"})))
    rejected = await sink.index(actions(4))
    assert [a.doc_id for a, _ in rejected] == ["d2"]
    reason = rejected[0][1]
    assert reason.startswith("HTTP 413: content_too_long") and "max_content_length" in reason
    assert ["d2"] in client.requests
    assert sample(metrics, "socd_indexed_documents_total") == 3


async def test_a_timeout_is_retried_in_halves_never_whole() -> None:
    """The field case: 2,000 documents time out at 30 s. They are not sent whole again:
    the next requests carry at most half, and everything becomes durable."""
    sink, client, _, _ = await started_sink(scripted(ConnectionTimeout("timed out")))
    assert await sink.index(actions(2000)) == []
    sizes = [len(r) for r in client.requests]
    assert sizes[0] == 2000
    assert max(sizes[1:]) <= 1000
    assert sum(sizes[1:]) == 2000


async def test_504_and_408_are_timeouts_too() -> None:
    """A proxy's 504 or a 408 shrinks the request like a client-side timeout."""
    sink, client, _, _ = await started_sink(scripted(api_error(504), api_error(408)))
    assert await sink.index(actions(8)) == []
    sizes = [len(r) for r in client.requests]
    assert sizes[:3] == [8, 4, 2]  # 504 on 8, 408 on the next 4, then 2 at a time …
    assert sum(sizes[2:]) == 8 and max(sizes[2:]) <= 3  # … growing back slowly


def slow_cluster(seconds_per_document: float, timeout: float = 30.0) -> Any:
    """Latency proportional to the request's size; past ``timeout`` the client gives up."""
    def latency(request: list[str]) -> float:
        return min(timeout, seconds_per_document * len(request))

    def answer(request: list[str]) -> Any:
        if seconds_per_document * len(request) >= timeout:
            return ConnectionTimeout("timed out")
        return durable(request)
    return latency, answer


async def test_a_slow_cluster_never_wedges_delivery() -> None:
    """A cluster that takes 40 s for 2,000 documents (30 s timeout): delivery makes
    progress; no request is resent whole; the size settles where requests answer within
    SLOW_FRACTION of the timeout, and the gauge shows it."""
    latency, answer = slow_cluster(0.02)
    sink, client, clock, metrics = await started_sink(answer, latency=latency)
    assert await sink.index(actions(2000)) == []
    sizes = [len(r) for r in client.requests]
    timeouts = [s for s in sizes if 0.02 * s >= 30.0]
    assert timeouts == [2000]  # one timeout, then smaller requests that succeed
    assert len(sizes) < 10
    assert sink.size.current <= 750  # 750 × 0.02 s = 15 s = half the timeout
    assert sample(metrics, "socd_bulk_request_documents") == sink.size.current
    assert clock.now - 1000.0 < 30 + 40 + 5  # the timeout, the work, little waiting


async def test_a_batch_larger_than_the_request_size_goes_as_several_requests() -> None:
    """After the size has shrunk, a batch is cut into requests of at most that size."""
    sink, client, _, _ = await started_sink(durable, bulk_max_docs=100)
    sink.size.shrink(20)  # now 10; each fast full request grows it by 5 (100 / 20)
    assert await sink.index(actions(35)) == []
    assert [len(r) for r in client.requests] == [10, 15, 10]
    assert [d for r in client.requests for d in r] == [f"d{i}" for i in range(35)]


async def test_the_size_grows_back_while_requests_are_fast() -> None:
    """After a timeout the size halves; fast full requests then grow it back to
    bulk_max_docs, never above, and the gauge follows."""
    answers = scripted(ConnectionTimeout("timed out"))
    sink, client, _, metrics = await started_sink(answers, bulk_max_docs=200)
    await sink.index(actions(200))
    assert [len(r) for r in client.requests[:2]] == [200, 100]
    assert sink.size.current < 200
    for round_ in range(GROWTH_STEPS * 2):
        await sink.index(actions(sink.size.current, start=1000 + round_ * 1000))
    assert sink.size.current == 200
    assert sample(metrics, "socd_bulk_request_documents") == 200


async def test_backoff_starts_again_after_progress() -> None:
    """Failures in a row grow the wait's ceiling; a request that makes progress starts it
    from the first step again."""
    refused = TransportConnectionError("refused")
    sink, _, clock, _ = await started_sink(
        scripted(refused, refused, refused, items(201, 429), refused), seed=3)
    assert await sink.index(actions(2)) == []
    backoff = Backoff(30.0)
    ceilings = [backoff.ceiling(n) for n in (1, 2, 3, 1, 2)]
    assert len(clock.slept) == 5
    assert all(w <= c for w, c in zip(clock.slept, ceilings, strict=True))


@pytest.mark.parametrize("status", [401, 403])
async def test_credentials_refused_while_running_are_retried_and_logged_as_errors(
        status: int) -> None:
    """401/403 on a bulk request is not the documents' fault: nothing is rejected, the
    request goes again after a backoff, and an error names the settings to correct."""
    sink, client, _, _ = await started_sink(scripted(api_error(status, "security_exception")))
    with capture_logs() as logs:
        assert await sink.index(actions(2)) == []
    assert len(client.requests) == 2
    refused = [line for line in logs if line["event"] == "bulk_refused"]
    assert refused and refused[0]["log_level"] == "error"
    assert "elasticsearch.api_key" in refused[0]["fix"]


async def test_a_shrink_is_logged_with_the_reason() -> None:
    """A timeout that shrinks the size logs a warning with the new and old sizes."""
    sink, _, _, _ = await started_sink(scripted(ConnectionTimeout("timed out")),
                                       bulk_max_docs=64)
    with capture_logs() as logs:
        await sink.index(actions(64))
    shrunk = [line for line in logs if line["event"] == "bulk_request_shrunk"]
    assert shrunk[0]["documents"] == 32 and shrunk[0]["previous"] == 64
    assert shrunk[0]["reason"] == "timeout"


async def test_stop_closes_the_client_once() -> None:
    """stop() closes the client; a second stop() is harmless; index() after stop fails."""
    sink, client, _, _ = await started_sink(durable)
    await sink.stop()
    await sink.stop()
    assert client.closed
    with pytest.raises(RuntimeError, match="not started"):
        await sink.index(actions(1))


def test_ids_helper() -> None:
    assert ids(actions(2, start=5)) == ["d5", "d6"]
