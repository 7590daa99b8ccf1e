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
    new_rules.keep_state(rules)                     # on a reload: correlation windows go on

Correlation rules (:mod:`~socd.classify.correlate`, resolved by
:mod:`~socd.classify.correlations`) count matches of other rules per group within a timespan;
``classify`` feeds them and returns the correlation's verdict for the event on which one
fires, when it outranks the event's own; ``triage`` leaves that to a store of the windows
(the daemon's, :mod:`socd.state.windows`, in Elasticsearch). See
:mod:`socd.classify.correlate` for what a window keeps and what survives a restart.
Tooling: :mod:`~socd.classify.tools` (``socd rules validate``/``test``, with
:mod:`~socd.classify.explain` for ``--explain``) and :mod:`~socd.classify.watch` (reload
when rule files change).
"""

from socd.classify.model import RuleInfo, ThreatClass, Verdict
from socd.classify.ruleset import BoundRules, RuleSet
from socd.classify.values import Placeholders

__all__ = ["BoundRules", "Placeholders", "RuleInfo", "RuleSet", "ThreatClass", "Verdict"]
