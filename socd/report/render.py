"""The report as json, text or markdown (html: :mod:`socd.report.html`), in Vietnamese
(``vi``) or English (``en``).

Pure functions of a :class:`~socd.report.model.Report`. In Vietnamese, numbers group
thousands with ``.`` and write decimals with ``,`` (4.017; 91,46%), dates are ``dd/mm/yyyy``,
and the classes are *mối đe dọa nghiêm trọng* (critical) and *mối nguy hại cao* (high-risk),
as the departments' half-year reports write them. English writes 4,017; 91.46%; 2020-06-30.

What a threat is, what an alert is, and when a threat is handled: :mod:`socd.report.model`.
Every format defines both words (:func:`definitions`) and says how many false positives were
left out (:func:`false_positives`). When suppression grouped threats into fewer alerts, the
headline says how many alerts they made; when it did not (as many alerts as threats), the
headline is the departments' sentence, word for word.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import orjson

from socd.report.model import LAYERS, Counts, Ranked, Report, change

Lang = Literal["vi", "en"]
Format = Literal["text", "markdown", "json", "html"]

DEFINITIONS = {
    "threats": {"vi": "sự kiện được phân loại nguy hại cao hoặc nghiêm trọng",
                "en": "events classified high-risk or critical"},
    "alerts": {"vi": "tài liệu trong Elasticsearch; một cảnh báo gộp các mối nguy hại cùng "
                     "khoá trong một khoảng thời gian (socd.suppression.docs_count), cảnh báo "
                     "không gộp là một mối nguy hại",
               "en": "documents in Elasticsearch; one alert groups the threats of the same "
                     "key in one time window (socd.suppression.docs_count), an alert that "
                     "groups nothing is one threat"},
}
"""The json's ``definitions``: what ``threats`` and ``alerts`` count, in both languages (the
json's keys do not depend on ``--lang``)."""


_WORDS: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Báo cáo mối nguy hại",
        "period": "Kỳ báo cáo: {first} – {last} ({days} ngày, múi giờ {zone})",
        "headline": "Trong kỳ từ {first} đến {last} đã phát hiện {threats} mối nguy hại, "
                    "trong đó có {high_risk} mối nguy hại cao, {critical} mối đe dọa "
                    "nghiêm trọng{handled}.",
        "handled_part": "; đã xử lý {handled} mối nguy hại ({share})",
        "alerts_part": " Các mối nguy hại này được gộp thành {alerts} cảnh báo.",
        "definitions": "Mối nguy hại: {threats}. Cảnh báo: {alerts}. Mọi con số của báo cáo "
                       "đếm mối nguy hại.",
        "all_handled": "Trong kỳ từ {first} đến {last} đã phát hiện và xử lý {threats} mối "
                       "nguy hại, trong đó có {high_risk} mối nguy hại cao, {critical} mối đe "
                       "dọa nghiêm trọng.",
        "false_positives": "Không tính {count} cảnh báo sai (mối nguy hại được đóng với lý do "
                           "false_positive); kỳ trước: {before}.",
        "false_positives_grouped": "Không tính {count} mối nguy hại trong {alerts} cảnh báo "
                                   "sai (cảnh báo được đóng với lý do false_positive); kỳ "
                                   "trước: {before} mối nguy hại.",
        "layers": "Theo lớp của mô hình 4 lớp (Chỉ thị 14/CT-TTg)",
        "layer": "Lớp", "threats": "Mối nguy hại", "alerts": "Cảnh báo",
        "critical": "Mối đe dọa nghiêm trọng",
        "high_risk": "Mối nguy hại cao", "share": "Tỷ lệ", "total": "Tổng",
        "handled": "Đã xử lý", "not_handled": "Chưa xử lý",
        "fp_row": "Cảnh báo sai (không tính)",
        "fp_row_grouped": "Mối nguy hại của cảnh báo sai (không tính)",
        "previous": "So với kỳ trước",
        "previous_period": "{first} – {last}",
        "this": "Kỳ này", "before": "Kỳ trước", "change": "Thay đổi",
        "none_before": "—",
        "categories": "Nhóm mối nguy hại hàng đầu (rule.category)",
        "signatures": "Dấu hiệu hàng đầu (rule.name)",
        "sensors": "Cảm biến hàng đầu (observer.name)",
        "sources": "Địa chỉ nguồn hàng đầu (source.ip)",
        "value": "Giá trị", "empty": "(không có)",
    },
    "en": {
        "title": "Threat report",
        "period": "Period: {first} – {last} ({days} day{days_s}, time zone {zone})",
        "headline": "From {first} to {last}, {threats} threat{threats_s} {threats_were} "
                    "detected, of which {high_risk} high-risk and {critical} critical{handled}.",
        "handled_part": "; {handled} of them {handled_were} handled ({share})",
        "alerts_part": " These threats were grouped into {alerts} alert{alerts_s}.",
        "definitions": "Threats: {threats}. Alerts: {alerts}. Every figure of the report "
                       "counts threats.",
        "all_handled": "From {first} to {last}, {threats} threat{threats_s} {threats_were} "
                       "detected and handled, of which {high_risk} high-risk and {critical} "
                       "critical.",
        "false_positives": "Not counted: {count} false positive{count_s} (threats closed as "
                           "false_positive); previous period: {before}.",
        "false_positives_grouped": "Not counted: {count} threat{count_s} in {alerts} false "
                                   "positive alert{alerts_s} (alerts closed as "
                                   "false_positive); previous period: {before} "
                                   "threat{before_s}.",
        "layers": "By layer of the 4-layer model (Directive 14/CT-TTg)",
        "layer": "Layer", "threats": "Threats", "alerts": "Alerts", "critical": "Critical",
        "high_risk": "High-risk", "share": "Share", "total": "Total",
        "handled": "Handled", "not_handled": "Not yet handled",
        "fp_row": "False positives (not counted)",
        "fp_row_grouped": "Threats of false positive alerts (not counted)",
        "previous": "Change from the previous period",
        "previous_period": "{first} – {last}",
        "this": "This period", "before": "Previous period", "change": "Change",
        "none_before": "—",
        "categories": "Top categories (rule.category)",
        "signatures": "Top signatures (rule.name)",
        "sensors": "Top sensors (observer.name)",
        "sources": "Top sources (source.ip)",
        "value": "Value", "empty": "(none)",
    },
}


