"""The types that flow between stages.

* :class:`Record` — one Kafka message as the source hands it on (bytes and origin).
* :class:`IndexAction` — one threat document ready for the Elasticsearch bulk API, or the
  update of a suppressed alert standing for several threats.
* :class:`SuppressedThreat` — where a threat under suppression goes (its alert).
* :class:`DeadLetter` — one message that cannot be used, with why and where from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SuppressedThreat:
    """A threat under a rule's (or input's) ``suppress:``: its alert and its place in it
    (see :mod:`socd.state.suppress`)."""

    alert_id: str
    index: str
    """The alert's index: the monthly index of its window's start."""
    time_ms: int
    """The threat's ``@timestamp``, epoch milliseconds."""
    time_text: str
    """The same, as written in the document."""
    tie: int
    """Orders threats of equal time (from the threat's own document id)."""
    terms: tuple[tuple[str, str | None], ...]
    """The key: ``(field, value)`` of each ``by`` field."""


@dataclass(slots=True)
class IndexAction:
    """A document and where it goes; ``body`` is the encoded NDJSON pair for _bulk.

    Only the bytes are kept, not the document as a dict: a batch in flight then holds no
    tree of tens of containers per document, which would cost memory and which the garbage
    collector would walk again and again. Read the document with :meth:`document`."""

    index: str
    doc_id: str
    body: bytes
    record: Record
    labels: tuple[str, str, str] = ("", "", "")
    """``socd_threats_total`` labels (class, layer, sensor), counted once durable."""
    share: bool = False
    """Shared with the national centre once durable (see :mod:`socd.sharing`)."""
    op: str = "create"
    """The bulk action: ``create`` (a document), or ``update`` (a suppressed alert)."""
    suppress: SuppressedThreat | None = None
    """Set on a threat under suppression: it goes to Elasticsearch inside its alert's
    update (:func:`socd.state.suppress.aggregate`), not as a document of its own."""
    members: tuple[IndexAction, ...] = ()
    """An alert's update: the threats it carries, earliest first."""
    created: bool = False
    """Set by the sink when Elasticsearch answered ``201``: a new document (a new alert)."""

    def document(self) -> dict[str, Any]:
        """The document as sent: the second line of ``body``, decoded (``orjson``); for an
        alert's update, the document of its earliest threat."""
        if self.members:
            return self.members[0].document()
        document: dict[str, Any] = orjson.loads(self.body[self.body.index(b"\n") + 1:])
        return document

    def threats(self) -> tuple[IndexAction, ...]:
        """The threats this action carries: itself, or an alert update's members."""
        return self.members or (self,)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: str
    """One of :data:`socd.errors.DEAD_LETTER_REASONS`."""
    detail: str
    connector: str
