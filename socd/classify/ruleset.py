"""The loaded rule set: load (read → collect every problem → compile), bind, match, classify."""

from __future__ import annotations

import copy
import gc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma import exceptions as sx
from sigma.correlations import SigmaCorrelationRule
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

from socd.classify.clauses import Requirements
from socd.classify.compile import LocatedCompileError, Predicate, Terms, compile_rule
from socd.classify.correlate import MAX_GROUPS, Correlation, Correlator, Inputs
from socd.classify.correlations import resolve_correlations
from socd.classify.fields import MEMO
from socd.classify.index import PartitionedIndex, RuleIndex
from socd.classify.load import LoadedRule, read_rules, rule_files
from socd.classify.locate import detection_key, locate, message_of
from socd.classify.model import LEVEL_RANK, RuleInfo, Verdict
from socd.classify.pipelines import handled_keys, load_pipeline
from socd.classify.plan import LIMIT as PLAN_LIMIT
from socd.classify.plan import Plan
from socd.classify.values import Placeholders
from socd.errors import Problem, RuleError

SMALL_SET = 4
"""Up to this many rules, evaluating each is cheaper than consulting the index."""

_VERDICTS = 4096
"""Verdicts kept for reuse (one per set of matching rules seen); the store empties when full."""

LOGSOURCE_KEYS = ("product", "category", "service")
"""The logsource keys that decide whether a rule meets an input's events."""

GENERIC_LOGSOURCE: Mapping[str, str] = {"product": "ecs"}
"""The logsource of the generic policy: rules that name exactly this meet an input of this
logsource and, besides, every input that no other rule meets (an ``ecs`` input without a
logsource, a mapping file of a product no rule names)."""


@dataclass(frozen=True, slots=True)
class Deferred:
    """An event that feeds correlation rules, matched but not yet counted
    (:meth:`BoundRules.triage`): its verdict waits for the correlations' answer, which the
    store of the windows gives (:mod:`socd.state.windows`); then :meth:`BoundRules.decide`."""

    rules: BoundRules
    matched: tuple[int, ...]
    """Positions of the rules the event matched."""
    inputs: Inputs
    """Where it counts (:meth:`~socd.classify.correlate.Correlator.inputs_of`)."""
    verdict: Verdict | None
    """Its verdict should no correlation fire on it."""

    @property
    def correlator(self) -> Correlator:
        """The correlator whose windows it counts in."""
        correlator = self.rules._correlator
        assert correlator is not None
        return correlator


