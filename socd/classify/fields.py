"""Field access on events: dotted names, mixed literal keys, lists of objects.

A rule's field name such as ``event.severity`` is looked up as the literal key first, then by
walking nested objects along the dots; a dotted key may sit at any level
(``{"zeek": {"id.orig_h": ...}}`` answers ``zeek.id.orig_h``). When the walk meets a list of
objects, every object is searched and the values found are collected into one list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import Any, Final


class _Missing:
    """The type of :data:`MISSING`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""What a getter returns when the event has no such field."""

Getter = Callable[[Mapping[str, Any]], Any]
"""Returns a field's value in an event (a scalar, a list, an object) or :data:`MISSING`."""


def make_getter(name: str) -> Getter:
    """A function that fetches field ``name`` from an event."""
    if "." not in name:

        def get_plain(event: Mapping[str, Any]) -> Any:
            return event.get(name, MISSING)

        return get_plain

    parts = name.split(".")
    count = len(parts)
    # keys[i][j] is the key made of parts[i:j], for every 0 <= i < j <= count
    keys = [[".".join(parts[i:j]) for j in range(count + 1)] for i in range(count)]

    def walk(obj: Mapping[str, Any], start: int) -> Any:
        row = keys[start]
        for end in range(start + 1, count + 1):
            child = obj.get(row[end], MISSING)
            if child is MISSING:
                continue
            if end == count:
                return child
            if isinstance(child, Mapping):
                found = walk(child, end)
                if found is not MISSING:
                    return found
            elif isinstance(child, list):
                found_all = _walk_list(child, end)
                if found_all:
                    return found_all
        return MISSING

    def _walk_list(items: list[Any], start: int) -> list[Any]:
        out: list[Any] = []
        for item in items:
            if isinstance(item, Mapping):
                found = walk(item, start)
                if found is MISSING:
                    continue
                if isinstance(found, list):
                    out.extend(found)
                else:
                    out.append(found)
        return out

    def get_dotted(event: Mapping[str, Any]) -> Any:
        value = event.get(name, MISSING)
        if value is not MISSING:
            return value
        return walk(event, 0)

    # Objects all the way down take a fast path that tries the splits in the walk's order and
    # stops at the first that answers; anything else (a list on the way) takes the walk.
    if count == 2:
        first, second = parts

        def get_two(event: Mapping[str, Any]) -> Any:
            value = event.get(name, MISSING)
            if value is not MISSING:
                return value
            outer = event.get(first)
            if type(outer) is dict:
                return outer.get(second, MISSING)
            if outer is None or not isinstance(outer, (Mapping, list)):
                return MISSING
            return walk(event, 0)

        return get_two
    if count == 3:
        first, second, third = parts
        first_two, last_two = keys[0][2], keys[1][3]

        def get_three(event: Mapping[str, Any]) -> Any:
            value = event.get(name, MISSING)
            if value is not MISSING:
                return value
            outer = event.get(first)
            if type(outer) is dict:
                middle = outer.get(second)
                if type(middle) is dict:
                    value = middle.get(third, MISSING)
                    if value is not MISSING:
                        return value
                elif middle is not None and isinstance(middle, (Mapping, list)):
                    return walk(event, 0)
                value = outer.get(last_two, MISSING)
                if value is not MISSING:
                    return value
            elif outer is not None and isinstance(outer, (Mapping, list)):
                return walk(event, 0)
            joined = event.get(first_two)
            if type(joined) is dict:
                return joined.get(third, MISSING)
            if joined is not None and isinstance(joined, (Mapping, list)):
                return walk(event, 0)
            return MISSING

        return get_three
    return get_dotted


class EventMemo:
    """What evaluating one event works out once for every rule that needs it.

    :meth:`socd.classify.BoundRules.matching` makes :data:`MEMO` active for its event and
    empties it afterwards; a leaf uses it only while ``MEMO.event`` is the event it is given,
    so an event changed between two evaluations is never answered from an old memo. One
    evaluation at a time: classification is not thread-safe.
    """

    __slots__ = ("event", "fields", "texts")

    def __init__(self) -> None:
        self.event: Mapping[str, Any] | None = None
        self.fields: dict[str, tuple[Any, str | None]] = {}
        """Field name → (its value or MISSING, the lowercased text of a string value)."""
        self.texts: list[str] | None = None
        """The lowercased text of every scalar of the event (for keywords)."""


MEMO: Final = EventMemo()
"""The memo of the event being evaluated."""


def lowered_texts(event: Mapping[str, Any]) -> list[str]:
    """The lowercased text of every scalar inside ``event`` (what keywords are matched on)."""
    out: list[str] = []
    for value in iter_scalars(event):
        text = text_of(value)
        if text is not None:
            out.append(text.lower())
    return out


def iter_scalars(value: Any) -> Iterator[Any]:
    """Every scalar inside a value (objects and lists are searched recursively)."""
    if isinstance(value, Mapping):
        for item in value.values():
            yield from iter_scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from iter_scalars(item)
    else:
        yield value


def text_of(value: Any) -> str | None:
    """The text a string pattern is matched against (None: the value has no text form)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return str(int(value)) if value.is_integer() else repr(value)
    return None


def number_of(value: Any) -> int | float | None:
    """The number a numeric comparison uses: numbers as they are, numeric strings parsed."""
    kind = type(value)
    if kind is int or kind is float:
        return value  # type: ignore[no-any-return]
    if kind is str:
        return parse_number(value)
    return None


@lru_cache(maxsize=8192)
def parse_number(text: str) -> int | float | None:
    """The number a numeric string stands for (surrounding blanks allowed), else None."""
    if "_" in text:
        return None  # Python's digit grouping is not a number in logs
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return number if number == number else None  # NaN compares with nothing
