"""``socd report``: the period report of threats, read from Elasticsearch aggregations.

:mod:`socd.report.period` turns the calendar days of a period into UTC bounds,
:mod:`socd.report.query` builds the one aggregation request and reads its answer into the data
model of :mod:`socd.report.model`, and :mod:`socd.report.render` writes that model as text,
markdown or json, in Vietnamese or English (pure functions), :mod:`socd.report.html` as one
page. What counts as a threat (an event classified high-risk or critical; a suppressed alert
document stands for ``socd.suppression.docs_count`` of them, any other document for one), as
an alert (a document), as a false positive and as handled (blocked, or closed; not
acknowledged) is written in :mod:`socd.report.model`.
"""
