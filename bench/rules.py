"""Rule-engine speed: socd's classifier beside pySigma's SQLite backend, in one run.

Three measurements, CPU time of this process (``time.process_time``), each repeated
``--rounds`` times (best and median reported):

1. **load + compile** of the whole SigmaHQ rule set (``RuleSet.load``, strict off).
2. **whole set**: the SigmaHQ rules over the SigmaHQ regression events. Every copy of an event
   gets a field no rule uses (``BenchSeq``) with a value of its own, so no copy is the same as
   another. Per-event cost is the slope between two input sizes, ``(T(large) - T(small)) /
   (large - small)``, so start-up costs cancel out.

   - *socd, logsource ignored*: ``RuleSet.bind(None).classify(event)`` per event: every
     rule meets every event (as the regression cases are defined).
   - *the same, no value remembered*: a fresh index that remembers no field value, as if
     every value of every event were new (the index keeps what it found for recent values;
     the regression events' values repeat from copy to copy, as image paths and hashes do in
     real traffic, so this row is the worst case).
   - *socd, fitted to Windows logs*: the rules fitted with socd's ``windows`` pipeline and
     bound to an input of ``product: windows``, as the daemon runs an input of Windows event
     logs: the Linux, cloud and network rules do not meet these events, and the others carry
     the channel and event-id conditions of their logsource (the index splits them by
     EventID).
   - *pySigma-SQLite*: the rules pySigma's SQLite backend (``pysigma-backend-sqlite``)
     converts, as SQL queries; per size, a new in-memory database, one table ``logs`` with
     a ``TEXT COLLATE NOCASE`` column per field (as Zircolite lays it out), the events
     inserted, every query run and its rows fetched. ``REGEXP`` is Python's ``re.search``.
     Twice: the rules as written (logsource ignored), and the Windows-bound rules converted
     with the same ``windows`` pipeline.
   - *socd on the same subset*: socd with only the rules SQLite converted, for each ratio.

   Before timing, the two engines' matches on the regression events are compared
   ((event, rule) pairs each finds), as a sanity check of "the same work".
3. **shipped rules** (``rules/``, every policy loaded) on simulated Cyradar-style events
   (``socd.simulate.cyradar_events``, fixed seed) normalised offline with the ``cyradar``
   connector, bound to ``product: cyradar`` as the daemon binds them; then on the real
   samples of each other sensor (``../shared/samples``, normalised with its connector and
   repeated), bound to that connector's logsource, and on the Suricata samples bound as an
   ``ecs`` input without a logsource (the generic policy).

Run::

    .venv/bin/python -m bench.rules [--rounds 5] [--no-sqlite] [--shared DIR]

It needs ../shared/conformance beside the checkout for parts 1 and 2 (skipped without it) and
``.venv/bin/pip install pysigma-backend-sqlite`` for the SQLite column (skipped without it).
Results go to ``bench/results/rules-<UTC timestamp>.json``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import re
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from socd.classify import BoundRules, RuleSet
from socd.classify.pipelines import load_pipeline
from socd.errors import InputError
from socd.normalize import build_normalizer, iter_messages
from socd.simulate import cyradar_events

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
RESULTS = Path(__file__).resolve().parent / "results"

FIGURES = {"ratio": 30.0, "whole_eps": 7_500.0, "shipped_eps": 100_000.0, "load_s": 10.0}
"""What the engine must reach: per-event cost ratio to SQLite, events/s/core, load seconds."""

Event = dict[str, Any]


def cpu(work: Callable[[], object]) -> float:
    """CPU seconds of this process spent in ``work`` (collected garbage first, not during)."""
    gc.collect()
    start = time.process_time()
    work()
    return time.process_time() - start


def slopes(run: Callable[[int], float], small: int, large: int, rounds: int) -> list[float]:
    """Per-item CPU seconds of each round, from the times of two sizes."""
    out = []
    for _ in range(rounds):
        t_small, t_large = run(small), run(large)
        out.append(max(t_large - t_small, 1e-9) / (large - small))
    return out


def summary(per_event: list[float]) -> dict[str, float]:
    best, median = min(per_event), statistics.median(per_event)
    return {"best_us": best * 1e6, "median_us": median * 1e6,
            "best_eps": 1 / best, "median_eps": 1 / median}


# ---------------------------------------------------------------- events


def regression_events(shared: Path) -> list[Event]:
    events: list[Event] = []
    for path in sorted((shared / "conformance/sigma/events").glob("*.jsonl")):
        events.extend(orjson.loads(line) for line in path.read_bytes().splitlines()
                      if line.strip())
    return events


def unique_copies(events: Sequence[Event], count: int) -> list[Event]:
    """``count`` events cycling through ``events``, each with a value of its own.

    The value must not change what matches: keyword rules search every value, so a word
    such as "copy" would make one of them match every copy (see :func:`check_copies`).
    """
    return [{**events[i % len(events)], "BenchSeq": f"{SEQ_MARK}{i:08d}"} for i in range(count)]


SEQ_MARK = "qzx"
"""What every BenchSeq value starts with: a letter run no SigmaHQ rule looks for."""


def check_copies(rules: RuleSet, base: Sequence[Event], copies: Sequence[Event]) -> None:
    """Stop if a copy matches other rules than the event it copies."""
    bound = rules.bind(None)
    for i, copy in enumerate(copies[:len(base)]):
        if bound.match(copy) != bound.match(base[i]):
            raise SystemExit(f"BenchSeq changes the matches of regression event {i}: "
                             f"change SEQ_MARK in {__file__}")


def cyradar_ecs(count: int, seed: int = 7) -> list[Event]:
    """Simulated Cyradar-style events, normalised to ECS offline as the daemon would."""
    normalizer = build_normalizer("cyradar", sensor="bench", timezone="Asia/Ho_Chi_Minh")
    source = cyradar_events(random.Random(seed), start=datetime(2026, 1, 5, 8, 0),
                            rate_hint=50.0)
    return [normalizer.normalize(orjson.dumps(next(source))) for _ in range(count)]


# ---------------------------------------------------------------- engines


def socd_runner(rules: RuleSet | Callable[[], RuleSet], events: Sequence[Event],
                logsource: dict[str, str] | None = None,
                pipelines: Sequence[str] = ()) -> Callable[[int], float]:
    """Times ``classify`` on the first ``size`` events. Given a function that loads the rules,
    each run gets a fresh set (correlation windows empty, as when the daemon starts) instead of
    replaying the events into the windows of the previous run."""

    def run(size: int) -> float:
        bound = (rules if isinstance(rules, RuleSet) else rules()).bind(
            logsource, pipelines=pipelines)
        if isinstance(rules, RuleSet):
            warm(bound, events)
        return timed_classify(bound, events[:size])

    return run


def timed_classify(bound: BoundRules, events: Sequence[Event]) -> float:
    """CPU seconds of ``bound.classify`` over ``events``."""
    classify = bound.classify

    def work() -> None:
        for event in events:
            classify(event)

    return cpu(work)


def shipped_rules() -> RuleSet:
    return RuleSet.load([ROOT / "rules"])[0]


SENSOR_SAMPLES = {"suricata": "suricata", "wazuh": "wazuh", "cef": "cef", "leef": "leef",
                  "zeek": "zeek", "ecs": "suricata"}
"""Per policy: the sample folder whose events it is measured on (ecs: Suricata's, as an
ecs input without a logsource sees them)."""

PLACEHOLDERS = ((b"{timestamp}", b"2024-01-01T10:00:00.000+0700"),
                (b"XXXXXXXXXX.XXXXXX", b"1704078000.000000"))
"""The sample generators' placeholders for a time, replaced so that every event is kept."""


