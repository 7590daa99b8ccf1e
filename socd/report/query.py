"""The report's one Elasticsearch request: aggregations only (``size: 0``), never documents.

The request filters ``<prefix>-alerts*`` on ``@timestamp`` from the start of the previous
period to the end of the report's period, and answers with ``filter`` aggregations: this
period's threats, the previous period's threats, and each period's false positives. Threats
are the documents that are not false positives (:func:`false_positive`); each count of them
holds a ``terms`` aggregation on ``socd.class`` and a ``filter`` aggregation of the handled
ones (:func:`handled`). This period's threats are also split by ``socd.layer`` (the same
two), ranked by ``rule.category``, ``rule.name``, ``observer.name`` and ``source.ip``, and
counted by class in each 7-day span of the period (a ``filters`` aggregation over ranges
computed here from local midnights, so that weeks follow ``report.timezone`` on any server,
daylight-saving changes included; the weeks' handled threats are not asked: no chart shows
them). Its cost follows the number of buckets, not the number of threats.

Threats, not documents: every bucket above counts its threats with :func:`tally`, a ``sum``
of ``socd.suppression.docs_count`` plus a ``missing`` aggregation of the documents without
it (each one threat), and its alerts as the bucket's ``doc_count``. That is the ``sum`` with
``"missing": 1`` of the Elasticsearch reference, written without it and without a script
because servers that speak the API do not all honour ``missing`` on a metric (noida-db 0.2.3,
seen: it sums as if it were absent). The top lists are ordered on the server by that ``sum``
with ``missing: 1`` (``order`` on a single-value metric sub-aggregation, Elasticsearch's
terms aggregation reference), so that the top entries are those with the most threats, and
sorted again here by the exact figure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from socd.alerts.model import BLOCKED
from socd.config import ElasticsearchConfig
from socd.errors import SinkError
from socd.report.model import LAYERS, Counts, Ranked, Report, Week
from socd.report.period import Period

TOP = 10
"""Entries in each top list."""

DOCS_COUNT = "socd.suppression.docs_count"
"""The threats a suppressed alert stands for (long; :mod:`socd.sinks.templates`)."""

TOPS = {"categories": "rule.category", "signatures": "rule.name",
        "sensors": "observer.name", "sources": "source.ip"}
"""Top list → the field it ranks (ECS ``rule.*`` keeps the sensor's own verdict; a threat
with several categories counts once in each)."""


def false_positive() -> dict[str, Any]:
    """The query of a document an operator closed as a false positive (``socd.status:
    closed``, ``socd.status_reason: false_positive``; :mod:`socd.alerts`): not a threat."""
    return {"bool": {"filter": [{"term": {"socd.status": "closed"}},
                                {"term": {"socd.status_reason": "false_positive"}}]}}


def handled() -> dict[str, Any]:
    """The query of a handled threat: the sensor blocked it (``event.type`` holds
    ``denied``), or an operator closed it (``socd.status: closed``). Applied only to threats,
    so a false positive, closed too, is never among them. ``acknowledged`` is not handled."""
    return {"bool": {"should": [{"term": {"event.type": BLOCKED}},
                                {"term": {"socd.status": "closed"}}],
                     "minimum_should_match": 1}}


def _threats(when: dict[str, Any]) -> dict[str, Any]:
    """The threats matching ``when``: the documents that are not false positives."""
    return {"bool": {"filter": [when], "must_not": [false_positive()]}}


def _false_positives(when: dict[str, Any]) -> dict[str, Any]:
    return {"bool": {"filter": [when, false_positive()]}}


def _range(start: datetime, end: datetime) -> dict[str, Any]:
    return {"range": {"@timestamp": {"gte": start.isoformat(), "lt": end.isoformat(),
                                     "format": "strict_date_optional_time"}}}


def tally() -> dict[str, Any]:
    """The sub-aggregations that count the threats of a bucket: ``docs_count`` (the sum of
    the suppressed alerts' counts; 0 when none) and ``single`` (the documents without a
    count: one threat each). Threats = ``docs_count.value + single.doc_count``
    (:func:`threats`); alerts = the bucket's ``doc_count``."""
    return {"docs_count": {"sum": {"field": DOCS_COUNT}},
            "single": {"missing": {"field": DOCS_COUNT}}}


def threats(bucket: dict[str, Any]) -> int:
    """The threats of a bucket that holds :func:`tally`. Raises KeyError, TypeError or
    ValueError when the bucket lacks it."""
    return round(float(bucket["docs_count"]["value"] or 0)) + int(bucket["single"]["doc_count"])


def _classes() -> dict[str, Any]:
    return {**tally(), "class": {"terms": {"field": "socd.class", "size": 10}, "aggs": tally()}}


def _measures() -> dict[str, Any]:
    """The sub-aggregations of a count of threats: the count, by class, and the handled
    ones."""
    return {**_classes(), "handled": {"filter": handled(), "aggs": tally()}}


