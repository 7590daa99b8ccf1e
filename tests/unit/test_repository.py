"""The checkout itself: no file carries the markers of an unfinished merge."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


def test_no_tracked_file_holds_merge_conflict_markers() -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                             check=False).stdout.split(b"\0")
    if not any(tracked):
        return  # not a git checkout (an unpacked release): nothing to check
    found = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if not path.is_file():
            continue
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if line.startswith((b"<<<<<<< ", b">>>>>>> ")) or line == b"=======":
                found.append(f"{name.decode()}:{number}")
    assert found == []
