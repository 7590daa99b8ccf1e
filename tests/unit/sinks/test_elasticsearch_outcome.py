"""The per-item outcome of a bulk response (a pure function) and the status policy behind
it: durable, sent again, or rejected for good with Elasticsearch's reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socd.sinks.elasticsearch.outcome import bulk_outcome
from socd.sinks.elasticsearch.retry import Action, item_action, request_action
from tests.unit.sinks.es_fakes import actions, ids, items


@pytest.mark.parametrize(("status", "error_type", "expected"), [
    (200, None, "durable"),
    (201, None, "durable"),
    (429, "es_rejected_execution_exception", "retry"),
    (500, "internal_server_error", "retry"),
    (502, "bad_gateway", "retry"),
    (503, "unavailable_shards_exception", "retry"),
    (400, "mapper_parsing_exception", "rejected"),
    (400, "document_parsing_exception", "rejected"),
    (400, "illegal_argument_exception", "rejected"),
    (404, "index_not_found_exception", "rejected"),
    # socd creates under its own ids: the document is already there, written before.
    (409, "version_conflict_engine_exception", "durable"),
    (409, "circuit_breaking_exception", "rejected"),
    (401, "security_exception", "retry"),
    (403, "security_exception", "retry"),
])
def test_one_item_status_decides_its_document(status: int, error_type: str | None,
                                              expected: str) -> None:
    """One document among durable ones: its item's status puts it, and only it, among the
    durable, the retried, or the rejected (with ``HTTP <status>: <type>: <reason>``)."""
    batch = actions(3)
    body = items(201, status, 200, error_type=error_type or "x")
    outcome = bulk_outcome(batch, body)
    middle = batch[1]
    if expected == "durable":
        assert (outcome.durable, outcome.retry, outcome.rejected) == (3, [], [])
    elif expected == "retry":
        assert outcome.durable == 2 and outcome.rejected == []
        assert outcome.retry == [middle]
        assert outcome.retry_reason == f"HTTP {status}: {error_type}: failed with {status}"
        assert outcome.refused is (status in (401, 403))
    else:
        assert outcome.durable == 2 and outcome.retry == []
        assert outcome.rejected == [(middle, f"HTTP {status}: {error_type}: failed with "
                                     f"{status}")]
    assert outcome.progressed


def test_errors_false_makes_every_document_durable() -> None:
    """``"errors": false``: every document durable, whatever (or whether) items are listed."""
    assert bulk_outcome(actions(4), {"errors": False}).durable == 4
    assert bulk_outcome(actions(2), {"errors": False, "items": []}).durable == 2


@pytest.mark.parametrize("body", [
    {"errors": True, "items": [{"index": {"status": 201}}]},  # one item for two documents
    {"errors": True},
    {"errors": True, "items": "garbled"},
])
def test_items_that_do_not_match_the_documents_settle_nothing(body: dict[str, object]) -> None:
    """A response whose items do not pair one for one with the documents (a proxy's
    answer, a cut body) makes nothing durable and nothing rejected: all go again."""
    batch = actions(2)
    outcome = bulk_outcome(batch, body)
    assert outcome.retry == batch and outcome.durable == 0 and outcome.rejected == []
    assert "items for 2 documents" in outcome.retry_reason
    assert not outcome.progressed


def test_an_item_without_status_is_retried() -> None:
    """An item that says nothing of its status is not taken as durable (nor rejected)."""
    batch = actions(2)
    outcome = bulk_outcome(batch, {"errors": True,
                                   "items": [{"index": {"status": 201}}, {"index": {}}]})
    assert outcome.durable == 1 and outcome.retry == [batch[1]]


def test_an_error_given_as_text_is_the_reason() -> None:
    """An error that is a string rather than an object still becomes the reason."""
    batch = actions(1)
    outcome = bulk_outcome(batch, {"errors": True, "items": [
        {"index": {"status": 400, "error": "bad document"}}]})
    assert outcome.rejected == [(batch[0], "HTTP 400: bad document")]


STATUS = st.sampled_from([200, 201, 400, 401, 403, 404, 409, 429, 500, 502, 503])


@given(st.lists(STATUS, min_size=1, max_size=40))
def test_every_document_lands_in_exactly_one_class_in_order(statuses: list[int]) -> None:
    """Whatever the statuses: every document is durable, retried or rejected, once; the
    retried and rejected keep the request's order; each class matches its statuses."""
    batch = actions(len(statuses))
    outcome = bulk_outcome(batch, items(*statuses))
    retried = ids(outcome.retry)
    rejected = [action.doc_id for action, _ in outcome.rejected]
    assert outcome.durable + len(retried) + len(rejected) == len(batch)
    by_class = {Action.DURABLE: [], Action.RETRY: [], Action.REFUSED: [], Action.REJECT: []}
    for action, status in zip(batch, statuses, strict=True):
        by_class[item_action(status)].append(action.doc_id)
    assert outcome.durable == len(by_class[Action.DURABLE])
    assert set(retried) == set(by_class[Action.RETRY]) | set(by_class[Action.REFUSED])
    assert retried == sorted(retried, key=lambda i: int(i[1:]))
    assert rejected == by_class[Action.REJECT]
    assert outcome.refused is bool(by_class[Action.REFUSED])


@pytest.mark.parametrize(("status", "action"), [
    (413, Action.SPLIT),
    (408, Action.RETRY_SMALLER), (504, Action.RETRY_SMALLER),
    (429, Action.RETRY), (500, Action.RETRY), (502, Action.RETRY), (503, Action.RETRY),
    (401, Action.REFUSED), (403, Action.REFUSED),
    (400, Action.REJECT), (404, Action.REJECT), (405, Action.REJECT), (409, Action.REJECT),
])
def test_whole_request_status_policy(status: int, action: Action) -> None:
    """A whole request answered with an error status: 413 split, timeouts (408, 504) sent
    again smaller, 429/5xx sent again, 401/403 refused (retried, logged as errors), other
    4xx rejected."""
    assert request_action(status) is action