def number(value: int, lang: Lang) -> str:
    """A whole number with its thousands grouped: ``4.017`` (vi), ``4,017`` (en)."""
    grouped = f"{value:,}"
    return grouped.replace(",", ".") if lang == "vi" else grouped


def percent(value: float, lang: Lang, *, signed: bool = False) -> str:
    """A percentage with two decimals: ``91,46%`` (vi), ``91.46%`` (en); ``signed`` writes
    ``+`` before a rise. Thousands are grouped as :func:`number` groups them."""
    text = f"{value:+,.2f}" if signed else f"{value:,.2f}"
    if lang == "vi":
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text + "%"


def day(value: date, lang: Lang) -> str:
    """A date: ``30/06/2020`` (vi), ``2020-06-30`` (en, ISO 8601)."""
    return value.strftime("%d/%m/%Y") if lang == "vi" else value.isoformat()


def headline(report: Report, lang: Lang) -> str:
    """The sentence the departments file. When every threat was handled, their own form:
    "Trong kỳ từ 01/01/2020 đến 30/06/2020 đã phát hiện và xử lý 4.017 mối nguy hại, trong
    đó có 1.693 mối nguy hại cao, 2.324 mối đe dọa nghiêm trọng."; else the threats detected
    and then the handled ones: "... 2.324 mối đe dọa nghiêm trọng; đã xử lý 3.674 mối nguy
    hại (91,46%)."; with no threat at all, the threats only (0). When suppression grouped the
    threats into fewer alerts, one more sentence says how many: "Các mối nguy hại này được
    gộp thành 1.200 cảnh báo."; when not, none."""
    counts = report.counts
    w = _WORDS[lang]
    handled = ""
    if counts.threats and counts.handled == counts.threats:
        form = w["all_handled"]
    else:
        form = w["headline"]
        if counts.threats:
            handled = w["handled_part"].format(
                handled=number(counts.handled, lang),
                share=_share(counts.handled, counts.threats, lang),
                handled_were=_were(counts.handled))
    sentence = form.format(
        first=day(report.period.first, lang), last=day(report.period.last, lang),
        threats=number(counts.threats, lang), high_risk=number(counts.high_risk, lang),
        critical=number(counts.critical, lang), handled=handled,
        threats_s=_s(counts.threats), threats_were=_were(counts.threats))
    if counts.alerts == counts.threats:
        return sentence
    return sentence + w["alerts_part"].format(alerts=number(counts.alerts, lang),
                                              alerts_s=_s(counts.alerts))


def _s(count: int) -> str:
    """English's plural ending for ``count`` things (the Vietnamese texts have none)."""
    return "" if count == 1 else "s"


def _were(count: int) -> str:
    return "was" if count == 1 else "were"


