"""A shared threat as one STIX 2.1 bundle: the Kafka message layer 4 publishes.

For one threat document :meth:`SightingBuilder.build` gives a :class:`Sighting` whose bundle
holds, in this order (section numbers of STIX 2.1, OASIS Standard, 2021):

- the TLP ``marking-definition`` of ``sharing.tlp`` (§7.2.1.4, the library's ``TLP_*``);
- the department's ``identity`` (§4.5, ``sharing.identity``);
- the cyber-observables that may leave the department (:mod:`socd.sharing.redact`):
  ``ipv4-addr``, ``ipv6-addr`` (§6.4, §6.5), ``domain-name`` (§6.3), ``url`` (§6.12),
  ``file`` with hashes only (§6.7); their ids are the specification's deterministic UUIDv5
  ids (§2.9);
- one ``observed-data`` (§4.14) referring to them, unless redaction left none;
- the SDO sighted: a ``malware`` (§4.11) when the threat names malware
  (:func:`malware_name`), else an ``indicator`` (§4.7) whose STIX pattern matches the
  observables the sensor named as the indicator (all shared observables when it named
  none), else an ``attack-pattern`` (§4.2) named after the socd rule;
- the ``sighting`` (§5.2) of that SDO, where and by whom: the identity.

Ids of the identity, the SDO, the observed-data, the sighting and the bundle are UUIDv5 in
:data:`NAMESPACE` (see :func:`object_id`), so the same threat always gives the same bundle,
byte for byte, and a receiver that has seen a sighting's id knows it has it already.

Two writers give the same bytes. The *reference* (``SightingBuilder(..., checked=True)``)
makes every object as a ``stix2.v21`` object of OASIS's ``stix2`` library, checked against
the specification as it is made, and serializes it in the library's property order: it is
the definition of the right output. The normal writer puts the same properties, in the same
order and the same formats, into plain dicts and serializes the bundle in one ``orjson``
call, about ten times cheaper; the marking and the identity still come from the library,
once per builder. The tests hold the two to the same bytes over every connector's
documents, the real samples and generated documents, and have the library parse the result.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson
import stix2
from stix2.serialization import STIXJSONEncoder

from socd.config import SharingConfig
from socd.errors import ConfigError, Problem
from socd.sharing.redact import Hashes, Observable, Redactor, lookup

NAMESPACE: Final = uuid.UUID("d1dc9e56-bd32-4a03-bfc9-dc92893dee4f")
"""socd's own UUIDv5 namespace (a random UUID drawn once, fixed for good): the ids of the
objects socd makes (not of cyber-observables, which use the specification's namespace)."""

CONTENT_TYPE: Final = b"application/stix+json;version=2.1"
"""The media type of a STIX 2.1 bundle (STIX 2.1 §1.6 / TAXII 2.1 media types)."""

IDENTITY_TIME: Final = datetime(2020, 1, 1, tzinfo=UTC)
"""``created`` and ``modified`` of the department's identity: one fixed time, so that the
identity, which every bundle repeats under the same id, is the same object in each."""

TLP_MARKINGS: Final = {"white": stix2.TLP_WHITE, "green": stix2.TLP_GREEN,
                       "amber": stix2.TLP_AMBER, "red": stix2.TLP_RED}
"""``sharing.tlp`` → the TLP 1.0 marking-definition STIX 2.1 defines (§7.2.1.4)."""

MALWARE_CATEGORIES: Final[Mapping[str, Mapping[str, tuple[str, ...]]]] = {
    "cyradar": {"malware": (), "ransomware": ("ransomware",), "botnet": ("bot",),
                "apt_c2": ()},
    "cef": {"utm:virus": (), "virus": (), "anti-malware": (), "antivirus": ()},
}
"""``event.module`` → ``rule.category`` (lower case) → ``malware_types`` of the threats
whose ``rule.name`` names malware: Cyradar's threat categories of malicious software, and
the anti-virus categories of CEF firewalls and endpoint agents (Fortinet ``utm:virus``,
Trend Micro Deep Security ``Anti-Malware``). Suricata, Wazuh, LEEF and Zeek name a
signature, not the malware, and give an indicator."""

_FORTINET_VIRUS = re.compile(r"^file is infected:\s*", re.IGNORECASE)
_TECHNIQUE = re.compile(r"T[0-9]{4}(?:\.[0-9]{3})?")
_PATTERN_HASHES: Final = ("SHA-256", "SHA-512", "SHA-1", "MD5")
"""Of a file's hashes, the one its indicator pattern compares: the first it has of these."""

SCO_NAMESPACE: Final = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
"""The namespace of the deterministic ids of cyber-observables (STIX 2.1 §2.9)."""

_ENCODER = STIXJSONEncoder()
_SCO_CACHE_SIZE: Final = 4096
_ID_HASHES: Final = ("MD5", "SHA-1", "SHA-256", "SHA-512")
"""Of a file's hashes, the one its id is computed from: the first it has of these (STIX 2.1
§6.7, ``file``'s id contributing properties; the library's ``_choose_one_hash``)."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One shared threat, ready to publish.

    ``id`` is the sighting's STIX id (``sighting--<uuid>``) and the Kafka message key;
    ``value`` the bundle as compact UTF-8 JSON, the same bytes for the same document;
    ``headers`` the Kafka headers (``content-type``, ``socd.document_id``, ``socd.class``,
    ``socd.layer``); ``threat_class`` ``critical`` or ``high-risk``; ``layer`` ``1``..``4``.
    """

    id: str
    value: bytes
    headers: list[tuple[str, bytes]]
    threat_class: str
    layer: str


def object_id(kind: str, identity_id: str, document_id: str) -> str:
    """The id of the ``kind`` object (``sighting``, ``indicator``, ``bundle`` ...) of one
    threat: ``kind--`` + UUIDv5 in :data:`NAMESPACE` of ``"<identity id>/<kind>/<document
    id>"``. The department's identity is part of it, so two departments whose documents
    happen to share an id never share an object id."""
    return f"{kind}--{uuid.uuid5(NAMESPACE, f'{identity_id}/{kind}/{document_id}')}"


def _uuid5(prefix: Any, name: str) -> str:
    """``str(uuid.uuid5(namespace, prefix_text + name))`` where ``prefix`` is a SHA-1 fed
    with the namespace's bytes and ``prefix_text`` in UTF-8 (RFC 9562 §5.5: the first 16
    octets of SHA-1, version 5, variant 10); the same value, without the hashing of the
    common prefix again and the ``UUID`` object."""
    digest = prefix.copy()
    digest.update(name.encode())
    octets = bytearray(digest.digest()[:16])
    octets[6] = octets[6] & 0x0F | 0x50
    octets[8] = octets[8] & 0x3F | 0x80
    x = octets.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


_SCO_PREFIX: Final = hashlib.sha1(SCO_NAMESPACE.bytes, usedforsecurity=False)


def identity_id(name: str) -> str:
    """The department's identity id: ``identity--`` + UUIDv5 in :data:`NAMESPACE` of its
    name, the same for every socd process of the department."""
    return f"identity--{uuid.uuid5(NAMESPACE, name)}"


def _dumps(obj: Any) -> bytes:
    """A ``stix2`` object as compact JSON in the library's property order, timestamps as
    the library writes them."""
    return orjson.dumps(obj, default=_ENCODER.default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def stix_timestamps(when: datetime) -> tuple[str, str]:
    """(``created``/``modified`` form, other timestamps' form) of a time, as STIX 2.1 §3.2
    and the ``stix2`` library write them: ``YYYY-MM-DDTHH:MM:SS``, the fraction of a second
    without trailing zeros, ``Z``; ``created`` and ``modified`` keep at least milliseconds
    (``.000``), the others (``first_seen``, ``valid_from`` ...) drop a zero fraction.

    The library's ``stix2.utils.format_datetime`` for precision ``millisecond`` (constraint
    ``min``) and ``any``; ``when`` must carry a time zone.
    """
    zoned = when.astimezone(UTC)
    seconds = zoned.strftime("%Y-%m-%dT%H:%M:%S")
    micro = zoned.microsecond
    if not micro:
        return seconds + ".000Z", seconds + "Z"
    fraction = f"{micro:06d}".rstrip("0")
    return f"{seconds}.{fraction:0<3}Z", f"{seconds}.{fraction}Z"


def sco_id(observable: Observable) -> str:
    """The deterministic id of a cyber-observable (STIX 2.1 §2.9): ``type--`` + UUIDv5 in
    :data:`SCO_NAMESPACE` of the RFC 8785 canonical JSON of its id contributing properties:
    ``value`` of an address, domain name or URL, for a ``file`` one of its ``hashes``
    (:data:`_ID_HASHES`). Each property here is a one-key object of one string, whose
    RFC 8785 form is orjson's compact form (UTF-8, ``"``, ``\\`` and control characters
    escaped as JSON says)."""
    value = observable.value
    if observable.type == "file":
        assert isinstance(value, tuple)
        hashes = dict(value)
        name = next((n for n in _ID_HASHES if n in hashes), value[0][0])
        contributing: dict[str, Any] = {"hashes": {name: hashes[name]}}
    else:
        contributing = {"value": value}
    return f"{observable.type}--{_uuid5(_SCO_PREFIX, orjson.dumps(contributing).decode())}"


def _first_text(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((item for item in value if isinstance(item, str)), None)
    return value if isinstance(value, str) else None


def threat_time(doc: Mapping[str, Any]) -> datetime:
    """The threat's time: its ``@timestamp`` (UTC).

    ``@timestamp`` is chosen, not ``event.ingested``: the pipeline sets ``event.ingested``
    anew each time it reads a message, so a replay would give other bytes, while
    ``@timestamp`` is the sensor's time (or Kafka's, when the sensor's is out of bounds),
    the same at every reading. Raises ``ValueError`` when it is missing or not a time.
    """
    value = doc.get("@timestamp")
    if not isinstance(value, str):
        raise ValueError("the threat document has no @timestamp")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"@timestamp {value!r} has no UTC offset")
    return moment.astimezone(UTC)


def malware_name(doc: Mapping[str, Any]) -> tuple[str, tuple[str, ...]] | None:
    """(name, ``malware_types``) when the threat names malware, else None.

    ECS ``threat.software.name`` (unless ``threat.software.type`` says ``Tool``), or
    ``rule.name`` for a category of :data:`MALWARE_CATEGORIES` (Fortinet's ``File is
    infected: NAME`` gives NAME).
    """
    software = _first_text(lookup(doc, "threat.software.name"))
    kind = _first_text(lookup(doc, "threat.software.type"))
    if software and software.strip() and (kind is None or kind.lower() == "malware"):
        return software, ()
    module = _first_text(lookup(doc, "event.module"))
    categories = MALWARE_CATEGORIES.get(module or "")
    if not categories:
        return None
    rule_name = _first_text(lookup(doc, "rule.name"))
    if not rule_name:
        return None
    category = lookup(doc, "rule.category")
    for item in category if isinstance(category, list) else [category]:
        if isinstance(item, str) and item.lower() in categories:
            name = _FORTINET_VIRUS.sub("", rule_name).strip()
            return (name, categories[item.lower()]) if name else None
    return None


def techniques(doc: Mapping[str, Any]) -> list[str]:
    """MITRE ATT&CK technique ids of ``threat.technique.id`` and
    ``threat.technique.subtechnique.id`` (``T1110``, ``T1110.001``), each once."""
    found: dict[str, None] = {}
    for field in ("threat.technique.id", "threat.technique.subtechnique.id"):
        value = lookup(doc, field)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and _TECHNIQUE.fullmatch(item.strip()):
                found[item.strip()] = None
    return list(found)


def _attack_reference(technique: str) -> Any:
    path = technique.replace(".", "/")
    return stix2.v21.ExternalReference(
        source_name="mitre-attack", external_id=technique,
        url=f"https://attack.mitre.org/techniques/{path}/")


def _quote(value: str) -> str:
    """A STIX pattern string literal (STIX 2.1 §9.2: ``\\`` and ``'`` escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _comparison(observable: Observable) -> str:
    """One observation expression of a STIX pattern (§9) that matches ``observable``."""
    if observable.type == "file":
        assert isinstance(observable.value, tuple)
        hashes = dict(observable.value)
        name = next(n for n in _PATTERN_HASHES if n in hashes)
        return f"[file:hashes.{_quote(name)} = {_quote(hashes[name])}]"
    assert isinstance(observable.value, str)
    return f"[{observable.type}:value = {_quote(observable.value)}]"


class _Indicator(stix2.v21.Indicator):  # type: ignore[misc]
    """The library's ``indicator``, without its check of the pattern's grammar.

    socd writes every pattern itself from :func:`_comparison`: observation expressions of a
    fixed shape whose only free parts are string literals, escaped as §9.2 says, joined by
    ``OR``. The library's check (an ANTLR parse, ~0.35 ms per comparison, most of the cost
    of a bundle) could find nothing wrong with them; the tests run it on every pattern they
    build (``stix2.parse`` of each bundle), generated values with quotes and backslashes
    included. Every other check of the library is made as usual.
    """

    def _check_object_constraints(self) -> None:
        # the checks of Indicator's bases (granular markings); valid_until is never set
        super(stix2.v21.Indicator, self)._check_object_constraints()


@dataclass(frozen=True, slots=True)
class _Content:
    """What the bundle of one threat says, before either writer writes it.

    ``kind`` is the SDO's type (``malware``, ``indicator`` or ``attack-pattern``);
    ``malware_types`` and ``pattern`` go with a malware and an indicator; ``description``
    is the sighting's (the socd rule's name, redacted), None when there is none.
    """

    document_id: str
    threat_class: str
    when: datetime
    observables: tuple[Observable, ...]
    kind: str
    name: str
    malware_types: tuple[str, ...]
    pattern: str
    techniques: list[str]
    description: str | None


class SightingBuilder:
    """Builds the bundle of each shared threat (see the module's docstring).

    Made once from the ``sharing`` settings: the identity, the TLP marking and the
    redaction ranges are prepared here; an identity without a name or a redacted domain that
    is not a DNS name raises :class:`~socd.errors.ConfigError` (``sharing.identity.name``,
    ``sharing.redact.domains``). Cyber-observables are kept, serialized, for the next
    threats that carry the same value, and ATT&CK references for the next threats of the
    same technique (at most 4096 of each).

    ``checked=True`` builds every object with the ``stix2`` library instead (the reference:
    the same bytes, checked as they are made, about ten times the CPU); for tests and
    ``bench/sharing.py``.
    """

    def __init__(self, sharing: SharingConfig, *, checked: bool = False) -> None:
        identity = sharing.identity
        if not identity.name.strip():
            raise ConfigError([Problem(
                None, "the department's name is needed to share: set it as the national "
                "centre knows it", key="sharing.identity.name")])
        try:
            self._redactor = Redactor(sharing.redact)
        except ValueError as exc:
            raise ConfigError([Problem(None, f"{exc}: write a DNS name such as "
                                       "internal.example.gov.vn",
                                       key="sharing.redact.domains")]) from None
        self._checked = checked
        self._marking = TLP_MARKINGS[sharing.tlp]
        self._markings = [self._marking.id]
        self._identity_id = identity_id(identity.name)
        optional: dict[str, Any] = {}
        if identity.sectors:
            optional["sectors"] = list(identity.sectors)
        if identity.contact_information:
            optional["contact_information"] = identity.contact_information
        self._identity = stix2.v21.Identity(
            id=self._identity_id, created_by_ref=self._identity_id, created=IDENTITY_TIME,
            modified=IDENTITY_TIME, name=identity.name,
            identity_class=identity.identity_class,
            object_marking_refs=self._markings, **optional)
        self._head = _dumps(self._marking) + b"," + _dumps(self._identity)
        self._head_fragment = orjson.Fragment(self._head)
        self._id_prefixes = {kind: hashlib.sha1(
            NAMESPACE.bytes + f"{self._identity_id}/{kind}/".encode(), usedforsecurity=False)
            for kind in ("observed-data", "malware", "indicator", "attack-pattern",
                         "sighting", "bundle")}
        """The SHA-1 of each kind's ids fed with all but the document id (object_id)."""
        self._scos: dict[tuple[str, str | Hashes], tuple[str, orjson.Fragment]] = {}
        self._references: dict[str, dict[str, str]] = {}

    @property
    def identity(self) -> Any:
        """The department's ``stix2.v21.Identity``."""
        return self._identity

    @property
    def redactor(self) -> Redactor:
        """The compiled ``sharing.redact`` settings."""
        return self._redactor

    def build(self, document: Mapping[str, Any], document_id: str) -> Sighting:
        """The bundle of one threat document (a socd threat: ECS fields and ``socd.*``).

        ``document_id`` is the document's id in Elasticsearch (the same at every replay).
        Raises ``ValueError`` when the document has no ``@timestamp``, ``socd.class`` or
        ``socd.layer`` (every threat of socd's pipeline has them).
        """
        threat_class = _first_text(lookup(document, "socd.class"))
        layer = lookup(document, "socd.layer")
        if threat_class not in ("critical", "high-risk"):
            raise ValueError(f"socd.class {threat_class!r} is not a threat class")
        if not isinstance(layer, (int, str)) or str(layer) not in ("1", "2", "3", "4"):
            raise ValueError(f"socd.layer {layer!r} is not a layer 1-4")
        content = self._content(document, document_id, threat_class, threat_time(document))
        if self._checked:
            value = self._reference_bundle(content)
            sighting_id = object_id("sighting", self._identity_id, document_id)
        else:
            sighting_id = self._id("sighting", document_id)
            value = self._bundle(content, sighting_id)
        layer_text = str(layer)
        headers = [("content-type", CONTENT_TYPE),
                   ("socd.document_id", document_id.encode()),
                   ("socd.class", threat_class.encode()),
                   ("socd.layer", layer_text.encode())]
        return Sighting(sighting_id, value, headers, threat_class, layer_text)

    def _content(self, document: Mapping[str, Any], document_id: str, threat_class: str,
                 when: datetime) -> _Content:
        """What is shared of the document, and which SDO is sighted: malware named, else
        the indicator, else the attack pattern."""
        shareable = self._redactor.shareable(document)
        observables = shareable.observables
        rule_name = shareable.text(lookup(document, "socd.rule.name"))
        named = malware_name(document)
        malware = shareable.text(named[0]) if named else None
        kind, name, pattern = "attack-pattern", "", ""
        types: tuple[str, ...] = ()
        if named and malware:
            kind, name, types = "malware", malware, named[1]
        elif observables:
            indicated = [o for o in observables if o.indicated] or observables
            kind, pattern = "indicator", " OR ".join(_comparison(o) for o in indicated)
            name = (shareable.text(_first_text(lookup(document, "rule.name"))) or rule_name
                    or "threat")
        else:
            name = (rule_name or shareable.text(_first_text(lookup(document, "rule.name")))
                    or "threat")
        return _Content(document_id, threat_class, when, observables, kind, name, types,
                        pattern, techniques(document), rule_name)

    # ------------------------------------------------------------- the normal writer

    def _id(self, kind: str, document_id: str) -> str:
        """:func:`object_id` of this department's ``kind`` object of a document."""
        return f"{kind}--{_uuid5(self._id_prefixes[kind], document_id)}"

    def _bundle(self, content: _Content, sighting_id: str) -> bytes:
        """The bundle as plain dicts in the library's property order, one ``orjson`` call
        (the marking, identity and cyber-observables already serialized)."""
        ident = self._identity_id
        markings = self._markings
        document_id = content.document_id
        created, seen = stix_timestamps(content.when)
        objects: list[Any] = [self._head_fragment]
        sco_ids: list[str] = []
        file_ids: list[str] = []
        for observable in content.observables:
            sco, fragment = self._sco(observable)
            sco_ids.append(sco)
            if observable.type == "file":
                file_ids.append(sco)
            objects.append(fragment)
        observed_ids: list[str] = []
        if sco_ids:
            observed_ids.append(self._id("observed-data", document_id))
            objects.append({
                "type": "observed-data", "spec_version": "2.1", "id": observed_ids[0],
                "created_by_ref": ident, "created": created, "modified": created,
                "first_observed": seen, "last_observed": seen, "number_observed": 1,
                "object_refs": sco_ids, "object_marking_refs": markings})
        kind = content.kind
        sdo_id = self._id(kind, document_id)
        sdo: dict[str, Any] = {
            "type": kind, "spec_version": "2.1", "id": sdo_id, "created_by_ref": ident,
            "created": created, "modified": created, "name": content.name}
        if kind == "malware":
            if content.malware_types:
                sdo["malware_types"] = list(content.malware_types)
            sdo["is_family"] = False
            if file_ids:
                sdo["sample_refs"] = file_ids
        elif kind == "indicator":
            sdo["pattern"] = content.pattern
            sdo["pattern_type"] = "stix"
            sdo["pattern_version"] = "2.1"
            sdo["valid_from"] = seen
        if content.techniques:
            sdo["external_references"] = [self._attack(t) for t in content.techniques]
        sdo["object_marking_refs"] = markings
        objects.append(sdo)
        sighting: dict[str, Any] = {
            "type": "sighting", "spec_version": "2.1",
            "id": sighting_id, "created_by_ref": ident, "created": created,
            "modified": created}
        if content.description:
            sighting["description"] = content.description
        sighting["first_seen"] = sighting["last_seen"] = seen
        sighting["count"] = 1
        sighting["sighting_of_ref"] = sdo_id
        if observed_ids:
            sighting["observed_data_refs"] = observed_ids
        sighting["where_sighted_refs"] = [ident]
        sighting["labels"] = [content.threat_class]
        sighting["object_marking_refs"] = markings
        objects.append(sighting)
        return orjson.dumps({"type": "bundle", "id": self._id("bundle", document_id),
                             "objects": objects})

    def _sco(self, observable: Observable) -> tuple[str, orjson.Fragment]:
        """(id, JSON) of a cyber-observable, kept for the next threats that carry it."""
        key = (observable.type, observable.value)
        found = self._scos.get(key)
        if found is not None:
            return found
        identifier = sco_id(observable)
        body: dict[str, Any] = {"type": observable.type, "spec_version": "2.1",
                                "id": identifier}
        if observable.type == "file":
            assert isinstance(observable.value, tuple)
            body["hashes"] = dict(observable.value)
        else:
            body["value"] = observable.value
        body["object_marking_refs"] = self._markings
        if len(self._scos) >= _SCO_CACHE_SIZE:
            self._scos.clear()
        found = self._scos[key] = (identifier, orjson.Fragment(orjson.dumps(body)))
        return found

    def _attack(self, technique: str) -> dict[str, str]:
        """The ATT&CK external reference of a technique, kept for the next threats."""
        found = self._references.get(technique)
        if found is None:
            if len(self._references) >= _SCO_CACHE_SIZE:
                self._references.clear()
            found = self._references[technique] = {
                "source_name": "mitre-attack",
                "url": f"https://attack.mitre.org/techniques/{technique.replace('.', '/')}/",
                "external_id": technique}
        return found

    # ------------------------------------------------------------- the reference

    def _reference_bundle(self, content: _Content) -> bytes:
        """The bundle made of ``stix2.v21`` objects, each checked by the library as it is
        made and serialized in its property order; the definition of the right bytes."""
        ident = self._identity_id
        document_id = content.document_id
        when = content.when
        common = {"created_by_ref": ident, "created": when, "modified": when,
                  "object_marking_refs": self._markings}
        parts = [self._head]
        sco_ids: list[str] = []
        file_ids: list[str] = []
        for observable in content.observables:
            sco = _reference_sco(observable, self._markings)
            sco_ids.append(sco.id)
            if observable.type == "file":
                file_ids.append(sco.id)
            parts.append(_dumps(sco))
        observed_ids: list[str] = []
        if sco_ids:
            observed = stix2.v21.ObservedData(
                id=object_id("observed-data", ident, document_id), first_observed=when,
                last_observed=when, number_observed=1, object_refs=sco_ids, **common)
            observed_ids.append(observed.id)
            parts.append(_dumps(observed))
        optional: dict[str, Any] = {}
        if content.techniques:
            optional["external_references"] = [_attack_reference(t)
                                               for t in content.techniques]
        sdo_id = object_id(content.kind, ident, document_id)
        sdo: Any
        if content.kind == "malware":
            if content.malware_types:
                optional["malware_types"] = list(content.malware_types)
            if file_ids:
                optional["sample_refs"] = file_ids
            sdo = stix2.v21.Malware(id=sdo_id, name=content.name, is_family=False,
                                    **optional, **common)
        elif content.kind == "indicator":
            sdo = _Indicator(id=sdo_id, name=content.name, pattern=content.pattern,
                             pattern_type="stix", valid_from=when, **optional, **common)
        else:
            sdo = stix2.v21.AttackPattern(id=sdo_id, name=content.name, **optional, **common)
        parts.append(_dumps(sdo))
        optional = {}
        if content.description:
            optional["description"] = content.description
        if observed_ids:
            optional["observed_data_refs"] = observed_ids
        sighting = stix2.v21.Sighting(
            id=object_id("sighting", ident, document_id), sighting_of_ref=sdo.id,
            where_sighted_refs=[ident], first_seen=when, last_seen=when, count=1,
            labels=[content.threat_class], **optional, **common)
        parts.append(_dumps(sighting))
        bundle_id = object_id("bundle", ident, document_id)
        return b'{"type":"bundle","id":"%s","objects":[%s]}' % (
            bundle_id.encode(), b",".join(parts))


def _reference_sco(observable: Observable, markings: list[str]) -> Any:
    """A cyber-observable as the library makes it (which computes its deterministic id)."""
    if observable.type == "file":
        assert isinstance(observable.value, tuple)
        return stix2.v21.File(hashes=dict(observable.value), object_marking_refs=markings)
    kinds = {"ipv4-addr": stix2.v21.IPv4Address, "ipv6-addr": stix2.v21.IPv6Address,
             "domain-name": stix2.v21.DomainName, "url": stix2.v21.URL}
    return kinds[observable.type](value=observable.value, object_marking_refs=markings)
