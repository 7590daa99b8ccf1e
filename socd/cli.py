"""The ``socd`` command.

Exit status: 0 success; 1 a runtime failure (a server unreachable, the daemon stopped on an
error); 2 bad usage, configuration or rules (what was wrong is printed, with file, line and
key). A mistake of the user (a missing or unreadable file, a folder given for a file, a bad
argument, a server that cannot be reached) is one clear line on stderr and an exit status,
never a Python traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TextIO

import orjson

from socd import __version__
from socd.config import Config, check_zone, load_config
from socd.errors import (
    ConfigError,
    ConnectorError,
    CredentialsRefused,
    InputError,
    Problem,
    RuleError,
    SinkError,
    SocdError,
    TlsRefused,
    UsageError,
    in_order,
)
from socd.telemetry.logging import configure

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
STDIN = "-"
"""The file name that means standard input (``--events -``)."""


def _zone(value: str) -> str:
    """An argparse type: an IANA time zone name."""
    try:
        return check_zone(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _text(value: str) -> str:
    """An argparse type: non-empty UTF-8 text."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError("is not UTF-8 text") from None
    return value


def _count(value: str) -> int:
    """An argparse type: a whole number, 0 or more."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative: give 0 or more")
    return number


def _day(value: str) -> date:
    """An argparse type: a calendar day, YYYY-MM-DD."""
    from socd.report.period import parse_day

    try:
        return parse_day(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
    setup = with_config("setup", "install the Elasticsearch index template and, with "
                        "--kibana or kibana.url, Kibana's saved objects (safe to run again)")
    setup.add_argument("--kibana", nargs="?", const="", default=None, metavar="URL",
                       help="also import the data view, saved searches and SOC overview "
                       "dashboard into the Kibana at URL (default: kibana.url)")
    with_config("check-config", "validate the config, its rules and connectors; exit 0 or 2")

    rules = sub.add_parser("rules", help="check and try classification rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    validate = rules_sub.add_parser("validate", help="report every problem in rule files")
    validate.add_argument("paths", nargs="+", help="rule files or folders")
    validate.add_argument("--pipeline", action="append", default=[], metavar="PIPELINE",
                          help="also fit the rules with this pySigma pipeline (repeatable)")
    test = rules_sub.add_parser("test", help="evaluate rules on JSONL events (as given)")
    test.add_argument("--rules", nargs="+", required=True, help="rule files or folders")
    test.add_argument("--events", required=True,
                      help="JSONL file, one event a line ('-': standard input)")
    test.add_argument("--strict", action="store_true",
                      help="exit 2 when a rule cannot be loaded")
    test.add_argument("--explain", action="store_true",
                      help="show, per matching rule, which selections held on which fields")
    test.add_argument("--pipeline", action="append", default=[], metavar="PIPELINE",
                      help="fit the rules with this pySigma pipeline first (repeatable): "
                      "socd's own (windows, winlogbeat, zeek, suricata), an installed plugin's, "
                      "or a YAML file")

    cover = rules_sub.add_parser(
        "coverage", help="per input: the rules that can meet it, and what they make of a "
        "sample of its traffic", description="Per input of CONFIG: the rules that can meet "
        "its events (bound as `socd run` binds them) and, on sample messages of that input "
        "(raw, one message a line, as they arrive on its topic), how many would be critical, "
        "high-risk, not a threat or dead-lettered, with the rules behind each class.")
    cover.add_argument("-c", "--config", required=True, type=Path, help="config file")
    cover.add_argument("--sample", action="append", default=[], metavar="TOPIC=FILE",
                       help="sample messages of the input reading TOPIC (or named TOPIC), "
                       "one a line ('-': standard input); repeatable")
    cover.add_argument("--format", choices=("text", "json"), default="text",
                       help="text for a person (default), json for a program")
    cover.add_argument("--list", action="store_true", dest="list_rules",
                       help="list every rule that can meet each input")

    normalize = sub.add_parser("normalize", help="run a connector offline: one ECS line out "
                               "per message in")
    normalize.add_argument("--connector", required=True,
                           help="a built-in connector name or a mapping file")
    normalize.add_argument("--events", required=True,
                           help="input file, one message a line ('-': standard input); "
                           "pretty-printed JSON and Zeek TSV logs are framed")
    normalize.add_argument("--sensor", default="unknown", type=_text,
                           help="observer name for events that carry none")
    normalize.add_argument("--timezone", default="Asia/Ho_Chi_Minh", type=_zone,
                           help="zone for timestamps without an offset (an IANA name)")

    letters = sub.add_parser("dead-letters", help="read the dead-letter topic and send "
                             "letters back to their topics")
    letters_sub = letters.add_subparsers(dest="letters_command", required=True,
                                         metavar="ACTION")
    show = letters_sub.add_parser(
        "list", help="counts by reason, connector and topic; the newest letters",
        description="Read dead_letter.topic to its end (as of the start) and print counts by "
        "reason, connector and original topic, and the newest letters with their reason, "
        "detail, origin (topic/partition/offset) and time.")
    show.add_argument("-c", "--config", required=True, type=Path, help="config file")
    show.add_argument("--limit", type=_count, default=10, help="newest letters shown (10)")
    show.add_argument("--format", choices=("text", "json"), default="text",
                      help="text for a person (default), json for a program")
    again = letters_sub.add_parser(
        "replay", help="send letters' original messages back to their topics",
        description="Send the original value, key and headers of the matching letters back "
        "to their original topic, marked socd.replayed. Failed replays are skipped unless "
        "--again; truncated letters cannot be replayed.")
    again.add_argument("-c", "--config", required=True, type=Path, help="config file")
    again.add_argument("--reason", action="append", default=[], type=_text,
                       help="only letters with this socd.reason (repeatable)")
    again.add_argument("--connector", action="append", default=[], type=_text,
                       help="only letters of this connector (repeatable)")
    again.add_argument("--since", type=_text, metavar="TIME",
                       help="only letters dead-lettered at or after TIME (ISO-8601; no "
                       "offset: UTC) or within a duration back from now (2h, 7d)")
    again.add_argument("--again", action="store_true",
                       help="also replay letters that are themselves failed replays")
    again.add_argument("--dry-run", action="store_true",
                       help="print what would be sent; send nothing")

    _alerts_parser(sub)
    period = with_config("report", "the period report of threats from Elasticsearch: both "
                         "dates inclusive, calendar days in report.timezone")
    period.add_argument("--from", dest="first", required=True, type=_day, metavar="DATE",
                        help="first day of the period (YYYY-MM-DD)")
    period.add_argument("--to", dest="last", required=True, type=_day, metavar="DATE",
                        help="last day of the period, included (YYYY-MM-DD)")
    period.add_argument("--lang", choices=("vi", "en"), default="vi",
                        help="language of text and markdown: vi (default) or en")
    period.add_argument("--format", choices=("text", "markdown", "json", "html"),
                        default="text", help="text (default), markdown, html (one page with "
                        "charts), or json for a program")

    from socd import simulate

    sim = sub.add_parser("simulate", help="send realistic sensor traffic to Kafka")
    simulate.add_arguments(sim)
    return parser


def _layer(value: str) -> int:
    """An argparse type: a layer of the 4-layer model, 1 to 4."""
    if value not in ("1", "2", "3", "4"):
        raise argparse.ArgumentTypeError(f"{value!r}: give 1, 2, 3 or 4")
    return int(value)


def _alerts_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from socd.alerts import CLASSES, REASONS, STATUSES

    alerts = sub.add_parser("alerts", help="list threats and record their handling "
                            "(acknowledged, closed with a reason)")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")

    def filters(command: argparse.ArgumentParser, limit: int) -> None:
        command.add_argument("-c", "--config", required=True, type=Path, help="config file")
        command.add_argument("--class", dest="classes", action="append", default=[],
                             choices=CLASSES, help="only threats of this class (repeatable)")
        command.add_argument("--status", action="append", default=[], choices=STATUSES,
                             help="only threats in this status (repeatable; a threat never "
                             "handled is open)")
        command.add_argument("--since", type=_text, metavar="TIME",
                             help="only threats at or after TIME (ISO-8601; no offset: UTC) "
                             "or within a duration back from now (2h, 7d)")
        command.add_argument("--layer", action="append", default=[], type=_layer,
                             help="only threats of this layer, 1-4 (repeatable)")
        command.add_argument("--query", type=_text, help="only threats matching this "
                             "Elasticsearch query string (source.ip:10.0.0.5 AND ...)")
        command.add_argument("--limit", type=_count, default=limit,
                             help=f"at most this many threats, newest first ({limit})")

    show = alerts_sub.add_parser("list", help="the newest threats matching the filters",
                                 description="The newest threats matching every filter "
                                 "given: a table on a terminal, JSON lines otherwise.")
    filters(show, 50)
    show.add_argument("--format", choices=("auto", "table", "json"), default="auto",
                      help="table, json (one object a line), or auto (default): table on "
                      "a terminal, json in a pipe")
    for name, text in (("ack", "acknowledge threats (open → acknowledged)"),
                       ("close", "close threats with a reason")):
        change = alerts_sub.add_parser(
            name, help=text, description=f"{text[0].upper()}{text[1:]}: the documents "
            "given by id, or the newest --limit threats matching the filters (without "
            "--status: those not yet in the target state); the count is printed first. "
            "Idempotent; a concurrent change is never overwritten.")
        change.add_argument("ids", nargs="*", metavar="ID", help="document ids (_id)")
        filters(change, 100)
        change.add_argument("--dry-run", action="store_true",
                            help="print the count and what would change; change nothing")
        change.add_argument("--by", type=_text, help="who handles them (default: the "
                            "login name)")
        change.add_argument("--comment", type=_text, help="a note kept on the document")
        if name == "close":
            change.add_argument("--reason", required=True, choices=REASONS,
                                help="why it is closed")
        else:
            change.add_argument("--reopen", action="store_true",
                                help="also acknowledge closed threats again (their reason "
                                "is removed)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except (ConfigError, RuleError, ConnectorError) as exc:
        report(exc.problems, sys.stderr)
        return EXIT_USAGE
    except UsageError as exc:
        print(f"socd: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SocdError as exc:
        print(f"socd: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_FAILED
    except BrokenPipeError:  # `socd normalize ... | head`: the reader has enough
        sys.stderr.close()
        return EXIT_OK
    except OSError as exc:  # a file named on the command line (simulate --output ...)
        print(f"socd: {_os_error(exc)}", file=sys.stderr)
        named = exc.filename is not None and isinstance(exc, _PATH_ERRORS)
        return EXIT_USAGE if named else EXIT_FAILED


_PATH_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)
"""Errors about a path the user gave: bad usage (exit 2), not a runtime failure."""


def _os_error(exc: OSError, what: str | None = None) -> str:
    """``exc`` as one line naming the file and what to do."""
    name = what or (str(exc.filename) if exc.filename is not None else None)
    if isinstance(exc, IsADirectoryError):
        reason = "this is a folder: give the path of a file"
    elif isinstance(exc, FileNotFoundError):
        reason = "no such file or folder: check the path"
    elif isinstance(exc, NotADirectoryError):
        reason = "a part of the path is a file, not a folder: check the path"
    elif isinstance(exc, PermissionError):
        reason = "permission denied: check the file's permissions"
    else:
        reason = exc.strerror or str(exc)
    return f"{name}: {reason}" if name else reason


def report(problems: Sequence[Problem], stream: TextIO) -> None:
    """Print problems sorted by file and line: one line for one problem, else a count and
    one indented line each."""
    ordered = in_order(problems)
    if len(ordered) == 1:
        print(f"socd: {ordered[0]}", file=stream)
        return
    errors = sum(1 for problem in ordered if not problem.warning)
    warnings = len(ordered) - errors
    counts = [f"{n} {word}{'s' if n != 1 else ''}"
              for n, word in ((errors, "problem"), (warnings, "warning")) if n]
    print(f"socd: {' and '.join(counts)}:", file=stream)
    for problem in ordered:
        print(f"  {problem}", file=stream)


def _dispatch(args: argparse.Namespace) -> int:
    command: str = args.command
    if command == "rules":
        from socd.classify import tools

        if args.rules_command == "validate":
            return tools.validate(args.paths, pipelines=args.pipeline)
        if args.rules_command == "coverage":
            return _coverage(args)
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
    if command == "check-config":
        return check_config(args.config)
    if command == "setup":
        config = load_config(args.config)
        if args.kibana is not None or config.kibana.url is not None:
            from socd.sinks.kibana.client import kibana_url

            kibana_url(config.kibana, args.kibana)  # a bad URL stops before Elasticsearch
        configure(config.logging.level, config.logging.format)
        return asyncio.run(_setup(config, args.kibana))
    if command == "run":
        return _run(args.config)
    if command == "dead-letters":
        return _dead_letters(args)
    if command == "alerts":
        return _alerts(args)
    if command == "report":
        return _report(args)
    raise AssertionError(command)


def _dead_letters(args: argparse.Namespace) -> int:
    """``socd dead-letters list|replay`` (see :mod:`socd.deadletters`)."""
    import logging

    from socd import deadletters

    config = load_config(args.config)
    # Failures reach the user as one line of socd's (below); aiokafka's own log would repeat
    # them as library text.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    if args.letters_command == "list":
        return asyncio.run(deadletters.list_letters(config, limit=args.limit, fmt=args.format,
                                                    out=sys.stdout))
    since = deadletters.parse_since(args.since) if args.since else None
    filters = deadletters.Filters(frozenset(args.reason), frozenset(args.connector), since)
    return asyncio.run(deadletters.replay(config, filters, again=args.again,
                                          dry_run=args.dry_run, out=sys.stdout))


def _alerts(args: argparse.Namespace) -> int:
    """``socd alerts list|ack|close`` (see :mod:`socd.alerts`)."""
    import logging

    from socd import alerts
    from socd.deadletters import parse_since

    config = load_config(args.config)
    # Failures reach the user as one line of socd's; the client's own log would repeat them.
    logging.getLogger("elastic_transport").setLevel(logging.CRITICAL)
    selection = alerts.Selection(tuple(dict.fromkeys(args.classes)),
                                 tuple(dict.fromkeys(args.status)),
                                 parse_since(args.since) if args.since else None,
                                 tuple(dict.fromkeys(args.layer)), args.query)
    if args.alerts_command == "list":
        fmt = args.format
        if fmt == "auto":
            fmt = "table" if sys.stdout.isatty() else "json"
        return asyncio.run(alerts.list_threats(config, selection, limit=args.limit, fmt=fmt,
                                               out=sys.stdout))
    change = alerts.Change(args.alerts_command, by=args.by or alerts.login_name(),
                           at=alerts.now_utc(), comment=args.comment,
                           reason=getattr(args, "reason", None),
                           reopen=getattr(args, "reopen", False))
    return asyncio.run(alerts.handle(config, change, ids=args.ids, selection=selection,
                                     limit=args.limit, dry_run=args.dry_run, out=sys.stdout,
                                     err=sys.stderr))

def _report(args: argparse.Namespace) -> int:
    """``socd report`` (see :mod:`socd.report`): --to before --from is bad usage (exit 2);
    Elasticsearch unreachable or refusing is a runtime failure (exit 1)."""
    from socd.report.period import Period
    from socd.report.query import fetch_report
    from socd.report.render import render

    try:
        period = Period(args.first, args.last)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    config = load_config(args.config)
    found = asyncio.run(fetch_report(config.elasticsearch, config.report.timezone, period))
    sys.stdout.write(render(found, args.format, args.lang))
    return EXIT_OK


def check_config(path: Path, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``socd check-config``: every problem and warning of the file, its connectors and its
    rules (see :mod:`socd.check`); 0 when there is no error (warnings are printed), else 2."""
    from socd.check import check, rules_loaded

    out = out or sys.stdout
    err = err or sys.stderr
    found = check(path)
    if found.problems:
        report(found.problems, err)
    if found.errors or found.config is None:
        return EXIT_USAGE
    rules = found.rules
    total = rules_loaded(rules) if rules is not None else 0
    correlations = len(rules.correlations) if rules is not None else 0
    inputs = len(found.config.inputs)
    print(f"socd: configuration OK: {inputs} input{'s' if inputs != 1 else ''}, {total} "
          f"rule{'s' if total != 1 else ''} loaded ({correlations} correlation"
          f"{'s' if correlations != 1 else ''})", file=out)
    return EXIT_OK