def sample_events(shared: Path, policy: str, count: int) -> list[Event]:
    """``count`` events cycling through the sensor's samples, normalised by its connector."""
    folder = SENSOR_SAMPLES[policy]
    normalizer = build_normalizer(folder, sensor="bench", timezone="Asia/Ho_Chi_Minh")
    events: list[Event] = []
    for path in sorted((shared / "samples" / folder).rglob("*")):
        if path.suffix not in (".json", ".log", ".ndjson") or "licenses" in path.parts:
            continue
        for _, raw in iter_messages(path, normalizer.format):
            for placeholder, value in PLACEHOLDERS:
                raw = raw.replace(placeholder, value)
            try:
                events.append(normalizer.normalize(raw))
            except InputError:
                continue
    return [events[i % len(events)] for i in range(count)] if events else []


class SqliteEngine:
    """pySigma's SQLite backend: rules as queries over an in-memory table of events."""

    def __init__(self, rule_files: Sequence[Path], events: Sequence[Event],
                 pipeline: Any = None) -> None:
        import importlib

        from sigma.collection import SigmaCollection

        module: Any = importlib.import_module("sigma.backends.sqlite")  # an untyped package
        backend: Any = module.sqliteBackend(processing_pipeline=pipeline)
        self.queries: dict[str, list[str]] = {}
        self.failed = 0
        self.files: list[Path] = []
        for path in rule_files:
            try:
                collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"))
                converted = {str(r.id): backend.convert_rule(r) for r in collection.rules}
            except Exception:  # a rule the backend cannot convert
                self.failed += 1
                continue
            if not all(converted.values()):
                self.failed += 1
                continue
            self.queries.update(converted)
            self.files.append(path)
        self.columns = self._columns(events)

    def _columns(self, events: Sequence[Event]) -> list[str]:
        """Event fields, plus every field a query names (found by preparing the queries)."""
        columns = list(dict.fromkeys(key for event in events for key in event))
        db = self._database(columns)
        for rule_id, queries in list(self.queries.items()):
            for query in queries:
                for _ in range(50):
                    try:
                        db.execute(query).fetchall()
                        break
                    except sqlite3.OperationalError as error:
                        found = re.match(r"no such column: (.+)", str(error))
                        if found is None:
                            del self.queries[rule_id]
                            break
                        name = found.group(1).strip("`")
                        columns.append(name)
                        db.execute(f"ALTER TABLE logs ADD COLUMN {_quote(name)} "
                                   "TEXT COLLATE NOCASE")
                if rule_id not in self.queries:
                    break
        db.close()
        return columns

    @staticmethod
    def _database(columns: Sequence[str]) -> sqlite3.Connection:
        db = sqlite3.connect(":memory:")
        db.create_function("regexp", 2, _regexp, deterministic=True)
        body = ", ".join(f"{_quote(c)} TEXT COLLATE NOCASE" for c in columns)
        db.execute(f"CREATE TABLE logs ({body})")
        return db

    def rows(self, events: Iterable[Event]) -> list[tuple[Any, ...]]:
        columns = self.columns
        return [tuple(_cell(event.get(c)) for c in columns) for event in events]

    def matches(self, events: Sequence[Event]) -> set[tuple[int, str]]:
        """(event position, rule id) pairs the queries find."""
        db = self._database([*self.columns, "bench_position"])
        marks = ",".join("?" * (len(self.columns) + 1))
        db.executemany(f"INSERT INTO logs VALUES ({marks})",
                       [(*row, i) for i, row in enumerate(self.rows(events))])
        found: set[tuple[int, str]] = set()
        for rule_id, queries in self.queries.items():
            for query in queries:
                sql = query.replace("SELECT *", "SELECT bench_position", 1)
                found.update((int(row[0]), rule_id) for row in db.execute(sql))
        db.close()
        return found

    def runner(self, events: Sequence[Event]) -> Callable[[int], float]:
        queries = [q for qs in self.queries.values() for q in qs]
        marks = ",".join("?" * len(self.columns))
        insert = f"INSERT INTO logs VALUES ({marks})"

        def run(size: int) -> float:
            rows = self.rows(events[:size])  # the events as SQLite takes them: not timed

            def work() -> None:
                db = self._database(self.columns)
                db.executemany(insert, rows)
                for query in queries:
                    db.execute(query).fetchall()
                db.close()

            return cpu(work)

        return run


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float)):
        return value
    return json.dumps(value)


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


