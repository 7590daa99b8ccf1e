"""The daemon's metrics wiring without servers: the threat series every input can produce
exist at 0 before anything is consumed, and again after a reload that adds a layer; the
events of a fetch are counted and stamp their input."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import orjson
import pytest
import yaml

from socd import app
from socd.app import Daemon
from socd.config import Config
from socd.errors import SocdError
from socd.event import Record
from socd.telemetry.logging import configure
from socd.telemetry.metrics import Metrics

RULE = {"title": "critical", "id": "7c0d1e2f-0000-4000-8000-000000000001", "level": "critical",
        "logsource": {"product": "cyradar"},
        "detection": {"selection": {"event.severity|gte": 9}, "condition": "selection"}}


def config(rules: Path) -> Config:
    return Config.model_validate({
        "inputs": [{"topic": "sensors.ndr", "connector": "cyradar", "layer": 2, "sensor": "ndr"},
                   {"topic": "sensors.audit", "connector": "cyradar", "layer": 3,
                    "sensor": "audit", "name": "audits"}],
        "rules": {"paths": [str(rules)], "watch": False},
    })


def threat_series(metrics: Metrics) -> dict[tuple[str, str, str], float]:
    return {(s.labels["class"], s.labels["layer"], s.labels["sensor"]): s.value
            for family in metrics.registry.collect() for s in family.samples
            if s.name == "socd_threats_total"}


def write(path: Path, **changes: object) -> None:
    path.write_text(yaml.safe_dump({**RULE, **changes}, sort_keys=False))


def test_threat_series_exist_at_start_up_for_every_reachable_layer(tmp_path: Path) -> None:
    """Each input's own layer and a rule's socd.layer, both classes, at 0, before any
    message: rate() and increase() then see the first threat."""
    write(tmp_path / "r.yml", socd={"layer": 1})
    metrics = Metrics()
    Daemon(config(tmp_path), metrics)._prepare()
    assert threat_series(metrics) == {
        (c, layer, sensor): 0 for c in ("critical", "high-risk")
        for layer, sensor in (("2", "ndr"), ("1", "ndr"), ("3", "audit"), ("1", "audit"))}


async def test_a_reload_that_adds_an_override_creates_its_series(tmp_path: Path) -> None:
    """Rules without an override give each input its own layer; a reload adding
    ``socd: {layer: 4}`` creates the layer-4 series of both inputs, keeping the others."""
    write(tmp_path / "r.yml")
    metrics = Metrics()
    daemon = Daemon(config(tmp_path), metrics)
    daemon._prepare()
    assert {k[1:] for k in threat_series(metrics)} == {("2", "ndr"), ("3", "audit")}
    write(tmp_path / "r.yml", socd={"layer": 4})
    await daemon._reload()
    assert {k[1:] for k in threat_series(metrics)} == {
        ("2", "ndr"), ("3", "audit"), ("4", "ndr"), ("4", "audit")}
    assert set(threat_series(metrics).values()) == {0}


def test_a_fetch_counts_events_and_stamps_only_its_inputs(tmp_path: Path) -> None:
    """Two messages of one input: its events counted and its last-event time set to the
    time of processing; the input that sent nothing has no last-event time."""
    write(tmp_path / "r.yml")
    metrics = Metrics()
    daemon = Daemon(config(tmp_path), metrics)
    daemon._prepare()
    message = orjson.dumps({"alert_id": "x", "detected_at": "2026-03-01T06:00:00+07:00",
                            "severity": 3, "category": "scan"})
    before = time.time()
    daemon._process([Record("sensors.ndr", 0, i, message) for i in range(2)])
    after = time.time()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in metrics.registry.collect() for s in family.samples}
    assert samples[("socd_events_total", (("input", "sensors.ndr"), ("sensor", "ndr")))] == 2
    assert samples[("socd_events_total", (("input", "audits"), ("sensor", "audit")))] == 0
    stamps = {labels: value for (name, labels), value in samples.items()
              if name == "socd_last_event_timestamp_seconds"}
    assert list(stamps) == [(("input", "sensors.ndr"),)]
    assert before <= stamps[(("input", "sensors.ndr"),)] <= after


def _logged(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@pytest.mark.parametrize(("fatal", "level"), [(None, "info"), (SocdError("boom"), "error")])
async def test_stopped_is_logged_at_the_level_of_its_status(
        tmp_path: Path, fatal: SocdError | None, level: str) -> None:
    """``stopped`` ``status=error`` (exit status 1) is an error line, not an info one."""
    write(tmp_path / "r.yml")
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    daemon = Daemon(config(tmp_path), Metrics())
    daemon._fatal = fatal
    if fatal is None:  # nothing in flight: the drain finishes at once
        async def drained() -> None:
            return None
        daemon._drain = drained  # type: ignore[method-assign]
    await daemon._shutdown()
    stopped = [line for line in _logged(stream) if line["event"] == "stopped"]
    assert len(stopped) == 1 and stopped[0]["level"] == level
    assert stopped[0]["status"] == ("ok" if fatal is None else "error")


async def test_a_drain_that_cannot_finish_is_an_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Elasticsearch down at SIGTERM: ``drain_timeout`` and ``stopped`` are errors, and the
    daemon's status is the failure one (exit 1)."""
    write(tmp_path / "r.yml")
    stream = io.StringIO()
    configure("info", "json", stream=stream)
    monkeypatch.setattr(app, "DRAIN_TIMEOUT_S", 0.01)
    daemon = Daemon(config(tmp_path), Metrics())
    never = asyncio.Event()

    async def stuck() -> None:
        await never.wait()

    daemon._drain = stuck  # type: ignore[method-assign]
    await daemon._shutdown()
    by_event = {line["event"]: line for line in _logged(stream)}
    assert by_event["drain_timeout"]["level"] == "error"
    assert by_event["stopped"]["level"] == "error"
    assert by_event["stopped"]["status"] == "error"
    assert daemon._fatal is not None
