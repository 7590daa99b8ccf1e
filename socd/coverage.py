"""``socd rules coverage``: what a rule set will do to each input's traffic, before deploying.

For every input of a configuration: the rules that can meet its events (bound exactly as the
daemon binds them: the input's logsource and pipelines), and, on a sample of that input's
messages (raw, as they arrive on its topic: one message a line, framed like
``socd normalize``), how many would be critical, high-risk, not a threat, or dead-lettered,
with the rules behind each class.

The sample goes through the input's connector and rules as in the daemon: correlation rules
count the sample's events in file order. Nothing is sent anywhere.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import orjson

from socd.classify import RuleSet
from socd.classify.model import RuleInfo
from socd.config import Config
from socd.errors import ConfigError, InputError, Problem
from socd.pipeline import InputRuntime, Pipeline

TOP = 5
"""Rules listed behind each class of a sample."""


@dataclass(slots=True)
class SampleCounts:
    """The effect of the rules on one sample file of one input."""

    file: str
    messages: int = 0
    critical: int = 0
    high_risk: int = 0
    not_threat: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    """Reason → messages the daemon would dead-letter."""
    rules: dict[str, Counter[str]] = field(
        default_factory=lambda: {"critical": Counter(), "high-risk": Counter()})
    """Class → classifying rule id → events it classified."""


@dataclass(slots=True)
class InputCoverage:
    """One input: the rules that can meet its events, and its samples' counts."""

    runtime: InputRuntime
    rules: tuple[RuleInfo, ...]
    correlations: tuple[RuleInfo, ...]
    samples: list[SampleCounts] = field(default_factory=list)

    def by_level(self) -> Counter[str]:
        return Counter(rule.level for rule in self.rules)


def parse_samples(pairs: Sequence[str], config: Config) -> dict[str, list[str]]:
    """``TOPIC=FILE`` arguments (an input's name may stand for its topic) → topic → files.

    Raises ConfigError naming the argument when it has no ``=`` or names no input.
    """
    names = {item.label: item.topic for item in config.inputs}
    topics = {item.topic for item in config.inputs}
    samples: dict[str, list[str]] = {}
    problems: list[Problem] = []
    for pair in pairs:
        key, equals, path = pair.partition("=")
        if not equals or not key or not path:
            problems.append(Problem("--sample", f"{pair!r} is not TOPIC=FILE", key=pair))
            continue
        topic = key if key in topics else names.get(key)
        if topic is None:
            known = ", ".join(sorted(topics)) or "none"
            problems.append(Problem("--sample", f"{key!r} is not an input's topic or name "
                                    f"(the inputs' topics: {known})", key=pair))
            continue
        samples.setdefault(topic, []).append(path)
    if problems:
        raise ConfigError(problems)
    return samples


def coverage(config: Config, rules: RuleSet, samples: Mapping[str, Sequence[str]], *,
             progress: TextIO | None = None) -> list[InputCoverage]:
    """Bind ``rules`` to every input of ``config`` and run each input's sample files.

    ``samples`` maps a topic to files of raw messages. ``progress``, when given (a terminal),
    gets a line that is rewritten as the samples are read. Raises ConfigError when a sample
    file cannot be read.
    """
    pipeline = Pipeline(config, rules)
    result = []
    for runtime in pipeline.inputs:
        bound = runtime.rules
        ids = {rule.id for rule in bound.rules}
        correlator = rules.correlator
        correlations = tuple(
            c.info for c in (correlator.correlations if correlator is not None else ())
            if ids.intersection(c.inputs))
        entry = InputCoverage(runtime, bound.rules, correlations)
        for path in samples.get(runtime.cfg.topic, ()):
            entry.samples.append(_run_sample(runtime, path, progress))
        result.append(entry)
    return result


def _run_sample(runtime: InputRuntime, path: str, progress: TextIO | None) -> SampleCounts:
    from socd.normalize import iter_messages

    counts = SampleCounts(path)
    normalizer, bound = runtime.normalizer, runtime.rules
    shown = time.monotonic()
    try:
        source = "/dev/stdin" if path == "-" else path
        for _, raw in iter_messages(source, normalizer.format):
            counts.messages += 1
            if progress is not None and counts.messages % 1000 == 0:
                now = time.monotonic()
                if now - shown >= 0.5:
                    shown = now
                    progress.write(f"\r  {runtime.cfg.label}: {path}: "
                                   f"{counts.messages:,} messages…")
                    progress.flush()
            try:
                doc = normalizer.normalize(raw)
            except InputError as exc:
                counts.dead_letters[exc.reason] += 1
                continue
            verdict = bound.classify(doc)
            if verdict is None:
                counts.not_threat += 1
                continue
            if verdict.threat_class == "critical":
                counts.critical += 1
            else:
                counts.high_risk += 1
            counts.rules[verdict.threat_class][verdict.rule.id] += 1
    except OSError as error:
        raise ConfigError([Problem(path, f"cannot read the sample: {error.strerror}",
                                   key="--sample")]) from None
    finally:
        if progress is not None:
            progress.write("\r\x1b[K")
            progress.flush()
    return counts