# ---------------------------------------------------------------- main


def load_times(paths: Sequence[Path], rounds: int) -> tuple[RuleSet, list[float]]:
    times, rules = [], None
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        rules, _ = RuleSet.load(paths, strict=False)
        times.append(time.process_time() - start)
    assert rules is not None
    return rules, times


def line(name: str, result: dict[str, float]) -> str:
    return (f"{name:<34}{result['best_eps']:>12,.0f}{result['median_eps']:>12,.0f}"
            f"{result['best_us']:>12.2f}{result['median_us']:>12.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rules", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="repetitions (default 5)")
    parser.add_argument("--small", type=int, default=2_000, help="small input, whole set")
    parser.add_argument("--large", type=int, default=10_000, help="large input, whole set")
    parser.add_argument("--sqlite-small", type=int, default=500)
    parser.add_argument("--sqlite-large", type=int, default=2_500)
    parser.add_argument("--cyradar-small", type=int, default=20_000)
    parser.add_argument("--cyradar-large", type=int, default=100_000)
    parser.add_argument("--no-sqlite", action="store_true", help="skip pySigma-SQLite")
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared test data")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"command": sys.argv, "rounds": args.rounds}
    print(f"{'':<34}{'ev/s best':>12}{'ev/s median':>12}{'µs best':>12}{'µs median':>12}")

    shipped = shipped_rules()
    cyradar = cyradar_ecs(args.cyradar_large)
    report["cyradar_events"] = len(cyradar)
    result = summary(slopes(socd_runner(shipped_rules, cyradar, {"product": "cyradar"}),
                            args.cyradar_small, args.cyradar_large, args.rounds))
    upgraded = _upgraded(shipped_rules(), cyradar)
    report["shipped"] = {**result, "rules": len(shipped.rules),
                         "correlations": len(shipped.correlations), "upgraded": upgraded}
    print(line(f"shipped rules ({len(shipped.rules)}+{len(shipped.correlations)}), cyradar",
               result))
    report["shipped_sensors"] = {}
    if (args.shared / "samples").is_dir():
        for policy in SENSOR_SAMPLES:
            sample = sample_events(args.shared, policy, args.cyradar_large)
            logsource = {} if policy == "ecs" else {"product": policy}
            met = len(shipped.bind(logsource).rules)
            figure = summary(slopes(socd_runner(shipped, sample, logsource),
                                    args.cyradar_small, args.cyradar_large, args.rounds))
            report["shipped_sensors"][policy] = {**figure, "rules": met}
            print(line(f"  {policy} policy ({met}), samples", figure))

    sigmahq = args.shared / "conformance/sigmahq-rules"
    if not sigmahq.is_dir():
        print(f"\n{sigmahq} is absent: whole-set figures skipped")
        return _finish(report)
    rules, loads = load_times([sigmahq], min(args.rounds, 3))
    report["load"] = {"best_s": min(loads), "median_s": statistics.median(loads),
                      "rules": len(rules.rules)}
    base = regression_events(args.shared)
    events = unique_copies(base, max(args.large, args.sqlite_large))
    check_copies(rules, base, events)
    whole = summary(slopes(socd_runner(rules, events), args.small, args.large, args.rounds))
    report["whole"] = {**whole, "rules": len(rules.rules), "base_events": len(base)}
    print(line(f"socd, SigmaHQ ({len(rules.rules)} rules)", whole))
    cold = summary(slopes(unremembered_runner(rules, events), args.small, args.large,
                          args.rounds))
    report["whole_unremembered"] = cold
    print(line("  the same, no value remembered", cold))

    windows_rules, _ = RuleSet.load([sigmahq], strict=False, pipelines=[WINDOWS])
    fitted = windows_rules.bind(WINDOWS_INPUT, pipelines=WINDOWS)
    windows = summary(slopes(socd_runner(windows_rules, events, WINDOWS_INPUT, WINDOWS),
                             args.small, args.large, args.rounds))
    report["windows"] = {**windows, "rules": len(fitted.rules)}
    print(line(f"socd, SigmaHQ fitted, windows ({len(fitted.rules)})", windows))

    if not args.no_sqlite:
        try:
            engine = SqliteEngine(sorted(sigmahq.rglob("*.yml")), events)
        except ImportError:
            print("pysigma-backend-sqlite is not installed: SQLite figures skipped")
        else:
            subset, _ = RuleSet.load(engine.files, strict=False)
            report["sqlite"] = _compare(engine, subset.bind(None), base, events, args,
                                        "logsource ignored")
            pipeline, _ = load_pipeline(WINDOWS)
            sources = {rule.source for rule in fitted.rules}
            engine = SqliteEngine([p for p in sorted(sigmahq.rglob("*.yml"))
                                   if str(p) in sources], events, pipeline)
            subset, _ = RuleSet.load(engine.files, strict=False, pipelines=[WINDOWS])
            report["sqlite_windows"] = _compare(
                engine, subset.bind(WINDOWS_INPUT, pipelines=WINDOWS), base, events, args,
                "fitted, windows")
    print(f"\nload + compile of {len(rules.rules)} rules: best {min(loads):.2f} s, "
          f"median {statistics.median(loads):.2f} s   figure ≤ {FIGURES['load_s']:.0f} s")
    return _finish(report)