def false_positives(report: Report, lang: Lang) -> str:
    """The sentence that says how many false positives (threats whose alert was closed as
    ``false_positive``) were left out of the figures, in this period and the previous one;
    written even when 0. When suppression grouped them into fewer alerts in either period, it
    gives the threats and the alerts apart: "Không tính 257 mối nguy hại trong 2 cảnh báo
    sai (...); kỳ trước: 1 mối nguy hại."."""
    grouped = "_grouped" if _fp_grouped(report) else ""
    return _WORDS[lang][f"false_positives{grouped}"].format(
        count=number(report.false_positives, lang),
        alerts=number(report.false_positive_alerts, lang),
        before=number(report.previous_false_positives, lang),
        count_s=_s(report.false_positives), alerts_s=_s(report.false_positive_alerts),
        before_s=_s(report.previous_false_positives))


def _fp_grouped(report: Report) -> bool:
    """Whether suppression grouped false positives into fewer alerts in either period."""
    return (report.false_positive_alerts != report.false_positives
            or report.previous_false_positive_alerts != report.previous_false_positives)


def definitions(lang: Lang) -> str:
    """The sentences that define threats and alerts (:data:`DEFINITIONS`), the same in every
    report: "Mối nguy hại: sự kiện được phân loại nguy hại cao hoặc nghiêm trọng. Cảnh báo:
    tài liệu trong Elasticsearch; ...". """
    return _WORDS[lang]["definitions"].format(threats=DEFINITIONS["threats"][lang],
                                              alerts=DEFINITIONS["alerts"][lang])


def _share(part: int, whole: int, lang: Lang) -> str:
    return percent(part * 100.0 / whole, lang) if whole else _WORDS[lang]["none_before"]


def _change(now: int, before: int, lang: Lang) -> str:
    moved = change(now, before)
    return _WORDS[lang]["none_before"] if moved is None else percent(moved, lang, signed=True)


Table = tuple[str, list[str], list[list[str]]]
"""A title, the column headers and the rows, every cell already written."""


def tables(report: Report, lang: Lang) -> list[Table]:
    """The report's tables in order: by layer, the change from the previous period, then the
    top lists."""
    w = _WORDS[lang]
    counts = report.counts
    layer_rows = [_layer_row(layer, c, counts.threats, lang)
                  for layer, c in report.by_layer.items()]
    layer_rows.append(_layer_row(w["total"], counts, counts.threats, lang))
    before = report.previous
    change_rows = [[w[key], number(getattr(counts, key), lang),
                    number(getattr(before, key), lang),
                    _change(getattr(counts, key), getattr(before, key), lang)]
                   for key in ("threats", "alerts", "critical", "high_risk", "handled")]
    fp_row = w["fp_row_grouped" if _fp_grouped(report) else "fp_row"]
    change_rows.append([fp_row, number(report.false_positives, lang),
                        number(report.previous_false_positives, lang),
                        _change(report.false_positives, report.previous_false_positives,
                                lang)])
    previous = w["previous_period"].format(first=day(report.previous_period.first, lang),
                                           last=day(report.previous_period.last, lang))
    result: list[Table] = [
        (w["layers"], [w["layer"], w["threats"], w["critical"], w["high_risk"], w["handled"],
                       w["not_handled"], w["share"]], layer_rows),
        (f"{w['previous']} ({previous})", ["", w["this"], w["before"], w["change"]],
         change_rows),
    ]
    for name in ("categories", "signatures", "sensors", "sources"):
        ranked: list[Ranked] = getattr(report, name)
        rows = [[r.key, number(r.threats, lang), _share(r.threats, counts.threats, lang)]
                for r in ranked] or [[w["empty"], "", ""]]
        result.append((w[name], [w["value"], w["threats"], w["share"]], rows))
    return result


def _layer_row(name: str, c: Counts, whole: int, lang: Lang) -> list[str]:
    return [name, number(c.threats, lang), number(c.critical, lang), number(c.high_risk, lang),
            number(c.handled, lang), number(c.not_handled, lang), _share(c.threats, whole, lang)]


def intro(report: Report, lang: Lang) -> tuple[str, str]:
    """The title and the line that names the period, its days and time zone."""
    w = _WORDS[lang]
    period = w["period"].format(first=day(report.period.first, lang),
                                last=day(report.period.last, lang),
                                days=number(report.period.days, lang), zone=report.timezone,
                                days_s=_s(report.period.days))
    return w["title"], period


