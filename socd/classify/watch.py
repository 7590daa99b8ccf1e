"""Reload rules when their files change: a poller of file sizes and modification times.

No extra dependency and no inotify: every ``interval`` seconds (2 by default) the rule paths are
listed again (directories recursively, as :meth:`socd.classify.RuleSet.load` reads them) and
each rule file's size and modification time compared with the previous listing. A change (a
file edited, added, removed or renamed) is acted on once the listing has stayed the same for
one more interval, so an editor's half-written file is not loaded; then ``on_change`` is
called (the daemon passes its SIGHUP handler, which rejects a broken set and keeps the old
one). A failing callback is logged and the watch goes on::

    task = asyncio.create_task(watch_rules(config.rules.paths, app.reload_rules))
    ...
    task.cancel()
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from socd.classify.load import rule_files
from socd.telemetry.logging import get_logger

log = get_logger("socd.classify.watch")

Snapshot = dict[str, tuple[int, int]]
"""Rule file → (size, modification time in ns); a missing path maps to (-1, -1)."""

INTERVAL = 2.0
"""Seconds between two looks at the rule files."""


def snapshot(paths: Sequence[str | Path]) -> Snapshot:
    """The size and modification time of every rule file under ``paths``."""
    files, _ = rule_files(paths)
    out: Snapshot = {}
    for path in files:
        try:
            status = os.stat(path)
        except OSError:
            continue  # removed between the listing and the stat: the next look sees it
        out[str(path)] = (status.st_size, status.st_mtime_ns)
    for raw in paths:
        if not Path(raw).exists():
            out[str(raw)] = (-1, -1)
    return out


async def watch_rules(
    paths: Sequence[str | Path], on_change: Callable[[], object], *,
    interval: float = INTERVAL,
) -> None:
    """Call ``on_change`` after the rule files under ``paths`` change; runs until cancelled."""
    last = await asyncio.to_thread(snapshot, paths)
    while True:
        await asyncio.sleep(interval)
        now = await asyncio.to_thread(snapshot, paths)
        if now == last:
            continue
        while True:  # wait until the files stay the same for one interval
            await asyncio.sleep(interval)
            settled = await asyncio.to_thread(snapshot, paths)
            if settled == now:
                break
            now = settled
        last = now
        log.info("rules_changed", files=len(now))
        try:
            on_change()
        except Exception:
            log.exception("rules_reload_failed")
