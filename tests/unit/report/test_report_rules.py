"""socd.report.query: the request counts what the report's rules say, on any documents.

The request is evaluated here over generated threat documents by a small reading of the
Elasticsearch query DSL it uses (``range``, ``term``, ``bool`` with ``filter``/``should``/
``must_not``; ``filter``, ``filters`` and ``terms`` aggregations, as the Query DSL and
Aggregations references define them), and the report read from that answer is compared with
the rules written plainly in Python: a false positive is closed as ``false_positive`` and is
no threat; a threat is handled when blocked (``event.type`` holds ``denied``) or closed."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from socd.alerts.model import REASONS
from socd.report.model import LAYERS, Counts
from socd.report.period import Period
from socd.report.query import build_request, read_response

ZONE = "Asia/Ho_Chi_Minh"
PERIOD = Period(date(2020, 1, 1), date(2020, 1, 10))  # 10 days: two spans of 7 and 3
START, END = PERIOD.utc_bounds(ZONE)
BEFORE = PERIOD.previous().utc_bounds(ZONE)[0]

Doc = dict[str, Any]


def _values(doc: Doc, field: str) -> list[Any]:
    """The values of a dotted field; a list holds several (ECS ``event.type``)."""
    found: Any = doc
    for part in field.split("."):
        if not isinstance(found, dict) or part not in found:
            return []
        found = found[part]
    if found is None:
        return []
    return list(found) if isinstance(found, list) else [found]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def matches(query: dict[str, Any], doc: Doc) -> bool:
    ((kind, body),) = query.items()
    if kind == "range":
        ((field, bounds),) = body.items()
        assert set(bounds) <= {"gte", "lt", "format"}, bounds
        return any(_time(bounds["gte"]) <= _time(v) < _time(bounds["lt"])
                   for v in _values(doc, field))
    if kind == "term":
        ((field, value),) = body.items()
        return value in _values(doc, field)
    if kind == "bool":
        assert set(body) <= {"filter", "must_not", "should", "minimum_should_match"}, body
        should = body.get("should", [])
        enough = body.get("minimum_should_match", 1 if should else 0)
        return (all(matches(q, doc) for q in body.get("filter", []))
                and not any(matches(q, doc) for q in body.get("must_not", []))
                and sum(matches(q, doc) for q in should) >= enough)
    raise AssertionError(f"query {kind} is not read here")


def aggregate(aggs: dict[str, Any], docs: list[Doc]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in aggs.items():
        sub = spec.get("aggs", {})
        if "filter" in spec:
            kept = [d for d in docs if matches(spec["filter"], d)]
            out[name] = {"doc_count": len(kept), **aggregate(sub, kept)}
        elif "filters" in spec:
            out[name] = {"buckets": {
                key: {"doc_count": len(kept), **aggregate(sub, kept)}
                for key, q in spec["filters"]["filters"].items()
                for kept in [[d for d in docs if matches(q, d)]]}}
        elif "terms" in spec:
            field, size = spec["terms"]["field"], spec["terms"]["size"]
            counted = Counter(v for d in docs for v in set(_values(d, field)))
            ranked = sorted(counted.items(), key=lambda kv: (-kv[1], str(kv[0])))[:size]
            out[name] = {"buckets": [
                {"key": key, "doc_count": n,
                 **aggregate(sub, [d for d in docs if key in _values(d, field)])}
                for key, n in ranked]}
        else:
            raise AssertionError(f"aggregation {name} is not read here: {spec}")
    return out


def search(request: dict[str, Any], docs: list[Doc]) -> dict[str, Any]:
    assert request["size"] == 0  # aggregations only, never documents
    hits = [d for d in docs if matches(request["query"], d)]
    return {"_shards": {"total": 1}, "aggregations": aggregate(request["aggs"], hits)}


# ---------------------------------------------------------------- the rules, plainly

def is_false_positive(doc: Doc) -> bool:
    return doc["socd"].get("status") == "closed" and doc["socd"].get(
        "status_reason") == "false_positive"


def is_handled(doc: Doc) -> bool:
    return "denied" in _values(doc, "event.type") or doc["socd"].get("status") == "closed"


def expected(docs: list[Doc], start: datetime, end: datetime) -> tuple[Counts, int]:
    inside = [d for d in docs if start <= _time(d["@timestamp"]) < end]
    threats = [d for d in inside if not is_false_positive(d)]
    classes = Counter(d["socd"]["class"] for d in threats)
    return (Counts(len(threats), classes["critical"], classes["high-risk"],
                   sum(map(is_handled, threats))), len(inside) - len(threats))


# ---------------------------------------------------------------- generated threats

# instants from before the previous period to after this one, edges included
_EDGES = [BEFORE - timedelta(seconds=1), BEFORE, START - timedelta(seconds=1), START,
          START + timedelta(days=7) - timedelta(seconds=1), START + timedelta(days=7),
          END - timedelta(seconds=1), END]
_INSTANTS = st.one_of(st.sampled_from(_EDGES),
                      st.datetimes(BEFORE.replace(tzinfo=None) - timedelta(days=1),
                                   END.replace(tzinfo=None) + timedelta(days=1)
                                   ).map(lambda t: t.replace(tzinfo=UTC)))
_TYPES = st.sampled_from([None, "denied", ["denied", "connection"], ["allowed"], "info",
                          ["connection"]])


@st.composite
def threat(draw: st.DrawFn) -> Doc:
    socd: Doc = {"class": draw(st.sampled_from(["critical", "high-risk"])),
                 "layer": draw(st.integers(1, 4))}
    status = draw(st.sampled_from([None, "open", "acknowledged", "closed"]))
    if status is not None:
        socd["status"] = status
        socd["status_reason"] = draw(st.sampled_from(REASONS)) if status == "closed" else None
    when = draw(_INSTANTS).isoformat().replace("+00:00", "Z")
    doc: Doc = {"@timestamp": when, "socd": socd}
    kind = draw(_TYPES)
    if kind is not None:
        doc["event"] = {"type": kind}
    return doc


@settings(max_examples=300, deadline=None)
@given(st.lists(threat(), max_size=40))
def test_the_request_counts_what_the_rules_say(docs: list[Doc]) -> None:
    report = read_response(search(build_request("socd", PERIOD, ZONE), docs), PERIOD, ZONE)
    now, false_now = expected(docs, START, END)
    then, false_then = expected(docs, BEFORE, START)
    assert report.counts == now
    assert report.previous == then
    assert (report.false_positives, report.previous_false_positives) == (false_now, false_then)
    in_period = [d for d in docs if START <= _time(d["@timestamp"]) < END]
    for layer in LAYERS:
        assert report.by_layer[layer] == expected(
            [d for d in in_period if str(d["socd"]["layer"]) == layer], START, END)[0]
    for week in report.weeks:  # by class only
        assert week.counts == replace(expected(docs, *week.period.utc_bounds(ZONE))[0],
                                      handled=0)
    assert sum(w.counts.threats for w in report.weeks) == now.threats


def test_an_acknowledged_threat_is_not_handled_and_a_blocked_false_positive_is_no_threat(
) -> None:
    """The table of cases: each document alone in the period, and what it counts as."""
    at = (START + timedelta(hours=1)).isoformat()
    cases: list[tuple[Doc, tuple[int, int, int]]] = [  # (threats, handled, false positives)
        ({}, (1, 0, 0)),
        ({"status": "open"}, (1, 0, 0)),
        ({"status": "acknowledged"}, (1, 0, 0)),
        ({"status": "closed", "status_reason": "true_positive"}, (1, 1, 0)),
        ({"status": "closed", "status_reason": "benign"}, (1, 1, 0)),
        ({"status": "closed", "status_reason": "duplicate"}, (1, 1, 0)),
        ({"status": "closed", "status_reason": None}, (1, 1, 0)),
        ({"status": "closed", "status_reason": "false_positive"}, (0, 0, 1)),
        ({"status": "acknowledged", "blocked": True}, (1, 1, 0)),
        ({"blocked": True}, (1, 1, 0)),
        ({"status": "closed", "status_reason": "false_positive", "blocked": True}, (0, 0, 1)),
        ({"status": "acknowledged", "status_reason": "false_positive"}, (1, 0, 0)),
    ]
    for handling, want in cases:
        socd = {"class": "critical", "layer": 2,
                **{k: v for k, v in handling.items() if k != "blocked"}}
        doc: Doc = {"@timestamp": at, "socd": socd}
        if handling.get("blocked"):
            doc["event"] = {"type": ["denied"]}
        report = read_response(search(build_request("socd", PERIOD, ZONE), [doc]), PERIOD,
                               ZONE)
        found = (report.counts.threats, report.counts.handled, report.false_positives)
        assert found == want, handling
        assert report.by_layer["2"].handled == want[1]
