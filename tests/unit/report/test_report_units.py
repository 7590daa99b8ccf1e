"""socd.report: periods, the aggregation request and its answer, and the renderers."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socd.errors import SinkError
from socd.report.model import Counts, Ranked, Report, Week, change
from socd.report.period import Period, parse_day
from socd.report.query import build_request, read_response
from socd.report.render import (
    as_json,
    day,
    false_positives,
    headline,
    markdown,
    number,
    percent,
    render,
    tables,
    text,
)

HCM = "Asia/Ho_Chi_Minh"
HALF = Period(date(2020, 1, 1), date(2020, 6, 30))

# The figures of a department's published half-year report (issue 12), split by layer here;
# 3,674 of the 4,017 handled: 91,46%.
EXAMPLE = Report(
    period=HALF, timezone=HCM, counts=Counts(4017, 2324, 1693, 3674),
    by_layer={"1": Counts(1000, 500, 500, 1000), "2": Counts(2517, 1624, 893, 2174),
              "3": Counts(500, 200, 300, 500), "4": Counts()},
    previous_period=HALF.previous(), previous=Counts(3570, 2324, 1246, 3000),
    categories=[Ranked("malware", 3674), Ranked("scan", 343)],
    signatures=[Ranked("ET MALWARE A|B", 12)], sensors=[Ranked("cyradar-ndr", 4017)],
    sources=[], false_positives=1234, previous_false_positives=0)


# ---------------------------------------------------------------- periods

def test_half_year_in_vietnam_starts_at_local_midnight() -> None:
    """UTC+7: the period's first local midnight is 17:00 UTC the day before."""
    assert HALF.utc_bounds(HCM) == (datetime(2019, 12, 31, 17, tzinfo=UTC),
                                    datetime(2020, 6, 30, 17, tzinfo=UTC))
    assert HALF.days == 182  # 2020 is a leap year


def test_previous_period_has_the_same_days_and_ends_the_day_before() -> None:
    assert HALF.previous() == Period(date(2019, 7, 3), date(2019, 12, 31))
    assert Period(date(2020, 3, 1), date(2020, 3, 1)).previous() == Period(
        date(2020, 2, 29), date(2020, 2, 29))


def test_a_day_with_a_daylight_saving_change_is_23_hours() -> None:
    start, end = Period(date(2020, 3, 29), date(2020, 3, 29)).utc_bounds("Europe/Berlin")
    assert (start, end) == (datetime(2020, 3, 28, 23, tzinfo=UTC),
                            datetime(2020, 3, 29, 22, tzinfo=UTC))


def test_weeks_cover_the_period_in_order() -> None:
    assert Period(date(2020, 1, 1), date(2020, 1, 15)).weeks() == [
        Period(date(2020, 1, 1), date(2020, 1, 7)), Period(date(2020, 1, 8), date(2020, 1, 14)),
        Period(date(2020, 1, 15), date(2020, 1, 15))]


def test_to_before_from_names_the_fix() -> None:
    with pytest.raises(ValueError, match="is before --from 2020-07-01: give a --to on or"):
        Period(date(2020, 7, 1), date(2020, 6, 30))


@pytest.mark.parametrize("value", ["2020-13-01", "2020-02-30", "20200101", "2020-1-1", "",
                                   "2020-01-01T00:00", "yesterday"])
def test_bad_days_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="is not a date: give YYYY-MM-DD"):
        parse_day(value)


@given(st.dates(date(1990, 1, 1), date(2090, 1, 1)), st.integers(0, 800),
       st.sampled_from([HCM, "UTC", "Europe/Berlin", "America/New_York", "Pacific/Kiritimati"]))
def test_periods_tile_time(first: date, length: int, zone: str) -> None:
    """The previous period ends where this one starts, in UTC too; bounds are ordered."""
    period = Period(first, first + timedelta(days=length))
    before = period.previous()
    assert before.days == period.days
    assert before.last + timedelta(days=1) == period.first
    start, end = period.utc_bounds(zone)
    assert start < end
    assert before.utc_bounds(zone)[1] == start
    weeks = period.weeks()
    assert weeks[0].first == period.first and weeks[-1].last == period.last
    assert sum(week.days for week in weeks) == period.days
    assert all(a.last + timedelta(days=1) == b.first for a, b in pairwise(weeks))


