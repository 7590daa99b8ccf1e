"""``socd alerts list|ack|close`` on the real local Elasticsearch-API server, run as a user
runs it: by id and by query (with ``--dry-run``), idempotent, a concurrent change never lost,
a wrong id named."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from elasticsearch import AsyncElasticsearch

from socd.alerts import Change, Store
from socd.devservers import Endpoints, free_port
from socd.sinks.templates import alerts_index, alerts_template
from tests.integration.helpers import run_socd, write_config

pytestmark = pytest.mark.integration

def threat(i: int, cls: str, *, layer: int = 2, blocked: bool = False,
           hour: int = 3) -> dict[str, Any]:
    return {"@timestamp": f"2026-03-0{1 + i % 5}T{hour:02d}:00:{i:02d}Z",
            "event": {"id": f"e-{i}",
                      "type": ["indicator", "denied" if blocked else "allowed"]},
            "socd": {"class": cls, "layer": layer, "rule": {"name": f"rule {i}"}},
            "source": {"ip": f"10.0.0.{i}"}}


async def seed(es: AsyncElasticsearch, prefix: str, docs: dict[str, dict[str, Any]]) -> None:
    """The template, then ``docs`` by id in their monthly index, refreshed."""
    await es.indices.put_index_template(**alerts_template(prefix))
    for doc_id, body in docs.items():
        await es.index(index=alerts_index(prefix, body["@timestamp"]), id=doc_id,
                       document=body)
    await es.indices.refresh(index=f"{prefix}-alerts*")


async def socd_of(es: AsyncElasticsearch, prefix: str, doc_id: str) -> dict[str, Any]:
    answer = await es.get(index=alerts_index(prefix, "2026-03"), id=doc_id)
    result: dict[str, Any] = answer["_source"]["socd"]
    return result


@pytest.fixture
def config(servers: Endpoints, unique: str, tmp_path: Path) -> str:
    return str(write_config(tmp_path / "socd.yaml", servers, unique, free_port()))


async def test_ack_then_close_by_id_and_list(es: AsyncElasticsearch, unique: str,
                                             config: str) -> None:
    """``ack`` by id records who, when and the comment; ``close`` records the reason and
    keeps both changes in the history; ``list`` (JSON lines in a pipe) shows each status,
    and a threat the sensor blocked as handled without any change to it."""
    prefix = f"t{unique}"
    await seed(es, prefix, {"a": threat(1, "critical"), "b": threat(2, "high-risk"),
                            "c": threat(3, "critical", blocked=True)})
    acked = await run_socd("alerts", "ack", "-c", config, "a", "--by", "lan",
                           "--comment", "looking")
    assert acked.returncode == 0, acked.stderr
    assert "a: open → acknowledged" in acked.stdout
    socd_a = await socd_of(es, prefix, "a")
    assert (socd_a["status"], socd_a["status_by"], socd_a["status_comment"]) == (
        "acknowledged", "lan", "looking")
    assert socd_a["status_at"].endswith("Z") and socd_a["status_reason"] is None
    closed = await run_socd("alerts", "close", "-c", config, "a", "--reason",
                            "true_positive", "--by", "minh")
    assert closed.returncode == 0, closed.stderr
    assert "a: acknowledged → closed (true_positive)" in closed.stdout
    socd_a = await socd_of(es, prefix, "a")
    assert (socd_a["status"], socd_a["status_reason"], socd_a["status_by"]) == (
        "closed", "true_positive", "minh")
    assert socd_a["status_comment"] is None
    assert [(h["status"], h["by"]) for h in socd_a["status_history"]] == [
        ("acknowledged", "lan"), ("closed", "minh")]

    listed = await run_socd("alerts", "list", "-c", config)
    assert listed.returncode == 0, listed.stderr
    rows = {row["id"]: row for row in map(orjson.loads, listed.stdout.splitlines())}
    assert set(rows) == {"a", "b", "c"}
    assert (rows["a"]["status"], rows["a"]["reason"], rows["a"]["handled"]) == (
        "closed", "true_positive", True)
    assert (rows["b"]["status"], rows["b"]["handled"]) == ("open", False)
    assert (rows["c"]["status"], rows["c"]["blocked"], rows["c"]["handled"]) == (
        "open", True, True)
    assert "status" not in await socd_of(es, prefix, "c")
    open_only = await run_socd("alerts", "list", "-c", config, "--status", "open",
                               "--class", "critical")
    assert [orjson.loads(line)["id"] for line in open_only.stdout.splitlines()] == ["c"]
    # (the local server's query_string does not match ip fields, as Elasticsearch does)
    for filters, want in ((("--query", 'socd.rule.name:"rule 2"'), ["b"]),
                          (("--since", "2026-03-03"), ["c", "b"]),  # newest first
                          (("--since", "2026-03-03", "--layer", "3"), []),
                          (("--status", "closed", "--status", "acknowledged"), ["a"]),
                          (("--limit", "1"), ["c"])):
        found = await run_socd("alerts", "list", "-c", config, *filters)
        assert [orjson.loads(line)["id"] for line in found.stdout.splitlines()] == want, filters
    table = await run_socd("alerts", "list", "-c", config, "--format", "table")
    assert table.stdout.splitlines()[0].split()[:6] == ["@timestamp", "id", "class",
                                                        "layer", "threats", "status"]
    assert "closed:true_positive" in table.stdout
    assert table.stdout.endswith("socd: 3 alerts match; 3 shown (newest first)\n")


async def test_by_query_dry_run_then_limit(es: AsyncElasticsearch, unique: str,
                                           config: str) -> None:
    """By query: ``--dry-run`` prints the count and what would change and changes nothing;
    then the newest ``--limit`` are closed; another run acts on the rest only (the closed
    ones no longer match: without --status, close acts on those not closed)."""
    prefix = f"t{unique}"
    docs = {f"q{i}": threat(i, "high-risk", layer=3, hour=i) for i in range(1, 6)}
    docs["other"] = threat(9, "critical", layer=3)
    await seed(es, prefix, docs)
    args = ("alerts", "close", "-c", config, "--class", "high-risk", "--layer", "3",
            "--reason", "benign", "--limit", "3")
    dry = await run_socd(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == "socd: 5 alerts match; would close the newest 3 (--limit 3)"
    assert len([line for line in lines if "open → closed (benign)" in line]) == 3
    assert lines[-1].startswith("socd: 3 would change, 0 unchanged")
    for doc_id in docs:
        assert "status" not in await socd_of(es, prefix, doc_id)

    done = await run_socd(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "socd: 5 alerts match; close the newest 3 (--limit 3)"
    statuses = {doc_id: (await socd_of(es, prefix, doc_id)).get("status") for doc_id in docs}
    assert sum(status == "closed" for status in statuses.values()) == 3
    assert statuses["other"] is None
    rest = await run_socd(*args)
    assert rest.stdout.splitlines()[0] == "socd: 2 alerts match; close the newest 2 (--limit 3)"
    statuses = {doc_id: (await socd_of(es, prefix, doc_id)).get("status") for doc_id in docs}
    assert statuses == {**{f"q{i}": "closed" for i in range(1, 6)}, "other": None}


async def test_idempotent_and_reopen(es: AsyncElasticsearch, unique: str, config: str) -> None:
    """Closing a closed threat again with the same reason changes nothing (not even its
    sequence number); ``ack`` leaves a closed threat alone unless ``--reopen``."""
    prefix = f"t{unique}"
    await seed(es, prefix, {"a": threat(1, "critical")})
    index = alerts_index(prefix, "2026-03")
    first = await run_socd("alerts", "close", "-c", config, "a", "--reason", "benign")
    assert first.returncode == 0, first.stderr
    before = await es.get(index=index, id="a")
    again = await run_socd("alerts", "close", "-c", config, "a", "--reason", "benign",
                           "--comment", "again")
    assert again.returncode == 0 and "a: already closed as benign" in again.stdout
    after = await es.get(index=index, id="a")
    assert after["_seq_no"] == before["_seq_no"] and after["_source"] == before["_source"]
    refused = await run_socd("alerts", "ack", "-c", config, "a")
    assert refused.returncode == 0
    assert "a: closed as benign: give --reopen to acknowledge it again" in refused.stdout
    assert (await socd_of(es, prefix, "a"))["status"] == "closed"
    reopened = await run_socd("alerts", "ack", "-c", config, "a", "--reopen")
    assert "a: closed → acknowledged" in reopened.stdout
    socd_a = await socd_of(es, prefix, "a")
    assert (socd_a["status"], socd_a["status_reason"]) == ("acknowledged", None)


async def test_a_concurrent_change_is_never_lost(servers: Endpoints, es: AsyncElasticsearch,
                                                 unique: str) -> None:
    """A change decided on a stale read meets a 409, reads again and is decided on what
    the document now holds; two changes racing on one document both end in its history."""
    prefix = f"t{unique}"
    await seed(es, prefix, {"a": threat(1, "critical"), "b": threat(2, "critical")})
    store = Store(AsyncElasticsearch(servers.elasticsearch), prefix, servers.elasticsearch)
    try:
        stale = (await store.by_ids(["a"]))["a"]
        ack = Change("ack", by="lan", at="2026-03-01T08:00:00.000Z", comment="first")
        assert (await store.apply(stale, ack))[0] == "changed"
        close = Change("close", by="minh", at="2026-03-01T08:01:00.000Z", reason="benign")
        outcome, shown = await store.apply(stale, close)  # stale: still says open
        assert (outcome, shown) == ("changed", "acknowledged → closed (benign)")
        history = (await socd_of(es, prefix, "a"))["status_history"]
        assert [(h["status"], h["by"]) for h in history] == [("acknowledged", "lan"),
                                                             ("closed", "minh")]

        hit = (await store.by_ids(["b"]))["b"]
        racing = [Change("close", by=name, at="2026-03-01T09:00:00.000Z", reason=reason)
                  for name, reason in (("lan", "true_positive"), ("minh", "duplicate"))]
        results = await asyncio.gather(*(store.apply(hit, change) for change in racing))
        assert [outcome for outcome, _ in results] == ["changed", "changed"]
        socd_b = await socd_of(es, prefix, "b")
        assert sorted(h["by"] for h in socd_b["status_history"]) == ["lan", "minh"]
        last = socd_b["status_history"][-1]
        assert (socd_b["status_by"], socd_b["status_reason"]) == (last["by"], last["reason"])
    finally:
        await store.client.close()


async def test_wrong_id_and_bad_query(es: AsyncElasticsearch, unique: str,
                                      config: str) -> None:
    """An id that names no threat is one line naming it and the fix (exit 1) while the
    other ids are still handled; a query Elasticsearch cannot parse is a usage error."""
    prefix = f"t{unique}"
    await seed(es, prefix, {"a": threat(1, "critical")})
    result = await run_socd("alerts", "ack", "-c", config, "nope", "a")
    assert result.returncode == 1
    assert result.stderr == (f"socd: nope: no such threat in {prefix}-alerts*: check the id "
                             "(socd alerts list --format json shows them)\n")
    assert (await socd_of(es, prefix, "a"))["status"] == "acknowledged"
    assert "1 changed, 0 unchanged, 0 left as they are, 1 not found" in result.stdout
    bad = await run_socd("alerts", "list", "-c", config, "--query", "source.ip:(")
    assert bad.returncode == 2 and bad.stderr.startswith("socd: --query: Elasticsearch "
                                                         "cannot use it: ")
    assert bad.stderr.count("\n") == 1
