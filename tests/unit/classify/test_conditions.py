"""Conditions (and/or/not, parentheses, 1 of/all of, them) and field lookup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

Matches = Callable[..., bool]

DETECTIONS: dict[str, Any] = {
    "sel_a": {"a": "1"},
    "sel_b": {"b": "1"},
    "filter_c": {"c": "1"},
}


@pytest.mark.parametrize(
    ("condition", "event", "expected"),
    [
        ("sel_a and sel_b", {"a": "1", "b": "1"}, True),
        ("sel_a and sel_b", {"a": "1"}, False),
        ("sel_a or sel_b", {"b": "1"}, True),
        ("sel_a or sel_b", {"c": "1"}, False),
        ("sel_a and not filter_c", {"a": "1"}, True),
        ("sel_a and not filter_c", {"a": "1", "c": "1"}, False),
        ("not sel_a", {}, True),
        ("not sel_a", {"a": "1"}, False),
        ("sel_a and (sel_b or filter_c)", {"a": "1", "c": "1"}, True),
        ("sel_a and (sel_b or filter_c)", {"a": "1"}, False),
        ("(sel_a and sel_b) or filter_c", {"c": "1"}, True),
        ("sel_a and sel_b or filter_c", {"c": "1"}, True),  # and binds tighter than or
        ("not sel_a and sel_b", {"b": "1"}, True),  # not binds tighter than and
        ("not (sel_a and sel_b)", {"a": "1", "b": "1"}, False),
        ("1 of sel_*", {"b": "1"}, True),
        ("1 of sel_*", {"c": "1"}, False),
        ("all of sel_*", {"a": "1", "b": "1"}, True),
        ("all of sel_*", {"a": "1"}, False),
        ("1 of sel_* and not 1 of filter_*", {"a": "1"}, True),
        ("1 of sel_* and not 1 of filter_*", {"a": "1", "c": "1"}, False),
        ("1 of them", {"c": "1"}, True),
        ("1 of them", {"d": "1"}, False),
        ("all of them", {"a": "1", "b": "1", "c": "1"}, True),
        ("all of them", {"a": "1", "b": "1"}, False),
        ("any of sel_*", {"a": "1"}, True),
    ],
)
def test_condition_forms(
    matches: Matches, condition: str, event: dict[str, Any], expected: bool
) -> None:
    """Each condition form combines its detections as the Sigma specification says."""
    assert matches({**DETECTIONS, "condition": condition}, event) is expected


def test_map_is_and_list_of_maps_is_or(matches: Matches) -> None:
    """Keys of one map must all match; maps in a list are alternatives."""
    both = {"selection": {"a": "1", "b": "2"}, "condition": "selection"}
    assert matches(both, {"a": "1", "b": "2"})
    assert not matches(both, {"a": "1", "b": "3"})
    either = {"selection": [{"a": "1"}, {"b": "2"}], "condition": "selection"}
    assert matches(either, {"b": "2"})
    assert not matches(either, {"a": "2", "b": "1"})


def test_several_conditions_are_or_linked(matches: Matches) -> None:
    """A list of conditions matches when any of them does."""
    detection = {**DETECTIONS, "condition": ["sel_a and sel_b", "filter_c"]}
    assert matches(detection, {"c": "1"})
    assert matches(detection, {"a": "1", "b": "1"})
    assert not matches(detection, {"a": "1"})


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"event": {"severity": 8}}, True),  # nested objects
        ({"event.severity": 8}, True),  # the literal dotted key
        ({"event": {"severity": 3}}, False),
        ({"event": 8}, False),
        ({"event": [{"severity": 1}, {"severity": 8}]}, True),  # a list of objects
        ({}, False),
    ],
)
def test_dotted_names_reach_into_objects(
    matches: Matches, event: dict[str, Any], expected: bool
) -> None:
    """``event.severity`` is the literal key or the nested path, lists of objects included."""
    detection = {"selection": {"event.severity|gte": 8}, "condition": "selection"}
    assert matches(detection, event) is expected


def test_mixed_literal_and_nested_keys(matches: Matches) -> None:
    """A dotted key may sit at any level of the path."""
    detection = {"selection": {"zeek.id.orig_h": "10.0.0.1"}, "condition": "selection"}
    assert matches(detection, {"zeek": {"id.orig_h": "10.0.0.1"}})
    assert matches(detection, {"zeek.id": {"orig_h": "10.0.0.1"}})
    assert matches(detection, {"zeek": {"id": {"orig_h": "10.0.0.1"}}})
    assert not matches(detection, {"zeek": {"id.orig_h": "10.0.0.2"}})


def test_literal_key_wins_over_nested_path(matches: Matches) -> None:
    """When both the literal dotted key and the nested path exist, the literal key is used."""
    detection = {"selection": {"a.b": "literal"}, "condition": "selection"}
    assert matches(detection, {"a.b": "literal", "a": {"b": "nested"}})
    assert not matches(detection, {"a.b": "other", "a": {"b": "literal"}})


def test_field_names_are_case_sensitive(matches: Matches) -> None:
    """Field names are looked up exactly as written."""
    detection = {"selection": {"Image": "x"}, "condition": "selection"}
    assert matches(detection, {"Image": "x"})
    assert not matches(detection, {"image": "x"})


def test_negated_missing_field_matches(matches: Matches) -> None:
    """``not`` of a selection on an absent field is true."""
    detection = {"selection": {"a": "1"}, "filter": {"b": "x"},
                 "condition": "selection and not filter"}
    assert matches(detection, {"a": "1"})
