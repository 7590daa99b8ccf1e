"""The report as one self-contained HTML page: the sentence, the tables and two charts drawn
in inline SVG (threats per week by class; threats per layer by class). No script, no
external file or font: it opens offline and prints (colours kept with ``print-color-adjust``).
The page is also well-formed XML, so that tools (and tests) can read it as such."""

from __future__ import annotations

from html import escape
from math import ceil

from socd.report.model import Counts, Report
from socd.report.render import (
    Lang,
    day,
    definitions,
    false_positives,
    headline,
    intro,
    number,
    tables,
)

CRITICAL, HIGH_RISK = "#b2182b", "#f4a582"
"""Bar colours: dark red and light orange, told apart in grey print too."""

_WORDS = {
    "vi": {"weeks": "Mối nguy hại theo tuần", "layers": "Mối nguy hại theo lớp",
           "critical": "Mối đe dọa nghiêm trọng", "high_risk": "Mối nguy hại cao",
           "layer": "Lớp", "from": "tuần từ"},
    "en": {"weeks": "Threats per week", "layers": "Threats per layer",
           "critical": "Critical", "high_risk": "High-risk", "layer": "Layer",
           "from": "week from"},
}

_STYLE = """
body { font-family: sans-serif; max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem;
       color: #111; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
.headline { font-size: 1.1rem; font-weight: bold; }
table { border-collapse: collapse; margin: .4rem 0; }
th, td { border: 1px solid #999; padding: .2rem .5rem; }
td:not(:first-child), th:not(:first-child) { text-align: right; }
svg { max-width: 100%; height: auto; }
svg text { font-family: sans-serif; font-size: 11px; fill: #111; }
section { break-inside: avoid; page-break-inside: avoid; }
"""


def _legend(lang: Lang, x: int, y: int) -> str:
    w = _WORDS[lang]
    return (f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{CRITICAL}"/>'
            f'<text x="{x + 14}" y="{y}">{escape(w["critical"])}</text>'
            f'<rect x="{x + 190}" y="{y - 9}" width="10" height="10" fill="{HIGH_RISK}"/>'
            f'<text x="{x + 204}" y="{y}">{escape(w["high_risk"])}</text>')


def _stack(x: float, base: float, width: float, counts: Counts, scale: float, label: str,
           lang: Lang, *, horizontal: bool = False) -> str:
    """Two stacked rectangles (critical first) for ``counts``; ``scale`` pixels a threat."""
    parts = []
    offset = 0.0
    for cls, word, value, colour in (("critical", "critical", counts.critical, CRITICAL),
                                     ("high-risk", "high_risk", counts.high_risk, HIGH_RISK)):
        size = value * scale
        title = f"{escape(label)}: {number(value, lang)} {escape(_WORDS[lang][word])}"
        if horizontal:
            box = f'x="{base + offset:.1f}" y="{x:.1f}" width="{size:.1f}" height="{width:.1f}"'
        else:
            box = (f'x="{x:.1f}" y="{base - offset - size:.1f}" width="{width:.1f}" '
                   f'height="{size:.1f}"')
        parts.append(f'<rect class="{cls}" {box} fill="{colour}"><title>{title}</title></rect>')
        offset += size
    return "".join(parts)


def weeks_chart(report: Report, lang: Lang) -> str:
    """Threats per 7-day span, stacked by class: an ``<svg>`` 720×260. The tallest bar spans
    the plot's 180 px; the y axis is labelled 0 and the tallest count; x labels are the first
    day of about 8 spans."""
    left, top, plot_w, plot_h = 50, 24, 650, 180
    base = top + plot_h
    weeks = report.weeks
    tallest = max((w.counts.critical + w.counts.high_risk for w in weeks), default=0)
    scale = plot_h / tallest if tallest else 0.0
    step = plot_w / max(len(weeks), 1)
    every = max(1, ceil(len(weeks) / 8))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="weeks" width="720" height="260" '
             f'viewBox="0 0 720 260" role="img" aria-label="{escape(_WORDS[lang]["weeks"])}">',
             _legend(lang, left, 12),
             f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#111"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#111"/>',
             f'<text x="{left - 6}" y="{base}" text-anchor="end">0</text>',
             f'<text x="{left - 6}" y="{top + 8}" text-anchor="end">'
             f'{number(tallest, lang)}</text>']
    for i, week in enumerate(weeks):
        label = f"{_WORDS[lang]['from']} {day(week.period.first, lang)}"
        parts.append(_stack(left + i * step + step * 0.1, base, step * 0.8, week.counts,
                            scale, label, lang))
        if i % every == 0:
            parts.append(f'<text x="{left + i * step:.1f}" y="{base + 16}">'
                         f'{day(week.period.first, lang)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def layers_chart(report: Report, lang: Lang) -> str:
    """Threats per layer, stacked by class, as horizontal bars: an ``<svg>`` 720×170; the
    longest bar spans 500 px."""
    left, top, plot_w, row = 70, 24, 500, 32
    longest = max((c.critical + c.high_risk for c in report.by_layer.values()), default=0)
    scale = plot_w / longest if longest else 0.0
    w = _WORDS[lang]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="layers" width="720" '
             f'height="{top + row * 4 + 10}" viewBox="0 0 720 {top + row * 4 + 10}" '
             f'role="img" aria-label="{escape(w["layers"])}">', _legend(lang, left, 12)]
    for i, (layer, counts) in enumerate(report.by_layer.items()):
        y = top + i * row + 6
        label = f"{w['layer']} {layer}"
        parts.append(f'<text x="{left - 8}" y="{y + 15}" text-anchor="end">{label}</text>')
        parts.append(_stack(y, left, 22, counts, scale, label, lang, horizontal=True))
        end = left + (counts.critical + counts.high_risk) * scale
        parts.append(f'<text x="{end + 6:.1f}" y="{y + 15}">{number(counts.threats, lang)}'
                     "</text>")
    parts.append("</svg>")
    return "".join(parts)


def html(report: Report, lang: Lang) -> str:
    """The whole page, ending in a newline."""
    title, period = intro(report, lang)
    w = _WORDS[lang]
    out = ["<!DOCTYPE html>", f'<html lang="{lang}" xmlns="http://www.w3.org/1999/xhtml">',
           '<head><meta charset="utf-8"/>',
           '<meta name="viewport" content="width=device-width, initial-scale=1"/>',
           f"<title>{escape(title)}: {escape(period)}</title>",
           f"<style>{_STYLE}</style></head>", "<body>",
           f"<h1>{escape(title)}</h1>", f"<p>{escape(period)}</p>",
           f'<p class="headline">{escape(headline(report, lang))}</p>',
           f'<p class="false-positives">{escape(false_positives(report, lang))}</p>',
           f'<p class="definitions">{escape(definitions(lang))}</p>',
           f"<section><h2>{escape(w['weeks'])}</h2>{weeks_chart(report, lang)}</section>",
           f"<section><h2>{escape(w['layers'])}</h2>{layers_chart(report, lang)}</section>"]
    for name, headers, rows in tables(report, lang):
        out.append(f"<section><h2>{escape(name)}</h2><table><thead><tr>"
                   + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr></thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>"
                for row in rows]
        out.append("</tbody></table></section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
