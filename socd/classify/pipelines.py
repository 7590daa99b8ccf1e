"""pySigma processing pipelines: how Sigma rules are fitted to the events of one input.

A rule names fields and a logsource in Sigma's generic terms; a pipeline fits it to the events
an input really carries: it renames fields (``Image`` → ``process.executable`` for ECS events)
and turns a logsource into conditions on the events (``category: process_creation`` becomes
``EventID: 1`` on the Sysmon channel). An input names its pipelines (``inputs[].pipelines``);
each is

- the name of one of socd's own pipelines, files in ``builtin_pipelines/`` beside this module
  (``windows``: Windows event logs as the Sysmon and Windows channels write them;
  ``winlogbeat``: the same as Winlogbeat ships them; ``zeek`` and ``suricata``: SigmaHQ's
  Zeek, DNS, proxy and web-server rules on the events of those connectors);
- the name of a pipeline an installed pySigma plugin provides (``pip install`` one that
  supports this pySigma version); or
- the path of a pipeline YAML file (pySigma's format).

Logsource keys that a pipeline turned into conditions no longer decide which inputs a rule
meets: the conditions decide per event (see :func:`handled_keys`); a ``change_logsource``
retargets the rule to the inputs of its new logsource.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from sigma.processing.conditions import LogsourceCondition
from sigma.processing.pipeline import ProcessingPipeline
from sigma.processing.transformations import AddConditionTransformation

from socd.errors import Problem

BUILTIN = Path(__file__).resolve().parent / "builtin_pipelines"
"""socd's own pipelines, one YAML file each, named by the file's stem."""

PIPELINE_SUFFIXES = (".yml", ".yaml")


def builtin_names() -> list[str]:
    """The names of socd's own pipelines."""
    return sorted(p.stem for p in BUILTIN.glob("*.yml"))


def load_pipeline(refs: Sequence[str]) -> tuple[ProcessingPipeline | None, list[Problem]]:
    """The pipelines named by ``refs`` joined into one (None with problems if one fails)."""
    problems: list[Problem] = []
    joined: ProcessingPipeline | None = None
    for ref in refs:
        try:
            pipeline = _load_one(ref)
        except _PipelineError as error:
            problems.append(error.problem)
            continue
        joined = pipeline if joined is None else joined + pipeline
    return (None if problems else joined), problems


class _PipelineError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _load_one(ref: str) -> ProcessingPipeline:
    path = Path(ref)
    if path.suffix in PIPELINE_SUFFIXES or "/" in ref:
        return _from_file(path)
    builtin = BUILTIN / f"{ref}.yml"
    if builtin.is_file():
        return _from_file(builtin)
    plugins = _plugin_pipelines()
    if ref in plugins:
        try:
            found = plugins[ref]
            pipeline = found() if callable(found) else found
        except Exception as error:  # a plugin's own failure: report it, don't crash
            raise _PipelineError(Problem(ref, f"pipeline plugin failed: {error}")) from None
        if isinstance(pipeline, ProcessingPipeline):
            return pipeline
        raise _PipelineError(Problem(ref, f"plugin pipeline {ref!r} is not a pySigma pipeline"))
    known = ", ".join(builtin_names() + sorted(plugins)) or "none"
    raise _PipelineError(Problem(
        ref, f"unknown pipeline {ref!r}: give the path of a pipeline YAML file or one of "
        f"these names: {known}"))


def _from_file(path: Path) -> ProcessingPipeline:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        problem = Problem(str(path), f"cannot read the pipeline: {error.strerror}")
        raise _PipelineError(problem) from None
    try:
        return ProcessingPipeline.from_yaml(text)
    except Exception as error:  # pySigma's errors for a malformed pipeline vary
        raise _PipelineError(Problem(str(path), f"not a valid pySigma pipeline: {error}")) from None


@lru_cache(maxsize=1)
def _plugin_pipelines() -> dict[str, object]:
    """Pipelines that installed pySigma plugins register (none when discovery fails)."""
    try:
        from sigma.plugins import InstalledSigmaPlugins

        return dict(InstalledSigmaPlugins.autodiscover().pipelines)
    except Exception:  # a broken plugin must not stop socd: its pipelines are just absent
        return {}


def handled_keys(pipeline: ProcessingPipeline) -> frozenset[str]:
    """The logsource keys that the pipeline's last :meth:`apply` turned into conditions.

    An applied item that adds conditions to rules of a logsource (``add_condition`` with
    ``logsource`` rule conditions) handles the keys that logsource names.
    """
    keys: set[str] = set()
    for item, applied in zip(pipeline.items, pipeline.applied, strict=False):
        if not applied or not isinstance(item.transformation, AddConditionTransformation):
            continue
        for condition in item.rule_conditions:
            if isinstance(condition, LogsourceCondition):
                keys.update(k for k in ("product", "category", "service")
                            if getattr(condition, k) is not None)
    return frozenset(keys)
