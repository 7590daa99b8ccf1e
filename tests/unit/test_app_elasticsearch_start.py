"""The daemon's wait for Elasticsearch at start-up (Daemon._ensure_template) with a sink
that fails as told: unreachable is logged with the hosts and tried again; credentials
refused stop start-up at once."""

from __future__ import annotations

from pathlib import Path

import pytest
from structlog.testing import capture_logs

from socd.app import Daemon
from socd.config import Config
from socd.errors import CredentialsRefused, SinkError


class _Sink:
    """Answers the health check with ``failures`` in turn, then healthy."""

    hosts = "http://es1:9200, http://es2:9200"

    def __init__(self, *failures: Exception, installed: bool = True) -> None:
        self.failures = list(failures)
        self.installed = installed
        self.setups = 0
        self.checks = 0

    async def check_health(self) -> str:
        self.checks += 1
        if self.failures:
            raise self.failures.pop(0)
        return "green"

    async def template_installed(self) -> bool:
        return self.installed

    async def setup(self) -> list[str]:
        self.setups += 1
        return ["index template installed"]

    def retry_delay(self, attempt: int) -> float:
        return 0.001 * attempt


def _daemon(tmp_path: Path) -> Daemon:
    """A daemon not started: the wait for Elasticsearch needs none of its other parts."""
    return Daemon(Config.model_validate({
        "inputs": [{"topic": "sensors.ndr", "connector": "cyradar", "layer": 2,
                    "sensor": "ndr"}],
        "rules": {"paths": [str(tmp_path)], "watch": False}}))


async def test_unreachable_is_logged_with_the_hosts_and_tried_again(tmp_path: Path) -> None:
    """Two failed checks: two warnings naming the hosts, the attempt and the wait; then
    the template is installed and the recovery is logged."""
    sink = _Sink(SinkError("cannot reach http://es1:9200: ConnectionError: refused"),
                 SinkError("cannot reach http://es1:9200: ConnectionError: refused"),
                 installed=False)
    with capture_logs() as logs:
        assert await _daemon(tmp_path)._ensure_template(sink) is True  # type: ignore[arg-type]
    waits = [line for line in logs if line["event"] == "elasticsearch_unavailable"]
    assert [line["attempt"] for line in waits] == [1, 2]
    assert all(line["hosts"] == sink.hosts and line["log_level"] == "warning"
               and "elasticsearch.hosts" in line["note"] and "refused" in line["error"]
               for line in waits)
    assert [line["retry_in"] for line in waits] == [0.0, 0.0]  # rounded 1 and 2 ms
    assert sink.setups == 1
    assert any(line["event"] == "elasticsearch_available" and line["attempts"] == 3
               for line in logs)


async def test_credentials_refused_stop_start_up_at_once(tmp_path: Path) -> None:
    """CredentialsRefused is raised on the first answer, not waited out."""
    sink = _Sink(CredentialsRefused("refused: correct elasticsearch.api_key"))
    with capture_logs() as logs, pytest.raises(CredentialsRefused, match="api_key"):
        await _daemon(tmp_path)._ensure_template(sink)  # type: ignore[arg-type]
    assert sink.checks == 1
    assert not [line for line in logs if line["event"] == "elasticsearch_unavailable"]


async def test_a_stop_request_ends_the_wait(tmp_path: Path) -> None:
    """Asked to stop while Elasticsearch is unreachable: False, without further checks."""
    daemon = _daemon(tmp_path)
    sink = _Sink(*[SinkError("down")] * 100)
    daemon.request_stop("test")
    assert await daemon._ensure_template(sink) is False  # type: ignore[arg-type]
    assert sink.checks == 1
