"""The store's retry policy, at the client seam (a real server does not answer 429, 503 or
drop the connection on demand; conflicts are tested on the real server): what can be retried
is retried with the backoff until the windows are written; a refusal for good stops socd with
the window named; a template refused asks for ``socd setup``."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from elastic_transport import ConnectionError as TransportConnectionError

from socd.classify.ruleset import Deferred
from socd.errors import SocdError
from socd.sinks.elasticsearch.retry import Backoff
from socd.state.windows import Event, WindowStore
from tests.unit.classify.test_correlate import event
from tests.unit.sinks.es_fakes import api_error
from tests.unit.state.test_windows import KINDS, load


class Indices:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    async def get_index_template(self, name: str) -> dict[str, Any]:
        self.client.calls.append("get_template")
        if self.client.template_error is not None:
            raise self.client.template_error
        return {"index_templates": []}

    async def put_index_template(self, **template: Any) -> dict[str, Any]:
        self.client.calls.append("put_template")
        return {"acknowledged": True}


class FakeClient:
    """Documents kept by id with sequence numbers; ``failures`` are raised (exceptions) or
    applied (``("item", status)``: the next bulk answers that status for its first item)
    before the calls they precede, in order."""

    def __init__(self, failures: list[Any]) -> None:
        self.docs: dict[str, tuple[int, bytes]] = {}
        self.failures = failures
        self.calls: list[str] = []
        self.seq = 0
        self.template_error: Exception | None = None
        self.indices = Indices(self)

    def _fail(self, items: bool) -> Any:
        """Raise the next failure if it is an exception; pop and return an item failure
        when ``items`` (a bulk); else nothing."""
        if self.failures and not isinstance(self.failures[0], tuple):
            raise self.failures.pop(0)
        return self.failures.pop(0) if items and self.failures else None

    async def mget(self, index: str, ids: list[str]) -> dict[str, Any]:
        self.calls.append("mget")
        self._fail(items=False)
        return {"docs": [{"_id": i, "found": i in self.docs,
                          **({"_source": orjson.loads(self.docs[i][1]), "_seq_no":
                              self.docs[i][0], "_primary_term": 1} if i in self.docs else {})}
                         for i in ids]}

    async def bulk(self, operations: bytes, **_: Any) -> dict[str, Any]:
        self.calls.append("bulk")
        item_failure = self._fail(items=True)
        lines = operations.split(b"\n")
        out = []
        for n in range(0, len(lines) - 1, 2):
            header = orjson.loads(lines[n])
            op, meta = next(iter(header.items()))
            if item_failure is not None and n == 0:
                out.append({op: {"_id": meta["_id"], "status": item_failure[1],
                                 "error": {"type": "x", "reason": "scripted"}}})
                continue
            self.seq += 1
            self.docs[meta["_id"]] = (self.seq, lines[n + 1])
            out.append({op: {"_id": meta["_id"], "status": 201, "_seq_no": self.seq,
                             "_primary_term": 1}})
        return {"items": out}


class Sleeps:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def store_of(client: FakeClient, sleeps: Sleeps) -> WindowStore:
    fake: Any = client  # the seam: the client's calls the store makes
    return WindowStore(lambda: fake, "p", Backoff(2.0, rng=random.Random(3)), sleep=sleeps)


async def settle(tmp_path: Path, store: WindowStore, sources: list[str]) -> list[str | None]:
    rules, bound = load(tmp_path, KINDS["event_count"])
    assert rules.correlator is not None
    docs = [event(n, ip=ip) for n, ip in enumerate(sources)]
    items = [(n, d, bound.triage(d)) for n, d in enumerate(docs)]
    fired = await store.settle(rules.correlator, [Event(d, t.inputs, "s/0", n)
                                                  for n, d, t in items
                                                  if isinstance(t, Deferred)], {"s/0": len(docs)})
    return ["critical" if f else "high-risk" for f in fired]


async def test_unreachable_busy_and_refused_items_are_retried_until_written(
        tmp_path: Path) -> None:
    """The read meets a dropped connection, then a 503; the write answers one item 429, then
    403: each is waited out with the backoff, and the windows end written once each with the
    verdicts of a run without failures."""
    client = FakeClient([TransportConnectionError("refused"), api_error(503),
                         ("item", 429), ("item", 403)])
    sleeps = Sleeps()
    verdicts = await settle(tmp_path, store_of(client, sleeps),
                            ["10.0.0.1"] * 3 + ["10.0.0.2"])
    assert verdicts == ["high-risk", "high-risk", "critical", "high-risk"]
    assert len(sleeps.slept) == 4 and all(0 <= s <= 2.0 for s in sleeps.slept)
    assert len(client.docs) == 2
    assert client.calls.count("mget") == 3 and client.calls.count("bulk") == 3


@pytest.mark.parametrize("status", [400, 404])
async def test_a_window_refused_for_good_stops_with_its_id(tmp_path: Path, status: int) -> None:
    client = FakeClient([("item", status)])
    with pytest.raises(SocdError, match=r"refused correlation window [0-9a-f]{32}"):
        await settle(tmp_path, store_of(client, Sleeps()), ["10.0.0.1"])


async def test_a_refused_template_asks_for_setup(tmp_path: Path) -> None:
    client = FakeClient([])
    client.template_error = api_error(403, "security_exception")
    with pytest.raises(SocdError, match="socd setup"):
        await settle(tmp_path, store_of(client, Sleeps()), ["10.0.0.1"])
    assert client.calls == ["get_template"]