class BoundRules:
    """The rules one input's events can meet, indexed; ``classify`` is the per-event hot path.

    Events that match a rule some correlation counts also feed the rule set's
    :class:`~socd.classify.correlate.Correlator` (shared by every binding); a correlation that
    fires on an event and outranks the event's own rules decides its verdict.
    """

    __slots__ = ("_candidates", "_correlator", "_feeds", "_matching", "_predicates", "_severity",
                 "_verdicts", "index", "plan", "rules")

    def __init__(
        self, rules: Sequence[RuleInfo], predicates: Sequence[Predicate],
        requirements: Sequence[Requirements], *, indexed: bool | None = None,
        correlator: Correlator | None = None, terms: Sequence[Terms | None] | None = None,
        exact: Sequence[bool] = (),
    ) -> None:
        self.rules: tuple[RuleInfo, ...] = tuple(rules)
        self._predicates = tuple(predicates)
        self._severity = tuple(LEVEL_RANK[rule.level] for rule in self.rules)
        self.plan: Plan | None = None
        """The matcher of a small set (None: the index, or every predicate, is used)."""
        if indexed is None and terms is not None and len(self.rules) <= PLAN_LIMIT:
            self.plan = Plan(terms, self._predicates)
        elif indexed is None:
            indexed = len(self.rules) > SMALL_SET
        self.index: RuleIndex | PartitionedIndex | None = None
        if indexed:
            self.index = PartitionedIndex.build(requirements) or RuleIndex(requirements)
        """The index narrowing the rules an event meets (None: every rule is evaluated)."""
        if self.index is not None:
            self._candidates = self.index.candidates
            if any(exact):  # the index alone decides these: a candidate is a match
                self._predicates = tuple(_decided if decided else predicate
                                         for predicate, decided in zip(
                                             self._predicates, exact, strict=True))
        else:
            everything = list(range(len(self.rules)))
            self._candidates = lambda event: everything
        self._matching: Callable[[Mapping[str, Any]], list[int]] = (
            self.plan.matching if self.plan is not None else self._evaluate)
        feeds = frozenset(i for i, rule in enumerate(self.rules)
                          if correlator is not None and rule.id in correlator.feeds)
        self._correlator = correlator if feeds else None
        self._feeds = feeds
        self._verdicts: dict[tuple[int, ...], tuple[Verdict | None, Inputs | None]] = {}
        """Per set of matching rules: its verdict, and where its events count for the
        correlations (None: nowhere)."""

    def matching(self, event: Mapping[str, Any]) -> list[int]:
        """Positions (load order) of the rules that match ``event``."""
        return self._matching(event)

    def _evaluate(self, event: Mapping[str, Any]) -> list[int]:
        predicates = self._predicates
        memo = MEMO
        memo.event = event
        memo.fields = {}
        memo.texts = None
        try:
            return [i for i in self._candidates(event) if predicates[i](event)]
        finally:
            memo.event = memo.texts = None

    def match(self, event: Mapping[str, Any]) -> list[RuleInfo]:
        """The rules that match ``event``, in load order (correlations are not consulted)."""
        rules = self.rules
        return [rules[i] for i in self._matching(event)]

    def classify(self, event: Mapping[str, Any]) -> Verdict | None:
        """The verdict for ``event``, or None when no matching rule is high or critical.

        Counts the event for the correlations that name a rule it matches (see
        :mod:`socd.classify.correlate`): call it once per event, in the order events arrive.
        """
        matched = self._matching(event)
        if not matched:
            return None
        key = tuple(matched)
        known = self._verdicts.get(key)
        if known is None:
            known = self._known(key)
        verdict, inputs = known
        if inputs is not None:
            fired = self._correlator.count(event, inputs)  # type: ignore[union-attr]
            if fired:
                winner, ids = self._upgraded(matched, fired)
                return Verdict(winner.threat_class, winner, ids) if winner.threat_class else None
        return verdict

    def triage(self, event: Mapping[str, Any]) -> Verdict | Deferred | None:
        """:meth:`classify` without counting: an event that feeds a correlation comes back
        :class:`Deferred`, for a store of the windows to count (see
        :mod:`socd.state.windows`); the others get their verdict, as from ``classify``."""
        matched = self._matching(event)
        if not matched:
            return None
        key = tuple(matched)
        known = self._verdicts.get(key)
        if known is None:
            known = self._known(key)
        verdict, inputs = known
        if inputs is not None:
            return Deferred(self, key, inputs, verdict)
        return verdict

    def decide(self, deferred: Deferred, fired: Sequence[Correlation]) -> Verdict | None:
        """The verdict of a :class:`Deferred` event, given the correlations that fired on it
        (as :meth:`classify` would have given it)."""
        if not fired:
            return deferred.verdict
        winner, ids = self._upgraded(list(deferred.matched), list(fired))
        return Verdict(winner.threat_class, winner, ids) if winner.threat_class else None

    def _known(self, key: tuple[int, ...]) -> tuple[Verdict | None, Inputs | None]:
        """The verdict and correlation inputs of a set of matching rules, worked out once
        (verdicts are immutable); the store empties when full."""
        severity, rules = self._severity, self.rules
        ranked = sorted(key, key=lambda i: -severity[i])  # stable: load order in a level
        winner = rules[ranked[0]]
        verdict = None
        if winner.threat_class is not None:
            verdict = Verdict(winner.threat_class, winner, tuple([rules[i].id for i in ranked]))
        inputs = None
        if self._correlator is not None and not self._feeds.isdisjoint(key):
            inputs = self._correlator.inputs_of([rules[i].id for i in ranked])
        verdicts = self._verdicts
        if len(verdicts) >= _VERDICTS:
            verdicts.clear()
        known = verdicts[key] = (verdict, inputs)
        return known

    def assess(self, event: Mapping[str, Any]) -> tuple[Verdict | None, tuple[str, ...]]:
        """:meth:`classify`, and every matching rule and fired correlation, most severe first."""
        matched = self._matching(event)
        if not matched:
            return None, ()
        known = self._verdicts.get(tuple(matched)) or self._known(tuple(matched))
        fired: list[Correlation] = []
        if known[1] is not None:
            fired = self._correlator.count(event, known[1])  # type: ignore[union-attr]
        winner, ids = self._upgraded(matched, fired)
        if winner.threat_class is None:
            return None, ids
        return Verdict(winner.threat_class, winner, ids), ids

    def _upgraded(
        self, matched: list[int], fired: list[Correlation]
    ) -> tuple[RuleInfo, tuple[str, ...]]:
        """The winner and the ids, fired correlations placed in severity order."""
        rules, severity = self.rules, self._severity
        matched = sorted(matched, key=lambda i: -severity[i])  # stable: load order in a level
        infos = [rules[i] for i in matched]
        ranks = [severity[i] for i in matched]
        for correlation in fired:
            rank = LEVEL_RANK[correlation.info.level]
            at = next((k for k, r in enumerate(ranks) if r < rank), len(ranks))
            infos.insert(at, correlation.info)
            ranks.insert(at, rank)
        return infos[0], tuple(info.id for info in infos)


