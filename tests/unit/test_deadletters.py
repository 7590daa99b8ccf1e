"""Dead letters read back (socd.deadletters): parsing a letter from the headers the
dead-letter sink writes, the replay plan (filters, failed replays, superseded, truncated)
and --since."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socd.deadletters import Filters, Letter, parse_letter, parse_since, plan, replay_headers
from socd.errors import UsageError
from socd.event import DeadLetter, Record
from socd.sinks.dead_letter import headers_for, letter_value

DEAD = "socd.dead-letter"
NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def written(record: Record, reason: str = "not_json", connector: str = "cyradar",
            now: datetime = NOW) -> list[tuple[str, bytes]]:
    """The headers the daemon's dead-letter sink writes for ``record``."""
    letter = DeadLetter(record, reason, "not JSON", connector)
    return headers_for(letter, now) + letter_value(letter)[1]


def letter_at(offset: int, headers: list[tuple[str, bytes]], value: bytes = b"x") -> Letter:
    return parse_letter(0, offset, b"k", value, headers)


def test_a_letter_reads_back_what_the_sink_wrote() -> None:
    """Every socd header the sink writes is read back; the original headers stay apart."""
    record = Record("sensors.x", 2, 41, b"bad", b"key", (("trace", b"t"),))
    letter = parse_letter(1, 7, b"key", b"bad", written(record))
    assert (letter.reason, letter.detail, letter.topic, letter.origin_partition,
            letter.origin_offset, letter.connector, letter.time) == (
        "not_json", "not JSON", "sensors.x", 2, 41, "cyradar", NOW)
    assert letter.headers == (("trace", b"t"),)
    assert (letter.truncated, letter.replayed) == (None, None)
    assert letter.where(DEAD) == "socd.dead-letter/1/7"


def test_a_cut_letter_is_truncated() -> None:
    record = Record("sensors.x", 0, 1, b"a" * 70_000)
    headers = written(record, reason="too_large")
    assert parse_letter(0, 0, None, b"a", headers).truncated == 70_000


def test_the_daemon_keeps_socd_replayed_when_a_replay_fails_again() -> None:
    """A replayed message carries socd.replayed; its new dead letter keeps it, so that
    replay knows it for a failed replay."""
    first = letter_at(5, written(Record("sensors.x", 0, 3, b"bad", b"k", (("trace", b"t"),))))
    sent = replay_headers(first, DEAD)
    assert sent == [("trace", b"t"), ("socd.replayed", b"socd.dead-letter/0/5")]
    again = letter_at(9, written(Record("sensors.x", 0, 8, b"bad", b"k", tuple(sent))))
    assert again.replayed == "socd.dead-letter/0/5"
    assert again.headers == (("trace", b"t"),)
    # replayed once more (--again), only the newest mark is sent
    assert replay_headers(again, DEAD) == [("trace", b"t"),
                                           ("socd.replayed", b"socd.dead-letter/0/9")]


def test_letters_without_socd_headers_do_not_raise() -> None:
    letter = parse_letter(0, 0, None, None, [("socd.partition", b"x"), ("socd.time", b"?")])
    assert (letter.topic, letter.origin_partition, letter.time) == ("", None, None)


def test_plan_skips_failed_replays_superseded_truncated_and_originless() -> None:
    """Without --again: only first-time letters with an origin go; with --again the newest
    copy of a failed replay goes once, never the letter it superseded."""
    original = letter_at(0, written(Record("sensors.x", 0, 0, b"a")))
    failed = letter_at(1, [*replay_headers(original, DEAD)[-1:],
                           *written(Record("sensors.x", 0, 5, b"a"))])
    fresh = letter_at(2, written(Record("sensors.x", 0, 6, b"b")))
    cut = letter_at(3, written(Record("sensors.x", 0, 7, b"c" * 70_000), reason="too_large"))
    stray = letter_at(4, [("socd.reason", b"not_json")])
    letters = [original, failed, fresh, cut, stray]
    once = plan(letters, Filters(), DEAD, again=False)
    assert once.send == [fresh]
    assert (once.matched, once.failed_replays, once.superseded, once.truncated,
            once.no_origin) == (5, 1, 1, 1, 1)
    assert plan(letters, Filters(), DEAD, again=True).send == [failed, fresh]


@given(reasons=st.sets(st.sampled_from(["not_json", "not_utf8", "too_large"])),
       connectors=st.sets(st.sampled_from(["cyradar", "cef"])),
       hours=st.none() | st.integers(0, 5))
def test_filters_select_exactly_the_matching_letters(
        reasons: set[str], connectors: set[str], hours: int | None) -> None:
    """A letter is sent exactly when every given filter holds."""
    letters = [letter_at(i, written(Record("t", 0, i, b"v"), reason=reason,
                                    connector=connector, now=NOW - timedelta(hours=age)))
               for i, (reason, connector, age) in enumerate(
                   (r, c, a) for r in ("not_json", "not_utf8") for c in ("cyradar", "cef")
                   for a in (0, 2, 4))]
    since = NOW - timedelta(hours=hours) if hours is not None else None
    chosen = plan(letters, Filters(frozenset(reasons), frozenset(connectors), since), DEAD,
                  again=False).send
    assert chosen == [
        letter for letter in letters
        if (not reasons or letter.reason in reasons)
        and (not connectors or letter.connector in connectors)
        and (since is None or (letter.time is not None and letter.time >= since))]


@pytest.mark.parametrize(("text", "want"), [
    ("2026-02-01T10:00:00+07:00", datetime(2026, 2, 1, 3, 0, tzinfo=UTC)),
    ("2026-02-01", datetime(2026, 2, 1, tzinfo=UTC)),  # no offset: UTC
    ("2h", NOW - timedelta(hours=2)),
    ("7d", NOW - timedelta(days=7)),
])
def test_since(text: str, want: datetime) -> None:
    assert parse_since(text, NOW) == want


@pytest.mark.parametrize("text", ["yesterday", "-2h", "2 hours"])
def test_a_bad_since_names_the_forms(text: str) -> None:
    with pytest.raises(UsageError, match=r"ISO-8601 time .* or a duration back from now"):
        parse_since(text, NOW)
