"""socd.alerts without a server: the state transitions, idempotency, the history bound, the
queries the filters make, and what ``list`` shows."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socd.alerts import (
    HISTORY_MAX,
    REASONS,
    STATUSES,
    Change,
    Selection,
    decide,
    summary,
    write_table,
)

AT = "2026-03-01T08:00:00.000Z"


def ack(reopen: bool = False) -> Change:
    return Change("ack", by="lan", at=AT, comment="looking", reopen=reopen)


def close(reason: str = "benign") -> Change:
    return Change("close", by="minh", at=AT, comment="printer scan", reason=reason)


def state(status: str | None, reason: str | None = None) -> dict[str, Any]:
    return {} if status is None else {"status": status, "status_reason": reason}


TRANSITIONS = [
    # (socd before, change, outcome, status after, reason after)
    (state(None), ack(), "changed", "acknowledged", None),
    (state("open"), ack(), "changed", "acknowledged", None),
    (state("acknowledged"), ack(), "unchanged", None, None),
    (state("closed", "benign"), ack(), "refused", None, None),
    (state("closed", "benign"), ack(reopen=True), "changed", "acknowledged", None),
    (state(None), close(), "changed", "closed", "benign"),
    (state("acknowledged"), close("true_positive"), "changed", "closed", "true_positive"),
    (state("closed", "benign"), close("benign"), "unchanged", None, None),
    (state("closed", "benign"), close("duplicate"), "changed", "closed", "duplicate"),
]


@pytest.mark.parametrize(("before", "change", "outcome", "status", "reason"), TRANSITIONS)
def test_transitions(before: dict[str, Any], change: Change, outcome: str, status: str | None,
                     reason: str | None) -> None:
    """open → acknowledged → closed; close from open; a closed threat is acknowledged again
    only with reopen (its reason removed); the same state again changes nothing."""
    got, fields, shown = decide(before, change)
    assert got == outcome, shown
    if status is None:
        assert fields is None
        return
    assert fields is not None
    assert fields["status"] == status and fields["status_reason"] == reason
    assert fields["status_by"] == change.by and fields["status_at"] == AT
    assert fields["status_comment"] == change.comment
    assert fields["status_history"][-1] == {"status": status, "reason": reason,
                                            "by": change.by, "at": AT,
                                            "comment": change.comment}


def test_refused_reopen_names_the_option() -> None:
    """Acknowledging a closed threat without --reopen says what to give."""
    _, _, shown = decide(state("closed", "false_positive"), ack())
    assert shown == "closed as false_positive: give --reopen to acknowledge it again"


changes = st.one_of(
    st.builds(Change, st.just("ack"), st.sampled_from(["a", "b"]), st.just(AT),
              st.none() | st.text(max_size=5), st.none(), st.booleans()),
    st.builds(Change, st.just("close"), st.sampled_from(["a", "b"]), st.just(AT),
              st.none() | st.text(max_size=5), st.sampled_from(REASONS), st.booleans()))


@given(st.lists(changes, max_size=40))
def test_any_sequence_is_idempotent_bounded_and_valid(sequence: list[Change]) -> None:
    """Whatever the changes: a change applied twice in a row changes nothing the second
    time; the status is always one of the three, a reason only when closed; the history
    keeps the last HISTORY_MAX changes, one entry per change made."""
    socd: dict[str, Any] = {}
    made = 0
    for change in sequence:
        outcome, fields, _ = decide(socd, change)
        if fields is not None:
            socd.update(fields)
            made += 1
            again, same, _ = decide(socd, change)
            assert again == "unchanged" and same is None
        else:
            assert outcome in ("unchanged", "refused")
        assert socd.get("status", "open") in STATUSES
        assert (socd.get("status_reason") is not None) == (socd.get("status") == "closed")
        assert len(socd.get("status_history", [])) == min(made, HISTORY_MAX)


def test_empty_selection_matches_all() -> None:
    assert Selection().empty() and Selection().es_query() == {"match_all": {}}


def test_selection_query() -> None:
    """Each filter is one clause; open also matches documents with no socd.status (the
    daemon writes none); --since in UTC."""
    since = datetime(2026, 3, 1, 8, tzinfo=UTC)
    query = Selection(("critical",), ("open", "closed"), since, (2, 4),
                      "source.ip:10.0.0.5").es_query()
    assert query == {"bool": {"filter": [
        {"terms": {"socd.class": ["critical"]}},
        {"terms": {"socd.layer": [2, 4]}},
        {"range": {"@timestamp": {"gte": "2026-03-01T08:00:00Z"}}},
        {"bool": {"should": [{"terms": {"socd.status": ["open", "closed"]}},
                             {"bool": {"must_not": {"exists": {"field": "socd.status"}}}}],
                  "minimum_should_match": 1}},
        {"query_string": {"query": "source.ip:10.0.0.5"}}]}}


def test_selection_without_open_does_not_match_missing_status() -> None:
    (clause,) = Selection(statuses=("acknowledged",)).es_query()["bool"]["filter"]
    assert clause == {"bool": {"should": [{"terms": {"socd.status": ["acknowledged"]}}],
                               "minimum_should_match": 1}}


def hit(source: dict[str, Any]) -> dict[str, Any]:
    return {"_id": "d1", "_index": "socd-alerts-2026.03", "_source": source}


@pytest.mark.parametrize(("source", "status", "blocked", "handled"), [
    ({"socd": {"class": "critical"}}, "open", False, False),
    ({"socd": {"status": "acknowledged"}}, "acknowledged", False, False),
    ({"socd": {"status": "closed", "status_reason": "benign"}}, "closed", False, True),
    ({"event": {"type": ["indicator", "denied"]}}, "open", True, True),
    ({"event": {"type": "denied"}, "socd": {}}, "open", True, True),
    ({"event": {"type": ["indicator", "allowed"]}}, "open", False, False),
])
def test_summary_handled(source: dict[str, Any], status: str, blocked: bool,
                         handled: bool) -> None:
    """Handled: closed by an operator, or blocked by the sensor (event.type denied)."""
    row = summary(hit(source))
    assert (row["status"], row["blocked"], row["handled"]) == (status, blocked, handled)


def test_table() -> None:
    """A header, one aligned line per threat; a closed status shows its reason."""
    row = summary(hit({"@timestamp": AT, "socd": {"class": "critical", "layer": 2,
                                                  "status": "closed",
                                                  "status_reason": "benign",
                                                  "rule": {"name": "C2 beacon"}},
                       "event": {"type": ["denied"]}, "source": {"ip": "10.0.0.5"}}))
    out = io.StringIO()
    write_table([row], out)
    header, line = out.getvalue().splitlines()
    assert header.split() == ["@timestamp", "id", "class", "layer", "threats", "status",
                              "observer", "source.ip", "destination.ip", "rule"]
    assert line.split() == [AT, "d1", "critical", "2", "1", "closed:benign", "blocked", "-",
                            "10.0.0.5", "-", "C2", "beacon"]


def test_a_suppressed_alert_shows_the_threats_it_stands_for() -> None:
    row = summary(hit({"@timestamp": AT, "socd": {"class": "critical", "suppression": {
        "docs_count": 250, "start": AT, "end": AT}}}))
    assert row["threats"] == 250