Pipelines = tuple[str, ...]
"""The processing pipelines rules are fitted with (names or paths; () for none)."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    """The detection rules compiled under one set of pipelines, in load order."""

    rules: tuple[RuleInfo, ...]
    predicates: tuple[Predicate, ...]
    requirements: tuple[Requirements, ...]
    terms: tuple[Terms | None, ...]
    logsources: tuple[Mapping[str, str], ...]
    """What decides which inputs each rule meets: its logsource as the pipelines left it
    (``change_logsource`` retargets it), less the keys they turned into conditions."""
    exact: tuple[bool, ...]
    """Per rule, whether its clause holding is its detection matching."""


def _decided(event: Mapping[str, Any]) -> bool:
    """The predicate of a rule the index decides alone (see ``Compiled.exact``)."""
    return True


class RuleSet:
    """Every loaded rule, in load order (sorted file path, then position in the file).

    ``rules`` are the detection rules; ``correlations`` the correlation rules, whose state
    lives in ``correlator`` (shared by every binding of this set). The detection rules are
    compiled once for each set of pipelines an input uses (see :meth:`load`).
    """

    __slots__ = ("_bound", "_compiled", "correlator", "rules")

    def __init__(
        self, compiled: Mapping[Pipelines, _Compiled], correlations: Sequence[Correlation] = (),
        *, max_groups: int = MAX_GROUPS,
    ) -> None:
        self._compiled = dict(compiled)
        first = next(iter(self._compiled.values()), None)
        self.rules: tuple[RuleInfo, ...] = first.rules if first is not None else ()
        self._bound: dict[tuple[Pipelines, tuple[tuple[str, str], ...] | None], BoundRules] = {}
        self.correlator: Correlator | None = (
            Correlator(correlations, max_groups=max_groups) if correlations else None)

    @property
    def correlations(self) -> tuple[RuleInfo, ...]:
        """The correlation rules that loaded, in load order."""
        if self.correlator is None:
            return ()
        return tuple(c.info for c in self.correlator.correlations)

    @property
    def pipelines(self) -> tuple[Pipelines, ...]:
        """The sets of pipelines the rules were compiled under."""
        return tuple(self._compiled)

    def keep_state(self, previous: RuleSet) -> int:
        """Take over the correlation state of the set this one replaces (on a reload).

        Correlation rules defined exactly as before keep their windows; the others start
        empty. Returns how many kept their state.
        """
        if self.correlator is None or previous.correlator is None:
            return 0
        return self.correlator.adopt(previous.correlator)

    @classmethod
    def load(
        cls, paths: Sequence[str | Path], *, strict: bool = True,
        placeholders: Placeholders | None = None, max_groups: int = MAX_GROUPS,
        pipelines: Sequence[Sequence[str]] = ((),),
    ) -> tuple[RuleSet, list[Problem]]:
        """Load rule files and directories (searched recursively for .yml/.yaml).

        Every problem is collected before anything is compiled. ``strict`` raises
        :class:`socd.errors.RuleError` carrying all of them; otherwise the rules that loaded
        are returned with the problems. ``placeholders`` gives the values of ``|expand``
        placeholders. ``max_groups`` bounds the groups each correlation rule keeps.
        ``pipelines`` lists the sets of processing pipelines the rules are compiled under
        (one per distinct ``inputs[].pipelines``; ``()`` is none; see
        :mod:`socd.classify.pipelines`).
        """
        if isinstance(paths, (str, Path)):
            paths = [paths]
        variants = list(dict.fromkeys(tuple(p) for p in pipelines)) or [()]
        variants.sort(key=len)  # unfitted first: fitting changes the rules in place
        collecting = gc.isenabled()
        gc.disable()  # loading allocates many long-lived objects: collecting meanwhile is waste
        try:
            return cls._load(paths, strict, placeholders or {}, max_groups, variants)
        finally:
            if collecting:
                gc.enable()

    @classmethod
    def _load(
        cls, paths: Sequence[str | Path], strict: bool, placeholders: Placeholders,
        max_groups: int, variants: list[Pipelines],
    ) -> tuple[RuleSet, list[Problem]]:
        files, problems = rule_files(paths)
        loaded, read_problems = read_rules(files)
        problems.extend(read_problems)
        unique = _drop_duplicate_ids(loaded, problems)
        detections = [r for r in unique if not isinstance(r.sigma, SigmaCorrelationRule)]
        linked = [r for r in unique if isinstance(r.sigma, SigmaCorrelationRule)]
        fitted: list[tuple[Pipelines, ProcessingPipeline | None]] = []
        for variant in variants:
            pipeline, pipeline_problems = load_pipeline(variant)
            problems.extend(pipeline_problems)
            if not pipeline_problems:
                fitted.append((variant, pipeline))
        compiled: dict[Pipelines, _Compiled] = {}
        names: dict[str, str] = {}
        last_fitting = max((i for i, (_, p) in enumerate(fitted) if p is not None), default=-1)
        for position, (variant, pipeline) in enumerate(fitted):
            in_place = position == last_fitting  # earlier fittings work on copies
            compiled[variant] = _compile_all(detections, placeholders, pipeline, variant,
                                             in_place, problems)
        first = next(iter(compiled.values()), None)
        compiled_ids = {info.id for info in first.rules} if first is not None else set()
        for rule in detections:  # what correlations may name: the rules that compiled
            if rule.info.id in compiled_ids:
                names[rule.info.id] = rule.info.id
                if rule.sigma.name:
                    names.setdefault(str(rule.sigma.name), rule.info.id)
        correlations = resolve_correlations(linked, names, problems) if linked else []
        problems.sort(key=lambda p: (p.file or "", p.line or 0))
        if strict and problems:
            raise RuleError(problems)
        return cls(compiled, correlations, max_groups=max_groups), problems

    def bind(
        self, logsource: Mapping[str, str] | None, *, indexed: bool | None = None,
        pipelines: Sequence[str] = (),
    ) -> BoundRules:
        """The rules that meet events of an input with this logsource (None: every rule),
        fitted with ``pipelines`` (one of the sets given to :meth:`load`).

        A rule meets the input when every logsource key it names (less those its pipelines
        turned into conditions) equals the input's. When only rules of
        :data:`GENERIC_LOGSOURCE` (or none) meet it, every such rule does: the generic policy
        applies where no other policy does. ``indexed`` chooses whether an event
        meets only its candidate rules (True: through the index) or every rule (False; for
        checking the index). By default a small set is matched with a
        :class:`~socd.classify.plan.Plan` and a larger one with the index.
        """
        variant = tuple(pipelines)
        if variant not in self._compiled:
            raise KeyError(f"the rules were not loaded with pipelines {list(variant)}")
        key = None if logsource is None else tuple(sorted(
            (k, str(v).lower()) for k, v in logsource.items() if k in LOGSOURCE_KEYS))
        if indexed is not None:
            return self._bind(variant, key, indexed)
        bound = self._bound.get((variant, key))
        if bound is None:
            bound = self._bound[(variant, key)] = self._bind(variant, key, None)
        return bound

    def _bind(
        self, variant: Pipelines, key: tuple[tuple[str, str], ...] | None,
        indexed: bool | None,
    ) -> BoundRules:
        compiled = self._compiled[variant]
        wanted = dict(key) if key is not None else None
        chosen = [
            i for i, logsource in enumerate(compiled.logsources)
            if wanted is None or all(wanted.get(k) == v for k, v in logsource.items())
        ]
        if wanted is not None and all(
                compiled.rules[i].logsource == GENERIC_LOGSOURCE for i in chosen):
            # no rule of the input's own meets it: the generic policy does
            chosen = [i for i, rule in enumerate(compiled.rules)
                      if rule.logsource == GENERIC_LOGSOURCE]
        return BoundRules(
            [compiled.rules[i] for i in chosen], [compiled.predicates[i] for i in chosen],
            [compiled.requirements[i] for i in chosen], indexed=indexed,
            correlator=self.correlator, terms=[compiled.terms[i] for i in chosen],
            exact=[compiled.exact[i] for i in chosen],
        )

    def match(
        self, event: Mapping[str, Any], logsource: Mapping[str, str] | None = None
    ) -> list[RuleInfo]:
        """The rules matching ``event`` in load order (``logsource`` None: ignore logsource)."""
        return self.bind(logsource).match(event)

    def classify(
        self, event: Mapping[str, Any], logsource: Mapping[str, str] | None = None
    ) -> Verdict | None:
        """The verdict for ``event`` (``logsource`` None: ignore logsource)."""
        return self.bind(logsource).classify(event)


def _compile_all(
    detections: Sequence[LoadedRule], placeholders: Placeholders,
    pipeline: ProcessingPipeline | None, variant: Pipelines, in_place: bool,
    problems: list[Problem],
) -> _Compiled:
    """Compile the detection rules, fitted with ``pipeline`` first (on copies unless
    ``in_place``); the rules that fail are left out, with a problem each."""
    infos: list[RuleInfo] = []
    predicates: list[Predicate] = []
    requirements: list[Requirements] = []
    terms: list[Terms | None] = []
    logsources: list[Mapping[str, str]] = []
    exact: list[bool] = []
    suffix = f" (fitted with pipelines {', '.join(variant)})" if variant else ""
    for rule in detections:
        sigma = rule.sigma
        handled: frozenset[str] = frozenset()
        try:
            if pipeline is not None:
                sigma = sigma if in_place else copy.deepcopy(sigma)
                pipeline.apply(sigma)
                handled = handled_keys(pipeline)
            assert isinstance(sigma, SigmaRule)
            compiled = compile_rule(sigma, placeholders)
        except LocatedCompileError as error:
            path = detection_key(rule.lines, error.detection, error.field)
            problems.append(_compile_problem(rule, path, str(error) + suffix))
            continue
        except sx.SigmaError as error:
            problems.append(locate(rule.info.source, message_of(error) + suffix, error, None,
                                   rule.lines, _start(rule)))
            continue
        infos.append(rule.info)
        predicates.append(compiled.predicate)
        requirements.append(compiled.requirements)
        terms.append(compiled.terms)
        exact.append(compiled.exact)
        logsource = _logsource_of(sigma) if pipeline is not None else rule.info.logsource
        logsources.append({k: v for k, v in logsource.items() if k not in handled}
                          if handled else logsource)
    return _Compiled(tuple(infos), tuple(predicates), tuple(requirements), tuple(terms),
                     tuple(logsources), tuple(exact))


def _logsource_of(rule: SigmaRule) -> Mapping[str, str]:
    """The logsource keys of a rule as fitted (a pipeline's ``change_logsource`` retargets it)."""
    source = rule.logsource
    return {key: str(value).lower() for key, value in (
        ("product", source.product), ("category", source.category), ("service", source.service),
    ) if value is not None}


def _drop_duplicate_ids(loaded: list[LoadedRule], problems: list[Problem]) -> list[LoadedRule]:
    first: dict[str, LoadedRule] = {}
    unique: list[LoadedRule] = []
    for rule in loaded:
        other = first.get(rule.info.id)
        if other is None:
            first[rule.info.id] = rule
            unique.append(rule)
            continue
        where = other.info.source
        other_line = other.lines.get(("id",))
        if other_line is not None:
            where = f"{where}:{other_line}"
        problems.append(Problem(
            rule.info.source,
            f"duplicate rule id {rule.info.id} (also at {where}): give each rule its own id",
            line=rule.lines.get(("id",), _start(rule)), key="id",
        ))
    return unique


def _start(rule: LoadedRule) -> int | None:
    return min(rule.lines.values(), default=None)




def _compile_problem(rule: LoadedRule, path: tuple[str, ...], message: str) -> Problem:
    line = rule.lines.get(path) or rule.lines.get(path[:2]) or _start(rule)
    return Problem(rule.info.source, message, line=line, key=".".join(path))
