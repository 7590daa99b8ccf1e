"""Reading rule files: the first two loading phases (read, then collect every problem).

Files are read as YAML and handed to pySigma (``SigmaCollection``, so a file of several
documents with ``action: global``/``repeat`` behaves as in pySigma); socd's own checks follow
(id, level, the ``socd:`` section). Every problem is recorded with the file, the line (worked
out from the YAML only when a problem needs it, see :mod:`socd.classify.locate`) and what to
change. Nothing here compiles.
"""

from __future__ import annotations

import re
import types
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml
from sigma import exceptions as sx
from sigma import types as st
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.filters import SigmaFilter
from sigma.modifiers import modifier_mapping
from sigma.rule import SigmaRule

from socd.classify.locate import LazyLines, Lines, locate, message_of
from socd.classify.model import LEVELS, RuleInfo, threat_class_of
from socd.classify.sigmaconf import POLICY
from socd.classify.toplevel import check_top_level
from socd.errors import Problem

if TYPE_CHECKING:
    from socd.state.suppress import Suppression

RULE_SUFFIXES = (".yml", ".yaml")
"""Files taken from a directory (searched recursively)."""

SOCD_KEYS = ("layer", "share", "suppress")
"""The keys allowed under a rule's ``socd:`` section."""



@dataclass(frozen=True, slots=True)
class LoadedRule:
    """A rule that parsed cleanly, waiting to be compiled."""

    info: RuleInfo
    sigma: SigmaRule | SigmaCorrelationRule
    """A detection rule, or a correlation rule (resolved later, see
    :mod:`socd.classify.correlations`)."""
    lines: Lines


@dataclass(frozen=True, slots=True)
class _Document:
    data: Any
    lines: Lines
    start: int


def rule_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Problem]]:
    """The rule files named by ``paths`` (directories searched recursively), sorted."""
    files: set[Path] = set()
    problems: list[Problem] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.update(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())
        elif path.is_file():
            files.add(path)
        else:
            problems.append(Problem(str(path), "no such file or directory: check the rule path"))
    return sorted(files, key=str), problems


def read_rules(files: Sequence[Path]) -> tuple[list[LoadedRule], list[Problem]]:
    """Parse every file; return the rules that parsed and every problem found."""
    rules: list[LoadedRule] = []
    problems: list[Problem] = []
    filters: list[SigmaFilter] = []
    for path in files:
        file_rules, file_filters, file_problems = _read_file(path)
        rules.extend(file_rules)
        filters.extend(file_filters)
        problems.extend(file_problems)
    if filters:
        for loaded in rules:
            if isinstance(loaded.sigma, SigmaCorrelationRule):
                continue
            for sigma_filter in filters:
                sigma_filter.apply_on_rule(loaded.sigma)
    return rules, problems


def _read_file(path: Path) -> tuple[list[LoadedRule], list[SigmaFilter], list[Problem]]:
    name = str(path)
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        return [], [], [Problem(name, f"not UTF-8 ({error.reason}): save the file as UTF-8")]
    except OSError as error:
        return [], [], [Problem(name, f"cannot read the file: {error.strerror}")]
    documents = _documents(name, text, problems)
    if problems:
        return [], [], problems
    mappings = [d for d in documents if isinstance(d.data, dict)]
    for document in documents:
        if document.data is not None and not isinstance(document.data, dict):
            problems.append(Problem(name, "a rule document must be a YAML mapping",
                                    line=document.start))
    if not mappings:
        return [], [], problems
    source = sx.SigmaRuleLocation(path)
    wrong: set[str] = set()
    try:
        if len(mappings) == 1 and not _COLLECTION_KEYS & mappings[0].data.keys():
            # a plain single rule: what SigmaCollection would do, without its extra passes;
            # socd's own checks of the top-level keys first, the wrong ones left out
            only = mappings[0]
            top, wrong = check_top_level(name, only.data, only.lines, only.start)
            problems.extend(top)
            data = {k: v for k, v in only.data.items() if k not in wrong}
            single = SigmaRule.from_dict(data, collect_errors=True, source=source,
                                         policy=POLICY)
            collection = SigmaCollection([single], errors=list(single.errors),
                                         collect_filters=True, resolve_references=False)
        else:
            collection = SigmaCollection.from_dicts(
                [d.data for d in mappings], collect_errors=True, source=source,
                collect_filters=True, resolve_references=False, policy=POLICY,
            )
    except sx.SigmaError as error:
        problems.append(Problem(name, f"cannot be read as a Sigma rule: {message_of(error)}",
                                line=mappings[0].start))
        return [], [], problems
    except Exception:  # pySigma trips over some malformed structures: say so in socd's words
        if not problems:
            problems.append(Problem(name, _UNREADABLE, line=mappings[0].start))
        return [], [], problems
    producers = [d for d in mappings if d.data.get("action") in (None, "repeat")]
    rule_docs = [d for d in producers if "filter" not in d.data]
    filter_docs = [d for d in producers if "filter" in d.data]
    rule_errors = {id(e) for r in collection.rules for e in r.errors}
    rule_errors |= {id(e) for f in collection.filters for e in f.errors}
    for collection_error in collection.errors:
        if id(collection_error) not in rule_errors:
            problems.append(Problem(name, message_of(collection_error), line=mappings[0].start))
    rules: list[LoadedRule] = []
    for position, rule in enumerate(collection.rules):
        rule_doc = rule_docs[position] if len(rule_docs) == len(collection.rules) else None
        loaded = _check_rule(name, rule, rule_doc, problems, wrong)
        if loaded is not None:
            rules.append(loaded)
    filters: list[SigmaFilter] = []
    for position, sigma_filter in enumerate(collection.filters):
        filter_doc = filter_docs[position] if len(filter_docs) == len(collection.filters) else None
        for filter_error in sigma_filter.errors:
            problems.append(_located(name, filter_error, filter_doc))
        if not sigma_filter.errors:
            filters.append(sigma_filter)
    return rules, filters, problems