def text(report: Report, lang: Lang) -> str:
    """The report as plain text for a terminal or an e-mail: aligned columns."""
    title, period = intro(report, lang)
    lines = [title.upper(), period, "", headline(report, lang), false_positives(report, lang),
             definitions(lang)]
    for name, headers, rows in tables(report, lang):
        lines += ["", name]
        lines += _aligned([headers, *rows])
    return "\n".join(lines) + "\n"


def _aligned(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i])
                 for i, cell in enumerate(row)]
        out.append("  " + "  ".join(cells).rstrip())
    return out


def markdown(report: Report, lang: Lang) -> str:
    """The report as Markdown (CommonMark with GitHub tables): a heading, the sentence,
    one table a section; cells escape ``|``."""
    title, period = intro(report, lang)
    lines = [f"# {title}", "", period, "", headline(report, lang), "",
             false_positives(report, lang), "", definitions(lang)]
    for name, headers, rows in tables(report, lang):
        lines += ["", f"## {name}", "", _md_row(headers),
                  "|" + "|".join(["---", *["---:"] * (len(headers) - 1)]) + "|"]
        lines += [_md_row(row) for row in rows]
    return "\n".join(lines) + "\n"


def _md_row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _classes_json(counts: Counts) -> dict[str, int]:
    return {"threats": counts.threats, "critical": counts.critical,
            "high-risk": counts.high_risk}


def _counts_json(counts: Counts) -> dict[str, int]:
    return {**_classes_json(counts), "handled": counts.handled,
            "not_handled": counts.not_handled, "alerts": counts.alerts}


def as_json(report: Report) -> dict[str, Any]:
    """The report as a JSON object: ``threats``, ``critical``, ``high-risk``, ``handled``,
    ``not_handled`` (counts of threats; false positives left out), ``alerts`` (the alert
    documents those threats made: fewer when suppression grouped them),
    ``false_positives`` (the threats closed as false positives, left out) and
    ``false_positive_alerts`` (their alert documents), ``by_layer`` ("1".."4" → the same six
    counts), ``from``/``to`` (ISO dates, inclusive), ``timezone``, ``previous`` (its
    ``from``/``to``, counts, ``false_positives`` and ``false_positive_alerts``), ``change``
    (percent per count, null when the previous count is 0), ``top`` (``categories``,
    ``signatures``, ``sensors``, ``sources``: lists of ``{"key", "threats"}``, ranked by
    threats), ``weeks`` (the period's 7-day spans from ``from``, the last maybe shorter:
    ``from``, ``to``, ``threats``, ``critical``, ``high-risk``, ``alerts``) and
    ``definitions`` (``threats`` and ``alerts``, each ``{"vi", "en"}``: what the words
    mean). Numbers are JSON numbers, whatever the language."""
    counts, before = report.counts, report.previous
    return {
        "from": report.period.first.isoformat(), "to": report.period.last.isoformat(),
        "timezone": report.timezone,
        **_counts_json(counts),
        "false_positives": report.false_positives,
        "false_positive_alerts": report.false_positive_alerts,
        "by_layer": {layer: _counts_json(report.by_layer[layer]) for layer in LAYERS},
        "previous": {"from": report.previous_period.first.isoformat(),
                     "to": report.previous_period.last.isoformat(), **_counts_json(before),
                     "false_positives": report.previous_false_positives,
                     "false_positive_alerts": report.previous_false_positive_alerts},
        "change": {"threats": change(counts.threats, before.threats),
                   "alerts": change(counts.alerts, before.alerts),
                   "critical": change(counts.critical, before.critical),
                   "high-risk": change(counts.high_risk, before.high_risk),
                   "handled": change(counts.handled, before.handled),
                   "false_positives": change(report.false_positives,
                                             report.previous_false_positives)},
        "top": {name: [{"key": r.key, "threats": r.threats} for r in getattr(report, name)]
                for name in ("categories", "signatures", "sensors", "sources")},
        "weeks": [{"from": week.period.first.isoformat(), "to": week.period.last.isoformat(),
                   **_classes_json(week.counts), "alerts": week.counts.alerts}
                  for week in report.weeks],
        "definitions": DEFINITIONS,
    }


def render(report: Report, fmt: Format, lang: Lang) -> str:
    """The report in ``fmt`` (``json`` ignores ``lang``: keys are fixed), ending in a newline."""
    if fmt == "json":
        return orjson.dumps(as_json(report), option=orjson.OPT_INDENT_2).decode() + "\n"
    if fmt == "markdown":
        return markdown(report, lang)
    if fmt == "html":
        from socd.report.html import html

        return html(report, lang)
    return text(report, lang)