# ---------------------------------------------------------------- the request and its answer

def test_request_asks_for_aggregations_only_over_both_periods() -> None:
    request = build_request("socd", HALF, HCM)
    assert request["index"] == "socd-alerts*" and request["size"] == 0
    outer = request["query"]["bool"]["filter"][0]["range"]["@timestamp"]
    assert outer["gte"] == "2019-07-02T17:00:00+00:00"
    assert outer["lt"] == "2020-06-30T17:00:00+00:00"
    aggs = request["aggs"]
    current = aggs["current"]["filter"]["bool"]["filter"][0]["range"]["@timestamp"]
    assert current["gte"] == "2019-12-31T17:00:00+00:00" == (
        aggs["previous"]["filter"]["bool"]["filter"][0]["range"]["@timestamp"]["lt"])
    assert set(aggs) == {"current", "previous", "false_positives", "previous_false_positives"}
    assert request["aggs"]["current"]["aggs"]["sources"]["terms"]["field"] == "source.ip"


def _tally(alerts: int, threats: int | None = None) -> dict[str, object]:
    """A bucket of ``alerts`` documents standing for ``threats`` (default: as many): one of
    them without ``docs_count`` (one threat), the others summing to the rest."""
    threats = alerts if threats is None else threats
    plain = min(alerts, 1)
    return {"doc_count": alerts, "docs_count": {"value": float(threats - plain)},
            "single": {"doc_count": plain}}


def _buckets(*rows: tuple[object, int, int]) -> dict[str, object]:
    """Terms buckets of (key, alerts, threats)."""
    return {"buckets": [{"key": key, **_tally(n, t)} for key, n, t in rows]}


def _classes(critical: tuple[int, int], high: tuple[int, int],
             handled: tuple[int, int] = (0, 0)) -> dict[str, object]:
    return {"class": _buckets(("critical", *critical), ("high-risk", *high)),
            "handled": _tally(*handled)}


def test_answer_becomes_the_model() -> None:
    """Threats are the sums of ``docs_count`` plus the documents without one; alerts the
    documents: 7 alerts standing for 300 threats."""
    body = {"aggregations": {
        "current": {**_tally(7, 300), **_classes((3, 250), (4, 50), (6, 290)),
                    "layer": {"buckets": [
                        {"key": 2, **_tally(5, 290), **_classes((3, 250), (2, 40), (4, 280))},
                        {"key": 3, **_tally(2, 10), "class": _buckets(("high-risk", 2, 10)),
                         "handled": _tally(2, 10)}]},
                    "categories": _buckets(("scan", 2, 2), ("malware", 2, 2), ("dos", 3, 3)),
                    "signatures": _buckets(), "sensors": _buckets(("s1", 7, 300)),
                    "sources": _buckets(("10.0.0.1", 1, 1), ("10.0.0.2", 1, 250)),
                    "weeks": {"buckets": {str(i): {**_tally(0), "class": _buckets()}
                                          for i in range(1, 26)}
                              | {"0": {**_tally(7, 300), **_classes((3, 250), (4, 50))}}}},
        "previous": {**_tally(2), "class": _buckets(("critical", 2, 2)),
                     "handled": _tally(1)},
        "false_positives": _tally(3, 20), "previous_false_positives": _tally(0)}}
    found = read_response(body, HALF, HCM)
    assert found.counts == Counts(300, 250, 50, 290, suppressed=293)
    assert found.counts.alerts == 7
    assert found.by_layer == {"1": Counts(), "2": Counts(290, 250, 40, 280, suppressed=285),
                              "3": Counts(10, 0, 10, 10, suppressed=8), "4": Counts()}
    assert found.previous == Counts(2, 2, 0, 1)
    assert (found.false_positives, found.previous_false_positives) == (20, 0)
    assert (found.false_positive_alerts, found.previous_false_positive_alerts) == (3, 0)
    assert [r.key for r in found.categories] == ["dos", "malware", "scan"]
    assert found.sources == [Ranked("10.0.0.2", 250), Ranked("10.0.0.1", 1)]
    assert len(found.weeks) == 26
    assert found.weeks[0] == Week(Period(date(2020, 1, 1), date(2020, 1, 7)),
                                  Counts(300, 250, 50, suppressed=293))
    assert found.weeks[-1].period == Period(date(2020, 6, 24), date(2020, 6, 30))