_UNREADABLE = (
    "cannot be read as a Sigma rule: a key holds a value of the wrong kind; check each key "
    "against the Sigma specification (text for title, id, status and level, a list for tags, "
    "a mapping for logsource and detection, lists of text or mappings under detection)")
"""Said when pySigma fails with a Python error rather than one of its own."""

_COLLECTION_KEYS = frozenset(("action", "correlation", "filter"))
"""Keys that make a document more than a plain rule."""


class _Loader(yaml.CSafeLoader):
    """The YAML loader: records keys repeated in one mapping (with their lines)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.duplicates: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)]
        if len(set(keys)) != len(keys):
            seen: set[str] = set()
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.value in seen:
                        self.duplicates.append((key_node.start_mark.line + 1, key_node.value))
                    seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _documents(name: str, text: str, problems: list[Problem]) -> list[_Document]:
    """The YAML documents of a file; repeated keys and syntax errors become problems."""
    documents: list[_Document] = []
    loader = _Loader(text)
    position = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if loader.duplicates:
                for line, key in loader.duplicates:
                    problems.append(Problem(name, f"duplicate key '{key}': keep only one",
                                            line=line, key=key))
                loader.duplicates.clear()
            else:
                documents.append(
                    _Document(data, LazyLines(text, position), node.start_mark.line + 1))
            position += 1
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = mark.line + 1 if mark is not None else None
        what = " ".join(str(p) for p in (error.context, error.problem) if p)
        problems.append(Problem(name, f"invalid YAML: {what}", line=where))
    except yaml.YAMLError as error:
        problems.append(Problem(name, f"invalid YAML: {error}"))
    finally:
        loader.dispose()
    return documents


def _check_rule(
    name: str, rule: SigmaRule | SigmaCorrelationRule, document: _Document | None,
    problems: list[Problem], wrong: Collection[str] = (),
) -> LoadedRule | None:
    """Collect a rule's problems; the rule if it has none. ``wrong``: the top-level keys
    socd's own checks already reported (left out of what pySigma read), not reported again."""
    lines: Lines = document.lines if document is not None else {}
    start = document.start if document is not None else None
    found = [_located(name, error, document) for error in rule.errors
             if _top_key(error, document) not in wrong]
    reported = {type(error) for error in rule.errors}
    if rule.id is None and sx.SigmaIdentifierError not in reported and "id" not in wrong:
        found.append(Problem(name, "the rule has no id: add 'id:' with a new UUID",
                             line=start, key="id"))
    level = str(rule.level) if rule.level is not None else None
    if level is None and sx.SigmaLevelError not in reported and "level" not in wrong:
        found.append(Problem(
            name, f"the rule has no level: add 'level:' ({', '.join(LEVELS)})",
            line=start, key="level",
        ))
    layer, share, suppress = _socd_settings(name, rule.custom_attributes.get("socd"), lines,
                                            start, found)
    if (found or wrong) and isinstance(rule, SigmaRule) and "detection" not in wrong:
        # the rule will not be compiled, where its condition is checked: check it here, so
        # its problems come with the others
        found.extend(problem for problem in _condition_problems(name, rule, document)
                     if problem not in found)
    problems.extend(found)
    if found or level is None:
        return None
    logsource = {} if isinstance(rule, SigmaCorrelationRule) else {
        key: str(value).lower()
        for key, value in (
            ("product", rule.logsource.product),
            ("category", rule.logsource.category),
            ("service", rule.logsource.service),
        )
        if value is not None
    }
    info = RuleInfo(
        id=str(rule.id), title=rule.title, level=level, threat_class=threat_class_of(level),
        layer=layer, share=share, source=name, logsource=logsource, suppress=suppress,
    )
    return LoadedRule(info, rule, lines)


def _top_key(error: sx.SigmaError, document: _Document | None) -> str | None:
    """The top-level key a pySigma error is about (None when unknown)."""
    for kind, key in _TOP_KEY_OF_ERROR:
        if isinstance(error, kind):
            return key
    where = _located("", error, document).key
    return where.split(".")[0] if where else None


