"""One message of a shipped connector's format with chosen values at chosen keys, and the
least it needs to be accepted (its required fields, a header)."""

from __future__ import annotations

from typing import Any

import orjson

from socd.normalize import Normalizer, build_normalizer
from socd.normalize.paths import put_path

# the required fields of each JSON connector, valid
REQUIRED: dict[str, dict[str, Any]] = {
    "cyradar": {"alert_id": "a-1", "detected_at": "2024-01-31T08:00:00+07:00", "severity": 5,
                "category": "malware"},
    "suricata": {"timestamp": "2024-01-31T08:00:00.000000+0700", "event_type": "alert"},
    "wazuh": {"timestamp": "2024-01-31T08:00:00.000+0700"},
    "zeek": {"ts": 1706662800.0},
}
FORMATS = {"cyradar": "json", "suricata": "json", "wazuh": "json", "zeek": "json",
           "cef": "cef", "leef": "leef"}


def message_for(connector: str, values: dict[str, Any]) -> bytes:
    """The bytes of one message; ``values`` maps a source path (as a mapping's ``from``
    names it) to its value; None leaves the key out."""
    values = {key: value for key, value in values.items() if value is not None}
    if FORMATS[connector] == "json":
        event: dict[str, Any] = {}
        for key, value in REQUIRED[connector].items():
            put_path(event, key.split("."), value)
        for key, value in values.items():
            if connector == "zeek":
                event[key] = value  # Zeek's keys are flat and dotted
            else:
                put_path(event, key.split("."), value)
        return orjson.dumps(event)
    if connector == "cef":
        pairs = " ".join(f"{key}={_cef(str(value))}" for key, value in values.items())
        return f"CEF:0|Vendor|Product|1.0|100|Name|5|rt=1706662800000 {pairs}".encode()
    pairs = "\t".join(f"{key}={value}" for key, value in values.items())
    return f"LEEF:1.0|Vendor|Product|1.0|100|devTime=1706662800000\t{pairs}".encode()


def _cef(value: str) -> str:
    return value.replace("\\", "\\\\").replace("=", "\\=")


def settable(connector: str, path: str) -> bool:
    """Whether ``message_for`` can put a value at this source path."""
    if FORMATS[connector] != "json":
        return not path.startswith(("header.", "syslog.", "extension."))
    return path not in REQUIRED[connector]


NORMALIZERS: dict[str, Normalizer] = {}


def normalize(connector: str, values: dict[str, Any]) -> dict[str, Any]:
    """The document a built-in connector makes of a message holding ``values``."""
    if connector not in NORMALIZERS:
        NORMALIZERS[connector] = build_normalizer(connector, sensor="s", timezone="UTC",
                                                  keep_original=False)
    return NORMALIZERS[connector].normalize(message_for(connector, values))
