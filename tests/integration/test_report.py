"""``socd report`` against the real local Elasticsearch-API server: threats seeded through
socd's own template and sink, some within hours of the period's edges where the UTC and the
local (UTC+7) dates differ, some blocked by the sensor or handled by an operator (closed as
true positive, benign, duplicate or false positive; acknowledged; open), and the report's
figures against hand-computed ones. A second seed mixes suppressed alerts (one document for
``socd.suppression.docs_count`` threats: 1, 7, 12, 250 …) with plain documents (one threat
each), handled and closed as false positives as whole alerts."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import AsyncElasticsearch

from socd.alerts.model import Change, decide
from socd.config import ElasticsearchConfig
from socd.devservers import Endpoints, free_port
from socd.event import Record
from socd.sinks.elasticsearch import ElasticsearchSink, encode_action
from socd.sinks.templates import alerts_index
from socd.telemetry.metrics import Metrics
from tests.integration.helpers import write_config

pytestmark = pytest.mark.integration

A, B = "203.0.113.1", "198.51.100.7"
# (@timestamp UTC, class, layer, categories, signature, sensor, source, handling); the report's
# period is 2020-01-01..2020-06-30 in Asia/Ho_Chi_Minh (UTC+7):
# [2019-12-31T17:00Z, 2020-06-30T17:00Z); the previous period is 2019-07-03..2019-12-31:
# [2019-07-02T17:00Z, 2019-12-31T17:00Z). Handling: "" none (open), "blocked" (event.type
# denied), "open"/"acknowledged" (socd.status), "closed:REASON", or several joined by "+".
SEED: list[tuple[str, str, int, list[str], str, str, str | None, str]] = [
    # in the period: 8 threats, 5 handled (0, 1, 4, 8, 9), and 2 false positives (6, 7)
    ("2019-12-31T17:00:00Z", "critical", 2, ["malware"], "S1", "ndr", A, "blocked"),
    ("2020-06-30T16:59:59Z", "high-risk", 1, [], "S2", "ndr", A, "closed:true_positive"),
    ("2020-03-15T05:00:00Z", "critical", 3, ["malware"], "S1", "ndr", B, "acknowledged"),
    ("2020-03-15T06:00:00Z", "critical", 2, ["malware", "c2"], "S1", "ndr", A, ""),
    ("2020-02-01T00:00:00Z", "high-risk", 4, [], "S3", "feed", None, "closed:benign"),
    ("2020-01-10T12:00:00Z", "high-risk", 2, ["scan"], "S2", "ndr", B, "open"),
    ("2020-03-15T07:00:00Z", "critical", 2, ["malware"], "S1", "ndr", A,
     "closed:false_positive"),
    ("2020-06-30T16:00:00Z", "high-risk", 1, ["scan"], "S4", "ndr", B,
     "blocked+closed:false_positive"),  # a false positive even though blocked
    ("2019-12-31T17:30:00Z", "critical", 2, ["c2"], "S5", "ndr", A, "blocked+acknowledged"),
    ("2020-04-01T00:00:00Z", "critical", 3, ["malware"], "S1", "ndr", A, "closed:duplicate"),
    # in the previous period: 2 threats, 1 handled (10), and 1 false positive (12)
    ("2019-12-31T16:59:59Z", "high-risk", 2, ["scan"], "S9", "ndr", A, "closed:true_positive"),
    ("2019-07-02T17:00:00Z", "critical", 2, ["scan"], "S9", "ndr", A, ""),  # local Jul 3
    ("2019-10-01T00:00:00Z", "critical", 1, ["malware"], "S9", "ndr", A,
     "closed:false_positive"),
    # in neither
    ("2020-06-30T17:00:00Z", "critical", 1, ["malware"], "S1", "ndr", A, ""),  # local Jul 1
    ("2020-06-30T20:00:00Z", "critical", 1, ["malware"], "S1", "ndr", A, "blocked"),
    ("2019-07-02T16:59:00Z", "critical", 2, ["malware"], "S1", "ndr", A, ""),  # local Jul 2
    ("2020-06-30T17:00:00Z", "critical", 2, ["malware"], "S1", "ndr", A,
     "closed:false_positive"),  # local Jul 1: no false positive of the period either
]


def _doc(i: int, ts: str, cls: str, layer: int, categories: list[str], signature: str,
         sensor: str, source: str | None, handling: str) -> dict[str, Any]:
    """A threat document as the daemon writes it, then as ``socd alerts`` leaves it."""
    doc: dict[str, Any] = {"@timestamp": ts, "event": {"id": f"e-{i}", "kind": "alert",
                                                       "type": ["connection"]},
                           "observer": {"name": sensor},
                           "rule": {"name": signature},
                           "socd": {"class": cls, "layer": layer}}
    if categories:
        doc["rule"]["category"] = categories
    if source:
        doc["source"] = {"ip": source}
    for step in filter(None, handling.split("+")):
        if step == "blocked":
            doc["event"]["type"] = ["connection", "denied"]
            continue
        status, _, reason = step.partition(":")
        if status == "open":  # as written by hand: the daemon writes no status
            doc["socd"]["status"] = "open"
            continue
        # the fields exactly as ``socd alerts ack|close`` writes them
        change = Change("ack" if status == "acknowledged" else "close", by="an operator",
                        at="2020-07-01T02:00:00.000Z", reason=reason or None)
        outcome, fields, _ = decide(doc["socd"], change)
        assert outcome == "changed" and fields is not None
        doc["socd"].update(fields)
    return doc


Row = tuple[str, str, int, list[str], str, str, str | None, str]


def _suppressed(doc: dict[str, Any], count: int | None, end: str) -> dict[str, Any]:
    """``doc`` as the alert of ``count`` threats of one key, the last at ``end`` (the fields
    of socd.sinks.templates, as suppression writes them); None: a plain document."""
    if count is not None:
        doc["socd"]["suppression"] = {
            "docs_count": count, "start": doc["@timestamp"], "end": end,
            "terms": [{"field": "source.ip", "value": doc.get("source", {}).get("ip", "")}]}
        doc["event"]["end"] = end
    return doc


async def _seed(url: str, prefix: str, es: AsyncElasticsearch,
                docs: list[dict[str, Any]] | None = None) -> None:
    """Index ``docs`` (default: :data:`SEED`'s) through socd's template and sink."""
    if docs is None:
        docs = [_doc(i, *row) for i, row in enumerate(SEED)]
    sink = ElasticsearchSink(ElasticsearchConfig(hosts=[url], index_prefix=prefix), Metrics())
    await sink.start()
    try:
        await sink.setup()
        batch = [encode_action(alerts_index(prefix, doc["@timestamp"]), f"id-{i}", doc,
                               Record("t", 0, i, b"{}")) for i, doc in enumerate(docs)]
        assert await sink.index(batch) == []
    finally:
        await sink.stop()
    await es.indices.refresh(index=f"{prefix}-alerts*")


def _stdout(config: Path, *args: str) -> str:
    """What ``socd report`` of the period prints, once it succeeded."""
    result = _report(config, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _counts(threats: int, critical: int, high_risk: int, handled: int, not_handled: int,
            alerts: int) -> dict[str, int]:
    """The json's counts of a layer, in the order of its table."""
    return {"threats": threats, "critical": critical, "high-risk": high_risk,
            "handled": handled, "not_handled": not_handled, "alerts": alerts}


def _report(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "socd", "report", "-c", str(config),
                           "--from", "2020-01-01", "--to", "2020-06-30", *args],
                          capture_output=True, text=True, timeout=120, check=False)


