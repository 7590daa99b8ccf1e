"""The normal bundle writer gives the very bytes of the reference (every object made and
checked by the ``stix2`` library, ``SightingBuilder(..., checked=True)``), and the library
reads them back with no custom content."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import stix2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2.utils import format_datetime, parse_into_datetime

from socd.config import SharingConfig
from socd.sharing import Observable, Sighting, SightingBuilder
from socd.sharing.stix import sco_id, stix_timestamps
from socd.simulate import FORMATS
from tests.unit.normalize.conftest import SAMPLES, run_sample
from tests.unit.sharing.threats import check_bundle, sharing_config, sighted, simulated, threat

REDACT = {"networks": ["10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "203.0.113.0/28",
                       "2001:db8:ffff::/48"],
          "domains": ["dongnai.gov.vn", "noi-bo.example"]}


class Pair:
    """A normal builder and a reference builder of the same settings."""

    def __init__(self, config: SharingConfig) -> None:
        self.fast = SightingBuilder(config)
        self.reference = SightingBuilder(config, checked=True)

    def same(self, document: dict[str, Any], document_id: str) -> Sighting:
        """Both builds of one document: the same Sighting, bytes included; parsed by the
        library without custom content."""
        before = copy.deepcopy(document)
        built = self.fast.build(document, document_id)
        assert document == before  # the document is only read
        expected = self.reference.build(document, document_id)
        assert built.value == expected.value
        assert built == expected
        stix2.parse(built.value, allow_custom=False)
        return built


@pytest.fixture(scope="module")
def pair() -> Pair:
    return Pair(sharing_config(redact=REDACT))


def base(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"@timestamp": "2026-03-02T01:02:03.456Z",
                           "event": {"id": "ev-1", "module": "cyradar"}}
    doc.update(fields)
    return threat(doc)


# ------------------------------------------------------------------ the paths differ


def test_the_reference_is_made_by_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the reference makes ``stix2`` objects for a threat: the equality the other
    tests assert compares two independent writers."""
    pair = Pair(sharing_config())
    doc = base(source={"ip": "198.51.100.7"})

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("stix2 object made")

    monkeypatch.setattr(stix2.v21, "Sighting", refuse)
    monkeypatch.setattr(stix2.v21, "IPv4Address", refuse)
    pair.fast.build(doc, "d")
    with pytest.raises(AssertionError, match="stix2 object made"):
        pair.reference.build(doc, "d")


# ------------------------------------------------------------------ table tests


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("tlp", ["white", "amber"])
def test_every_connector(fmt: str, tlp: str) -> None:
    """Simulated documents of every connector: the same bytes from both writers, from
    fresh builders and from builders that have kept the observables of earlier threats."""
    pair = Pair(sharing_config(redact=REDACT, tlp=tlp))
    docs = simulated(fmt, 120, seed=11)
    assert len(docs) > 80
    for round_ in range(2):
        for number, doc in enumerate(docs):
            check_bundle(pair.same(doc, f"{fmt}-{round_}-{number}"), tlp=tlp)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_real_samples(name: str, shared_dir: Path, pair: Pair) -> None:
    """Every document of the real sensor samples, taken as a threat."""
    for number, doc in enumerate(run_sample(shared_dir, name).documents):
        pair.same(threat(doc), f"{name}-{number}")


MD5, SHA1, SHA256, SHA512 = "ab" * 16, "cd" * 20, "ef" * 32, "12" * 64

