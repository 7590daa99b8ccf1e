"""Request building: documents as the NDJSON body of one ``_bulk`` request.

Each threat is encoded once, when the pipeline makes it (:func:`encode_action`): the action
line and the document line of the bulk API's NDJSON format, each ending in a newline
(Elasticsearch's bulk API reference: "the final line of data must end with a newline
character"). A request body is then only the concatenation of the encoded actions, so
splitting a request (a ``413``, a timeout, a smaller request size) never encodes again.

socd writes with the ``create`` action and its own deterministic ``_id``: sending a document
again (a retry after a timeout the server had in fact completed, a replay after a crash)
finds it there (409 ``version_conflict_engine_exception``, which :mod:`.retry` counts as
durable) instead of adding a second copy, and leaves it as it is: what operators recorded on
it since (``socd alerts``) is kept. The first write wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from socd.event import IndexAction, Record

FILTER_PATH = ["errors", "items.*.status", "items.*.error.type", "items.*.error.reason"]
"""What socd reads of a bulk response (``filter_path``): a response keeps one small item per
document, and only failed items carry an error."""


def encode_action(index: str, doc_id: str, doc: dict[str, Any], record: Record,
                  labels: tuple[str, str, str] = ("", "", ""), *,
                  share: bool = False) -> IndexAction:
    """One document, ready for a bulk request: ``{"create": {"_index", "_id"}}`` and the
    document, as two NDJSON lines (UTF-8 bytes). ``labels`` are the threat's
    ``socd_threats_total`` labels (class, layer, sensor), counted once it is durable;
    ``share``: a sighting of it goes to the national centre once it is durable."""
    header = orjson.dumps({"create": {"_index": index, "_id": doc_id}})
    body = b"%b\n%b\n" % (header, orjson.dumps(doc))
    return IndexAction(index=index, doc_id=doc_id, body=body, record=record,
                       labels=labels, share=share)


def bulk_body(actions: Sequence[IndexAction]) -> bytes:
    """The NDJSON body of one bulk request carrying ``actions``, in their order (the bulk
    response lists its items in the same order)."""
    return b"".join(action.body for action in actions)


def halves(actions: Sequence[IndexAction]) -> tuple[Sequence[IndexAction], Sequence[IndexAction]]:
    """``actions`` cut in two (the first half the smaller when the count is odd); for a
    request refused as too large (``413``). Needs at least two actions."""
    if len(actions) < 2:
        raise ValueError("a request of one document cannot be split")
    middle = len(actions) // 2
    return actions[:middle], actions[middle:]