async def test_report_counts_by_local_calendar_days(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, tmp_path: Path) -> None:
    await _seed(servers.elasticsearch, f"t{unique}", es)
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port())

    data = json.loads(_stdout(config, "--format", "json"))
    assert (data["threats"], data["critical"], data["high-risk"]) == (8, 5, 3)
    assert (data["handled"], data["not_handled"], data["false_positives"]) == (5, 3, 2)
    # no document suppressed: as many alerts as threats
    assert (data["alerts"], data["false_positive_alerts"]) == (8, 2)
    assert data["by_layer"] == {"1": _counts(1, 0, 1, 1, 0, 1), "2": _counts(4, 3, 1, 2, 2, 4),
                                "3": _counts(2, 2, 0, 1, 1, 2), "4": _counts(1, 0, 1, 1, 0, 1)}
    assert data["previous"] == {"from": "2019-07-03", "to": "2019-12-31", "threats": 2,
                                "critical": 1, "high-risk": 1, "handled": 1,
                                "not_handled": 1, "alerts": 2, "false_positives": 1,
                                "false_positive_alerts": 1}
    assert data["change"] == {"threats": 300.0, "alerts": 300.0, "critical": 400.0,
                              "high-risk": 200.0, "handled": 400.0, "false_positives": 100.0}
    top = data["top"]
    assert top["categories"] == [{"key": "malware", "threats": 4},
                                 {"key": "c2", "threats": 2}, {"key": "scan", "threats": 1}]
    assert top["signatures"] == [{"key": "S1", "threats": 4}, {"key": "S2", "threats": 2},
                                 {"key": "S3", "threats": 1}, {"key": "S5", "threats": 1}]
    assert top["sensors"] == [{"key": "ndr", "threats": 7}, {"key": "feed", "threats": 1}]
    assert top["sources"] == [{"key": A, "threats": 5}, {"key": B, "threats": 2}]
    weeks = data["weeks"]
    assert len(weeks) == 26  # 182 days from Wednesday 2020-01-01
    assert weeks[0] == {"from": "2020-01-01", "to": "2020-01-07", "threats": 2, "critical": 2,
                        "high-risk": 0, "alerts": 2}
    busy = {i: (w["threats"], w["critical"], w["high-risk"])
            for i, w in enumerate(weeks) if w["threats"]}
    # Jan 1 (twice), Jan 10, Feb 1 (day 31), Mar 15 (day 74, twice; its false positive left
    # out), Apr 1 (day 91), Jun 30 (day 181; its false positive left out)
    assert busy == {0: (2, 2, 0), 1: (1, 0, 1), 4: (1, 0, 1), 10: (2, 2, 0), 13: (1, 1, 0),
                    25: (1, 0, 1)}

    lines = _stdout(config, "--lang", "vi").splitlines()
    assert ("Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện 8 mối nguy hại, trong đó có "
            "3 mối nguy hại cao, 5 mối đe dọa nghiêm trọng; đã xử lý 5 mối nguy hại "
            "(62,50%).") in lines
    assert ("Không tính 2 cảnh báo sai (mối nguy hại được đóng với lý do false_positive); "
            "kỳ trước: 1.") in lines
    layer2 = next(line for line in lines if line.strip().startswith("2 "))
    assert layer2.split() == ["2", "4", "3", "1", "2", "2", "50,00%"]

    english = _stdout(config, "--lang", "en", "--format", "markdown")
    assert "| Total | 8 | 5 | 3 | 5 | 3 | 100.00% |" in english
    assert ("Not counted: 2 false positives (threats closed as false_positive); previous "
            "period: 1.") in english


