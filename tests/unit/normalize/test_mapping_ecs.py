"""The ECS reference socd ships (socd/normalize/ecs_fields.tsv) is the ECS reference.

Run as a module to write the file again from a newer ``ecs_flat.yml``::

    .venv/bin/python -m tests.unit.normalize.test_mapping_ecs ../shared/ecs/ecs_flat.yml
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from socd.normalize import ecs
from socd.sinks.templates import ECS_FIELDS

ECS_VERSION = "9.4.0"  # ../shared/ecs/PROVENANCE.md: elastic/ecs tag v9.4.0


def reference_text(flat: dict[str, dict[str, Any]]) -> str:
    """The shipped file's text for one ecs_flat.yml: a header, then one line per field."""
    lines = [
        f"# ECS {ECS_VERSION} field reference, from elastic/ecs generated/ecs/ecs_flat.yml",
        "# (Apache-2.0). Written by tests/unit/normalize/test_mapping_ecs.py: do not edit.",
        "# name<TAB>type<TAB>allowed values (comma-separated)<TAB>object_type<TAB>scaling_factor",
    ]
    for name in sorted(flat):
        entry = flat[name]
        allowed = ",".join(item["name"] for item in entry.get("allowed_values", []))
        assert "," not in "".join(item["name"] for item in entry.get("allowed_values", []))
        columns = [name, entry["type"], allowed, entry.get("object_type", ""),
                   str(entry.get("scaling_factor", ""))]
        while columns[-1] == "":
            columns.pop()
        lines.append("\t".join(columns))
    return "\n".join(lines) + "\n"


def load_flat(path: Path) -> dict[str, dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        data: dict[str, dict[str, Any]] = yaml.load(
            handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data


def test_shipped_reference_is_ecs(ecs: dict[str, dict[str, Any]]) -> None:
    """The file socd checks mapping files against is ECS 9.4.0, every field and type."""
    assert ecs_file_text() == reference_text(ecs), (
        "socd/normalize/ecs_fields.tsv differs from ECS; write it again with "
        ".venv/bin/python -m tests.unit.normalize.test_mapping_ecs ../shared/ecs/ecs_flat.yml")


def ecs_file_text() -> str:
    return (Path(ecs.__file__).parent / "ecs_fields.tsv").read_text(encoding="utf-8")


def test_reference_reads_types_allowed_values_and_objects() -> None:
    """Lookups: a plain field, one with allowed values, a key of labels, no such field."""
    assert ecs.ecs_field("source.ip") == ecs.EcsField("source.ip", "ip")
    outcome = ecs.ecs_field("event.outcome")
    assert outcome is not None and outcome.allowed == frozenset({"failure", "success",
                                                                 "unknown"})
    assert ecs.ecs_field("labels.env") == ecs.EcsField("labels.env", "keyword")
    assert ecs.ecs_field("source.addr") is None
    assert ecs.ecs_field("source") is None  # a field set, not a field
    scaled = ecs.ecs_field("host.cpu.usage")
    assert scaled is not None and scaled.scaling_factor == 1000


def test_index_template_fields_are_in_the_reference() -> None:
    """Every ECS field the index template maps is in the shipped reference, same type."""
    for name, kind in ECS_FIELDS.items():
        field = ecs.ecs_field(name)
        assert field is not None, name
        assert field.type == kind, name


def main(argv: list[str]) -> int:
    flat = load_flat(Path(argv[0]))
    target = Path(ecs.__file__).parent / "ecs_fields.tsv"
    target.write_text(reference_text(flat), encoding="utf-8")
    print(f"wrote {target} ({len(flat)} fields)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
