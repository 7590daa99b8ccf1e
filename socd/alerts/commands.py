"""``socd alerts list|ack|close``: the commands, and how a threat is shown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import orjson

from socd.alerts.model import BLOCKED, Action, Change, Selection, decide
from socd.alerts.store import Store
from socd.config import Config
from socd.errors import UsageError


def summary(hit: Mapping[str, Any]) -> dict[str, Any]:
    """One alert as ``list`` shows it (a JSON line): id, index, time, class, layer, the
    handling fields, ``blocked`` (the sensor blocked it) and ``handled`` (blocked, or closed
    by an operator), ``threats`` (the threats it stands for: ``socd.suppression.docs_count``
    under suppression, else 1), and what it is."""
    source = hit.get("_source", {})
    socd = source.get("socd") or {}
    event = source.get("event") or {}
    types = event.get("type") or []
    blocked = BLOCKED in (types if isinstance(types, list) else [types])
    status = socd.get("status") or "open"
    rule = socd.get("rule") or {}
    return {"id": hit["_id"], "index": hit["_index"], "@timestamp": source.get("@timestamp"),
            "class": socd.get("class"), "layer": socd.get("layer"), "status": status,
            "reason": socd.get("status_reason"), "by": socd.get("status_by"),
            "at": socd.get("status_at"), "comment": socd.get("status_comment"),
            "blocked": blocked, "handled": blocked or status == "closed",
            "threats": (socd.get("suppression") or {}).get("docs_count", 1),
            "rule": rule.get("name") or (source.get("rule") or {}).get("name"),
            "observer": (source.get("observer") or {}).get("name"),
            "source.ip": (source.get("source") or {}).get("ip"),
            "destination.ip": (source.get("destination") or {}).get("ip")}


COLUMNS = ("@timestamp", "id", "class", "layer", "threats", "status", "observer",
           "source.ip", "destination.ip", "rule")


def write_table(rows: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """``rows`` as aligned columns for a person; a closed status shows its reason and a
    blocked threat ``blocked``."""
    cells = [[_cell(row, column) for column in COLUMNS] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)])
              for i, column in enumerate(COLUMNS)]
    for line in [list(COLUMNS), *cells]:
        out.write("  ".join(text.ljust(width) for text, width in zip(line, widths,
                                                                      strict=True)).rstrip()
                  + "\n")


def _cell(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column)
    if column == "status":
        text = str(value) + (f":{row['reason']}" if row.get("reason") else "")
        return text + (" blocked" if row.get("blocked") else "")
    return "-" if value is None else str(value)




def _store(config: Config) -> Store:
    from socd.sinks.elasticsearch.client import make_client, shown_hosts

    cfg = config.elasticsearch
    return Store(make_client(cfg), cfg.index_prefix, shown_hosts(cfg))


async def list_threats(config: Config, selection: Selection, *, limit: int, fmt: str,
                       out: TextIO) -> int:
    """``socd alerts list``: the newest ``limit`` threats of ``selection``; ``fmt``
    ``table`` (with a count line) or ``json`` (one :func:`summary` a line). Returns 0."""
    store = _store(config)
    try:
        found = await store.search(selection.es_query(), limit)
    finally:
        await store.client.close()
    rows = [summary(hit) for hit in found.hits]
    if fmt == "json":
        for row in rows:
            out.write(orjson.dumps(row).decode() + "\n")
        return 0
    if rows:
        write_table(rows, out)
    out.write(f"socd: {found.total} alert{'s' if found.total != 1 else ''} match"
              f"{'es' if found.total == 1 else ''}; {len(rows)} shown (newest first)\n")
    return 0


DEFAULT_STATUSES: dict[Action, tuple[str, ...]] = {"ack": ("open",),
                                                   "close": ("open", "acknowledged")}
"""By query, without ``--status``: the threats a change can act on."""


async def handle(config: Config, change: Change, *, ids: Sequence[str], selection: Selection,
                 limit: int, dry_run: bool, out: TextIO, err: TextIO) -> int:
    """``socd alerts ack|close``: ``change`` on the documents ``ids``, or (no ids) on the
    newest ``limit`` threats of ``selection`` (which must not be empty; without statuses,
    :data:`DEFAULT_STATUSES`), after a line with the count. One line per document
    (``ID: open → acknowledged``), then a summary. ``dry_run``: the count and the documents,
    nothing changed. An id that names no threat: a line on ``err``, and 1 is returned
    (the others are still handled); else 0."""
    if ids and not selection.empty():
        raise UsageError("give document ids or filters (--class, --status, --since, "
                         "--layer, --query), not both")
    if not ids and selection.empty():
        raise UsageError("give document ids, or filters (--class, --status, --since, "
                         "--layer, --query) with --limit to act on a query")
    store = _store(config)
    try:
        missing: list[str] = []
        if ids:
            wanted = list(dict.fromkeys(ids))
            found = await store.by_ids(wanted)
            missing = [doc_id for doc_id in wanted if doc_id not in found]
            hits = [found[doc_id] for doc_id in wanted if doc_id in found]
        else:
            if not selection.statuses:
                selection = Selection(selection.classes, DEFAULT_STATUSES[change.action],
                                      selection.since, selection.layers, selection.query)
            result = await store.search(selection.es_query(), limit)
            hits = result.hits
            verb = "acknowledge" if change.action == "ack" else "close"
            out.write(f"socd: {result.total} alert{'s' if result.total != 1 else ''} match; "
                      f"{'would ' if dry_run else ''}{verb} the newest {len(hits)} "
                      f"(--limit {limit})\n")
        counts = {"changed": 0, "unchanged": 0, "refused": 0}
        threats = 0
        """The threats the changed alerts stand for (several under suppression)."""
        touched: set[str] = set()
        for doc_id in missing:
            err.write(f"socd: {doc_id}: no such threat in {store.pattern}: check the id "
                      "(socd alerts list --format json shows them)\n")
        for hit in hits:
            if dry_run:
                outcome, _, shown = decide(hit["_source"].get("socd") or {}, change)
            else:
                outcome, shown = await store.apply(hit, change)
            counts[outcome] += 1
            if outcome == "changed":
                touched.add(hit["_index"])
                threats += summary(hit)["threats"]
            out.write(f"{hit['_id']}: {shown}\n")
        if not dry_run:
            await store.refresh(touched)
    finally:
        await store.client.close()
    done = "would change" if dry_run else "changed"
    standing = (f" (standing for {threats} threats)" if threats != counts["changed"] else "")
    out.write(f"socd: {counts['changed']} {done}{standing}, {counts['unchanged']} unchanged, "
              f"{counts['refused']} left as they are, {len(missing)} not found\n")
    return 1 if missing else 0