def test_top_lists_are_ranked_by_threats_on_the_server_too() -> None:
    """The terms aggregations are ordered by the sum of ``docs_count`` with a missing one
    counted as 1, then by key, so that a source of one alert of 250 threats is ranked above
    one of 10 plain alerts before the list is cut."""
    current = build_request("socd", HALF, HCM)["aggs"]["current"]["aggs"]
    for name in ("categories", "signatures", "sensors", "sources"):
        terms = current[name]
        assert terms["terms"]["order"] == [{"rank": "desc"}, {"_key": "asc"}]
        assert terms["aggs"]["rank"] == {"sum": {"field": "socd.suppression.docs_count",
                                                 "missing": 1}}


def test_an_answer_without_aggregations_is_an_error() -> None:
    with pytest.raises(SinkError, match="without 'aggregations'"):
        read_response({"_shards": {"total": 1}, "hits": {}}, HALF, HCM)


def test_no_index_searched_is_a_period_without_threats() -> None:
    found = read_response({"_shards": {"total": 0}, "hits": {"total": {"value": 0}}}, HALF,
                          HCM)
    assert found.counts == found.previous == Counts()
    assert set(found.by_layer) == {"1", "2", "3", "4"}


# ---------------------------------------------------------------- wording

@pytest.mark.parametrize(("value", "vi", "en"), [
    (0, "0", "0"), (999, "999", "999"), (1000, "1.000", "1,000"), (4017, "4.017", "4,017"),
    (1234567, "1.234.567", "1,234,567")])
def test_numbers(value: int, vi: str, en: str) -> None:
    assert (number(value, "vi"), number(value, "en")) == (vi, en)


@pytest.mark.parametrize(("value", "signed", "vi", "en"), [
    (91.456, False, "91,46%", "91.46%"), (0.0, False, "0,00%", "0.00%"),
    (1234.5, False, "1.234,50%", "1,234.50%"), (12.5, True, "+12,50%", "+12.50%"),
    (-3.0, True, "-3,00%", "-3.00%")])
def test_percentages(value: float, signed: bool, vi: str, en: str) -> None:
    assert percent(value, "vi", signed=signed) == vi
    assert percent(value, "en", signed=signed) == en


@given(st.integers(0, 10**12))
def test_vietnamese_numbers_group_by_three(value: int) -> None:
    written = number(value, "vi")
    groups = written.split(".")
    assert int("".join(groups)) == value
    assert all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3


def test_dates() -> None:
    assert day(date(2020, 6, 30), "vi") == "30/06/2020"
    assert day(date(2020, 6, 30), "en") == "2020-06-30"


def test_headline_is_the_departments_sentence_when_every_threat_was_handled() -> None:
    every = replace(EXAMPLE, counts=replace(EXAMPLE.counts, handled=4017))
    assert headline(every, "vi") == (
        "Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện và xử lý 4.017 mối nguy hại, "
        "trong đó có 1.693 mối nguy hại cao, 2.324 mối đe dọa nghiêm trọng.")
    assert headline(every, "en") == (
        "From 2020-01-01 to 2020-06-30, 4,017 threats were detected and handled, of which "
        "1,693 high-risk and 2,324 critical.")


