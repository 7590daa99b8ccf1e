"""Rule tooling behind ``socd rules validate`` and ``socd rules test``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

import orjson

from socd.classify.explain import Explainer
from socd.classify.ruleset import BoundRules, RuleSet
from socd.errors import Problem

STDIN = "-"
"""The events file name that means standard input."""


def _report(problems: Sequence[Problem], stream: TextIO) -> None:
    for problem in problems:
        print(str(problem), file=stream)


def _nothing_loaded(ruleset: RuleSet, paths: Sequence[str]) -> list[Problem]:
    """A problem when ``paths`` hold no rule at all (an empty folder, a mistyped path)."""
    if ruleset.rules or ruleset.correlations:
        return []
    return [Problem(", ".join(str(p) for p in paths),
                    "no rules found (files ending in .yml or .yaml; folders are searched "
                    "recursively): check the path")]


def validate(paths: Sequence[str], pipelines: Sequence[str] = ()) -> int:
    """Load the rules; print one ``file:line: message`` line per problem to stderr.

    With ``pipelines``, the rules are also fitted with them. Returns 0 when every rule loads,
    2 otherwise, and 2 when ``paths`` hold no rule at all.
    """
    variants = [(), tuple(pipelines)] if pipelines else [()]
    ruleset, problems = RuleSet.load(paths, strict=False, pipelines=variants)
    if not problems:
        problems = _nothing_loaded(ruleset, paths)
    _report(problems, sys.stderr)
    return 2 if problems else 0


def test(rule_paths: Sequence[str], events_file: str, *, strict: bool, out: TextIO,
         explain: bool = False, pipelines: Sequence[str] = ()) -> int:  # noqa: PT028
    """Evaluate the rules on each JSON line of ``events_file``, logsource ignored (the rules
    fitted with ``pipelines`` first, if any).

    Prints one JSON line per input line: ``{"line": N, "matches": [ids], "class": ...}``, or
    ``{"line": N, "error": "..."}`` for a blank or non-JSON line; ``events_file`` ``-`` is
    standard input. Rules that cannot be loaded are reported on stderr and the rest are
    evaluated (0); with ``strict`` the run stops (2), as it does when no rule loads at all or
    the events cannot be read.
    Correlation rules count the events in file order (time from ``@timestamp``) and appear
    among the matches of the event on which they fire.

    ``explain`` adds ``"explain": {rule id: {"selections": {name: true|false}, "fields":
    [{"selection", "field", "value"}]}}`` for each matching detection rule: which of its
    detections hold and which field tests matched, with the event's value (the rule as
    written, before any pipeline).
    """
    ruleset, problems = RuleSet.load(rule_paths, strict=False, pipelines=[tuple(pipelines)])
    empty = _nothing_loaded(ruleset, rule_paths)
    _report(problems or empty, sys.stderr)
    if (strict and problems) or empty:  # no rule at all: nothing to evaluate
        return 2
    if tuple(pipelines) not in ruleset.pipelines:
        return 2  # the pipelines themselves failed to load: reported above
    bound = ruleset.bind(None, pipelines=pipelines)
    explainer = Explainer() if explain else None
    try:
        stream = sys.stdin.buffer if events_file == STDIN else open(events_file, "rb")  # noqa: SIM115
    except OSError as error:
        reason = ("this is a folder: give a file of events" if isinstance(
            error, IsADirectoryError) else f"cannot read the events: {error.strerror}")
        print(f"socd: --events {events_file}: {reason}", file=sys.stderr)
        return 2
    with stream:
        for number, raw in enumerate(stream, start=1):
            out.write(_result(bound, number, raw, explainer))
            out.write("\n")
    return 0


def _result(bound: BoundRules, number: int, raw: bytes, explainer: Explainer | None) -> str:
    line: dict[str, Any] = {"line": number}
    if not raw.strip():
        line["error"] = "blank line: expected one JSON object"
        return orjson.dumps(line).decode()
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        line["error"] = f"not JSON: {error}"
        return orjson.dumps(line).decode()
    if not isinstance(event, dict):
        line["error"] = f"not a JSON object but {type(event).__name__}"
        return orjson.dumps(line).decode()
    verdict, ids = bound.assess(event)  # most severe first, then load order
    line["matches"] = list(ids)
    line["class"] = verdict.threat_class if verdict is not None else None
    if explainer is not None:
        sources = {rule.id: rule.source for rule in bound.rules}
        explained = {}
        for rule_id in ids:
            source = sources.get(rule_id)
            found = explainer(source, rule_id, event) if source is not None else None
            if found is not None:
                explained[rule_id] = found
        line["explain"] = explained
    return orjson.dumps(line, default=str).decode()
