"""``socd simulate``: its options and what it runs."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

from socd.errors import SinkError
from socd.simulate.common import VIETNAM, Message
from socd.simulate.formats import FORMATS, MIX, Tagged, mixed_messages
from socd.simulate.kafka import produce


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 date or time: {text}") from exc
    return value if value.tzinfo else value.replace(tzinfo=VIETNAM)


def _shares(text: str) -> dict[str, float]:
    """``cyradar=4,suricata=3``: the share of each format in a mix."""
    shares: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        if name not in FORMATS or not sep:
            raise argparse.ArgumentTypeError(
                f"{part!r}: expected FORMAT=SHARE with FORMAT one of {', '.join(FORMATS)}")
        try:
            shares[name] = float(weight)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: the share is not a number") from None
        if shares[name] < 0:
            raise argparse.ArgumentTypeError(f"{part!r}: a share cannot be negative")
    if not any(shares.values()):
        raise argparse.ArgumentTypeError("no format has a positive share")
    return shares


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the options of ``socd simulate`` to ``parser``."""
    usual = ", ".join(f"{name} → {fmt.topic}" for name, fmt in FORMATS.items())
    parser.add_argument("--format", choices=[*sorted(FORMATS), "mix"], default="cyradar",
                        help="sensor format to simulate, or 'mix' for all of them "
                             "interleaved, each to its usual topic (default: %(default)s)")
    parser.add_argument("--mix", type=_shares, default=None, metavar="FORMAT=SHARE,...",
                        help="with --format mix: the share of each format (default: "
                             + ",".join(f"{k}={v:g}" for k, v in MIX.items()) + ")")
    parser.add_argument("--count", type=_count, default=1000,
                        help="how many messages (default: %(default)s)")
    parser.add_argument("--rate", type=_positive_float, default=None,
                        help="messages per second to send (default: as fast as possible)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed; the same seed and --start give the same messages")
    parser.add_argument("--bootstrap-servers", default="127.0.0.1:9092",
                        help="Kafka bootstrap servers, HOST:PORT[,...] (default: %(default)s)")
    parser.add_argument("--topic", default=None,
                        help=f"topic to produce to, for a single format (default: the "
                             f"format's usual topic: {usual}); it must exist")
    parser.add_argument("--output", metavar="FILE", default=None,
                        help="write one message a line to FILE ('-' for standard output) "
                             "instead of producing to Kafka")
    parser.add_argument("--start", type=_timestamp, default=None,
                        help="sensor time of the first message, ISO-8601 (no offset: "
                             "+07:00). Default: now with --rate, else early enough that the "
                             "last message is about now")
    parser.add_argument("--rate-hint", type=_positive_float, default=None,
                        help="mean messages per second of sensor time in the timestamps "
                             "(default: --rate, else 1)")


def _write_lines(output: str, lines: Iterable[bytes]) -> int:
    written = 0
    if output == "-":
        try:
            for line in lines:
                sys.stdout.buffer.write(line + b"\n")
                written += 1
            sys.stdout.buffer.flush()
        except BrokenPipeError:  # the reader stopped (`| head`): not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # so that the flush at exit stays quiet
        return written
    with Path(output).open("wb") as file:
        for line in lines:
            file.write(line + b"\n")
            written += 1
    return written


def _tagged_key(item: Tagged) -> bytes | None:
    return FORMATS[item[0]].key(item[1])


def _tagged_value(item: Tagged) -> bytes:
    return FORMATS[item[0]].encode(item[1])


def _tagged_topic(item: Tagged) -> str:
    return FORMATS[item[0]].topic


async def run(args: argparse.Namespace) -> int:
    """``socd simulate``: generate messages and produce them (or write them); the exit
    status."""
    mix = args.format == "mix"
    if mix and args.topic is not None:
        print("socd simulate: --topic names one topic for one format; --format mix sends "
              "each format to its usual topic", file=sys.stderr)
        return 2
    if not mix and args.mix is not None:
        print("socd simulate: --mix goes with --format mix", file=sys.stderr)
        return 2
    rate_hint: float = args.rate_hint or args.rate or 1.0
    start: datetime | None = args.start
    if start is None:
        start = datetime.now(VIETNAM)
        if args.rate is None:
            start -= timedelta(seconds=args.count / rate_hint)
    rng = random.Random(args.seed)
    messages: Iterator[Message]
    key: Callable[[Message], bytes | None]
    encode: Callable[[Message], bytes]
    route: Callable[[Message], str] | None
    if mix:
        messages = mixed_messages(rng, start=start, rate_hint=rate_hint,
                                  shares=args.mix or MIX)
        key, encode, route = _tagged_key, _tagged_value, _tagged_topic
        topic = ", ".join(FORMATS[name].topic for name, share in (args.mix or MIX).items()
                          if share > 0)
    else:
        sensor = FORMATS[args.format]
        messages = sensor.generate(rng, start=start, rate_hint=rate_hint)
        key, encode, route = sensor.key, sensor.encode, None
        topic = args.topic or sensor.topic
    messages = itertools.islice(messages, args.count)
    if args.output is not None:
        written = await asyncio.to_thread(_write_lines, args.output, map(encode, messages))
        if args.output != "-":
            print(f"wrote {written} {args.format} messages to {args.output}", file=sys.stderr)
        return 0
    try:
        acked = await produce(args.bootstrap_servers, topic, messages, rate=args.rate,
                              count=args.count, key=key, encode=encode, route=route)
    except SinkError as exc:
        print(f"socd simulate: {exc}", file=sys.stderr)
        return 1
    print(f"produced {acked} of {args.count} {args.format} messages to {topic}",
          file=sys.stderr)
    return 0 if acked == args.count else 1
