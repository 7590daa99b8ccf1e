"""Everything checked before a server is touched: ``socd check-config``, and ``socd run``
before it starts.

:func:`check` reports every problem of a configuration in one run, each with its file, line
and key, sorted by file and line: the file (YAML syntax, repeated keys, values, topic names,
see :mod:`socd.config`), the environment overrides, each input's connector, the rule paths
and every rule (see :mod:`socd.classify`), the pipelines the inputs name, and whether any
rule was loaded at all. Checking goes on past a wrong key: an input whose own keys are valid
has its connector checked even when another section is wrong.

Warnings do not stop socd (exit status 0) but are printed by ``check-config`` and logged at
start-up (:func:`startup_warnings`):

* a rule that asks for its threats to be shared (``socd: share: true``) while layer-4
  sharing is off (no ``sharing`` section, or ``enabled: false``): nothing is shared;
* an input that no rule meets (its events are counted and dead-lettered when unusable, but
  none can become a threat). A warning, not an error: adding an input before its rules is a
  normal step (rules for more sensors come later, and a changed rule file is reloaded while
  socd runs), while a configuration that loads no rule at all is an error;
* sharing on with no ``sharing.redact.domains`` (the department's own names would be shared
  as indicators of attacks on its public servers);
* a ``suppress.by`` field (of an input, or of a rule's ``socd:`` section) that the
  connector of the input (of every input the rule meets) never writes: no threat would have
  it, so none would be suppressed;
* a topic name that mixes ``.`` and ``_`` (Kafka's own warning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from socd.classify import RuleSet
from socd.classify.model import RuleInfo
from socd.config import (
    Config,
    InputConfig,
    RawConfig,
    ReportConfig,
    RulesConfig,
    config_warnings,
    read_config,
    resolve_input,
    resolve_rules,
    validate_config,
)
from socd.errors import ConnectorError, Problem, in_order
from socd.normalize import build_normalizer


class Places(Protocol):
    """What places a problem on the key it is about (a :class:`~socd.config.Config` or its
    :class:`~socd.config.Origin`)."""

    def problem(self, loc: Sequence[str | int], message: str, *,
                warning: bool = False) -> Problem: ...


@dataclass(frozen=True, slots=True)
class Report:
    """What :func:`check` found."""

    config: Config | None
    """The validated configuration (None when the file itself is not valid)."""
    rules: RuleSet | None
    """The rules that loaded (None when the rule settings are not valid)."""
    problems: list[Problem]
    """Errors and warnings, sorted by file and line."""

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.warning]


InputSource = tuple[int, InputConfig, Mapping[str, str]]
"""An input's position in ``inputs``, its settings, and the logsource of its events."""


def check(path: str | Path, environ: Mapping[str, str] | None = None) -> Report:
    """Check the configuration at ``path`` (with the ``SOCD_*`` overrides of ``environ``),
    its connectors and its rules; every problem found, sorted by file and line."""
    raw = read_config(path, environ)
    config = validate_config(raw)
    problems = list(raw.problems)
    if raw.data is None:
        return Report(None, None, in_order(problems))
    parts = valid_parts(raw, config)
    origin = raw.origin
    sources = _connectors(parts, origin, problems)
    rules = _rules(parts, origin, problems)
    if rules is not None:
        if config is not None:
            sharing = config.sharing_active
        else:
            section = raw.data.get("sharing")
            sharing = isinstance(section, dict) and section.get("enabled", True) is not False
        problems.extend(rule_warnings(origin, rules, sources, sharing=sharing))
    return Report(config, rules, in_order(problems))


def rules_loaded(rules: RuleSet) -> int:
    """How many rules a set holds: its detection rules plus its correlation rules. What the
    ``socd_rules_loaded`` metric, the start-up and reload logs and ``check-config`` report."""
    return len(rules.rules) + len(rules.correlations)


def startup_warnings(config: Config, rules: RuleSet,
                     sources: Iterable[InputSource]) -> list[Problem]:
    """The warnings :func:`check` gives, for a configuration already loaded (``socd run``)."""
    return in_order([*config_warnings(config), *rule_warnings(
        config, rules, sources, sharing=config.sharing_active)])


def rule_warnings(places: Places, rules: RuleSet, sources: Iterable[InputSource], *,
                  sharing: bool) -> list[Problem]:
    """Inputs that no rule meets, and, while sharing is off (``sharing``), rules that ask
    for their threats to be shared."""
    warnings: list[Problem] = []
    for index, item, logsource in sources if rules_loaded(rules) else ():  # none: an error
        try:
            bound = rules.bind(logsource, pipelines=item.pipelines)
        except KeyError:  # its pipelines did not load: reported as an error
            continue
        if not bound.rules:
            shown = ", ".join(f"{k}: {v}" for k, v in sorted(logsource.items()))
            shown = f"logsource {{{shown}}}" if shown else "no logsource"
            key = "logsource" if item.logsource else "connector"
            warnings.append(places.problem(("inputs", index, key), (
                f"no rule meets this input's events ({shown}): they are counted, "
                "but none can become a threat; add rules for this logsource, or set the "
                "input's logsource to the one its rules name"), warning=True))
    if not sharing:
        warnings.extend(_share_warnings([*rules.rules, *rules.correlations]))
    if rules_loaded(rules):
        warnings.extend(_suppress_warnings(places, rules, sources))
    return warnings


