"""socd.report.html: one self-contained page, charts whose bars follow the figures."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from socd.report.html import html, layers_chart, weeks_chart
from socd.report.model import Counts, Ranked, Report, Week
from tests.unit.report.test_report_units import EXAMPLE, HALF

SVG = "{http://www.w3.org/2000/svg}"
XHTML = "{http://www.w3.org/1999/xhtml}"

WEEKS = [Week(span, Counts()) for span in HALF.weeks()]
WEEKS[0] = Week(WEEKS[0].period, Counts(30, 10, 20))
WEEKS[3] = Week(WEEKS[3].period, Counts(15, 15, 0))
REPORT = replace(EXAMPLE, weeks=WEEKS,
                 signatures=[Ranked("<script>alert(1)</script> & co", 3)])


def _page(lang: str = "vi") -> ET.Element:
    text = html(REPORT, lang)  # type: ignore[arg-type]
    assert text.startswith("<!DOCTYPE html>\n")
    return ET.fromstring(text.removeprefix("<!DOCTYPE html>\n"))


def _heights(svg: ET.Element, cls: str, attribute: str = "height") -> list[float]:
    return [float(rect.get(attribute, "0")) for rect in svg.iter(f"{SVG}rect")
            if rect.get("class") == cls]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_page_is_well_formed_and_self_contained(lang: str) -> None:
    root = _page(lang)
    text = html(REPORT, lang)  # type: ignore[arg-type]
    assert root.tag == f"{XHTML}html" and root.get("lang") == lang
    assert "<script" not in text and "<link" not in text and "@import" not in text
    assert "url(" not in text and "@font-face" not in text
    assert set(re.findall(r"https?://[^\"' ]+", text)) == {"http://www.w3.org/2000/svg",
                                                          "http://www.w3.org/1999/xhtml"}
    assert len(list(root.iter(f"{SVG}svg"))) == 2


def test_values_are_escaped() -> None:
    text = html(REPORT, "vi")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in text


def test_headline_and_tables_are_on_the_page() -> None:
    root = _page()
    headline = next(p for p in root.iter(f"{XHTML}p") if p.get("class") == "headline")
    assert headline.text is not None and headline.text.startswith(
        "Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện 4.017 mối nguy hại")
    cells = [[td.text for td in tr.iter(f"{XHTML}td")] for tr in root.iter(f"{XHTML}tr")]
    assert ["Tổng", "4.017", "2.324", "1.693", "3.674", "343", "100,00%"] in cells
    note = next(p for p in root.iter(f"{XHTML}p") if p.get("class") == "false-positives")
    assert note.text is not None and note.text.startswith("Không tính 1.234 cảnh báo sai")


def test_week_bars_follow_the_counts() -> None:
    """The tallest stack fills the 180 px plot; a stack's parts are in proportion; an empty
    week draws nothing."""
    svg = ET.fromstring(weeks_chart(REPORT, "vi"))
    critical, high = _heights(svg, "critical"), _heights(svg, "high-risk")
    assert len(critical) == len(high) == 26
    assert (critical[0], high[0]) == (60.0, 120.0)  # 10 and 20 of a tallest 30
    assert (critical[3], high[3]) == (90.0, 0.0)
    assert critical[1] == high[1] == 0.0
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "30" in labels and "01/01/2020" in labels


def test_layer_bars_follow_the_counts() -> None:
    svg = ET.fromstring(layers_chart(REPORT, "en"))
    critical, high = _heights(svg, "critical", "width"), _heights(svg, "high-risk", "width")
    # longest: layer 2, 1624 + 893 = 2517 threats over 500 px
    assert critical[1] + high[1] == pytest.approx(500.0, abs=0.1)
    assert critical[0] == pytest.approx(500 * 500 / 2517, abs=0.1)
    assert critical[3] == high[3] == 0.0
    assert "Layer 4" in [t.text for t in svg.iter(f"{SVG}text")]


def test_an_empty_period_draws_empty_charts() -> None:
    empty = Report(HALF, "UTC", Counts(), {k: Counts() for k in "1234"}, HALF.previous(),
                   Counts(), weeks=[Week(span, Counts()) for span in HALF.weeks()])
    svg = ET.fromstring(weeks_chart(empty, "en"))
    assert set(_heights(svg, "critical")) == {0.0}
    ET.fromstring(html(empty, "en").removeprefix("<!DOCTYPE html>\n"))
