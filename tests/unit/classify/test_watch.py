"""Reloading rules when their files change: the 2-second poller of sizes and mtimes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from socd.classify.watch import snapshot, watch_rules


def test_snapshot_sees_edits_additions_and_removals(tmp_path: Path) -> None:
    """A changed size or mtime, a new rule file and a removed one all change the snapshot;
    files that are not rules do not."""
    rule = tmp_path / "a.yml"
    rule.write_text("title: a\n")
    first = snapshot([tmp_path])
    (tmp_path / "notes.txt").write_text("x")
    assert snapshot([tmp_path]) == first
    stat = rule.stat()
    os.utime(rule, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = snapshot([tmp_path])
    assert second != first
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yaml").write_text("title: b\n")
    third = snapshot([tmp_path])
    assert set(third) == {str(rule), str(tmp_path / "sub" / "b.yaml")}
    rule.unlink()
    assert set(snapshot([tmp_path])) == {str(tmp_path / "sub" / "b.yaml")}
    assert snapshot([tmp_path / "missing"]) == {str(tmp_path / "missing"): (-1, -1)}


async def test_watch_calls_back_once_per_settled_change(tmp_path: Path) -> None:
    """One change calls the callback once, after the files stayed the same for an interval;
    a failing callback does not stop the watch."""
    rule = tmp_path / "a.yml"
    rule.write_text("title: a\n")
    calls: list[int] = []

    def reload() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("broken rule set")

    task = asyncio.create_task(watch_rules([tmp_path], reload, interval=0.02))
    try:
        await asyncio.sleep(0.1)
        assert calls == []
        rule.write_text("title: a, edited\n")
        await _until(lambda: len(calls) == 1)
        await asyncio.sleep(0.1)
        assert calls == [0]
        (tmp_path / "b.yml").write_text("title: b\n")
        await _until(lambda: len(calls) == 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()


async def _until(condition: object, timeout: float = 5.0) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "the watch did not call back in time"
        await asyncio.sleep(0.01)
