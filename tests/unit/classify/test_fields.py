"""Field lookup: the fast paths for nested objects agree with the general walk; the per-event
memo never answers for an event that changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from socd.classify import RuleSet
from socd.classify.fields import MISSING, make_getter

KEYS = st.sampled_from(["a", "b", "c", "a.b", "b.c", "a.b.c"])
SCALARS = st.one_of(st.none(), st.integers(0, 9), st.sampled_from(["x", "y"]))
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


def reference(obj: dict[str, Any], parts: list[str]) -> Any:
    """The documented rule: the literal key first, then every split of the dotted name,
    shortest first key first; lists of objects collect what each object answers."""
    name = ".".join(parts)
    if name in obj:
        return obj[name]
    return _walk(obj, parts)


def _walk(obj: dict[str, Any], parts: list[str]) -> Any:
    for end in range(1, len(parts) + 1):
        key = ".".join(parts[:end])
        if key not in obj:
            continue
        child = obj[key]
        if end == len(parts):
            return child
        if isinstance(child, dict):
            found = _walk(child, parts[end:])
            if found is not MISSING:
                return found
        elif isinstance(child, list):
            out: list[Any] = []
            for item in child:
                if isinstance(item, dict):
                    found = _walk(item, parts[end:])
                    if found is MISSING:
                        continue
                    out.extend(found if isinstance(found, list) else [found])
            if out:
                return out
    return MISSING


@settings(max_examples=400, deadline=None)
@given(doc=st.dictionaries(KEYS, DOCS, max_size=5),
       name=st.sampled_from(["a.b", "b.c", "a.c", "a.b.c", "c.b.a"]))
def test_getters_follow_the_documented_lookup(doc: dict[str, Any], name: str) -> None:
    """For any mix of nested objects, dotted keys and lists, the two- and three-part getters
    answer what the documented lookup answers."""
    assert make_getter(name)(doc) == reference(doc, name.split("."))


def test_a_changed_event_is_evaluated_afresh(write_rule: Any, tmp_path: Path) -> None:
    """The same dict, changed between two classifications, gets the verdict of its new
    contents (nothing is remembered from one evaluation to the next)."""
    write_rule({"s": {"rule.category": "apt_c2", "cmd|contains": "evil" * 10},
                "condition": "s"})
    rules, _ = RuleSet.load([tmp_path])
    bound = rules.bind(None)
    event: dict[str, Any] = {"rule": {"category": "apt_c2"}, "cmd": "EVIL" * 12}
    assert bound.classify(event) is not None
    event["rule"]["category"] = "scan"
    assert bound.classify(event) is None
    event["rule"]["category"] = "APT_C2"
    event["cmd"] = "good" * 12
    assert bound.classify(event) is None