def write_text(result: Sequence[InputCoverage], out: TextIO, *, list_rules: bool) -> None:
    """The report for a person: per input, its rules by level and its samples' classes."""
    for entry in result:
        cfg = entry.runtime.cfg
        logsource = ", ".join(f"{k}={v}" for k, v in sorted(entry.runtime.logsource.items()))
        out.write(f"input {cfg.topic} (name {cfg.label}, connector {entry.runtime.connector}, "
                  f"layer {cfg.layer}, logsource {logsource or 'none'})\n")
        levels = entry.by_level()
        threats = levels["critical"] + levels["high"]
        if not entry.rules:
            out.write("  no rule can meet these events: none of them can become a threat\n")
        else:
            out.write(f"  rules that can meet it: {len(entry.rules)} (critical "
                      f"{levels['critical']}, high {levels['high']}, lower "
                      f"{len(entry.rules) - threats})"
                      + (f", correlations {len(entry.correlations)}"
                         if entry.correlations else "") + "\n")
            if not threats:
                out.write("  none of them is critical or high: no event can become a threat\n")
        if list_rules:
            for rule in sorted((*entry.rules, *entry.correlations),
                               key=lambda r: (_LEVEL_ORDER.get(r.level, 9), r.title)):
                out.write(f"    {rule.level:<13} {rule.title}  [{rule.id}] {rule.source}\n")
        titles = {rule.id: rule.title for rule in (*entry.rules, *entry.correlations)}
        for sample in entry.samples:
            dead = sum(sample.dead_letters.values())
            out.write(f"  sample {sample.file}: {sample.messages:,} messages → critical "
                      f"{sample.critical:,}, high-risk {sample.high_risk:,}, not a threat "
                      f"{sample.not_threat:,}, dead letters {dead:,}"
                      + (" (" + ", ".join(f"{reason} {count:,}" for reason, count
                                          in sample.dead_letters.most_common()) + ")"
                         if dead else "") + "\n")
            for threat_class in ("critical", "high-risk"):
                for rule_id, count in sample.rules[threat_class].most_common(TOP):
                    out.write(f"    {threat_class:<9} {count:>8,}  "
                              f"{titles.get(rule_id, rule_id)}  [{rule_id}]\n")


_LEVEL_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "informational": 4}


def as_json(result: Sequence[InputCoverage]) -> list[dict[str, Any]]:
    """The report for a machine: one object per input (see README, ``rules coverage``)."""
    inputs = []
    for entry in result:
        cfg = entry.runtime.cfg
        levels = entry.by_level()
        inputs.append({
            "topic": cfg.topic, "name": cfg.label, "connector": entry.runtime.connector,
            "layer": cfg.layer, "logsource": dict(entry.runtime.logsource),
            "rules": {"total": len(entry.rules),
                      **{level: levels[level] for level in _LEVEL_ORDER},
                      "correlations": len(entry.correlations),
                      "ids": [rule.id for rule in entry.rules]},
            "samples": [{
                "file": s.file, "messages": s.messages, "critical": s.critical,
                "high-risk": s.high_risk, "not_threat": s.not_threat,
                "dead_letters": dict(s.dead_letters),
                "top_rules": {c: [{"id": rule_id, "events": n}
                                  for rule_id, n in s.rules[c].most_common(TOP)]
                              for c in ("critical", "high-risk")},
            } for s in entry.samples],
        })
    return inputs


def run(config: Config, rules: RuleSet, sample_args: Sequence[str], *, fmt: str,
        list_rules: bool, out: TextIO) -> int:
    """The command, once the configuration and its rules are loaded: the report as text or
    JSON on ``out``; 0. Raises ConfigError for a sample argument that names no input or a
    sample file that cannot be read."""
    samples = parse_samples(sample_args, config)
    progress = sys.stderr if sys.stderr.isatty() else None
    result = coverage(config, rules, samples, progress=progress)
    if fmt == "json":
        out.write(orjson.dumps(as_json(result), option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        write_text(result, out, list_rules=list_rules)
    return 0