_TOP_KEY_OF_ERROR: tuple[tuple[type[sx.SigmaError], str], ...] = (
    (sx.SigmaDetectionError, "detection"), (sx.SigmaConditionError, "detection"),
    (sx.SigmaLogsourceError, "logsource"), (sx.SigmaIdentifierError, "id"),
    (sx.SigmaLevelError, "level"), (sx.SigmaStatusError, "status"),
    (sx.SigmaTitleError, "title"), (sx.SigmaTagError, "tags"),
)
"""pySigma errors about a key left out of what pySigma read (see :mod:`toplevel`)."""


def _condition_problems(name: str, rule: SigmaRule,
                        document: _Document | None) -> list[Problem]:
    """The problems of a rule's conditions (an undefined detection, bad syntax), as the
    compile phase would find them."""
    try:
        conditions = rule.detection.parsed_condition
    except Exception:  # no detection at all: reported already
        return []
    found: list[Problem] = []
    for condition in conditions:
        try:
            condition.parse()
        except sx.SigmaError as error:
            found.append(_located(name, error, document))
        except Exception:  # a condition pySigma cannot read: the compile phase reports it
            continue
    return found


def _socd_settings(
    name: str, section: Any, lines: Lines, start: int | None, found: list[Problem]
) -> tuple[int | None, bool | None, Suppression | Literal[False] | None]:
    """Validate the ``socd:`` section: ``layer`` 1..4, ``share`` true/false and ``suppress``
    (``{by: [fields…], for: DURATION}`` or false), nothing else."""
    if section is None:
        return None, None, None
    if not isinstance(section, dict):
        found.append(Problem(name, "'socd' must be a mapping with layer, share or suppress",
                             line=lines.get(("socd",), start), key="socd"))
        return None, None, None
    layer: int | None = None
    share: bool | None = None
    suppress: Suppression | Literal[False] | None = None
    for key, value in section.items():
        line = lines.get(("socd", str(key)), start)
        where = f"socd.{key}"
        if key == "layer":
            if type(value) is int and 1 <= value <= 4:
                layer = value
            else:
                found.append(Problem(name, f"layer must be an integer from 1 to 4, not {value!r}",
                                     line=line, key=where))
        elif key == "share":
            if type(value) is bool:
                share = value
            else:
                found.append(Problem(name, f"share must be true or false, not {value!r}",
                                     line=line, key=where))
        elif key == "suppress":
            from socd.state.suppress import parse_suppress  # it imports socd.classify

            try:
                suppress = parse_suppress(value)
            except ValueError as exc:
                found.append(Problem(name, str(exc), line=line, key=where))
        else:
            found.append(Problem(
                name, f"unknown key '{key}' under socd: the allowed keys are "
                f"{', '.join(SOCD_KEYS)}", line=line, key=where,
            ))
    return layer, share, suppress


def _located(name: str, error: sx.SigmaError, document: _Document | None) -> Problem:
    """A pySigma error as a problem, with the line of the key it is about where known."""
    return locate(name, _in_words(error), error, document.data if document else None,
                  document.lines if document else {}, document.start if document else None)


_INCOMPATIBLE = re.compile(r"Modifier (\w+) incompatible to value type of '(.*)'", re.DOTALL)
"""pySigma's message for a modifier given a value of a type it does not take."""

_MODIFIER_NAMES = {kind.__name__: name for name, kind in reversed(modifier_mapping.items())}
"""A modifier's class name → the name a rule writes (the first of its aliases)."""

_VALUE_WORDS: dict[type, str] = {
    st.SigmaString: "text", st.SigmaNumber: "a number", st.SigmaBool: "true or false",
    st.SigmaRegularExpression: "a regular expression (from 're')",
    st.SigmaFieldReference: "a field name (from 'fieldref')",
}


def _in_words(error: sx.SigmaError) -> str:
    """A pySigma error's message, in socd's words where pySigma names its own classes."""
    found = _INCOMPATIBLE.search(str(error.args[0]) if error.args else "")
    if not isinstance(error, sx.SigmaTypeError) or found is None:
        return message_of(error)
    name = _MODIFIER_NAMES.get(found[1], found[1])
    value = found[2]
    kind = modifier_mapping.get(name)
    takes = _takes(kind) if kind is not None else "another kind of value"
    fix = "change the value, or use another modifier"
    if "text" in takes and re.fullmatch(r"-?\d+(\.\d+)?", value):
        fix = f"write it in quotes ('{value}') to make it text"
    return f"the '{name}' modifier takes {takes}, not {value!r}: {fix}"


def _takes(kind: type) -> str:
    """What a modifier's ``modify`` takes, in words."""
    try:
        hint = get_type_hints(kind.modify).get("val")  # type: ignore[attr-defined]
    except Exception:  # a plugin's modifier with unresolvable hints
        return "another kind of value"
    options = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    words = [_VALUE_WORDS.get(option, getattr(option, "__name__", str(option)))
             for option in options]
    return " or ".join(dict.fromkeys(words))