def _run(path: Path) -> int:
    """``socd run``: the checks of ``check-config`` first (errors stop it; warnings are
    logged at start-up), then the daemon with the rules they loaded."""
    from socd.app import Daemon
    from socd.check import check

    found = check(path)
    if found.errors or found.config is None:
        if _log_format(path) == "console":
            raise ConfigError(found.problems)
        return _log_problems(found.problems)
    config = found.config
    configure(config.logging.level, config.logging.format)
    return asyncio.run(Daemon(config, rules=found.rules).run())


def _log_format(path: Path) -> str:
    """``logging.format`` as far as the file (and ``SOCD_*`` overrides) can be read; ``json``
    (the default) when it cannot be read or does not say ``console``."""
    from socd.config import read_config

    data = read_config(path).data
    section = data.get("logging") if isinstance(data, dict) else None
    fmt = section.get("format") if isinstance(section, dict) else None
    return "console" if fmt == "console" else "json"


def _log_problems(problems: Sequence[Problem]) -> int:
    """``socd run``'s configuration problems as JSON log lines, so that a journal read with
    ``jq`` shows them: one ``config_problem`` line each (``file``, ``line``, ``key``,
    ``message``; level ``error`` or ``warning``), then one ``fatal`` line. Returns 2."""
    from socd.telemetry.logging import get_logger

    configure("info", "json")
    log = get_logger("socd.cli")
    ordered = in_order(problems)
    for problem in ordered:
        emit = log.warning if problem.warning else log.error
        emit("config_problem", file=problem.file, line=problem.line, key=problem.key,
             message=problem.message)
    errors = sum(1 for problem in ordered if not problem.warning)
    log.error("fatal", error_type="ConfigError",
              error=f"{errors} problem{'s' if errors != 1 else ''} in the configuration: "
              f"fix {'them' if errors != 1 else 'it'} (socd check-config -c FILE lists "
              "the problems as text) and start again")
    return EXIT_USAGE