def test_headline_gives_the_handled_threats_apart_when_some_are_not() -> None:
    assert headline(EXAMPLE, "vi") == (
        "Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện 4.017 mối nguy hại, trong đó có "
        "1.693 mối nguy hại cao, 2.324 mối đe dọa nghiêm trọng; đã xử lý 3.674 mối nguy hại "
        "(91,46%).")
    assert headline(EXAMPLE, "en") == (
        "From 2020-01-01 to 2020-06-30, 4,017 threats were detected, of which 1,693 "
        "high-risk and 2,324 critical; 3,674 of them were handled (91.46%).")
    none = replace(EXAMPLE, counts=replace(EXAMPLE.counts, handled=0))
    assert headline(none, "vi").endswith("; đã xử lý 0 mối nguy hại (0,00%).")


def test_headline_of_a_period_without_threats_claims_nothing_handled() -> None:
    empty = replace(EXAMPLE, counts=Counts())
    assert headline(empty, "vi") == (
        "Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện 0 mối nguy hại, trong đó có "
        "0 mối nguy hại cao, 0 mối đe dọa nghiêm trọng.")
    assert headline(empty, "en").endswith("0 threats were detected, of which 0 high-risk "
                                          "and 0 critical.")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
@pytest.mark.parametrize(("lang", "sentence"), [
    ("vi", "Không tính 1.234 cảnh báo sai (mối nguy hại được đóng với lý do false_positive); "
           "kỳ trước: 0."),
    ("en", "Not counted: 1,234 false positives (threats closed as false_positive); previous "
           "period: 0.")])
def test_every_format_says_how_many_false_positives_were_left_out(
        fmt: str, lang: str, sentence: str) -> None:
    assert false_positives(EXAMPLE, lang) == sentence  # type: ignore[arg-type]
    assert sentence in render(EXAMPLE, fmt, lang)  # type: ignore[arg-type]
    none = replace(EXAMPLE, false_positives=0)
    assert ("0 cảnh báo sai" if lang == "vi" else "0 false positives") in render(
        none, fmt, lang)  # type: ignore[arg-type]


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_handled_and_not_handled_make_the_threats(critical: int, high: int, left: int) -> None:
    """Every layer row and the total: handled + not yet handled = threats, in the json and
    in the table."""
    threats = critical + high
    counts = Counts(threats, critical, high, max(threats - left, 0))
    report = replace(EXAMPLE, counts=counts, by_layer={k: counts for k in "1234"})
    data = as_json(report)
    for row in [data, *data["by_layer"].values()]:
        assert row["handled"] + row["not_handled"] == row["threats"]
        assert 0 <= row["handled"] <= row["threats"]
    layer_table = tables(report, "en")[0][2]
    assert all(int(r[4].replace(",", "")) + int(r[5].replace(",", "")) ==
               int(r[1].replace(",", "")) for r in layer_table)


def test_change() -> None:
    assert change(4017, 3570) == pytest.approx(12.521008)
    assert change(0, 5) == -100.0
    assert change(5, 0) is None


def test_text_has_the_sentence_the_layers_and_the_change() -> None:
    out = text(EXAMPLE, "vi")
    lines = out.splitlines()
    assert headline(EXAMPLE, "vi") in lines
    assert false_positives(EXAMPLE, "vi") == lines[lines.index(headline(EXAMPLE, "vi")) + 1]
    header = next(line for line in lines if line.strip().startswith("Lớp"))
    assert "Đã xử lý  Chưa xử lý" in header
    layer2 = next(line for line in lines if line.strip().startswith("2 "))
    assert layer2.split() == ["2", "2.517", "1.624", "893", "2.174", "343", "62,66%"]
    total = next(line for line in lines if line.strip().startswith("Tổng"))
    assert total.split() == ["Tổng", "4.017", "2.324", "1.693", "3.674", "343", "100,00%"]
    handled = next(line for line in lines if line.strip().startswith("Đã xử lý "))
    assert handled.split()[-3:] == ["3.674", "3.000", "+22,47%"]  # 674 / 3000
    fp = next(line for line in lines if line.strip().startswith("Cảnh báo sai (không tính)"))
    assert fp.split()[-3:] == ["1.234", "0", "—"]
    assert "So với kỳ trước (03/07/2019 – 31/12/2019)" in lines
    changed = next(line for line in lines if line.strip().startswith("Mối nguy hại cao"))
    assert changed.split()[-3:] == ["1.693", "1.246", "+35,87%"]  # 447 / 1246
    assert "(không có)" in out  # no sources
    assert out.endswith("\n")