def build_request(prefix: str, period: Period, zone: str, *, top: int = TOP) -> dict[str, Any]:
    """The keyword arguments of ``AsyncElasticsearch.search`` for ``period`` (calendar days in
    ``zone``) and the previous period of the same length."""
    start, end = period.utc_bounds(zone)
    before, _ = period.previous().utc_bounds(zone)
    current: dict[str, Any] = {
        **_measures(),
        "layer": {"terms": {"field": "socd.layer", "size": 10}, "aggs": _measures()},
    }
    for name, field in TOPS.items():
        current[name] = {"terms": {"field": field, "size": top,
                                   "order": [{"rank": "desc"}, {"_key": "asc"}]},
                         "aggs": {**tally(),
                                  "rank": {"sum": {"field": DOCS_COUNT, "missing": 1}}}}
    current["weeks"] = {"filters": {"filters": {
        str(i): _range(*week.utc_bounds(zone)) for i, week in enumerate(period.weeks())}},
        "aggs": _classes()}
    now, then = _range(start, end), _range(before, start)
    return {
        "index": f"{prefix}-alerts*",
        "size": 0,
        "ignore_unavailable": True,
        "allow_no_indices": True,
        "query": {"bool": {"filter": [_range(before, end)]}},
        "aggs": {
            "current": {"filter": _threats(now), "aggs": current},
            "previous": {"filter": _threats(then), "aggs": _measures()},
            "false_positives": {"filter": _false_positives(now), "aggs": tally()},
            "previous_false_positives": {"filter": _false_positives(then), "aggs": tally()},
        },
    }


def _counts(agg: dict[str, Any], *, handled: bool = True) -> Counts:
    """The counts of an aggregation of :func:`_measures` (of :func:`_classes` when not
    ``handled``: ``handled`` is then 0)."""
    classes = {str(b["key"]): threats(b) for b in agg["class"]["buckets"]}
    count = threats(agg)
    return Counts(count, classes.get("critical", 0), classes.get("high-risk", 0),
                  threats(agg["handled"]) if handled else 0,
                  suppressed=count - int(agg["doc_count"]))


def _ranked(agg: dict[str, Any]) -> list[Ranked]:
    ranked = [Ranked(str(b.get("key_as_string", b["key"])), threats(b))
              for b in agg["buckets"]]
    return sorted(ranked, key=lambda r: (-r.threats, r.key))


def _suppressed(bucket: dict[str, Any]) -> int:
    return threats(bucket) - int(bucket["doc_count"])


def read_response(body: dict[str, Any], period: Period, zone: str) -> Report:
    """The :class:`Report` in an answer to :func:`build_request`. Raises SinkError when the
    answer lacks the aggregations asked for.

    An answer with no shard searched (no ``<prefix>-alerts*`` index yet) carries no
    aggregations at all, as Elasticsearch answers then: that is a period without threats."""
    if "aggregations" not in body and body.get("_shards", {}).get("total") == 0:
        return Report(period=period, timezone=zone, counts=Counts(),
                      by_layer={layer: Counts() for layer in LAYERS},
                      previous_period=period.previous(), previous=Counts(),
                      weeks=[Week(week, Counts()) for week in period.weeks()])
    try:
        aggs = body["aggregations"]
        current = aggs["current"]
        layers = {str(b["key"]): _counts(b) for b in current["layer"]["buckets"]}
        return Report(
            period=period, timezone=zone, counts=_counts(current),
            by_layer={layer: layers.get(layer, Counts()) for layer in LAYERS},
            previous_period=period.previous(), previous=_counts(aggs["previous"]),
            weeks=[Week(week, _counts(current["weeks"]["buckets"][str(i)], handled=False))
                   for i, week in enumerate(period.weeks())],
            false_positives=threats(aggs["false_positives"]),
            previous_false_positives=threats(aggs["previous_false_positives"]),
            suppressed_false_positives=_suppressed(aggs["false_positives"]),
            previous_suppressed_false_positives=_suppressed(aggs["previous_false_positives"]),
            **{name: _ranked(current[name]) for name in TOPS})
    except (KeyError, TypeError, ValueError) as exc:
        raise SinkError(f"Elasticsearch answered the report's aggregations without {exc}: "
                        "check that elasticsearch.hosts is an Elasticsearch 8 cluster") from None


async def fetch_report(cfg: ElasticsearchConfig, zone: str, period: Period, *,
                       top: int = TOP) -> Report:
    """The report of ``period`` (calendar days in ``zone``) from the cluster of ``cfg``.
    Raises SinkError (unreachable, refused, an error answer) with a message naming the fix."""
    from elasticsearch import ApiError, TransportError

    from socd.sinks.elasticsearch.client import make_client, shown_hosts

    request = build_request(cfg.index_prefix, period, zone, top=top)
    client = make_client(cfg)
    hosts = shown_hosts(cfg)
    try:
        response = await client.search(**request)
    except ApiError as exc:
        if exc.meta.status in (401, 403):
            raise SinkError(f"Elasticsearch at {hosts} refused the report's search "
                            f"({exc.meta.status}): check elasticsearch.username/password or "
                            "api_key, and that they may read the alerts indices") from None
        raise SinkError(f"Elasticsearch at {hosts} answered the report's search with "
                        f"{exc.meta.status} {exc.message}: check the cluster") from None
    except TransportError as exc:
        raise SinkError(f"Elasticsearch at {hosts} cannot be reached ({type(exc).__name__}): "
                        "check elasticsearch.hosts and that the cluster is running") from None
    finally:
        await client.close()
    return read_response(dict(response.body), period, zone)
