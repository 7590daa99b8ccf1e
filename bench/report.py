"""``socd report`` over a year of seeded alert documents at several sizes.

For each size (``--sizes``, default 10,000 and 100,000 documents) the alerts indices are
emptied, the documents (fixed seed, spread over 2025 UTC, random class, layer, category,
signature, sensor and source among small sets; a fifth blocked by the sensor, a third
handled by an operator: acknowledged, or closed as true positive, benign, duplicate or false
positive; a tenth suppressed alerts standing for 2 to 500 threats each in
``socd.suppression.docs_count``, the others one threat each) are loaded through socd's index
template in few large bulk requests (the local server slows as its data grows), refreshed,
and the report of the year 2025 (calendar days in Asia/Ho_Chi_Minh) is asked ``--rounds``
times; the median is printed with the number of buckets the request asks for. The figures
printed are the report's: threats are the sum of ``docs_count`` (a document without one is
one threat), alerts the documents. The report reads aggregations only, so its time should
follow the buckets, not the documents.

    .venv/bin/python -m bench.report                          # local noida-db, 10k and 100k
    .venv/bin/python -m bench.report --sizes 10000,30000 --elasticsearch URL
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
from elasticsearch import AsyncElasticsearch

from socd.alerts.model import REASONS
from socd.config import ElasticsearchConfig
from socd.devservers import LocalServers
from socd.report.period import Period
from socd.report.query import fetch_report
from socd.sinks.elasticsearch import ElasticsearchSink
from socd.sinks.templates import alerts_index
from socd.telemetry.metrics import Metrics

PREFIX = "benchreport"
YEAR = Period(date(2025, 1, 1), date(2025, 12, 31))
ZONE = "Asia/Ho_Chi_Minh"


HANDLING: list[dict[str, str]] = [{}, {}, {"status": "acknowledged"},
            *({"status": "closed", "status_reason": reason} for reason in REASONS)]
"""An operator's handling: none (twice as likely), acknowledged, closed with each reason."""


def threats(count: int, seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    docs: list[dict[str, object]] = []
    for i in range(count):
        ts = start + timedelta(seconds=rng.randrange(365 * 86400))
        handling: dict[str, object] = dict(rng.choice(HANDLING)) if rng.random() < 0.5 else {}
        if rng.random() < 0.1:  # a suppressed alert: its threats over up to 10 minutes
            end = ts + timedelta(seconds=rng.randrange(600))
            handling["suppression"] = {"docs_count": rng.randint(2, 500),
                                       "start": ts.isoformat().replace("+00:00", "Z"),
                                       "end": end.isoformat().replace("+00:00", "Z")}
        docs.append({
            "@timestamp": ts.isoformat().replace("+00:00", "Z"),
            "event": {"id": f"b-{i}", "kind": "alert",
                      "type": ["denied"] if rng.random() < 0.2 else ["connection"]},
            "socd": {"class": rng.choice(("critical", "high-risk")),
                     "layer": rng.randint(1, 4), **handling},
            "rule": {"name": f"signature {rng.randrange(200)}",
                     "category": rng.choice(("malware", "scan", "c2", "phishing", "dos"))},
            "observer": {"name": f"sensor-{rng.randrange(12)}"},
            "source": {"ip": f"203.0.113.{rng.randrange(256)}"},
        })
    return docs


async def load(es: AsyncElasticsearch, docs: list[dict[str, object]], chunk: int) -> float:
    began = time.perf_counter()
    for at in range(0, len(docs), chunk):
        lines = []
        for doc in docs[at:at + chunk]:
            index = alerts_index(PREFIX, str(doc["@timestamp"]))
            lines.append(orjson.dumps({"index": {"_index": index}}))
            lines.append(orjson.dumps(doc))
        # NDJSON bytes go as they are; the client annotates body as a sequence of dicts only
        answer = await es.bulk(body=b"\n".join(lines) + b"\n")  # type: ignore[arg-type]
        assert not answer["errors"], "the bulk load refused documents"
    await es.indices.refresh(index=f"{PREFIX}-alerts*")
    return time.perf_counter() - began


async def run(args: argparse.Namespace, url: str) -> None:
    cfg = ElasticsearchConfig(hosts=[url], index_prefix=PREFIX, request_timeout=600)
    sink = ElasticsearchSink(cfg, Metrics())
    await sink.start()
    try:
        await sink.setup()
    finally:
        await sink.stop()
    es = AsyncElasticsearch(url, request_timeout=600)
    # a count of threats, by 2 classes, and handled: this period's, its 4 layers' and the
    # previous period's; by class only: each week's; 4 top lists of 10; 2 of false positives.
    # Each count of threats also asks the sum of docs_count (a metric: no bucket) and the
    # documents without it (a missing bucket): twice the buckets.
    buckets = ((1 + 4 + 1) * 4 + len(YEAR.weeks()) * 3 + 4 * 10 + 2) * 2
    print(f"report of {YEAR.first}..{YEAR.last} ({ZONE}), about {buckets} buckets asked; "
          f"median of {args.rounds} rounds")
    print(f"{'documents':>9}  {'load s':>8}  {'report s':>9}  {'alerts':>9}  {'threats':>9}  "
          f"{'handled':>9}  {'false pos':>9}")
    try:
        for size in args.sizes:
            names = await es.indices.get(index=f"{PREFIX}-alerts*", allow_no_indices=True)
            if names:  # wildcard deletes may be refused (action.destructive_requires_name)
                await es.indices.delete(index=",".join(names))
            loaded = await load(es, threats(size), args.chunk)
            times = []
            for _ in range(args.rounds):
                began = time.perf_counter()
                report = await fetch_report(cfg, ZONE, YEAR)
                times.append(time.perf_counter() - began)
            print(f"{size:>9,}  {loaded:>8.1f}  {statistics.median(times):>9.3f}  "
                  f"{report.counts.alerts:>9,}  {report.counts.threats:>9,}  "
                  f"{report.counts.handled:>9,}  "
                  f"{report.false_positives:>9,}", flush=True)
    finally:
        await es.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000",
                        type=lambda v: [int(n) for n in v.split(",")],
                        help="alert documents, comma-separated (10000,100000)")
    parser.add_argument("--chunk", type=int, default=20000, help="documents a bulk request")
    parser.add_argument("--rounds", type=int, default=5, help="reports timed per size")
    parser.add_argument("--elasticsearch", help="an existing server's URL (default: start "
                        "the local noida-db)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.elasticsearch:
        asyncio.run(run(args, args.elasticsearch))
        return 0
    with tempfile.TemporaryDirectory() as work, LocalServers(Path(work)) as endpoints:
        asyncio.run(run(args, endpoints.elasticsearch))
    return 0


if __name__ == "__main__":
    sys.exit(main())