def test_markdown_tables() -> None:
    out = markdown(EXAMPLE, "en")
    assert out.startswith("# Threat report\n")
    assert "| Layer | Threats | Critical | High-risk | Handled | Not yet handled | Share |" in out
    assert "| 4 | 0 | 0 | 0 | 0 | 0 | 0.00% |" in out
    assert "| Total | 4,017 | 2,324 | 1,693 | 3,674 | 343 | 100.00% |" in out
    assert "| False positives (not counted) | 1,234 | 0 | — |" in out
    assert "| ET MALWARE A\\|B | 12 | 0.30% |" in out  # a | in a value is escaped
    assert "| Critical | 2,324 | 2,324 | +0.00% |" in out


def test_json_contract() -> None:
    data = json.loads(render(EXAMPLE, "json", "vi"))
    assert data == as_json(EXAMPLE)
    assert (data["threats"], data["critical"], data["high-risk"]) == (4017, 2324, 1693)
    assert (data["handled"], data["not_handled"], data["false_positives"]) == (3674, 343, 1234)
    assert data["by_layer"]["2"] == {"threats": 2517, "critical": 1624, "high-risk": 893,
                                     "handled": 2174, "not_handled": 343, "alerts": 2517}
    assert (data["alerts"], data["false_positive_alerts"]) == (4017, 1234)
    assert set(data["by_layer"]) == {"1", "2", "3", "4"}
    assert data["previous"] == {"from": "2019-07-03", "to": "2019-12-31", "threats": 3570,
                                "critical": 2324, "high-risk": 1246, "handled": 3000,
                                "not_handled": 570, "false_positives": 0,
                                "alerts": 3570, "false_positive_alerts": 0}
    assert data["change"]["critical"] == 0.0
    assert data["change"]["handled"] == pytest.approx(22.466667)
    assert data["change"]["false_positives"] is None
    assert data["top"]["categories"][0] == {"key": "malware", "threats": 3674}


def test_empty_period_has_no_division_by_zero() -> None:
    empty = Report(HALF, HCM, Counts(), {k: Counts() for k in "1234"}, HALF.previous(),
                   Counts())
    for fmt in ("text", "markdown", "json"):
        for lang in ("vi", "en"):
            assert render(empty, fmt, lang)
    assert "0 mối nguy hại" in text(empty, "vi")


def test_english_says_one_thing_in_the_singular() -> None:
    """One day, one threat (not handled), one false positive: no "1 days", "1 threats
    were", "1 false positives"; two of each take the plural. Vietnamese has no plural."""
    one_day = Period(date(2020, 1, 1), date(2020, 1, 1))
    single = replace(EXAMPLE, period=one_day, counts=Counts(1, 1, 0, 0), false_positives=1)
    assert headline(single, "en") == (
        "From 2020-01-01 to 2020-01-01, 1 threat was detected, of which 0 high-risk and "
        "1 critical; 0 of them were handled (0.00%).")
    assert false_positives(single, "en").startswith("Not counted: 1 false positive (")
    assert "(1 day, time zone" in text(single, "en")
    double = replace(single, counts=Counts(2, 1, 1, 1), false_positives=2)
    assert headline(double, "en").startswith("From 2020-01-01 to 2020-01-01, 2 threats were "
                                             "detected")
    assert "1 of them was handled" in headline(double, "en")
    assert false_positives(double, "en").startswith("Not counted: 2 false positives (")
    assert "1 mối nguy hại" in headline(single, "vi")


# ---------------------------------------------------------------- threats and alerts

# The same half year with suppression on: the 4,017 threats made 1,200 alerts, and the
# 1,234 false positives 2 alerts (the previous period's 0 none).
GROUPED = replace(EXAMPLE, counts=replace(EXAMPLE.counts, suppressed=4017 - 1200),
                  suppressed_false_positives=1234 - 2)


