"""The shipped systemd unit verifies and keeps a tight sandbox."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "socd.service"
EXPOSURE_MAX = 1.2
"""``systemd-analyze security --offline=yes`` of the shipped unit (systemd 252, Debian 12):
1.2. A change that loosens the sandbox must lower it again, or say why here."""


def _directives(name: str) -> list[str]:
    """The values of ``name=`` in the unit's [Service] section."""
    return re.findall(rf"^{name}=(.*)$", UNIT.read_text(), re.MULTILINE)


@pytest.fixture
def installed_unit(tmp_path: Path) -> Path:
    """The unit as installed, with ExecStart pointing at this environment's socd."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian's package systemd has it): "
                    "the unit's verification and sandbox rating cannot be checked here")
    socd = Path(sys.executable).parent / "socd"
    path = tmp_path / "socd.service"
    path.write_text(UNIT.read_text().replace("/opt/socd/bin/socd", str(socd)))
    return path


def test_unit_verifies_cleanly(installed_unit: Path) -> None:
    """systemd-analyze verify accepts the unit and reports nothing about it."""
    result = subprocess.run(["systemd-analyze", "verify", str(installed_unit)],
                            capture_output=True, text=True, check=False)
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if "socd.service" in line]
    assert complaints == []
    assert result.returncode == 0, result.stdout + result.stderr


def test_sandbox_exposure_is_kept(installed_unit: Path) -> None:
    """systemd-analyze security rates the sandbox EXPOSURE_MAX (1.2) or better (0 safest,
    10 none): the hardening is measured, and a change that loosens it fails here."""
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                             str(installed_unit)], capture_output=True, text=True, check=False)
    found = re.search(r"Overall exposure level for socd\.service: ([0-9.]+)", result.stdout)
    assert found is not None, result.stdout[-2000:]
    assert float(found.group(1)) <= EXPOSURE_MAX, result.stdout


def test_unit_runs_the_contract_commands() -> None:
    """Start-up validates first, runs the daemon, reloads with SIGHUP, never restarts on a
    configuration error (exit 2)."""
    text = UNIT.read_text()
    assert "ExecStartPre=/opt/socd/bin/socd check-config -c /etc/socd/socd.yaml" in text
    assert "ExecStart=/opt/socd/bin/socd run -c /etc/socd/socd.yaml" in text
    assert "ExecReload=/bin/kill -HUP $MAINPID" in text
    assert "Type=notify" in text
    assert "RestartPreventExitStatus=2" in text


def test_the_watchdog_is_armed_and_restarts_a_wedged_daemon() -> None:
    """WatchdogSec= is set, long enough for socd's pings at half of it to come from a busy
    event loop, and Restart=on-failure restarts socd when the watchdog fires (systemd.service:
    on-failure covers a watchdog timeout); only the main process may notify."""
    [watchdog] = _directives("WatchdogSec")
    seconds = int(watchdog.removesuffix("s"))
    assert 10 <= seconds <= 120
    assert _directives("Restart") == ["on-failure"]
    assert _directives("NotifyAccess") == ["main"]
    assert _directives("Type") == ["notify"]


def test_the_worst_case_shutdown_fits_the_stop_timeout() -> None:
    """Every bounded wait between SIGTERM and exit, summed (socd.app.SHUTDOWN_BUDGET), stays
    below the shipped unit's TimeoutStopSec with at least 5 s to spare, so that systemd never
    SIGKILLs a drain in progress."""
    from socd import app

    found = re.findall(r"^TimeoutStopSec=(\d+)s?$", UNIT.read_text(), re.MULTILINE)
    assert len(found) == 1
    assert int(found[0]) >= app.SHUTDOWN_WORST_CASE_S + 5