async def test_a_period_without_threats_or_indices_reports_zero(
        servers: Endpoints, unique: str, tmp_path: Path) -> None:
    """No ``<prefix>-alerts*`` index at all: zeros, not an error."""
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port())
    result = _report(config, "--format", "markdown", "--lang", "en")
    assert result.returncode == 0, result.stderr
    assert ("From 2020-01-01 to 2020-06-30, 0 threats were detected, of which 0 high-risk "
            "and 0 critical.") in result.stdout
    assert ("Not counted: 0 false positives (threats closed as false_positive); previous "
            "period: 0.") in result.stdout


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
    assert "đã phát hiện 8 mối nguy hại" in result.stdout
    assert "Không tính 2 cảnh báo sai" in result.stdout
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


C = "192.0.2.9"
# (row as in SEED, docs_count: None for a plain document, the time of the alert's last
# threat). The same period; an alert's threats count in the period of its first threat.
GROUPED: list[tuple[Row, int | None, str]] = [
    # in the period: 7 alerts standing for 273 threats (259 critical, 14 high-risk), of them
    # 21 handled (7 + 1 + 12 + 1: alerts 1, 3, 7, 8); 2 false positive alerts (41 threats)
    (("2020-01-01T00:00:00Z", "critical", 2, ["scan"], "S1", "ndr", A, ""), 250,
     "2020-01-01T00:09:59Z"),
    (("2020-03-15T05:00:00Z", "critical", 2, ["malware"], "S1", "ndr", B,
      "closed:true_positive"), 7, "2020-03-15T05:04:00Z"),
    (("2020-03-15T06:00:00Z", "high-risk", 1, [], "S2", "ndr", A, "acknowledged"), 1,
     "2020-03-15T06:00:00Z"),
    (("2020-02-01T00:00:00Z", "high-risk", 3, ["scan", "malware"], "S3", "feed", B,
      "blocked"), None, ""),
    (("2020-03-15T07:00:00Z", "critical", 2, ["malware"], "S1", "ndr", A,
      "closed:false_positive"), 40, "2020-03-15T07:09:00Z"),
    (("2020-06-30T16:00:00Z", "high-risk", 1, ["scan"], "S2", "ndr", None,
      "closed:false_positive"), None, ""),
    (("2020-04-01T00:00:00Z", "critical", 4, ["c2"], "S4", "feed", B, ""), None, ""),
    # its first threat on the period's last local day, its last one on the next day: all 12
    # count in this period
    (("2020-06-30T16:30:00Z", "high-risk", 2, ["scan"], "S2", "ndr", A,
      "blocked+acknowledged"), 12, "2020-06-30T17:20:00Z"),
    (("2019-12-31T17:00:00Z", "critical", 3, ["malware"], "S1", "ndr", B, "closed:duplicate"),
     None, ""),
    # in the previous period: 2 alerts, 31 threats (30 handled); 1 false positive alert of 5
    (("2019-10-01T00:00:00Z", "critical", 2, ["scan"], "S9", "ndr", A, "closed:benign"), 30,
     "2019-10-01T00:05:00Z"),
    (("2019-10-02T00:00:00Z", "high-risk", 1, ["scan"], "S9", "ndr", A, ""), None, ""),
    (("2019-10-03T00:00:00Z", "high-risk", 1, ["scan"], "S9", "ndr", C,
      "closed:false_positive"), 5, "2019-10-03T00:01:00Z"),
    # in neither (local Jul 1)
    (("2020-06-30T17:00:00Z", "critical", 2, ["scan"], "S1", "ndr", A, ""), 1000,
     "2020-06-30T17:09:00Z"),
]