WINDOWS = ("windows",)
WINDOWS_INPUT = {"product": "windows"}
"""The whole set fitted with socd's windows pipeline, bound as for an input of Windows logs."""


def unremembered_runner(rules: RuleSet, events: Sequence[Event]) -> Callable[[int], float]:
    """:func:`socd_runner` on a fresh index that remembers no value: as if no field value of
    an event had been seen before (the worst case for the index's per-value memory)."""
    import socd.classify.index as index_module

    def run(size: int) -> float:
        bound = rules.bind(None, indexed=True)
        kept = index_module._REMEMBERED_LENGTH
        index_module._REMEMBERED_LENGTH = -1
        try:
            return timed_classify(bound, events[:size])
        finally:
            index_module._REMEMBERED_LENGTH = kept

    return run


def _compare(engine: SqliteEngine, bound: BoundRules, base: list[Event],
             events: list[Event], args: argparse.Namespace, label: str) -> dict[str, Any]:
    """SQLite beside socd on the same rules (those SQLite converted) and events."""
    socd_pairs = {(i, r.id) for i, e in enumerate(base) for r in bound.match(e)}
    sql_pairs = engine.matches(base)
    sql_ids = set(engine.queries)
    socd_pairs = {p for p in socd_pairs if p[1] in sql_ids}
    agreement = {"socd_pairs": len(socd_pairs), "sqlite_pairs": len(sql_pairs),
                 "both": len(socd_pairs & sql_pairs)}
    sql = summary(slopes(engine.runner(events), args.sqlite_small, args.sqlite_large,
                         args.rounds))
    same = summary(slopes(bound_runner(bound, events), args.small, args.large, args.rounds))
    print(line(f"pySigma-SQLite, {label} ({len(engine.queries)})", sql))
    print(line(f"socd, the same {len(bound.rules)} rules", same))
    ratio_best = sql["best_us"] / same["best_us"]
    ratio_median = sql["median_us"] / same["median_us"]
    print(f"  matches on the {len(base)} regression events, (event, rule) pairs: socd "
          f"{agreement['socd_pairs']}, SQLite {agreement['sqlite_pairs']}, both "
          f"{agreement['both']}")
    print(f"  SQLite µs/event ÷ socd µs/event (same rules): best {ratio_best:.1f}×, "
          f"median {ratio_median:.1f}×   figure ≥ {FIGURES['ratio']:.0f}×")
    return {"sqlite": sql, "socd_same_rules": same, "rules": len(engine.queries),
            "not_converted": engine.failed, "agreement": agreement,
            "ratio_best": ratio_best, "ratio_median": ratio_median}


