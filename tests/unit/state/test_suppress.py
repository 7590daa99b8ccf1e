"""socd.state.suppress: the suppress: setting, windows, alert ids, keys and the update body."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from socd.classify import RuleSet
from socd.errors import RuleError
from socd.event import IndexAction, Record
from socd.sinks.elasticsearch import encode_action
from socd.state.suppress import (
    SCRIPT_ID,
    Suppression,
    aggregate,
    alert_id,
    key_terms,
    parse_suppress,
    suppressed_threat,
)

TEN_MINUTES = Suppression(("source.ip",), timedelta(minutes=10))


@pytest.mark.parametrize(("written", "by", "window"), [
    ({"by": ["source.ip"], "for": "10m"}, ("source.ip",), timedelta(minutes=10)),
    ({"by": "source.ip", "for": 3600}, ("source.ip",), timedelta(hours=1)),
    ({"by": ["source.ip", "destination.port"], "for": "1d"},
     ("source.ip", "destination.port"), timedelta(days=1)),
])
def test_the_forms_of_suppress(written: object, by: tuple[str, ...], window: timedelta) -> None:
    found = parse_suppress(written)
    assert found == Suppression(by, window)


def test_false_means_never() -> None:
    assert parse_suppress(False) is False


@pytest.mark.parametrize(("written", "says"), [
    ({"by": [], "for": "10m"}, "at least one field"),
    ({"by": ["a", "a"], "for": "10m"}, "named twice"),
    ({"by": ["source.ip"]}, "both by and for"),
    ({"by": ["source.ip"], "for": "10m", "count": 3}, "unknown key count"),
    ({"by": ["source.ip"], "for": "0s"}, "not between 1s and 31d"),
    ({"by": ["source.ip"], "for": "60d"}, "not between 1s and 31d"),
    ({"by": ["source.ip"], "for": "soon"}, "not a duration"),
    ({"by": [3], "for": "10m"}, "not a list of field names"),
    ({"by": [f"f{i}" for i in range(9)], "for": "10m"}, "at most 8"),
    ("source.ip", "not a mapping"),
    (True, "not a mapping"),
])
def test_wrong_suppress_says_what_and_how(written: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_suppress(written)


def test_windows_are_aligned_on_the_epoch() -> None:
    ms = 1_775_019_600_000  # 2026-04-01T05:00:00Z
    assert TEN_MINUTES.window_start(ms) == ms
    assert TEN_MINUTES.window_start(ms + 599_999) == ms
    assert TEN_MINUTES.window_start(ms + 600_000) == ms + 600_000


def test_key_values_as_the_alert_keeps_them() -> None:
    by = Suppression(("source.ip", "destination.port", "user.roles", "host.name"),
                     timedelta(minutes=1))
    doc = {"source": {"ip": "10.0.0.1"}, "destination": {"port": 445},
           "user": {"roles": ["b", "a"]}}
    assert key_terms(by, doc) == (("source.ip", "10.0.0.1"), ("destination.port", "445"),
                                  ("user.roles", '["b","a"]'), ("host.name", None))


def test_an_alert_id_depends_on_rule_input_window_and_key_only() -> None:
    terms = (("source.ip", "10.0.0.1"),)
    one = alert_id("r", "ndr", 0, terms)
    assert one == alert_id("r", "ndr", 0, list(terms))
    assert len(one) == 32 and int(one, 16) >= 0
    others = {alert_id("r2", "ndr", 0, terms), alert_id("r", "ids", 0, terms),
              alert_id("r", "ndr", 600_000, terms),
              alert_id("r", "ndr", 0, (("source.ip", "10.0.0.2"),)),
              alert_id("r", "ndr", 0, (("source.ip", None),))}
    assert one not in others and len(others) == 5


def threat(offset: int, time: str, ip: str = "10.0.0.1", partition: int = 0) -> IndexAction:
    doc = {"@timestamp": time, "source": {"ip": ip}, "socd": {"class": "critical"}}
    doc_id = f"{partition:016x}{offset:016x}"
    action = encode_action("alerts-x", doc_id, doc, Record("t", partition, offset, b""),
                           ("critical", "2", "ndr"))
    action.suppress = suppressed_threat(TEN_MINUTES, "r", "ndr", doc, doc_id, time,
                                        lambda text: f"alerts-{text[:7]}")
    return action


def test_aggregate_gathers_each_alert_and_leaves_the_others() -> None:
    """Threats of one key and window are one update, earliest first whatever the order;
    another window is another alert (in the index of its own start); a threat without
    suppression stays a create."""
    late = threat(5, "2026-04-01T05:09:00.000Z")
    early = threat(7, "2026-04-01T05:01:00.000Z", partition=1)
    next_window = threat(6, "2026-04-01T05:10:00.000Z")
    plain = encode_action("alerts-x", "p", {"a": 1}, Record("t", 0, 8, b""))
    out = aggregate([late, plain, early, next_window],
                    {("t", 0): 2, ("t", 1): 7}, {("t", 0): (5, 9), ("t", 1): (7, 8)})
    assert [a.op for a in out] == ["create", "update", "update"]
    update = out[1]
    assert update.members == (early, late)
    assert update.index == "alerts-2026-04"
    header, body = update.body.splitlines()
    assert orjson.loads(header) == {"update": {"_index": "alerts-2026-04",
                                               "_id": update.doc_id, "retry_on_conflict": 5}}
    request = orjson.loads(body)
    assert request["upsert"] == {} and request["scripted_upsert"] is True
    script = request["script"]
    assert script["id"] == SCRIPT_ID
    params = script["params"]
    assert params["doc"]["@timestamp"] == "2026-04-01T05:01:00.000Z"
    assert params["events"] == {"t/0": [5], "t/1": [7]}
    assert params["applied"] == {"t/0": {"floor": 2, "ranges": [[5, 9]]},
                                 "t/1": {"floor": 8, "ranges": []}}
    assert (params["start_text"], params["end_text"]) == (
        "2026-04-01T05:01:00.000Z", "2026-04-01T05:09:00.000Z")
    assert params["end"] - params["start"] == 8 * 60_000
    assert params["terms"] == [{"field": "source.ip", "value": "10.0.0.1"}]
    assert update.document() == early.document()
    assert out[2].doc_id != update.doc_id
    assert out[2].threats() == (next_window,)


def test_a_threat_outside_the_fetched_range_widens_it() -> None:
    """Never an event outside the update's applied offsets: it would be counted and not
    marked, so a replay would count it again."""
    out = aggregate([threat(9, "2026-04-01T05:01:00.000Z")], {}, {})
    params = orjson.loads(out[0].body.splitlines()[1])["script"]["params"]
    assert params["applied"] == {"t/0": {"floor": 0, "ranges": [[9, 10]]}}
    assert params["events"] == {"t/0": [9]}


def test_a_rule_says_suppress_or_is_refused_with_its_line(tmp_path: Path) -> None:
    good = tmp_path / "good.yml"
    good.write_text("""title: t