async def test_report_counts_threats_of_suppressed_alerts(
        servers: Endpoints, unique: str, es: AsyncElasticsearch, tmp_path: Path) -> None:
    """Every threat figure is the sum of ``docs_count`` (a plain document: 1), handling and
    false positives apply to a whole alert, the top lists rank by threats (source B has more
    alerts than A, A far more threats), and the report says the alerts apart."""
    docs = [_suppressed(_doc(i, *row), count, end)
            for i, (row, count, end) in enumerate(GROUPED)]
    await _seed(servers.elasticsearch, f"t{unique}", es, docs)
    config = write_config(tmp_path / "socd.yaml", servers, unique, free_port())

    data = json.loads(_stdout(config, "--format", "json"))
    assert (data["threats"], data["critical"], data["high-risk"], data["alerts"]) == (
        273, 259, 14, 7)
    assert (data["handled"], data["not_handled"]) == (21, 252)
    assert (data["false_positives"], data["false_positive_alerts"]) == (41, 2)
    assert data["by_layer"] == {
        "1": _counts(1, 0, 1, 0, 1, 1), "2": _counts(269, 257, 12, 19, 250, 3),
        "3": _counts(2, 1, 1, 2, 0, 2), "4": _counts(1, 1, 0, 0, 1, 1)}
    assert data["previous"] == {"from": "2019-07-03", "to": "2019-12-31", "threats": 31,
                                "critical": 30, "high-risk": 1, "handled": 30,
                                "not_handled": 1, "alerts": 2, "false_positives": 5,
                                "false_positive_alerts": 1}
    assert data["change"] == {"threats": pytest.approx(242 * 100 / 31), "alerts": 250.0,
                              "critical": pytest.approx(229 * 100 / 30), "high-risk": 1300.0,
                              "handled": -30.0, "false_positives": 720.0}
    top = data["top"]
    assert top["sources"] == [{"key": A, "threats": 263}, {"key": B, "threats": 10}]
    assert top["categories"] == [{"key": "scan", "threats": 263},
                                 {"key": "malware", "threats": 9}, {"key": "c2", "threats": 1}]
    assert top["signatures"] == [{"key": "S1", "threats": 258}, {"key": "S2", "threats": 13},
                                 {"key": "S3", "threats": 1}, {"key": "S4", "threats": 1}]
    assert top["sensors"] == [{"key": "ndr", "threats": 271}, {"key": "feed", "threats": 2}]
    busy = {i: (w["threats"], w["critical"], w["high-risk"], w["alerts"])
            for i, w in enumerate(data["weeks"]) if w["alerts"]}
    # Jan 1 (250 + 1), Feb 1 (day 31), Mar 15 (day 74; its false positive left out), Apr 1
    # (day 91), Jun 30 (day 181; its false positive left out)
    assert busy == {0: (251, 251, 0, 2), 4: (1, 0, 1, 1), 10: (8, 7, 1, 2),
                    13: (1, 1, 0, 1), 25: (12, 0, 12, 1)}

    lines = _stdout(config, "--lang", "vi").splitlines()
    assert ("Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện 273 mối nguy hại, trong đó "
            "có 14 mối nguy hại cao, 259 mối đe dọa nghiêm trọng; đã xử lý 21 mối nguy hại "
            "(7,69%). Các mối nguy hại này được gộp thành 7 cảnh báo.") in lines
    assert ("Không tính 41 mối nguy hại trong 2 cảnh báo sai (cảnh báo được đóng với lý do "
            "false_positive); kỳ trước: 5 mối nguy hại.") in lines
    assert any(line.startswith("Mối nguy hại: sự kiện được phân loại") for line in lines)
    layer2 = next(line for line in lines if line.strip().startswith("2 "))
    assert layer2.split() == ["2", "269", "257", "12", "19", "250", "98,53%"]

    english = _stdout(config, "--lang", "en", "--format", "markdown")
    assert "| Total | 273 | 259 | 14 | 21 | 252 | 100.00% |" in english
    assert "| Alerts | 7 | 2 | +250.00% |" in english
    assert " These threats were grouped into 7 alerts." in english
    assert "Alerts: documents in Elasticsearch;" in english
