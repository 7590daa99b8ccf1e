"""The Prometheus programs that the tests of deploy/prometheus/ run.

``program(name)`` finds promtool, prometheus, amtool or prometheus-alertmanager (Debian's
name for the alertmanager binary) on PATH. Where one is missing it runs
``scripts/test-tools.sh`` once, which installs the Debian/Ubuntu packages when apt-get and
root are at hand; where that is impossible the test skips with the script's reason, or
fails when ``SOCD_REQUIRE_TEST_TOOLS=1`` (CI) asks for the programs.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "scripts" / "test-tools.sh"
PROGRAMS = ("promtool", "prometheus", "amtool", "prometheus-alertmanager")


@functools.cache
def _install() -> str:
    """Run the install script once per session; its complaint, or ``""``."""
    result = subprocess.run([str(INSTALL)], capture_output=True, text=True, check=False,
                            timeout=900)
    return result.stderr.strip()


def program(name: str) -> str:
    """The path of ``name`` (one of :data:`PROGRAMS`); installs it or skips the test."""
    assert name in PROGRAMS, name
    path = shutil.which(name)
    if path is None:
        reason = _install()
        path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed: {reason or 'scripts/test-tools.sh did not say why'}"
        if os.environ.get("SOCD_REQUIRE_TEST_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