def _coverage(args: argparse.Namespace) -> int:
    """``socd rules coverage``: the checks of ``check-config`` first (errors stop it,
    warnings are printed), then the report (:mod:`socd.coverage`)."""
    from socd import coverage
    from socd.check import check

    found = check(args.config)
    if found.errors or found.config is None or found.rules is None:
        raise ConfigError(found.problems)
    for files in coverage.parse_samples(args.sample, found.config).values():
        for name in files:
            if name != STDIN:
                _readable(name, "--sample")
    if found.problems:  # warnings only
        report(found.problems, sys.stderr)
    return coverage.run(found.config, found.rules, args.sample, fmt=args.format,
                        list_rules=args.list_rules, out=sys.stdout)


async def _setup(config: Config, kibana: str | None = None) -> int:
    """The index template (and lifecycle policy); then, when ``kibana`` is given (``""``:
    ``kibana.url``) or ``kibana.url`` is set, Kibana's saved objects."""
    from socd.sinks.elasticsearch import ElasticsearchSink
    from socd.sinks.elasticsearch.client import shown_hosts
    from socd.telemetry.metrics import Metrics

    sink = ElasticsearchSink(config.elasticsearch, Metrics())
    try:
        await sink.start()
        try:
            await sink.check_health()  # a certificate not trusted: told with its setting
            for line in await sink.setup():
                print(f"socd: {line}")
        finally:
            await sink.stop()
    except (CredentialsRefused, TlsRefused):
        raise  # its message names the settings to correct
    except SinkError as exc:
        hosts = shown_hosts(config.elasticsearch)
        detail = str(exc).removeprefix("Elasticsearch setup failed: ")
        raise SinkError(f"setup failed at {hosts}: {detail}: check elasticsearch.hosts, the "
                        "credentials, and that the cluster is running") from exc
    if kibana is not None or config.kibana.url is not None:
        from socd.sinks.kibana import import_saved_objects

        for line in await import_saved_objects(config.kibana, config.elasticsearch.index_prefix,
                                               kibana or None):
            print(f"socd: {line}")
    return EXIT_OK


