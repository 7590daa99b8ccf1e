"""The shipped saved objects: read the NDJSON file and fit it to an index prefix.

``deploy/kibana/socd.ndjson`` (installed as ``socd/_data/kibana/socd.ndjson``) is written
for the default index prefix ``socd``: every object id starts with ``socd-`` and the data
view's title is ``socd-alerts*``. :func:`for_prefix` rewrites ids, references and titles for
another ``elasticsearch.index_prefix``, so that two prefixes (two socd deployments) live
side by side in one Kibana space.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from socd.errors import ConfigError, Problem

DEFAULT_PREFIX = "socd"
"""The index prefix the shipped file is written for."""


def saved_objects_file() -> Path:
    """The shipped NDJSON file (installed copy first, then the source tree's ``deploy/``)."""
    here = Path(__file__).resolve().parents[2]
    installed = here / "_data" / "kibana" / "socd.ndjson"
    return installed if installed.is_file() else here.parent / "deploy" / "kibana" / "socd.ndjson"


def load_saved_objects(path: Path | None = None) -> list[dict[str, Any]]:
    """Read an NDJSON saved-objects file: one object a line.

    Blank lines and the summary line Kibana's export appends (``{"exportedCount": …}``) are
    skipped, as Kibana's import skips them. Raises :class:`~socd.errors.ConfigError`
    naming the file and line of each line that is not a JSON object with ``type``, ``id``
    and ``attributes``.
    """
    path = path or saved_objects_file()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read the saved objects: {exc}")]) from exc
    objects: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(Problem(str(path), f"not JSON: {exc.msg}", line=number))
            continue
        if isinstance(obj, dict) and "exportedCount" in obj:
            continue
        if not isinstance(obj, dict) or not {"type", "id", "attributes"} <= obj.keys():
            problems.append(Problem(str(path), "not a saved object (type, id, attributes)",
                                    line=number))
            continue
        objects.append(obj)
    if problems:
        raise ConfigError(problems)
    return objects


def for_prefix(objects: Sequence[Mapping[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """The objects as they should be for ``elasticsearch.index_prefix: <prefix>``.

    For the default prefix a copy of the objects. Otherwise every id of an object in
    ``objects`` that starts with ``socd-`` becomes ``<prefix>-…`` wherever it appears (the
    object's ``id``, ``references``, and the references inside a dashboard's by-value Lens
    panels in ``panelsJSON``); a data view titled ``socd-…`` is titled ``<prefix>-…``; and
    the other titles get `` (<prefix>)`` so that the two sets can be told apart in Kibana.
    References to objects outside ``objects`` are left alone.
    """
    result = [copy.deepcopy(dict(obj)) for obj in objects]
    if prefix == DEFAULT_PREFIX:
        return result
    head = f"{DEFAULT_PREFIX}-"
    renamed = {obj["id"]: f"{prefix}-{obj['id'][len(head):]}"
               for obj in result if str(obj["id"]).startswith(head)}

    def rename_references(references: Any) -> None:
        for reference in references or ():
            reference["id"] = renamed.get(reference["id"], reference["id"])

    for obj in result:
        obj["id"] = renamed.get(obj["id"], obj["id"])
        rename_references(obj.get("references"))
        attributes = obj["attributes"]
        title = attributes.get("title")
        if obj["type"] == "index-pattern":
            if isinstance(title, str) and title.startswith(head):
                attributes["title"] = f"{prefix}-{title[len(head):]}"
            if "name" in attributes:
                attributes["name"] = f"{attributes['name']} ({prefix})"
        elif isinstance(title, str):
            attributes["title"] = f"{title} ({prefix})"
        if isinstance(attributes.get("panelsJSON"), str):
            panels = json.loads(attributes["panelsJSON"])
            for panel in panels:
                by_value = panel.get("embeddableConfig", {}).get("attributes")
                if isinstance(by_value, dict):
                    rename_references(by_value.get("references"))
            attributes["panelsJSON"] = json.dumps(panels, ensure_ascii=False,
                                                  separators=(",", ":"))
    return result


def encode_ndjson(objects: Sequence[Mapping[str, Any]]) -> bytes:
    """One compact JSON object a line, as Kibana's export writes them."""
    return b"".join(json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                    for obj in objects)
