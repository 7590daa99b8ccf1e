"""Cost of layer-4 sharing per shared threat: building its STIX 2.1 bundle, in this process.

Simulated messages of every format (``socd simulate``'s generators, fixed seed) go through
their connector once and become threats as the pipeline makes them; then
``SightingBuilder.build`` runs over all of them, several rounds, each with a fresh builder
(so that the cyber-observables it keeps from one threat to the next are made again every
round, as in a process that has just started). CPU time (``time.process_time``, so other
processes on the machine do not count) per built sighting; median and best round per
format, and for all formats together.

Run::

    .venv/bin/python -m bench.sharing [--threats N] [--rounds R]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from socd.config import SharingConfig
from socd.sharing import SightingBuilder
from socd.simulate import FORMATS
from tests.unit.sharing.threats import simulated


def measure(config: SharingConfig, docs: list[dict[str, Any]], rounds: int) -> list[float]:
    """µs per built sighting of each round."""
    per_round: list[float] = []
    ids = [f"doc-{n}" for n in range(len(docs))]
    for _ in range(rounds):
        builder = SightingBuilder(config)
        start = time.process_time()
        for doc, doc_id in zip(docs, ids, strict=True):
            builder.build(doc, doc_id)
        per_round.append((time.process_time() - start) / len(docs) * 1e6)
    return per_round


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threats", type=int, default=300, help="threats per format (300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    args = parser.parse_args(argv)
    config = SharingConfig.model_validate({
        "identity": {"name": "So TTTT Dong Nai"},
        "redact": {"domains": ["dongnai.gov.vn"]}})
    print(f"{'format':10s} {'threats':>8s} {'median µs':>10s} {'best µs':>9s} "
          f"{'sightings/s':>12s}")
    everything: list[dict[str, Any]] = []
    for fmt in FORMATS:
        docs = simulated(fmt, args.threats)
        everything.extend(docs)
        rounds = measure(config, docs, args.rounds)
        best = min(rounds)
        print(f"{fmt:10s} {len(docs):8d} {statistics.median(rounds):10.0f} {best:9.0f} "
              f"{1e6 / best:12,.0f}")
    rounds = measure(config, everything, args.rounds)
    best = min(rounds)
    print(f"{'all':10s} {len(everything):8d} {statistics.median(rounds):10.0f} {best:9.0f} "
          f"{1e6 / best:12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
