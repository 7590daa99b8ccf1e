"""Bytes → ECS document: decode with the connector's format, then apply its mapping.

A *connector* is chosen per input by name (a built-in mapping in ``connectors/``) or by
the path of a mapping file. :func:`build_normalizer` binds it to one input's settings
(sensor name, time zone); :meth:`Normalizer.normalize` is called once per message and
raises :class:`~socd.errors.InputError` (with a dead-letter reason) for a message it
cannot use.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from socd.errors import ConnectorError, DecodeError, NormalizeError, Problem
from socd.normalize.codegen import Apply, compile_mapping
from socd.normalize.mapping import MappingFile, load_mapping_file

__all__ = ["Normalizer", "build_normalizer", "builtin_connectors", "connectors_dir"]


def connectors_dir() -> Path:
    """The folder of the built-in mapping files (installed copy first, then the source tree)."""
    here = Path(__file__).resolve().parent.parent
    installed = here / "_data" / "connectors"
    return installed if installed.is_dir() else here.parent / "connectors"


def builtin_connectors() -> dict[str, Path]:
    folder = connectors_dir()
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def decode_json(raw: bytes) -> dict[str, Any]:
    """orjson, and the reason code when it fails: not_utf8 or not_json."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        text = str(exc)
        if "UTF-8" in text:
            raise DecodeError(f"not UTF-8: {text}", reason="not_utf8") from None
        raise DecodeError(f"not JSON: {text}") from None
    if not isinstance(value, dict):
        raise DecodeError(f"JSON {type(value).__name__}, not an object")
    return value


class Normalizer:
    """One input's connector: ``normalize(raw)`` → ECS document (nested dict)."""

    def __init__(self, spec: MappingFile, zone: ZoneInfo, *, sensor: str,
                 keep_original: bool) -> None:
        self.name = spec.name
        self.logsource: Mapping[str, str] = {str(k): v for k, v in spec.logsource.items()}
        self._apply: Apply = compile_mapping(spec, zone)
        self._sensor = sensor
        self._keep_original = keep_original

    def normalize(self, raw: bytes) -> dict[str, Any]:
        event = decode_json(raw)
        try:
            doc = self._apply(event)
        except RecursionError:
            raise NormalizeError("the event nests too deeply") from None
        observer = doc.get("observer")
        if observer is None:
            doc["observer"] = {"name": self._sensor}
        elif "name" not in observer:
            observer["name"] = self._sensor
        if self._keep_original:
            event_field = doc.get("event")
            if event_field is None:
                event_field = doc["event"] = {}
            event_field["original"] = raw.decode("utf-8", "replace")
        return doc


def build_normalizer(connector: str, *, sensor: str, timezone: str,
                     keep_original: bool = True) -> Normalizer:
    """The normalizer for a connector name or mapping-file path; ConnectorError if unknown."""
    builtins = builtin_connectors()
    if connector in builtins:
        path = builtins[connector]
    elif connector.endswith((".yaml", ".yml")) or "/" in connector:
        path = Path(connector)
    else:
        known = ", ".join(builtins) or "none found"
        raise ConnectorError([Problem(None, f"unknown connector {connector!r}; use one of "
                                      f"{known}, or the path of a mapping file",
                                      key="inputs.connector")])
    spec = load_mapping_file(path)
    return Normalizer(spec, ZoneInfo(timezone), sensor=sensor, keep_original=keep_original)
