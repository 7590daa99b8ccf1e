"""The series alert rules depend on: threat series at 0 for every layer an input can reach,
the last-event time only after an input's first message, consumer lag only for fetched and
owned partitions."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from socd.telemetry.metrics import Metrics


def series(metrics: Metrics, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """Every sample of ``name`` (the exported sample name), by its labels."""
    return {frozenset(sample.labels.items()): sample.value
            for family in metrics.registry.collect() for sample in family.samples
            if sample.name == name}


def threat(threat_class: str, layer: int, sensor: str) -> frozenset[tuple[str, str]]:
    return frozenset({("class", threat_class), ("layer", str(layer)), ("sensor", sensor)})


def test_declare_input_creates_every_class_on_every_layer_at_zero() -> None:
    """Both classes on each given layer, at 0, and nothing on any other layer; declaring
    again (after a rule reload) adds a layer and keeps the counts already made."""
    m = Metrics()
    m.declare_input("sensors.ndr", "ndr", [2, 1, 2])
    assert series(m, "socd_threats_total") == {
        threat(c, layer, "ndr"): 0 for c in ("critical", "high-risk") for layer in (1, 2)}
    assert series(m, "socd_events_total") == {
        frozenset({("input", "sensors.ndr"), ("sensor", "ndr")}): 0}
    m.threats.labels(**{"class": "critical", "layer": "2", "sensor": "ndr"}).inc(3)
    m.declare_input("sensors.ndr", "ndr", [2, 4])
    got = series(m, "socd_threats_total")
    assert set(got) == {threat(c, layer, "ndr") for c in ("critical", "high-risk")
                        for layer in (1, 2, 4)}
    assert got[threat("critical", 2, "ndr")] == 3


def test_last_event_time_appears_with_an_inputs_first_message_only() -> None:
    """Declared inputs have no last-event time; consuming sets it for the inputs of the
    fetch (to the time given) and counts their events; the others stay absent."""
    m = Metrics()
    m.declare_input("a", "sa", [1])
    m.declare_input("b", "sb", [1])
    assert series(m, "socd_last_event_timestamp_seconds") == {}
    m.consumed({("a", "sa"): 3}, 1_750_000_000.5)
    m.consumed({("a", "sa"): 2}, 1_750_000_010.0)
    assert series(m, "socd_last_event_timestamp_seconds") == {
        frozenset({("input", "a")}): 1_750_000_010.0}
    assert series(m, "socd_events_total") == {
        frozenset({("input", "a"), ("sensor", "sa")}): 5,
        frozenset({("input", "b"), ("sensor", "sb")}): 0}


def lag_series(m: Metrics) -> dict[tuple[str, int], float]:
    return {(dict(labels)["topic"], int(dict(labels)["partition"])): value
            for labels, value in series(m, "socd_consumer_lag").items()}


def test_consumer_lag_is_set_kept_and_removed() -> None:
    """No series before a measure; a measured partition gets its lag; an owned partition
    measured no more keeps its last value; a partition no longer owned loses its series,
    at a revocation at once."""
    m = Metrics()
    assert lag_series(m) == {}
    m.report_lag({("t", 0): 5, ("t", 1): 0}, {("t", 0), ("t", 1), ("t", 2)})
    assert lag_series(m) == {("t", 0): 5, ("t", 1): 0}
    m.report_lag({("t", 1): 7}, {("t", 0), ("t", 1)})
    assert lag_series(m) == {("t", 0): 5, ("t", 1): 7}
    m.forget_partitions([("t", 1), ("t", 9)])
    assert lag_series(m) == {("t", 0): 5}
    m.report_lag({}, set())
    assert lag_series(m) == {}


@given(st.lists(st.one_of(
    st.tuples(st.just("report"),
              st.dictionaries(st.tuples(st.sampled_from("ab"), st.integers(0, 3)),
                              st.integers(0, 10**9), max_size=6),
              st.sets(st.tuples(st.sampled_from("ab"), st.integers(0, 3)), max_size=8)),
    st.tuples(st.just("revoke"),
              st.sets(st.tuples(st.sampled_from("ab"), st.integers(0, 3)), max_size=8)),
), max_size=12))
def test_consumer_lag_series_follow_the_partitions_owned(steps: list[tuple[Any, ...]]) -> None:
    """After any sequence of measures and revocations, the series are exactly: each
    partition's last measured lag, for the partitions still owned and not revoked since."""
    m = Metrics()
    model: dict[tuple[str, int], int] = {}
    for step in steps:
        if step[0] == "report":
            _, lags, owned = step
            owned = owned | set(lags)  # a measure covers owned partitions only
            model.update(lags)
            model = {p: v for p, v in model.items() if p in owned}
            m.report_lag(lags, owned)
        else:
            model = {p: v for p, v in model.items() if p not in step[1]}
            m.forget_partitions(step[1])
        assert lag_series(m) == model


def test_in_flight_gauges_add_each_batch_and_subtract_it_when_it_ends() -> None:
    """Two batches overlap: the gauges hold their sum, then each leaves its own share."""
    m = Metrics()
    m.delivery_started(3, 300)
    m.delivery_started(2, 120)
    assert series(m, "socd_in_flight_events") == {frozenset(): 5}
    assert series(m, "socd_in_flight_bytes") == {frozenset(): 420}
    m.delivery_ended(3, 300)
    assert series(m, "socd_in_flight_events") == {frozenset(): 2}
    m.delivery_ended(2, 120)
    assert series(m, "socd_in_flight_events") == {frozenset(): 0}
    assert series(m, "socd_in_flight_bytes") == {frozenset(): 0}


def test_delivery_series_exist_from_start_up() -> None:
    """Pauses, the paused and ready gauges and the commit histogram exist at 0 before
    anything happens, so that alerts and rates see their first change."""
    m = Metrics()
    for name in ("socd_partition_pauses_total", "socd_paused", "socd_ready",
                 "socd_in_flight_events", "socd_in_flight_bytes",
                 "socd_offset_commit_duration_seconds_count", "socd_bulk_retries_total"):
        assert series(m, name) == {frozenset(): 0}, name