PIPELINE_FIELDS = frozenset({"@timestamp", "event.ingested", "event.kind"})
"""Fields socd writes on every threat whatever the connector."""


def _unwritten(by: Sequence[str], fields: frozenset[str] | None) -> list[str]:
    """The ``by`` fields a connector writing ``fields`` never writes (none for a
    passthrough connector, ``fields`` None)."""
    if fields is None:
        return []
    return [name for name in by if name not in fields and name not in PIPELINE_FIELDS
            and not name.startswith("socd.")]


def _suppress_warnings(places: Places, rules: RuleSet,
                       sources: Iterable[InputSource]) -> list[Problem]:
    """A ``suppress.by`` field that the connector of the input (or of every input the
    rule meets) never writes: no threat would have it, so none would be suppressed."""
    warnings: list[Problem] = []
    written: dict[str, list[tuple[str, frozenset[str] | None]]] = {}
    """rule id → (input, fields its connector writes) of each input it meets"""
    for index, item, logsource in sources:
        try:
            fields = build_normalizer(item.connector, sensor=item.sensor, timezone="UTC",
                                      keep_original=False).fields
            bound = rules.bind(logsource, pipelines=item.pipelines)
        except (ConnectorError, KeyError):  # reported as errors
            continue
        for rule in bound.rules:
            written.setdefault(rule.id, []).append((item.label, fields))
        if item.suppress is not None and (missing := _unwritten(item.suppress.by, fields)):
            warnings.append(places.problem(("inputs", index, "suppress", "by"), (
                f"the {item.connector} connector never writes {', '.join(missing)}: no "
                "threat would have it, so none would be suppressed; name fields of the "
                "connector's mapping (connectors/README.md)"),
                warning=True))
    suppressing = [rule for rule in rules.rules if rule.suppress]
    lines: dict[tuple[str, str], int] = {}
    for source in dict.fromkeys(rule.source for rule in suppressing):
        lines.update(_socd_key_lines(source, "suppress"))
    for rule in suppressing:
        assert rule.suppress  # for mypy: not None, not False
        met = written.get(rule.id, [])
        unwritten = {name for _, fields in met for name in _unwritten(rule.suppress.by, fields)}
        if met and unwritten and all(_unwritten(rule.suppress.by, f) for _, f in met):
            shown = ", ".join(sorted(unwritten))
            inputs = ", ".join(label for label, _ in met)
            warnings.append(Problem(rule.source, (
                f"suppress.by names {shown}, which the connectors of the inputs this rule "
                f"meets ({inputs}) never write: no threat would have it, so none would be "
                "suppressed; name fields those connectors write (each connector's mapping "
                "in connectors/ lists them: connectors/README.md)"),
                line=lines.get((rule.source, rule.id)), key="socd.suppress", warning=True))
    return warnings


@dataclass(frozen=True, slots=True)
class Parts:
    """The parts of a configuration that are valid on their own, paths resolved: what
    ``check-config`` goes on checking (connectors, rules) when other keys are wrong."""

    inputs: list[tuple[int, InputConfig]]
    """Position in ``inputs`` and the input, for each valid input."""
    rules: RulesConfig | None
    timezone: str
    """``report.timezone``, or its default when it is not valid."""


def valid_parts(raw: RawConfig, config: Config | None) -> Parts:
    """The inputs and rule settings to check further (all of ``config`` when it is valid).

    When the configuration is not valid, each input and the rules section are taken with
    their wrong keys left out (a required key replaced by a neutral stand-in), so that the
    keys that are right are still checked: an input with a wrong topic still has its
    connector checked. Nothing but those checks reads the stand-ins.
    """
    if config is not None:
        return Parts(list(enumerate(config.inputs)), config.rules, config.report.timezone)
    data = raw.data or {}
    base = raw.origin.path.parent
    inputs: list[tuple[int, InputConfig]] = []
    items = data.get("inputs")
    for index, item in enumerate(items if isinstance(items, list) else []):
        found = _without_wrong_keys(InputConfig, item, _STAND_INS)
        if found is not None:
            inputs.append((index, resolve_input(found, base)))
    rules = _without_wrong_keys(RulesConfig, data.get("rules") or {}, {})
    report = _without_wrong_keys(ReportConfig, data.get("report") or {}, {})
    return Parts(inputs, resolve_rules(rules, base) if rules is not None else None,
                 (report or ReportConfig()).timezone)


_STAND_INS: Mapping[str, Any] = {"topic": "stand-in", "layer": 1, "sensor": "stand-in"}
"""Neutral values for an input's required keys that are wrong (never its connector: an
input whose connector is wrong has nothing left to check)."""