def test_headline_says_the_alerts_only_when_suppression_grouped_threats() -> None:
    """The departments' sentence, then one more naming the alerts; none when every threat
    is one alert (the department's form, word for word)."""
    assert headline(GROUPED, "vi") == headline(EXAMPLE, "vi") + (
        " Các mối nguy hại này được gộp thành 1.200 cảnh báo.")
    assert headline(GROUPED, "en") == headline(EXAMPLE, "en") + (
        " These threats were grouped into 1,200 alerts.")
    for lang in ("vi", "en"):
        sentence = headline(EXAMPLE, lang)
        assert "cảnh báo" not in sentence and "alert" not in sentence
    every = replace(GROUPED, counts=replace(GROUPED.counts, handled=4017))
    assert headline(every, "vi") == (
        "Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện và xử lý 4.017 mối nguy hại, "
        "trong đó có 1.693 mối nguy hại cao, 2.324 mối đe dọa nghiêm trọng. Các mối nguy hại "
        "này được gộp thành 1.200 cảnh báo.")
    one = replace(GROUPED, counts=Counts(250, 250, 0, 0, suppressed=249))
    assert headline(one, "en").endswith(" These threats were grouped into 1 alert.")


def test_false_positives_give_threats_and_alerts_apart_when_grouped() -> None:
    assert false_positives(GROUPED, "vi") == (
        "Không tính 1.234 mối nguy hại trong 2 cảnh báo sai (cảnh báo được đóng với lý do "
        "false_positive); kỳ trước: 0 mối nguy hại.")
    assert false_positives(GROUPED, "en") == (
        "Not counted: 1,234 threats in 2 false positive alerts (alerts closed as "
        "false_positive); previous period: 0 threats.")
    before = replace(EXAMPLE, false_positives=1, previous_false_positives=7,
                     previous_suppressed_false_positives=6)  # grouped the period before
    assert false_positives(before, "en") == (
        "Not counted: 1 threat in 1 false positive alert (alerts closed as false_positive); "
        "previous period: 7 threats.")


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
@pytest.mark.parametrize(("lang", "words"), [
    ("vi", ["Mối nguy hại: sự kiện được phân loại nguy hại cao hoặc nghiêm trọng.",
            "Cảnh báo: tài liệu trong Elasticsearch; một cảnh báo gộp các mối nguy hại cùng "
            "khoá trong một khoảng thời gian"]),
    ("en", ["Threats: events classified high-risk or critical.",
            "Alerts: documents in Elasticsearch; one alert groups the threats of the same key "
            "in one time window"])])
def test_every_format_defines_threats_and_alerts(fmt: str, lang: str, words: list[str]
                                                  ) -> None:
    """Suppressed or not: the words are defined in every report."""
    for report in (EXAMPLE, GROUPED):
        out = render(report, fmt, lang)  # type: ignore[arg-type]
        assert all(word in out for word in words), (fmt, lang)


def test_json_defines_both_words_in_both_languages_and_counts_alerts() -> None:
    data = json.loads(render(GROUPED, "json", "en"))
    assert set(data["definitions"]) == {"threats", "alerts"}
    assert all(set(d) == {"vi", "en"} for d in data["definitions"].values())
    assert (data["threats"], data["alerts"]) == (4017, 1200)
    assert (data["false_positives"], data["false_positive_alerts"]) == (1234, 2)
    assert data["previous"]["alerts"] == 3570
    assert data["change"]["alerts"] == pytest.approx((1200 - 3570) * 100 / 3570)


def test_change_table_has_the_alerts_row() -> None:
    """Alerts next to threats; false positives named as threats when they were grouped."""
    rows = tables(GROUPED, "vi")[1][2]
    assert [r[0] for r in rows[:2]] == ["Mối nguy hại", "Cảnh báo"]
    assert rows[1][1:] == ["1.200", "3.570", "-66,39%"]
    assert rows[-1] == ["Mối nguy hại của cảnh báo sai (không tính)", "1.234", "0", "—"]
    assert tables(GROUPED, "en")[1][2][-1][0] == (
        "Threats of false positive alerts (not counted)")
    assert tables(EXAMPLE, "vi")[1][2][-1][0] == "Cảnh báo sai (không tính)"