CASES: list[tuple[str, dict[str, Any], str]] = [
    ("malware of ECS", {"threat": {"software": {"name": "PlugX", "type": "Malware"}},
                        "source": {"ip": "198.51.100.7"}}, "malware"),
    ("ransomware with a sample", {
        "rule": {"category": "ransomware", "name": "LockBit 3.0 payload"},
        "file": {"hash": {"sha256": SHA256, "md5": MD5}},
        "threat": {"technique": {"id": ["T1486"]}}}, "malware"),
    ("fortinet virus", {"event": {"module": "cef"},
                        "rule": {"category": "utm:virus",
                                 "name": "File is infected: W32/Agent.X!tr"}}, "malware"),
    ("ipv4", {"source": {"ip": "198.51.100.7"}}, "indicator"),
    ("ipv6", {"destination": {"ip": "2001:db8:1::5"}}, "indicator"),
    ("mapped ipv6", {"destination": {"ip": "::ffff:198.51.100.9"}}, "indicator"),
    ("domain", {"dns": {"question": {"name": "Evil.Example."}}}, "indicator"),
    ("host name of a shared address", {"destination": {"ip": "198.51.100.31",
                                                        "domain": "c2.example"}},
     "indicator"),
    ("url", {"url": {"full": "https://c2.example/a?b=c&d=%41"}}, "indicator"),
    ("file md5", {"file": {"hash": {"md5": MD5}}}, "indicator"),
    ("file sha1", {"file": {"hash": {"sha1": SHA1}}}, "indicator"),
    ("file sha256", {"file": {"hash": {"sha256": SHA256.upper()}}}, "indicator"),
    ("file sha512", {"file": {"hash": {"sha512": SHA512}}}, "indicator"),
    ("file of every hash", {"file": {"hash": {"sha512": SHA512, "sha256": SHA256,
                                              "sha1": SHA1, "md5": MD5}}}, "indicator"),
    ("cef file hash", {"cef": {"file_hash": SHA1}}, "indicator"),
    ("every kind, one named", {
        "source": {"ip": "198.51.100.7"}, "destination": {"ip": "2001:db8:2::1"},
        "url": {"full": "http://c2.example/x", "domain": "c2.example"},
        "file": {"hash": {"md5": MD5}},
        "threat": {"indicator": {"type": "domain-name", "name": "c2.example"},
                   "technique": {"id": "T1071.001"}}}, "indicator"),
    ("indicator name of each type", {
        "threat": {"indicator": {"type": "file", "name": SHA256}}}, "indicator"),
    ("quotes and backslashes", {
        "url": {"full": "http://c2.example/it's\\here/\"q\"/\\'"},
        "rule": {"name": "Sig 'quoted' \\ \"double\""}}, "indicator"),
    ("unicode", {"url": {"full": "http://c2.example/tải-về/Đồng-Nai?q=ñ&e=😀"},
                 "rule": {"name": "Tên quy tắc: mã độc 😀"},
                 "threat": {"indicator": {"type": "domain-name", "name": "bücher.example"}}},
     "indicator"),
    ("unicode malware name", {"threat": {"software": {"name": "Mã độc ĐN-01"}}}, "malware"),
    ("control characters in text", {"rule": {"name": "a\tb\u0001c\u007f"},
                                    "source": {"ip": "198.51.100.7"}}, "indicator"),
    ("attack pattern", {"source": {"ip": "10.1.2.3"},
                        "threat": {"technique": {"id": ["T1110.001", "T1078"],
                                                 "subtechnique": {"id": "T1078.002"}}}},
     "attack-pattern"),
    ("nothing shareable", {"source": {"ip": "10.1.2.3", "domain": "ws-ketoan-05"},
                           "destination": {"ip": "192.168.1.1"},
                           "url": {"full": "http://intranet.dongnai.gov.vn/x"},
                           "host": {"name": "srv-dc01"}}, "attack-pattern"),
    ("redacted: internal addresses and names in text", {
        "source": {"ip": "198.51.100.7"}, "host": {"name": "srv-dc01"},
        "user": {"name": "khtc.tran"},
        "rule": {"name": "srv-dc01 to 10.1.2.3 by khtc.tran via mail.dongnai.gov.vn"}},
     "indicator"),
    ("redacted: a range of the settings", {"source": {"ip": "203.0.113.5"},
                                           "destination": {"ip": "203.0.113.99"}},
     "indicator"),
    ("redacted: url with a user, url on a redacted domain", {
        "url": {"full": "http://user:pw@c2.example/", "original": "http://noi-bo.example/"},
        "destination": {"ip": "198.51.100.1"}}, "indicator"),
]


