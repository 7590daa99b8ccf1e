"""Classification: Sigma rules, parsed by pySigma and compiled into matchers, decide the class.

Loading runs in phases — :mod:`~socd.classify.load` reads every file and collects every problem
(located by :mod:`~socd.classify.locate`), :mod:`~socd.classify.compile` turns each condition
tree into closures (values by :mod:`~socd.classify.values` and
:mod:`~socd.classify.patterns`), :mod:`~socd.classify.index` narrows the rules an event meets
using each rule's clauses (:mod:`~socd.classify.clauses`) — and :mod:`~socd.classify.ruleset`
ties them together::

    rules, problems = RuleSet.load(["rules/"])      # RuleError if any problem (strict)
    bound = rules.bind({"product": "cyradar"})      # once per input
    verdict = bound.classify(event)                 # once per event: Verdict | None
"""

from socd.classify.model import RuleInfo, ThreatClass, Verdict
from socd.classify.ruleset import BoundRules, RuleSet
from socd.classify.values import Placeholders

__all__ = ["BoundRules", "Placeholders", "RuleInfo", "RuleSet", "ThreatClass", "Verdict"]