_M = TypeVar("_M", bound=BaseModel)


def _without_wrong_keys(model: type[_M], data: Any, stand_ins: Mapping[str, Any]) -> _M | None:
    """``model`` validated from ``data`` less its wrong keys (see :func:`valid_parts`)."""
    if not isinstance(data, dict):
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        wrong = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
    kept = {key: value for key, value in data.items() if key not in wrong}
    kept.update({key: stand_ins[key] for key in wrong if key in stand_ins})
    try:
        return model.model_validate(kept)
    except ValidationError:
        return None


def _connectors(parts: Parts, origin: Places, problems: list[Problem]) -> list[InputSource]:
    """Build each valid input's connector; its problems placed on the input's key when
    they are about the name, on the mapping file when they are inside it."""
    sources: list[InputSource] = []
    for index, item in parts.inputs:
        try:
            normalizer = build_normalizer(item.connector, sensor=item.sensor,
                                          timezone=item.timezone or parts.timezone,
                                          keep_original=item.keep_original)
        except ConnectorError as exc:
            loc = ("inputs", index, "connector")
            for problem in exc.problems:
                if problem.file is None:
                    problems.append(origin.problem(loc, problem.message))
                elif problem.file == item.connector and not Path(item.connector).is_file():
                    problems.append(origin.problem(
                        loc, f"mapping file {item.connector}: {problem.message}"))
                else:
                    problems.append(problem)
            continue
        logsource = ({str(k): v for k, v in item.logsource.items()} if item.logsource
                     else dict(normalizer.logsource))
        sources.append((index, item, logsource))
    return sources


def _rules(parts: Parts, origin: Places, problems: list[Problem]) -> RuleSet | None:
    """Load the rules as the daemon would (under each input's pipelines); a missing path,
    a pipeline that does not load and an empty rule set are placed on their key."""
    settings = parts.rules
    if settings is None:
        return None
    existing: list[Path] = []
    for position, path in enumerate(settings.paths):
        if path.exists():
            existing.append(path)
        else:
            problems.append(origin.problem(("rules", "paths", position), (
                f"{path}: no such file or folder: create it or correct the path (a relative "
                "path is relative to the config file's folder)")))
    variants = list(dict.fromkeys(tuple(item.pipelines) for _, item in parts.inputs)) or [()]
    rules, rule_problems = RuleSet.load(existing, strict=False,
                                        placeholders=settings.placeholders, pipelines=variants)
    named = {ref: ("inputs", index, "pipelines", position)
             for index, item in parts.inputs for position, ref in enumerate(item.pipelines)}
    for problem in rule_problems:
        loc = named.get(problem.file or "")
        if loc is not None and not Path(problem.file or "").is_file():
            problems.append(origin.problem(loc, problem.message))
        else:
            problems.append(problem)
    if existing and not rule_problems and not rules_loaded(rules):  # else they say why
        problems.append(origin.problem(("rules", "paths"), (
            f"no rule loaded from {', '.join(str(p) for p in existing)}: without rules no "
            "event can become a threat; put Sigma rule files (.yml, .yaml) there or correct "
            "rules.paths")))
    return rules


def _share_warnings(rules: Sequence[RuleInfo]) -> list[Problem]:
    """One warning per rule with ``socd: share: true``, on the line of ``share`` (for when
    sharing is off)."""
    sharing = [rule for rule in rules if rule.share]
    lines: dict[tuple[str, str], int] = {}
    for source in dict.fromkeys(rule.source for rule in sharing):
        lines.update(_socd_key_lines(source, "share"))
    return [Problem(rule.source, (
        "this rule asks for its threats to be shared with the national centre, but layer-4 "
        "sharing is off (no 'sharing' section in the configuration, or sharing.enabled is "
        "false): nothing is shared; configure sharing (README, 'Sharing with the national "
        "centre') or remove 'share'"),
        line=lines.get((rule.source, rule.id)), key="socd.share", warning=True)
        for rule in sharing]


def _socd_key_lines(source: str, name: str) -> dict[tuple[str, str], int]:
    """(file, rule id) → line of ``socd.<name>`` in each document of a rule file."""
    found: dict[tuple[str, str], int] = {}
    try:
        documents = list(yaml.compose_all(Path(source).read_text(encoding="utf-8"),
                                          Loader=yaml.CSafeLoader))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return found  # it loaded a moment ago; without lines the warning still stands
    for document in documents:
        if not isinstance(document, yaml.MappingNode):
            continue
        keys = {str(k.value): v for k, v in document.value if isinstance(k, yaml.ScalarNode)}
        ident, section = keys.get("id"), keys.get("socd")
        if not isinstance(ident, yaml.ScalarNode) or not isinstance(section, yaml.MappingNode):
            continue
        for key, _ in section.value:
            if isinstance(key, yaml.ScalarNode) and key.value == name:
                found[(source, str(ident.value))] = key.start_mark.line + 1
    return found