def normalize(connector: str, events: str, *, sensor: str, timezone: str,
              out: TextIO) -> int:
    """``socd normalize``: one ECS JSON line per message of ``events`` (``-``: standard
    input), or ``{"line": N, "error": ..., "reason": ...}`` for one the connector refuses."""
    from socd.normalize import build_normalizer, iter_messages

    try:
        normalizer = build_normalizer(connector, sensor=sensor, timezone=timezone)
    except ConnectorError as exc:
        unplaced = [p for p in exc.problems if p.file is None]
        if unplaced:  # about the name itself: say which option it came from
            raise UsageError(f"--connector: {unplaced[0].message}") from None
        raise
    source = "/dev/stdin" if events == STDIN else events
    if events != STDIN:
        _readable(events, "--events")
    for number, raw in iter_messages(source, normalizer.format):
        try:
            doc = normalizer.normalize(raw)
        except InputError as exc:
            out.write(orjson.dumps({"line": number, "error": exc.detail,
                                    "reason": exc.reason}).decode() + "\n")
            continue
        out.write(orjson.dumps(doc).decode() + "\n")
    return EXIT_OK


def _readable(name: str, option: str) -> None:
    """UsageError unless ``name`` is a file that can be opened for reading."""
    try:
        with open(name, "rb"):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {_os_error(exc, name)}") from None


if __name__ == "__main__":
    sys.exit(main())
