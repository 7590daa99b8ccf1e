"""Bytes → ECS document: decode with the connector's format, then apply its mapping.

A *connector* is chosen per input by name (a built-in mapping in ``connectors/``) or by
the path of a mapping file. :func:`build_normalizer` binds it to one input's settings
(sensor name, time zone); :meth:`Normalizer.normalize` is called once per message and
raises :class:`~socd.errors.InputError` (with a dead-letter reason) for a message it
cannot use, and nothing else.

::

    codecs/     bytes → the sensor's fields (json, ecs, cef, leef)
    mapping.py  the mapping file's model and each field's converter
    check.py    what a mapping file means, checked against the ECS reference (ecs.py)
    codegen.py  a mapping compiled into one function (the hot path)
    convert.py  typed converters (ip, port, timestamp …)
    framing.py  a file of messages → one message at a time (``socd normalize``)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from socd.errors import ConnectorError, NormalizeError, Problem
from socd.normalize.codecs import DECODERS, decode_json
from socd.normalize.codegen import Apply, compile_mapping
from socd.normalize.framing import iter_messages
from socd.normalize.mapping import MappingFile, load_mapping_file

__all__ = ["Normalizer", "build_normalizer", "builtin_connectors", "connectors_dir",
           "decode_json", "iter_messages"]


def connectors_dir() -> Path:
    """The folder of the built-in mapping files (installed copy first, then the source tree)."""
    here = Path(__file__).resolve().parent.parent
    installed = here / "_data" / "connectors"
    return installed if installed.is_dir() else here.parent / "connectors"


def builtin_connectors() -> dict[str, Path]:
    folder = connectors_dir()
    return {path.stem: path for path in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


_DNS_NAME_FIELD = re.compile(
    r"(?:^|\.)(?:client|server|source|destination|url)\.(?:domain|registered_domain)"
    r"|dns\.question\.(?:name|registered_domain)")
"""ECS fields that hold a DNS name (``user.domain``, ``host.domain`` are directory names)."""


def dns_name_fields(spec: MappingFile) -> tuple[tuple[str, ...], ...]:
    """The DNS-name fields a connector may write, as key paths: those its mapping targets,
    or, for a passthrough connector, every one ECS defines outside lists."""
    from socd.normalize.ecs import ecs_field, reference_names

    if spec.passthrough:
        names = {name for name in reference_names() if _DNS_NAME_FIELD.fullmatch(name)
                 and not name.startswith("threat.enrichments.")}  # inside a list
    else:
        names = {target for target, _ in spec.targets()
                 if _DNS_NAME_FIELD.fullmatch(target) and ecs_field(target) is not None}
    return tuple(tuple(name.split(".")) for name in sorted(names))


class Normalizer:
    """One input's connector: ``normalize(raw)`` → ECS document (nested dict).

    A DNS name written absolute, with the root's dot (``binhphuoc.gov.vn.``, as DNS logs
    and some sensors write it; RFC 1034 section 3.1), is stored without it in the fields of
    :func:`dns_name_fields`, so that rules and searches see one form of a name.
    """

    def __init__(self, spec: MappingFile, zone: ZoneInfo, *, sensor: str,
                 keep_original: bool) -> None:
        self.name = spec.name
        self.format: str = spec.format
        """The connector's message format (json, ecs, cef, leef): see :func:`iter_messages`."""
        self.logsource: Mapping[str, str] = {str(k): v for k, v in spec.logsource.items()}
        self._decode = DECODERS[spec.format]
        self._apply: Apply = compile_mapping(spec, zone)
        self._sensor = sensor
        self._keep_original = keep_original
        self._own_original = spec.passthrough  # a passthrough message may bring its own
        self._dns_names = dns_name_fields(spec)
        self.fields: frozenset[str] | None = None if spec.passthrough else frozenset({
            *(target for target, _ in spec.targets()), *(str(key) for key in spec.set),
            "observer.name", "event.original"})
        """The fields this connector may write (dotted names); None for a passthrough
        connector, whose events bring their own."""

    def normalize(self, raw: bytes) -> dict[str, Any]:
        try:
            doc = self._apply(self._decode(raw))
        except RecursionError:
            raise NormalizeError("the event nests too deeply") from None
        for path in self._dns_names:
            _drop_root_dot(doc, path)
        observer = doc.get("observer")
        if observer.__class__ is not dict:  # absent (or, passed through, not an object)
            doc["observer"] = {"name": self._sensor}
        elif "name" not in observer:
            observer["name"] = self._sensor
        if self._keep_original:
            event_field = doc.get("event")
            if event_field.__class__ is not dict:
                event_field = doc["event"] = {}
            if not (self._own_original and "original" in event_field):
                event_field["original"] = raw.decode("utf-8", "replace")
        return doc


def _drop_root_dot(doc: dict[str, Any], path: tuple[str, ...]) -> None:
    holder: Any = doc
    for part in path[:-1]:
        holder = holder.get(part)
        if holder.__class__ is not dict:
            return
    value = holder.get(path[-1])
    if value.__class__ is str and len(value) > 1 and value[-1] == ".":
        holder[path[-1]] = value.rstrip(".") or value


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
