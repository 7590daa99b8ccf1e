"""socd.report.query: the request counts what the report's rules say, on any documents.

The request is evaluated here over generated alert documents by a small reading of the
Elasticsearch query DSL it uses (``range``, ``term``, ``bool`` with ``filter``/``should``/
``must_not``; ``filter``, ``filters``, ``missing`` and ``terms`` aggregations, the last
ordered by a metric sub-aggregation, and the ``sum`` metric with its ``missing`` value, as the
Query DSL and Aggregations references define them), and the report read from that answer is
compared with the rules written plainly in Python: a document stands for
``socd.suppression.docs_count`` threats, 1 when it has none; a false positive is closed as
``false_positive`` and is no threat; a threat is handled when blocked (``event.type`` holds
``denied``) or closed; top lists rank by threats."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from socd.alerts.model import REASONS
from socd.report.model import LAYERS, Counts, Ranked
from socd.report.period import Period
from socd.report.query import TOPS, build_request, read_response

ZONE = "Asia/Ho_Chi_Minh"
PERIOD = Period(date(2020, 1, 1), date(2020, 1, 10))  # 10 days: two spans of 7 and 3
START, END = PERIOD.utc_bounds(ZONE)
BEFORE = PERIOD.previous().utc_bounds(ZONE)[0]
TOP = 3  # shorter than the values drawn: the lists are cut

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


def _order(bucket: dict[str, Any], *, key: str) -> Any:
    """A bucket's sort value for one ``order`` entry: ``_count``, ``_key`` or the value of a
    single-value metric sub-aggregation."""
    if key == "_count":
        return bucket["doc_count"]
    if key == "_key":
        return str(bucket["key"])
    return bucket[key]["value"]


def _ordered(buckets: list[dict[str, Any]], order: list[dict[str, str]]) -> list[dict[str, Any]]:
    for entry in reversed(order):  # stable sorts, last key first
        ((key, way),) = entry.items()
        buckets = sorted(buckets, key=partial(_order, key=key), reverse=way == "desc")
    return buckets


def aggregate(aggs: dict[str, Any], docs: list[Doc]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, spec in aggs.items():
        sub = spec.get("aggs", {})
        if "sum" in spec:  # a missing value counts as ``missing`` when given, else not at all
            field, missing = spec["sum"]["field"], spec["sum"].get("missing")
            out[name] = {"value": float(sum(
                sum(_values(d, field)) if _values(d, field) else (missing or 0) for d in docs))}
        elif "missing" in spec:
            out[name] = {"doc_count": sum(not _values(d, spec["missing"]["field"])
                                          for d in docs)}
        elif "filter" in spec:
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
            buckets = [{"key": key, "doc_count": n,
                        **aggregate(sub, [d for d in docs if key in _values(d, field)])}
                       for key, n in counted.items()]
            order = spec["terms"].get("order", [{"_count": "desc"}, {"_key": "asc"}])
            out[name] = {"buckets": _ordered(buckets, order)[:size]}
        else:
            raise AssertionError(f"aggregation {name} is not read here: {spec}")
    return out


def search(request: dict[str, Any], docs: list[Doc]) -> dict[str, Any]:
    assert request["size"] == 0  # aggregations only, never documents
    hits = [d for d in docs if matches(request["query"], d)]
    return {"_shards": {"total": 1}, "aggregations": aggregate(request["aggs"], hits)}


# ---------------------------------------------------------------- the rules, plainly

def is_false_positive(doc: Doc) -> bool:
    return bool(doc["socd"].get("status") == "closed"
                and doc["socd"].get("status_reason") == "false_positive")


def is_handled(doc: Doc) -> bool:
    return "denied" in _values(doc, "event.type") or doc["socd"].get("status") == "closed"


def weight(doc: Doc) -> int:
    """The threats a document stands for: its ``docs_count``, 1 without one."""
    return int(doc["socd"].get("suppression", {}).get("docs_count", 1))


def expected(docs: list[Doc], start: datetime, end: datetime) -> tuple[Counts, int]:
    """The counts of the threats in ``[start, end)`` and the threats closed as false
    positives there."""
    inside = [d for d in docs if start <= _time(d["@timestamp"]) < end]
    alerts = [d for d in inside if not is_false_positive(d)]
    classes: Counter[str] = Counter()
    for d in alerts:
        classes[d["socd"]["class"]] += weight(d)
    threats = sum(map(weight, alerts))
    return (Counts(threats, classes["critical"], classes["high-risk"],
                   sum(weight(d) for d in alerts if is_handled(d)),
                   suppressed=threats - len(alerts)),
            sum(weight(d) for d in inside if is_false_positive(d)))


def expected_top(docs: list[Doc], field: str, top: int) -> list[Ranked]:
    """A top list of the period's threats: threats per value (a document with several
    values counts in each), most first, then by value; at most ``top``."""
    counted: Counter[str] = Counter()
    for d in docs:
        if START <= _time(d["@timestamp"]) < END and not is_false_positive(d):
            for value in set(_values(d, field)):
                counted[str(value)] += weight(d)
    return [Ranked(k, n) for k, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))
            ][:top]


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
    count = draw(st.sampled_from([None, None, 1, 2, 7, 250]))
    if count is not None:  # a suppressed alert; None: a plain document (one threat)
        socd["suppression"] = {"docs_count": count}
    when = draw(_INSTANTS).isoformat().replace("+00:00", "Z")
    doc: Doc = {"@timestamp": when, "socd": socd,
                "rule": {"name": draw(st.sampled_from(["S1", "S2", "S3", "S4", "S5"])),
                         "category": draw(st.lists(st.sampled_from(["a", "b", "c"]),
                                                   max_size=2))},
                "observer": {"name": draw(st.sampled_from(["ndr", "feed"]))}}
    if draw(st.booleans()):
        doc["source"] = {"ip": draw(st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3",
                                                     "10.0.0.4"]))}
    kind = draw(_TYPES)
    if kind is not None:
        doc["event"] = {"type": kind}
    return doc


@settings(max_examples=300, deadline=None)
@given(st.lists(threat(), max_size=40))
def test_the_request_counts_what_the_rules_say(docs: list[Doc]) -> None:
    report = read_response(search(build_request("socd", PERIOD, ZONE, top=TOP), docs),
                           PERIOD, ZONE)
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
    assert sum(w.counts.alerts for w in report.weeks) == now.alerts
    for name, field in TOPS.items():
        assert getattr(report, name) == expected_top(docs, field, TOP), name


def test_an_acknowledged_threat_is_not_handled_and_a_blocked_false_positive_is_no_threat(
) -> None:
    """The table of cases: each document alone in the period, and what it counts as
    (threats, handled, false positives); one alert whatever its count."""
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
        # a suppressed alert: its handling is that of every threat it stands for
        ({"count": 250}, (250, 0, 0)),
        ({"count": 250, "status": "acknowledged"}, (250, 0, 0)),
        ({"count": 7, "blocked": True}, (7, 7, 0)),
        ({"count": 7, "status": "closed", "status_reason": "benign"}, (7, 7, 0)),
        ({"count": 250, "status": "closed", "status_reason": "false_positive"}, (0, 0, 250)),
        ({"count": 1, "status": "closed", "status_reason": "false_positive"}, (0, 0, 1)),
    ]
    for handling, want in cases:
        socd = {"class": "critical", "layer": 2,
                **{k: v for k, v in handling.items() if k not in ("blocked", "count")}}
        if "count" in handling:
            socd["suppression"] = {"docs_count": handling["count"]}
        doc: Doc = {"@timestamp": at, "socd": socd}
        if handling.get("blocked"):
            doc["event"] = {"type": ["denied"]}
        report = read_response(search(build_request("socd", PERIOD, ZONE), [doc]), PERIOD,
                               ZONE)
        found = (report.counts.threats, report.counts.handled, report.false_positives)
        assert found == want, handling
        assert (report.counts.alerts, report.false_positive_alerts) == (
            (1, 0) if want[0] else (0, 1)), handling
        assert report.by_layer["2"].handled == want[1]
