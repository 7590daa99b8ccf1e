"""Alert suppression: one alert per rule, input, key and window, with an exact count.

A rule's ``socd: suppress: {by: [fields…], for: DURATION}`` (or its input's ``suppress:``
default) makes the threats of that rule that share the values of ``by`` within one window
a single alert document (docs/state.md, "Suppression: the choice"):

* **windows** are fixed and aligned to the epoch on the threat's ``@timestamp``: the window
  of time ``t`` (ms) starts at ``⌊t / for⌋ · for``, so every process and every replay puts a
  threat in the same window. A burst across a boundary makes two alerts;
* **the alert's id** is BLAKE2b over the rule, the input, the window's start and the key's
  values (:func:`alert_id`); its index is the monthly index of the window's start;
* **each batch** sends one scripted upsert per alert (:func:`aggregate`), carrying the
  batch's fetched offsets and the committed floor per partition
  (:class:`socd.state.applied.AppliedSet`) and the offsets of its threats: the stored script
  :data:`SCRIPT_ID` adds to ``socd.suppression.docs_count`` only threats not counted before,
  so a replay, a second process or batches landing out of order never count one twice.

The fields are those of Elastic Security's alert suppression
(``kibana.alert.suppression.{docs_count,start,end,terms}``), under ``socd.suppression``:
``docs_count`` (threats counted), ``start``/``end`` (earliest and latest threat time),
``terms`` (``[{"field", "value"}]``, the key), and ``event.end`` = ``end``. The rest of the
document is the earliest threat's, whatever the arrival order.

A threat that lacks one of the ``by`` fields is not suppressed: it is indexed as a document of
its own (Elastic's "do not suppress alerts for events with missing fields"). Grouping such
threats would put threats that have nothing in common (malware on two different hosts, when
``by`` names a network field the endpoint events lack) behind one alert.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal

import orjson

from socd.classify.fields import MISSING, Getter, make_getter
from socd.clock import parse_duration, show_duration
from socd.event import IndexAction, SuppressedThreat
from socd.normalize.convert import format_utc
from socd.state.applied import MERGE_SOURCE, AppliedSet, partition_key

__all__ = [
    "MAX_BY",
    "MAX_WINDOW",
    "MIN_WINDOW",
    "OWNED_KEYS",
    "RETRY_ON_CONFLICT",
    "SCRIPT_ID",
    "SCRIPT_SOURCE",
    "Suppression",
    "aggregate",
    "alert_id",
    "check_by",
    "check_window",
    "key_terms",
    "parse_suppress",
    "suppressed_threat",
]

SCRIPT_ID = "socd-suppress-v1"
"""The stored script's id (``PUT _scripts/socd-suppress-v1`` at ``socd setup``). A change of
the script's behaviour takes a new id, so that processes of two versions never share one."""

SCRIPT_SOURCE: str = MERGE_SOURCE + resources.files(__package__).joinpath(
    "suppress.painless").read_text("utf-8")
"""The script's Painless source: ``applied.painless`` then ``suppress.painless``."""

RETRY_ON_CONFLICT = 5
"""``retry_on_conflict`` of each update: Elasticsearch applies concurrent updates of one
alert one after the other, retrying this many times; past it the item answers 409 and socd
sends it again (an update, unlike a ``create``, is not written when it answers 409)."""

OWNED_KEYS = ("class", "layer", "input", "rule", "warnings", "sensor_timestamp")
"""The keys under ``socd`` that come from the threat (the earliest one's are kept); the
others (``status``… from ``socd alerts``, ``suppression``) are never replaced."""

MIN_WINDOW = timedelta(seconds=1)
MAX_WINDOW = timedelta(days=31)
"""The shortest and longest ``for``: a window must fit the monthly indices' retention."""

MAX_BY = 8
"""The most fields in ``by``."""


