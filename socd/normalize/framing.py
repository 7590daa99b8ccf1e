"""A file of messages → one message at a time, for ``socd normalize`` (offline runs).

Kafka delivers one message per record; files written by sensors frame them in their own
ways. :func:`iter_messages` yields ``(line, message bytes)`` with the 1-based line where
each message starts:

* one message per line (JSON lines, CEF, LEEF); blank lines are not messages;
* a pretty-printed JSON object or array (a line that is just ``{`` or ``[``, up to the
  line that closes it at the same indentation), as Wazuh and search exports write them;
* for JSON connectors, a Zeek TSV log (``#separator``/``#fields`` header lines): each row
  becomes the JSON object Zeek's JSON writer would have written (``-`` unset and left out,
  ``(empty)`` an empty list, sets and vectors split into lists, counts and ports numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

_ZEEK_NUMBERS = {"count": int, "int": int, "port": int, "double": float, "interval": float}


def iter_messages(path: str | Path, format: str = "json") -> Iterator[tuple[int, bytes]]:
    """``(line number, message)`` for every message in the file (see the module doc)."""
    with open(path, "rb") as handle:
        lines = [line.rstrip(b"\r\n") for line in handle]
    if format in ("json", "ecs") and _is_zeek_tsv(lines):
        yield from _zeek_rows(lines)
        return
    index = 0
    while index < len(lines):
        line = lines[index]
        number = index + 1
        index += 1
        stripped = line.strip()
        if not stripped:
            continue
        if format in ("json", "ecs") and stripped in (b"{", b"["):
            indent = line[:len(line) - len(line.lstrip())]
            closing = b"}" if stripped == b"{" else b"]"
            block = [line]
            while index < len(lines):
                block.append(lines[index])
                index += 1
                if block[-1].rstrip() in (indent + closing, indent + closing + b","):
                    break
            yield number, b"\n".join(block)
            continue
        yield number, line


def _is_zeek_tsv(lines: list[bytes]) -> bool:
    for line in lines:
        if line.startswith(b"#fields\t"):
            return True
        if line.strip() and not line.startswith(b"#"):
            return False
    return False


def _zeek_rows(lines: list[bytes]) -> Iterator[tuple[int, bytes]]:
    separator, set_separator = "\t", ","
    unset, empty = "-", "(empty)"
    names: list[str] = []
    types: list[str] = []
    for index, raw in enumerate(lines):
        line = raw.decode("utf-8", "backslashreplace")
        if line.startswith("#"):
            key, _, value = line[1:].partition(separator if separator in line else " ")
            if key == "separator":
                separator = _zeek_unescape(value.strip())
            elif key == "set_separator":
                set_separator = value
            elif key == "unset_field":
                unset = value
            elif key == "empty_field":
                empty = value
            elif key == "fields":
                names = value.split(separator)
            elif key == "types":
                types = value.split(separator)
            continue
        if not line.strip() or not names:
            continue
        row: dict[str, Any] = {}
        for column, text in enumerate(line.split(separator)):
            if column >= len(names) or text == unset:
                continue
            kind = types[column] if column < len(types) else "string"
            row[names[column]] = _zeek_value(text, kind, set_separator, empty)
        yield index + 1, orjson.dumps(row)


def _zeek_value(text: str, kind: str, set_separator: str, empty: str) -> Any:
    if kind.startswith(("set[", "vector[")):
        if text == empty:
            return []
        inner = kind[kind.index("[") + 1:-1]
        return [_zeek_value(item, inner, set_separator, empty)
                for item in text.split(set_separator)]
    convert = _ZEEK_NUMBERS.get(kind)
    if convert is not None or kind == "time":
        try:
            return (convert or float)(text)
        except ValueError:
            return text  # e.g. a test log's masked XXXXXXXXXX.XXXXXX
    if kind == "bool":
        return text == "T"
    return text


def _zeek_unescape(text: str) -> str:
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), text)
