"""``socd report`` against the real local Elasticsearch-API server: threats seeded through
socd's own template and sink, some within hours of the period's edges where the UTC and the
local (UTC+7) dates differ, and the report's figures against hand-computed ones."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch

from socd.config import ElasticsearchConfig
from socd.devservers import Endpoints, free_port
from socd.event import Record
from socd.sinks.elasticsearch import ElasticsearchSink, encode_action
from socd.sinks.templates import alerts_index
from socd.telemetry.metrics import Metrics
from tests.integration.helpers import write_config

pytestmark = pytest.mark.integration

A, B = "203.0.113.1", "198.51.100.7"
# (@timestamp UTC, class, layer, categories, signature, sensor, source); the report's period
# is 2020-01-01..2020-06-30 in Asia/Ho_Chi_Minh (UTC+7): [2019-12-31T17:00Z, 2020-06-30T17:00Z);
# the previous period is 2019-07-03..2019-12-31: [2019-07-02T17:00Z, 2019-12-31T17:00Z).
SEED: list[tuple[str, str, int, list[str], str, str, str | None]] = [
    # in the period
    ("2019-12-31T17:00:00Z", "critical", 2, ["malware"], "S1", "ndr", A),  # UTC date: Dec 31
    ("2020-06-30T16:59:59Z", "high-risk", 1, [], "S2", "ndr", A),  # local 23:59:59 Jun 30
    ("2020-03-15T05:00:00Z", "critical", 3, ["malware"], "S1", "ndr", B),
    ("2020-03-15T06:00:00Z", "critical", 2, ["malware", "c2"], "S1", "ndr", A),
    ("2020-02-01T00:00:00Z", "high-risk", 4, [], "S3", "feed", None),
    ("2020-01-10T12:00:00Z", "high-risk", 2, ["scan"], "S2", "ndr", B),
    # in the previous period
    ("2019-12-31T16:59:59Z", "high-risk", 2, ["scan"], "S9", "ndr", A),  # local Dec 31 23:59
    ("2019-07-02T17:00:00Z", "critical", 2, ["scan"], "S9", "ndr", A),  # local Jul 3 00:00
    # in neither
    ("2020-06-30T17:00:00Z", "critical", 1, ["malware"], "S1", "ndr", A),  # local Jul 1
    ("2020-06-30T20:00:00Z", "critical", 1, ["malware"], "S1", "ndr", A),  # UTC date: Jun 30
    ("2019-07-02T16:59:00Z", "critical", 2, ["malware"], "S1", "ndr", A),  # local Jul 2
]


def _doc(i: int, ts: str, cls: str, layer: int, categories: list[str], signature: str,
         sensor: str, source: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": ts, "event": {"id": f"e-{i}", "kind": "alert"},
                           "observer": {"name": sensor},
                           "rule": {"name": signature},
                           "socd": {"class": cls, "layer": layer}}
    if categories:
        doc["rule"]["category"] = categories
    if source:
        doc["source"] = {"ip": source}
    return doc


async def _seed(url: str, prefix: str, es: AsyncElasticsearch) -> None:
    sink = ElasticsearchSink(ElasticsearchConfig(hosts=[url], index_prefix=prefix), Metrics())
    await sink.start()
    try:
        await sink.setup()
        batch = [encode_action(alerts_index(prefix, row[0]), f"id-{i}", _doc(i, *row),
                               Record("t", 0, i, b"{}")) for i, row in enumerate(SEED)]
        assert await sink.index(batch) == []
    finally:
        await sink.stop()
    await es.indices.refresh(index=f"{prefix}-alerts*")


def _report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "socd", "report", "-c", str(config),
                           "--from", "2020-01-01", "--to", "2020-06-30", *args],
                          capture_output=True, text=True, timeout=120, check=False)


async def test_report_counts_by_local_calendar_days(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, tmp_path: Path) -> None:
    await _seed(servers.elasticsearch, f"t{unique}", es)
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port())

    result = _report(config, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["threats"], data["critical"], data["high-risk"]) == (6, 3, 3)
    assert data["by_layer"] == {
        "1": {"threats": 1, "critical": 0, "high-risk": 1},
        "2": {"threats": 3, "critical": 2, "high-risk": 1},
        "3": {"threats": 1, "critical": 1, "high-risk": 0},
        "4": {"threats": 1, "critical": 0, "high-risk": 1}}
    assert data["previous"] == {"from": "2019-07-03", "to": "2019-12-31", "threats": 2,
                                "critical": 1, "high-risk": 1}
    assert data["change"] == {"threats": 200.0, "critical": 200.0, "high-risk": 200.0}
    top = data["top"]
    assert top["categories"] == [{"key": "malware", "threats": 3},
                                 {"key": "c2", "threats": 1}, {"key": "scan", "threats": 1}]
    assert top["signatures"] == [{"key": "S1", "threats": 3}, {"key": "S2", "threats": 2},
                                 {"key": "S3", "threats": 1}]
    assert top["sensors"] == [{"key": "ndr", "threats": 5}, {"key": "feed", "threats": 1}]
    assert top["sources"] == [{"key": A, "threats": 3}, {"key": B, "threats": 2}]
    weeks = data["weeks"]
    assert len(weeks) == 26  # 182 days from Wednesday 2020-01-01
    assert weeks[0] == {"from": "2020-01-01", "to": "2020-01-07", "threats": 1, "critical": 1,
                        "high-risk": 0}
    busy = {i: (w["threats"], w["critical"], w["high-risk"]) for i, w in enumerate(weeks)
            if w["threats"]}
    # Jan 1, Jan 10, Feb 1 (day 31), Mar 15 (day 74, twice), Jun 30 (day 181)
    assert busy == {0: (1, 1, 0), 1: (1, 0, 1), 4: (1, 0, 1), 10: (2, 2, 0), 25: (1, 0, 1)}

    text = _report(config, "--lang", "vi")
    assert text.returncode == 0, text.stderr
    assert ("Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện 6 mối nguy hại, trong đó có "
            "3 mối nguy hại cao, 3 mối đe dọa nghiêm trọng.") in text.stdout.splitlines()


async def test_a_period_without_threats_or_indices_reports_zero(
        servers: Endpoints, unique: str, tmp_path: Path) -> None:
    """No ``<prefix>-alerts*`` index at all: zeros, not an error."""
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port())
    result = _report(config, "--format", "markdown", "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert "From 2020-01-01 to 2020-06-30, 0 threats were detected" in result.stdout


def _browser() -> str | None:
    return next((found for name in ("chromium", "chromium-browser")
                 if (found := shutil.which(name))), None)


async def test_html_report_opens_in_a_browser(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, tmp_path: Path) -> None:
    """The page of the seeded period, opened in headless Chromium and screenshotted (kept
    as report.png next to the page in the test's folder)."""
    await _seed(servers.elasticsearch, f"t{unique}", es)
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port())
    result = _report(config, "--format", "html", "--lang", "vi")
    assert result.returncode == 0, result.stderr
    page = tmp_path / "report.html"
    page.write_text(result.stdout, encoding="utf-8")
    assert "đã phát hiện 6 mối nguy hại" in result.stdout
    assert result.stdout.count("<svg ") == 2
    browser = _browser()
    if browser is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium): the html "
                    "report was checked but not opened in a browser")
    shot = tmp_path / "report.png"
    opened = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1280,1800", page.as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    assert opened.returncode == 0, opened.stderr
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 1800)
    assert len(png) > 20_000  # a blank page of that size compresses to a few kB