@dataclass(frozen=True, slots=True)
class Suppression:
    """``suppress: {by: [fields…], for: DURATION}``: the key's fields and the window length.

    Raises ValueError when ``by`` is empty, has more than :data:`MAX_BY` fields or one twice,
    or ``window`` is not whole milliseconds between :data:`MIN_WINDOW` and :data:`MAX_WINDOW`.
    """

    by: tuple[str, ...]
    window: timedelta
    getters: tuple[Getter, ...] = field(
        init=False, repr=False, compare=False)
    """One function per ``by`` field (:func:`socd.classify.fields.make_getter`)."""

    def __post_init__(self) -> None:
        try:
            check_by(self.by)
        except ValueError as exc:
            raise ValueError(f"by: {exc}") from None
        try:
            check_window(self.window)
        except ValueError as exc:
            raise ValueError(f"for: {exc}") from None
        object.__setattr__(self, "getters", tuple(make_getter(name) for name in self.by))

    @property
    def window_ms(self) -> int:
        """The window's length in milliseconds."""
        return self.window // timedelta(milliseconds=1)

    def window_start(self, time_ms: int) -> int:
        """The start (epoch ms) of the window that holds ``time_ms``."""
        return time_ms - time_ms % self.window_ms

    def describe(self) -> str:
        """``by source.ip, destination.port for 10m``: for messages."""
        return f"by {', '.join(self.by)} for {show_duration(self.window)}"


def check_by(by: Sequence[Any]) -> None:
    """Raise ValueError unless ``by`` is 1 to :data:`MAX_BY` distinct field names."""
    if not by:
        raise ValueError("name at least one field, such as [source.ip]")
    if len(by) > MAX_BY:
        raise ValueError(f"at most {MAX_BY} fields, not {len(by)}")
    for name in by:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"{name!r} is not a field name")
    if len(set(by)) != len(by):
        raise ValueError(f"a field is named twice in {list(by)}")


def check_window(window: timedelta) -> None:
    """Raise ValueError unless ``window`` is whole milliseconds between :data:`MIN_WINDOW`
    and :data:`MAX_WINDOW`."""
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise ValueError(f"{show_duration(window)} is not between "
                         f"{show_duration(MIN_WINDOW)} and {show_duration(MAX_WINDOW)}")
    if window % timedelta(milliseconds=1):
        raise ValueError(f"{window} is not whole milliseconds")


def parse_suppress(value: Any) -> Suppression | Literal[False]:
    """A ``suppress:`` value as written in YAML: ``{by: [fields…] or field, for: DURATION}``,
    or ``false`` (never suppressed). Raises ValueError saying what is wrong and the form."""
    if value is False:
        return False
    form = "write {by: [source.ip], for: 10m}, or false"
    if not isinstance(value, Mapping):
        raise ValueError(f"{value!r} is not a mapping: {form}")
    unknown = sorted(str(key) for key in value if key not in ("by", "for"))
    if unknown:
        raise ValueError(f"unknown key {', '.join(unknown)}: the keys are by and for ({form})")
    if "by" not in value or "for" not in value:
        raise ValueError(f"both by and for are needed: {form}")
    by = value["by"]
    if isinstance(by, str):
        by = [by]
    if not isinstance(by, list) or not all(isinstance(name, str) for name in by):
        raise ValueError(f"by: {by!r} is not a list of field names: {form}")
    try:
        window = parse_duration(value["for"])
    except ValueError as exc:
        raise ValueError(f"for: {exc}") from None
    return Suppression(tuple(by), window)