@pytest.mark.parametrize(("case", "fields", "kind"), CASES, ids=[c[0] for c in CASES])
def test_cases(case: str, fields: dict[str, Any], kind: str, pair: Pair) -> None:
    """Each kind of SDO, each observable kind, redaction, unicode and escaping."""
    doc = base()
    for key, value in fields.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    sighting = pair.same(doc, case)
    assert sighted(check_bundle(sighting))["type"] == kind


@pytest.mark.parametrize("stamp", [
    "2026-03-02T01:02:03Z", "2026-03-02T01:02:03.000Z", "2026-03-02T01:02:03.1Z",
    "2026-03-02T01:02:03.120Z", "2026-03-02T01:02:03.123456Z", "2026-03-02T01:02:03.000001Z",
    "2026-03-02T08:02:03.5+07:00", "2026-03-01T20:02:03-05:00", "1999-12-31T23:59:59.999Z"])
def test_times(stamp: str, pair: Pair) -> None:
    """Whole seconds, milliseconds, microseconds and offsets: ``created`` keeps at least
    milliseconds, ``first_seen`` and ``valid_from`` drop a zero fraction, as the library
    writes them."""
    pair.same(base(**{"@timestamp": stamp, "source": {"ip": "198.51.100.7"}}), stamp)


@pytest.mark.parametrize("identity", [
    {"name": "Sở Thông tin và Truyền thông Đồng Nai"},
    {"name": 'So "TTTT" \\ Dong Nai', "contact_information": "soc@dongnai.example"},
    {"name": "CERT", "identity_class": "group", "sectors": []},
    {"name": "sensor", "identity_class": "system", "sectors": ["technology", "defense"]},
])
def test_identities(identity: dict[str, Any]) -> None:
    """The department's identity as configured, in every bundle of both writers."""
    pair = Pair(sharing_config(identity=identity))
    for number, doc in enumerate(simulated("cyradar", 20)):
        check_bundle(pair.same(doc, str(number)))


# ------------------------------------------------------------------ properties

TEXT = st.text(max_size=40)
ADDRESS = st.one_of(st.ip_addresses().map(str), st.sampled_from(
    ["10.1.2.3", "::ffff:10.0.0.1", "2002:a01:203::1", "198.51.100.7", "not an address"]))
DNS_NAME = st.one_of(
    st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){1,3}", fullmatch=True),
    st.sampled_from(["x.dongnai.gov.vn", "printer.local", "bücher.example", "c2.example"]))
NAME = st.one_of(TEXT, DNS_NAME)
URL = st.builds(lambda scheme, host, path: f"{scheme}://{host}/{path}",
                st.sampled_from(["http", "https", "ftp"]),
                st.one_of(DNS_NAME, st.sampled_from(["198.51.100.7", "[2001:db8:5::1]"])),
                TEXT)
