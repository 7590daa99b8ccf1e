"""socd normalize's framing of files: lines, pretty-printed JSON, Zeek TSV logs."""

from __future__ import annotations

from pathlib import Path

import orjson

from socd.normalize import iter_messages


def test_lines_skip_blanks(tmp_path: Path) -> None:
    """One message a line with its line number; blank lines are not messages."""
    path = tmp_path / "e.jsonl"
    path.write_bytes(b'\n{"a": 1}\r\n\n{"b": 2}')
    assert list(iter_messages(path)) == [(2, b'{"a": 1}'), (4, b'{"b": 2}')]


def test_pretty_printed_objects(tmp_path: Path) -> None:
    """A multi-line object is one message, starting at its opening line."""
    path = tmp_path / "e.json"
    path.write_bytes(b'{\n  "a": {\n    "b": 1\n  }\n}\n{"c": 3}\n{\n  "d": [\n  ]\n}\n')
    framed = list(iter_messages(path))
    assert [number for number, _ in framed] == [1, 6, 7]
    assert [orjson.loads(raw) for _, raw in framed] == [{"a": {"b": 1}}, {"c": 3}, {"d": []}]


def test_unclosed_object_is_one_message(tmp_path: Path) -> None:
    """A pretty-printed object cut short is still one (bad) message."""
    path = tmp_path / "e.json"
    path.write_bytes(b'{\n  "a": 1,\n')
    assert list(iter_messages(path)) == [(1, b'{\n  "a": 1,')]


def test_cef_lines_are_not_reframed(tmp_path: Path) -> None:
    """For CEF/LEEF a line of "{" is just a line."""
    path = tmp_path / "e.cef"
    path.write_bytes(b"{\nCEF:0|a|b|c|d|e|f|\n")
    assert [raw for _, raw in iter_messages(path, "cef")] == [b"{", b"CEF:0|a|b|c|d|e|f|"]


def test_zeek_tsv_rows_become_json(tmp_path: Path) -> None:
    """Header lines name the columns; - is unset, (empty) an empty set, sets are lists,
    ports and counts numbers, a masked time stays text."""
    path = tmp_path / "notice.log"
    path.write_text("#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n"
                    "#unset_field\t-\n#fields\tts\tid.orig_p\tnote\tactions\temail_dest\tsub\n"
                    "#types\ttime\tport\tenum\tset[enum]\tset[string]\tstring\n"
                    "1320279566.452687\t52026\tSSH::Password_Guessing\tA,B\t(empty)\t-\n"
                    "XXXXXXXXXX.XXXXXX\t-\tX\t-\t-\tx\n#close\t2020\n")
    rows = [(number, orjson.loads(raw)) for number, raw in iter_messages(path)]
    assert rows == [
        (7, {"ts": 1320279566.452687, "id.orig_p": 52026, "note": "SSH::Password_Guessing",
             "actions": ["A", "B"], "email_dest": []}),
        (8, {"ts": "XXXXXXXXXX.XXXXXX", "note": "X", "sub": "x"}),
    ]
