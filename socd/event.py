"""The types that flow between stages.

* :class:`Record` — one Kafka message as the source hands it on (bytes and origin).
* :class:`IndexAction` — one threat document ready for the Elasticsearch bulk API.
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

    def document(self) -> dict[str, Any]:
        """The document as sent: the second line of ``body``, decoded (``orjson``)."""
        document: dict[str, Any] = orjson.loads(self.body[self.body.index(b"\n") + 1:])
        return document


@dataclass(frozen=True, slots=True)
class DeadLetter:
    record: Record
    reason: str
    """One of :data:`socd.errors.DEAD_LETTER_REASONS`."""
    detail: str
    connector: str