id: 5f0a6c1e-2d6f-4d6f-9a53-000000000001
logsource: {product: cyradar}
detection:
  s: {event.severity: 9}
  condition: s
level: critical
socd:
  suppress: {by: [source.ip], for: 15m}
""")
    rules, _ = RuleSet.load([good])
    assert rules.rules[0].suppress == Suppression(("source.ip",), timedelta(minutes=15))
    bad = tmp_path / "bad.yml"
    bad.write_text(good.read_text().replace("for: 15m", "for: 15 minutes"))
    with pytest.raises(RuleError) as raised:
        RuleSet.load([bad])
    problem = raised.value.problems[0]
    assert problem.key == "socd.suppress" and problem.line == 9
    assert "not a duration" in problem.message


def test_a_threat_lacking_a_key_field_is_not_suppressed() -> None:
    """Malware on two hosts, under a key of network fields the endpoint events lack: two
    documents, never one alert for both."""
    by = Suppression(("source.ip", "destination.port"), timedelta(minutes=10))
    for doc in ({"source": {"ip": "10.0.0.1"}}, {"destination": {"port": 445}},
                {"source": {"ip": None}, "destination": {"port": 445}}):
        assert suppressed_threat(by, "r", "ndr", doc, "0" * 32, "2026-04-01T05:00:00.000Z",
                                 lambda text: "alerts") is None
    found = suppressed_threat(by, "r", "ndr", {"source": {"ip": "10.0.0.1"},
                                               "destination": {"port": 445}},
                              "0" * 32, "2026-04-01T05:00:00.000Z", lambda text: "alerts")
    assert found is not None and found.terms == (("source.ip", "10.0.0.1"),
                                                 ("destination.port", "445"))


def test_a_rule_that_fails_names_itself_and_its_correlation_points_to_it(
        tmp_path: Path) -> None:
    """A typo in a rule's suppress: its own problem says what is wrong once; the
    correlation counting it says that fixing that problem fixes this one."""
    (tmp_path / "base.yml").write_text("""title: t
id: 5f0a6c1e-2d6f-4d6f-9a53-000000000002
name: base
logsource: {product: cyradar}
detection:
  s: {event.severity: 9}
  condition: s
level: high
socd:
  suppress: {by: [source.ip], for: 10 minutes}
""")
    (tmp_path / "corr.yml").write_text("""title: c
id: 5f0a6c1e-2d6f-4d6f-9a53-000000000003
correlation:
  type: event_count
  rules: [base]
  group-by: [source.ip]
  timespan: 10m
  condition: {gte: 3}
level: critical
""")
    with pytest.raises(RuleError) as raised:
        RuleSet.load([tmp_path])
    messages = {p.file.rsplit("/", 1)[-1]: p.message for p in raised.value.problems if p.file}
    assert messages["base.yml"].startswith("for: '10 minutes' is not a duration")
    assert "fixing that problem fixes this one" in messages["corr.yml"]