def _term_value(value: Any) -> str | None:
    """A field's value as the key holds it: text as it is, other values as JSON (lists and
    objects whole, keys sorted), a missing field as None."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def key_terms(suppression: Suppression, document: Mapping[str, Any]) -> tuple[
        tuple[str, str | None], ...]:
    """``((field, value), …)`` of ``document`` for ``suppression.by``, in its order; the
    value of a field the document lacks (or holds as null) is None."""
    return tuple((name, _term_value(get(document)))
                 for name, get in zip(suppression.by, suppression.getters, strict=True))


def alert_id(rule_id: str, input_name: str, window_start_ms: int,
             terms: Iterable[tuple[str, str | None]]) -> str:
    """The id of the alert of a rule, an input, a window and a key: 32 hex digits of
    BLAKE2b, the same in every process and every replay."""
    key = orjson.dumps([rule_id, input_name, window_start_ms, [list(t) for t in terms]])
    return hashlib.blake2b(b"socd-suppress\x1f" + key, digest_size=16).hexdigest()


Partition = tuple[str, int]


def aggregate(actions: Sequence[IndexAction], floors: Mapping[Partition, int],
              fetched: Mapping[Partition, tuple[int, int]]) -> list[IndexAction]:
    """A batch's actions as they go to Elasticsearch: each threat not suppressed as it is
    (a ``create``), and the suppressed ones as one scripted upsert per alert, whose
    ``members`` are its threats (earliest first).

    ``fetched``: per partition, ``(first offset, next offset)`` of what the batch read;
    ``floors``: per partition, an offset below which every threat is durable in every alert
    it belongs to (the start of the oldest batch this process has not committed; 0 when not
    given, which is always safe). A threat outside ``fetched`` widens its range.
    """
    out: list[IndexAction] = []
    groups: dict[str, list[IndexAction]] = {}
    for action in actions:
        if action.suppress is None:
            out.append(action)
        else:
            groups.setdefault(action.suppress.alert_id, []).append(action)
    for members in groups.values():
        out.append(_update(members, floors, fetched))
    return out


def _update(members: list[IndexAction], floors: Mapping[Partition, int],
            fetched: Mapping[Partition, tuple[int, int]]) -> IndexAction:
    members.sort(key=_order)
    first = members[0]
    info = first.suppress
    assert info is not None
    events: dict[Partition, list[int]] = {}
    for member in members:
        record = member.record
        events.setdefault((record.topic, record.partition), []).append(record.offset)
    applied = AppliedSet()
    for position, offsets in events.items():
        start, end = fetched.get(position, (min(offsets), max(offsets) + 1))
        start, end = min(start, *offsets), max(end, max(offsets) + 1)  # never outside
        where = partition_key(*position)
        applied = applied.add(where, start, end).raise_floor(
            where, min(floors.get(position, 0), start))
    last = max(members, key=lambda m: m.suppress.time_ms if m.suppress else 0)
    assert last.suppress is not None
    params = orjson.dumps({
        "applied": applied.to_json(), "owned": OWNED_KEYS,
        "events": {partition_key(*position): offsets for position, offsets in events.items()},
        "start": info.time_ms, "tie": info.tie, "start_text": info.time_text,
        "end": last.suppress.time_ms, "end_text": last.suppress.time_text,
        "terms": [{"field": name, "value": value} for name, value in info.terms],
    })
    document = first.body[first.body.index(b"\n") + 1:-1]
    header = orjson.dumps({"update": {"_index": info.index, "_id": info.alert_id,
                                      "retry_on_conflict": RETRY_ON_CONFLICT}})
    body = (b'%b\n{"script":{"id":"%b","params":{"doc":%b,%b}},"upsert":{},'
            b'"scripted_upsert":true}\n' % (header, SCRIPT_ID.encode(), document, params[1:-1]))
    return IndexAction(index=info.index, doc_id=info.alert_id, body=body, record=first.record,
                       labels=first.labels, share=False, op="update", members=tuple(members))


def _order(action: IndexAction) -> tuple[int, int]:
    info = action.suppress
    assert info is not None
    return info.time_ms, info.tie


def suppressed_threat(suppression: Suppression, rule_id: str, input_name: str,
                      document: Mapping[str, Any], doc_id: str, time_text: str,
                      index_of: Callable[[str], str]) -> SuppressedThreat | None:
    """Where a suppressed threat goes: its alert's id and index, its time and tie; None
    when the threat lacks one of the ``by`` fields (then it is not suppressed).

    ``time_text``: the threat's ``@timestamp`` as socd writes it (``format_utc``, UTC with
    milliseconds); ``doc_id``: its own document id (hex); ``index_of(timestamp_text)``: the
    index of a time (the monthly alerts index). Raises ValueError for a time that is not one.
    """
    moment = datetime.fromisoformat(time_text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    time_ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    terms = key_terms(suppression, document)
    if any(value is None for _, value in terms):
        return None
    start = suppression.window_start(time_ms)
    return SuppressedThreat(
        alert_id=alert_id(rule_id, input_name, start, terms),
        index=index_of(format_utc(_EPOCH + timedelta(milliseconds=start))),
        time_ms=time_ms, time_text=time_text, tie=int(doc_id[:13], 16), terms=terms)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
