"""The ``socd`` command.

Exit status: 0 success; 1 a runtime failure (a server unreachable, the daemon stopped on an
error); 2 bad usage, configuration or rules (what was wrong is printed, with file, line and
key).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import orjson

from socd import __version__
from socd.config import Config, load_config
from socd.errors import (
    ConfigError,
    ConnectorError,
    InputError,
    Problem,
    RuleError,
    SocdError,
)
from socd.telemetry.logging import configure

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="socd", description="Security-operations alert aggregator: Kafka → ECS → "
        "Sigma classification → Elasticsearch, with Prometheus counters by class and layer.")
    parser.add_argument("--version", action="version", version=f"socd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, text: str) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text, description=text)
        command.add_argument("-c", "--config", required=True, type=Path, help="config file")
        return command

    with_config("run", "run the daemon (SIGTERM/SIGINT: drain and exit; SIGHUP: reload rules)")
    with_config("setup", "install the Elasticsearch index template (safe to run again)")
    with_config("check-config", "validate the config, its rules and connectors; exit 0 or 2")

    rules = sub.add_parser("rules", help="check and try classification rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    validate = rules_sub.add_parser("validate", help="report every problem in rule files")
    validate.add_argument("paths", nargs="+", help="rule files or folders")
    validate.add_argument("--pipeline", action="append", default=[], metavar="PIPELINE",
                          help="also fit the rules with this pySigma pipeline (repeatable)")
    test = rules_sub.add_parser("test", help="evaluate rules on JSONL events (as given)")
    test.add_argument("--rules", nargs="+", required=True, help="rule files or folders")
    test.add_argument("--events", required=True, help="JSONL file, one event a line")
    test.add_argument("--strict", action="store_true",
                      help="exit 2 when a rule cannot be loaded")
    test.add_argument("--explain", action="store_true",
                      help="show, per matching rule, which selections held on which fields")
    test.add_argument("--pipeline", action="append", default=[], metavar="PIPELINE",
                      help="fit the rules with this pySigma pipeline first (repeatable): "
                      "socd's own (windows, winlogbeat, zeek, suricata), an installed plugin's, "
                      "or a YAML file")

    normalize = sub.add_parser("normalize", help="run a connector offline: one ECS line out "
                               "per message in")
    normalize.add_argument("--connector", required=True,
                           help="a built-in connector name or a mapping file")
    normalize.add_argument("--events", required=True,
                           help="input file, one message a line; pretty-printed JSON and "
                           "Zeek TSV logs are framed")
    normalize.add_argument("--sensor", default="unknown",
                           help="observer name for events that carry none")
    normalize.add_argument("--timezone", default="Asia/Ho_Chi_Minh",
                           help="zone for timestamps without an offset")

    from socd import simulate

    sim = sub.add_parser("simulate", help="send realistic sensor traffic to Kafka")
    simulate.add_arguments(sim)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ConfigError, RuleError, ConnectorError) as exc:
        print(f"socd: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return EXIT_USAGE
    except SocdError as exc:
        print(f"socd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:  # `socd normalize ... | head`: the reader has enough
        sys.stderr.close()
        return EXIT_OK


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "rules":
        from socd.classify import tools

        if args.rules_command == "validate":
            return tools.validate(args.paths, pipelines=args.pipeline)
        return tools.test(args.rules, args.events, strict=args.strict, out=sys.stdout,
                          pipelines=args.pipeline,
                          explain=args.explain)
    if command == "normalize":
        return normalize(args.connector, args.events, sensor=args.sensor,
                         timezone=args.timezone, out=sys.stdout)
    if command == "simulate":
        from socd import simulate

        configure("info", "console")
        return asyncio.run(simulate.run(args))
    config = load_config(args.config)
    if command == "check-config":
        return check_config(config)
    configure(config.logging.level, config.logging.format)
    if command == "setup":
        return asyncio.run(_setup(config))
    if command == "run":
        from socd.app import Daemon

        return asyncio.run(Daemon(config).run())
    raise AssertionError(command)


def check_config(config: Config) -> int:
    """Beyond the file itself: every connector resolves and every rule loads."""
    from socd.classify import RuleSet
    from socd.normalize import build_normalizer

    problems: list[Problem] = []
    for item in config.inputs:
        try:
            build_normalizer(item.connector, sensor=item.sensor,
                             timezone=item.timezone or config.report.timezone)
        except ConnectorError as exc:
            problems.extend(exc.problems)
    _, rule_problems = RuleSet.load(config.rules.paths, strict=False,
                                    placeholders=config.rules.placeholders,
                                    pipelines=config.pipelines)
    problems.extend(rule_problems)
    if problems:
        raise ConfigError(problems)
    print(f"socd: configuration OK ({len(config.inputs)} input(s))")
    return EXIT_OK


async def _setup(config: Config) -> int:
    from socd.sinks.elasticsearch import ElasticsearchSink
    from socd.telemetry.metrics import Metrics

    sink = ElasticsearchSink(config.elasticsearch, Metrics())
    await sink.start()
    try:
        for line in await sink.setup():
            print(f"socd: {line}")
    finally:
        await sink.stop()
    return EXIT_OK


def normalize(connector: str, events: str, *, sensor: str, timezone: str,
              out: TextIO) -> int:
    from socd.normalize import build_normalizer, iter_messages

    normalizer = build_normalizer(connector, sensor=sensor, timezone=timezone)
    for number, raw in iter_messages(events, normalizer.format):
        try:
            doc = normalizer.normalize(raw)
        except InputError as exc:
            out.write(orjson.dumps({"line": number, "error": exc.detail,
                                    "reason": exc.reason}).decode() + "\n")
            continue
        out.write(orjson.dumps(doc).decode() + "\n")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