HEX = st.integers(0, 2**512 - 1).map(lambda n: f"{n:0128x}")
HASHES = st.dictionaries(st.sampled_from(["md5", "sha1", "sha256", "sha512"]), HEX).map(
    lambda found: {k: v[:{"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}[k]]
                   for k, v in found.items()})
WHEN = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9998, 12, 31),
                    timezones=st.sampled_from([UTC, timezone(timedelta(hours=7)),
                                               timezone(timedelta(hours=-9, minutes=-30))]))


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy, st.lists(strategy, max_size=3))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Threat documents with any of the fields read, of any value (None: absent)."""
    fields: dict[str, Any] = {
        "@timestamp": draw(WHEN).isoformat(),
        "source.ip": draw(_maybe(ADDRESS)), "destination.ip": draw(_maybe(ADDRESS)),
        "source.domain": draw(_maybe(NAME)), "destination.domain": draw(_maybe(NAME)),
        "url.full": draw(_maybe(URL)), "url.domain": draw(_maybe(NAME)),
        "dns.question.name": draw(_maybe(NAME)), "file.hash": draw(st.none() | HASHES),
        "cef.file_hash": draw(st.none() | HEX.map(lambda h: h[:40])),
        "host.name": draw(st.none() | NAME), "user.name": draw(st.none() | TEXT),
        "rule.name": draw(st.none() | TEXT), "rule.category": draw(st.none() | st.sampled_from(
            ["malware", "ransomware", "botnet", "virus", "phishing"])),
        "event.module": draw(st.sampled_from(["cyradar", "cef", "suricata"])),
        "threat.software.name": draw(st.none() | TEXT),
        "threat.software.type": draw(st.none() | st.sampled_from(["Malware", "Tool"])),
        "threat.technique.id": draw(_maybe(st.from_regex(r"T[0-9]{4}(\.[0-9]{3})?",
                                                          fullmatch=True) | TEXT)),
        "threat.indicator.type": draw(st.none() | st.sampled_from(
            ["ipv4-addr", "ipv6-addr", "domain-name", "url", "file", "email-addr"])),
        "threat.indicator.name": draw(_maybe(st.one_of(ADDRESS, NAME, URL, HEX.map(
            lambda h: h[:64])))),
    }
    doc: dict[str, Any] = {}
    for dotted, value in fields.items():
        if value is None:
            continue
        if dotted == "@timestamp" or draw(st.booleans()):
            node = doc
            *parents, last = dotted.split(".") if dotted != "@timestamp" else [dotted]
            for part in parents:
                node = node.setdefault(part, {})
            node[last] = value
        else:
            doc[dotted] = value  # the dotted name as a key, as some connectors write it
    return threat(doc, threat_class=draw(st.sampled_from(["critical", "high-risk"])),
                  layer=draw(st.integers(1, 4)), rule=draw(TEXT))


PAIR = Pair(sharing_config(redact=REDACT))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.text(min_size=1, max_size=30))
def test_any_document_same_bytes(document: dict[str, Any], document_id: str) -> None:
    """Any threat document and document id: both writers give the same bytes, and the
    library reads them."""
    PAIR.same(document, document_id)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["ipv4-addr", "ipv6-addr", "domain-name", "url"]), st.text())
def test_observable_ids_are_the_librarys(kind: str, value: str) -> None:
    """The id of an observable of any value (quotes, backslashes, control characters,
    any Unicode) is the one the library computes (RFC 8785 canonical JSON, §2.9)."""
    classes = {"ipv4-addr": stix2.v21.IPv4Address, "ipv6-addr": stix2.v21.IPv6Address,
               "domain-name": stix2.v21.DomainName, "url": stix2.v21.URL}
    assert sco_id(Observable(kind, value)) == classes[kind](value=value).id


@settings(max_examples=100, deadline=None)
@given(HASHES.filter(bool))
def test_file_ids_are_the_librarys(found: dict[str, str]) -> None:
    """A file's id from the one hash the library chooses (MD5, SHA-1, SHA-256, SHA-512)."""
    names = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
    hashes = tuple((names[k], v) for k, v in found.items())
    assert sco_id(Observable("file", hashes)) == stix2.v21.File(hashes=dict(hashes)).id


@settings(max_examples=500, deadline=None)
@given(WHEN)
def test_timestamps_are_the_librarys(when: datetime) -> None:
    """``created``/``modified`` (millisecond precision, at least) and the other timestamps
    (any precision) as the library formats them."""
    created = parse_into_datetime(when, precision="millisecond", precision_constraint="min")
    other = parse_into_datetime(when)
    assert stix_timestamps(when) == (format_datetime(created), format_datetime(other))
