"""Cost of layer-4 sharing per shared threat: building its STIX 2.1 bundle, in this process.

Simulated messages of every format (``socd simulate``'s generators, fixed seed) go through
their connector once and become threats as the pipeline makes them; then
``SightingBuilder.build`` runs over all of them, several rounds, each with a fresh builder
(so that the cyber-observables and redaction verdicts it keeps from one threat to the next
are made again every round, as in a process that has just started). CPU time
(``time.process_time``, so other processes on the machine do not count) per built
sighting; median and best round per format, and for all formats together, of both writers:
the reference (``checked=True``: every object made and checked by the ``stix2`` library)
and the normal one (plain dicts, one ``orjson`` call), and the ratio of their medians.
Before measuring, every threat is built by both and the bytes compared.

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


def measure(config: SharingConfig, docs: list[dict[str, Any]], rounds: int, *,
            checked: bool = False) -> list[float]:
    """µs per built sighting of each round."""
    per_round: list[float] = []
    ids = [f"doc-{n}" for n in range(len(docs))]
    for _ in range(rounds):
        builder = SightingBuilder(config, checked=checked)
        start = time.process_time()
        for doc, doc_id in zip(docs, ids, strict=True):
            builder.build(doc, doc_id)
        per_round.append((time.process_time() - start) / len(docs) * 1e6)
    return per_round


def same_bytes(config: SharingConfig, docs: list[dict[str, Any]]) -> bool:
    """Whether both writers give the same bytes for every threat."""
    fast = SightingBuilder(config)
    reference = SightingBuilder(config, checked=True)
    return all(fast.build(doc, f"doc-{n}") == reference.build(doc, f"doc-{n}")
               for n, doc in enumerate(docs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threats", type=int, default=300, help="threats per format (300)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    args = parser.parse_args(argv)
    config = SharingConfig.model_validate({
        "identity": {"name": "So TTTT Dong Nai"},
        "redact": {"domains": ["dongnai.gov.vn"]}})
    groups = {fmt: simulated(fmt, args.threats) for fmt in FORMATS}
    groups["all"] = [doc for docs in groups.values() for doc in docs]
    if not same_bytes(config, groups["all"]):
        print("the two writers differ: see tests/unit/sharing/test_stix_fast.py")
        return 1
    print(f"{'':19s} {'reference µs':>15s} {'normal µs':>15s}")
    print(f"{'format':10s} {'threats':>8s} {'median':>7s} {'best':>7s} {'median':>7s} "
          f"{'best':>7s} {'ratio':>6s} {'sightings/s':>12s}")
    for name, docs in groups.items():
        reference = measure(config, docs, args.rounds, checked=True)
        normal = measure(config, docs, args.rounds)
        ratio = statistics.median(reference) / statistics.median(normal)
        print(f"{name:10s} {len(docs):8d} {statistics.median(reference):7.0f} "
              f"{min(reference):7.0f} {statistics.median(normal):7.0f} {min(normal):7.0f} "
              f"{ratio:6.1f} {1e6 / min(normal):12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
