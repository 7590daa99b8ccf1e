"""Threat documents as socd's pipeline makes them, and a checker of the bundles built from
them; shared by the sharing tests and ``bench/sharing.py``."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import orjson
import stix2

from socd.config import SharingConfig
from socd.errors import InputError
from socd.normalize import build_normalizer
from socd.sharing import Sighting
from socd.simulate import FORMATS, VIETNAM

START = datetime(2026, 3, 2, 8, 0, tzinfo=VIETNAM).replace(tzinfo=None)
LAYERS = {"cyradar": 2}


def threat(doc: dict[str, Any], *, threat_class: str = "critical", layer: int = 1,
           rule: str = "Shared test rule", source: str = "test") -> dict[str, Any]:
    """``doc`` with what the pipeline adds to a threat (``event.ingested``, ``socd.*``, and
    an ``@timestamp`` where the sensor gave none: the pipeline takes Kafka's time)."""
    if not isinstance(doc.get("@timestamp"), str):
        doc["@timestamp"] = "2026-03-02T00:59:59.123Z"
    event = doc.setdefault("event", {})
    event["ingested"] = "2026-03-02T01:00:00.000Z"
    event.setdefault("kind", "alert")
    doc["socd"] = {"class": threat_class, "layer": layer, "input": source,
                   "rule": {"id": "0b0c5f57-7c3a-4a58-9d0e-000000000001", "name": rule,
                            "level": "critical" if threat_class == "critical" else "high",
                            "ids": ["0b0c5f57-7c3a-4a58-9d0e-000000000001"]}}
    return doc


def simulated(fmt: str, count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` simulated messages of ``fmt`` through its connector, each as a threat (the
    class and layer vary; the messages the connector rejects are left out)."""
    spec = FORMATS[fmt]
    normalizer = build_normalizer(spec.connector or fmt, sensor="core-sensor-01",
                                  timezone="Asia/Ho_Chi_Minh")
    messages = spec.generate(random.Random(seed), start=START)
    docs: list[dict[str, Any]] = []
    for number in range(count):
        raw = spec.encode(next(messages))
        try:
            doc = normalizer.normalize(raw)
        except InputError:
            continue
        docs.append(threat(doc, threat_class=("critical", "high-risk")[number % 2],
                           layer=LAYERS.get(fmt, 1), rule=f"{fmt} rule {number % 7}",
                           source=f"sensors.{fmt}"))
    return docs


def sharing_config(**changes: Any) -> SharingConfig:
    settings: dict[str, Any] = {"identity": {"name": "So TTTT Dong Nai"}}
    settings.update(changes)
    return SharingConfig.model_validate(settings)


def _references(node: Any) -> Iterator[str]:
    """Every id a ``*_ref`` or ``*_refs`` property names, at any depth."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key.endswith("_ref") and isinstance(value, str):
                yield value
            elif key.endswith("_refs") and isinstance(value, list):
                yield from (item for item in value if isinstance(item, str))
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def check_bundle(sighting: Sighting, tlp: str = "amber") -> dict[str, Any]:
    """Assert what every published bundle must be, and return it as JSON.

    Valid STIX 2.1 by the ``stix2`` library with no custom content; ids unique; every
    reference resolves inside the bundle; every object but the marking itself marked with
    the TLP marking; one sighting, whose id is the message key; the headers.
    """
    parsed = stix2.parse(sighting.value, allow_custom=False)
    assert parsed.type == "bundle"
    bundle: dict[str, Any] = orjson.loads(sighting.value)
    objects = bundle["objects"]
    ids = [obj["id"] for obj in objects]
    assert len(ids) == len(set(ids))
    for reference in _references(objects):
        assert reference in ids, reference
    marking = {"white": stix2.TLP_WHITE, "green": stix2.TLP_GREEN,
               "amber": stix2.TLP_AMBER, "red": stix2.TLP_RED}[tlp]
    for obj in objects:
        if obj["type"] == "marking-definition":
            assert obj["id"] == marking.id and obj["definition"] == {"tlp": tlp}
        else:
            assert obj["object_marking_refs"] == [marking.id], obj["id"]
    sightings = [obj for obj in objects if obj["type"] == "sighting"]
    assert [s["id"] for s in sightings] == [sighting.id]
    assert sightings[0]["labels"] == [sighting.threat_class]
    assert sightings[0]["count"] == 1
    headers = dict(sighting.headers)
    assert headers["content-type"] == b"application/stix+json;version=2.1"
    assert headers["socd.class"] == sighting.threat_class.encode()
    assert headers["socd.layer"] == sighting.layer.encode()
    assert sighting.value == orjson.dumps(bundle)  # compact
    return bundle


def sighted(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The object the bundle's sighting is a sighting of."""
    objects = {obj["id"]: obj for obj in bundle["objects"]}
    sighting = next(obj for obj in bundle["objects"] if obj["type"] == "sighting")
    return objects[sighting["sighting_of_ref"]]


def of_type(bundle: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in bundle["objects"] if obj["type"] == kind]
