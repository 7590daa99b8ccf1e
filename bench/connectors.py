"""Connector cost per event: decode + normalise, in this process, one core.

For each connector the messages are read once (Cyradar-style: simulated with a fixed seed;
the others: the real samples in ../shared/samples, repeated to --events), then
``Normalizer.normalize`` runs over all of them several times; the best round's CPU time
(``time.process_time``, so other processes on the machine do not count) gives µs/event and
events/s. Suricata is reported twice: all record types, and alerts only.

Run::

    .venv/bin/python -m bench.connectors [--events N] [--rounds R] [--samples DIR]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from socd.errors import InputError
from socd.normalize import build_normalizer, iter_messages
from socd.simulate import cyradar_events

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples"

# connector → (sample files, keep only messages this accepts)
SETS: dict[str, tuple[str, list[str], Callable[[bytes], bool]]] = {
    "suricata (all)": ("suricata", ["suricata/oak_eve_2013_subset.json",
                                    "suricata/surevego_eve.json",
                                    "suricata/crowdsec_suricata-logs-evelog.log",
                                    "suricata/tenzir_eve_excerpt.json"], lambda raw: True),
    "suricata (alerts)": ("suricata", ["suricata/oak_eve_2013_subset.json",
                                       "suricata/surevego_eve.json",
                                       "suricata/crowdsec_suricata-eve-detect.log"],
                          lambda raw: b'"event_type":"alert"' in raw),
    "wazuh": ("wazuh", ["wazuh/wazuh_indexer_sample_alerts_subset.json"], lambda raw: True),
    "cef": ("cef", ["cef/crowdsec_cef-logs.log", "cef/crowdsec_unifi-cef-logs.log",
                    "cef/tenzir_checkpoint.log"], lambda raw: True),
    "leef": ("leef", ["leef/tenzir_leef1.log"], lambda raw: True),
    "zeek": ("zeek", ["zeek/zeek_docs_intel_examples.ndjson",
                      "zeek/zeek_docs_notice_example.ndjson"], lambda raw: True),
}


def load(samples: Path, files: list[str], keep: Callable[[bytes], bool], fmt: str,
         count: int) -> list[bytes]:
    found = [raw for name in files for _, raw in iter_messages(samples / name, fmt)
             if keep(raw)]
    # the generator's alerts carry a placeholder for a time: give them one
    found = [raw.replace(b"{timestamp}", b"2024-01-01T10:00:00.000+0700") for raw in found]
    return (found * (count // max(len(found), 1) + 1))[:count]


def measure(connector: str, messages: list[bytes], rounds: int) -> tuple[float, int]:
    """(best CPU µs per message, dead letters per round)."""
    normalizer = build_normalizer(connector, sensor="bench", timezone="Asia/Ho_Chi_Minh")
    normalize = normalizer.normalize
    best = float("inf")
    dead = 0
    for _ in range(rounds):
        dead = 0
        started = time.process_time()
        for raw in messages:
            try:
                normalize(raw)
            except InputError:
                dead += 1
        best = min(best, time.process_time() - started)
    return best / len(messages) * 1e6, dead


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=30,
                        help="the best round counts (short rounds dodge other load)")
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    args = parser.parse_args(argv)
    events = cyradar_events(random.Random(7), start=datetime(2026, 1, 1, tzinfo=UTC))
    table = [("cyradar", "cyradar",
              [orjson.dumps(next(events)) for _ in range(args.events)])]
    if args.samples.is_dir():
        for label, (connector, files, keep) in SETS.items():
            fmt = build_normalizer(connector, sensor="b", timezone="UTC").format
            table.append((label, connector,
                          load(args.samples, files, keep, fmt, args.events)))
    else:
        print(f"{args.samples} not found: only the Cyradar-style connector", file=sys.stderr)
    print(f"{'connector':20s} {'µs/event':>9s} {'events/s':>10s} {'bytes/msg':>9s} "
          f"{'dead':>5s}")
    for label, connector, messages in table:
        micros, dead = measure(connector, messages, args.rounds)
        size = sum(map(len, messages)) // len(messages)
        print(f"{label:20s} {micros:9.2f} {1e6 / micros:10,.0f} {size:9d} {dead:5d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