def warm(bound: BoundRules, events: Sequence[Event]) -> None:
    """Classify the regression events once, untimed: a bound set reused from run to run
    builds its index parts (one per EventID) when an event first needs them, and that must
    not fall in the first run only, or the slope would hide it."""
    for event in events[:WARM]:
        bound.classify(event)


WARM = 238
"""The regression events (the copies' first 238 are one of each)."""


def bound_runner(bound: BoundRules, events: Sequence[Event]) -> Callable[[int], float]:
    """Times ``classify`` of one bound rule set on the first ``size`` events."""

    def run(size: int) -> float:
        warm(bound, events)
        return timed_classify(bound, events[:size])

    return run


def _upgraded(rules: RuleSet, events: Sequence[Event]) -> int:
    """How many events a correlation rule decided (the shipped set's, on the Cyradar events)."""
    bound = rules.bind({"product": "cyradar"})
    correlations = {info.id for info in rules.correlations}
    count = 0
    for event in events:
        verdict = bound.classify(event)
        count += verdict is not None and verdict.rule.id in correlations
    return count


def _finish(report: dict[str, Any]) -> int:
    for key, label in (("whole", "logsource ignored"),
                       ("whole_unremembered", "logsource ignored, no value remembered"),
                       ("windows", "fitted to Windows logs")):
        if key in report:
            print(f"whole set, {label}: {report[key]['best_eps']:,.0f} events/s/core best, "
                  f"{report[key]['median_eps']:,.0f} median   figure ≥ "
                  f"{FIGURES['whole_eps']:,.0f}")
    shipped = report["shipped"]
    print(f"shipped rules: {shipped['best_eps']:,.0f} events/s/core best, "
          f"{shipped['median_eps']:,.0f} median   figure ≥ {FIGURES['shipped_eps']:,.0f}   "
          f"(correlation included: {shipped['upgraded']:,} of the "
          f"{report['cyradar_events']:,} events upgraded by it)")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"rules-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
