"""DNS names written absolute (with the root's dot) are stored without it, in every
connector's DNS-name fields, so that a rule on ``.gov.vn`` sees ``binhphuoc.gov.vn.``."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from socd.normalize import build_normalizer, builtin_connectors, dns_name_fields
from socd.normalize.mapping import load_mapping_file
from socd.normalize.paths import lookup
from tests.unit.normalize.sensor_messages import FORMATS, normalize, settable

CASES = [
    (connector, target, source)
    for connector in sorted(FORMATS)
    for target, case in load_mapping_file(builtin_connectors()[connector]).specs()
    if tuple(target.split(".")) in dns_name_fields(
        load_mapping_file(builtin_connectors()[connector]))
    and case.when is None and case.transform is None
    for source in case.sources
    if settable(connector, source)
]


def test_every_connector_that_writes_a_dns_name_is_covered() -> None:
    """The table below is not empty for the connectors whose sensors write host names."""
    assert {connector for connector, _, _ in CASES} >= {"cyradar", "cef", "suricata", "zeek"}


@pytest.mark.parametrize(("connector", "target", "source"), CASES,
                         ids=lambda value: str(value))
@pytest.mark.parametrize(("written", "stored"), [
    ("binhphuoc.gov.vn.", "binhphuoc.gov.vn"),
    ("binhphuoc.gov.vn", "binhphuoc.gov.vn"),
    ("update-cdn.example.", "update-cdn.example"),
])
def test_the_root_dot_is_dropped(connector: str, target: str, source: str, written: str,
                                 stored: str) -> None:
    doc = normalize(connector, {source: written})
    assert lookup(doc, target) == stored


def test_a_lone_dot_is_kept_as_written() -> None:
    """``.`` is the root itself, not a name with a trailing dot: nothing to drop."""
    doc = normalize("cyradar", {"dst.domain": "."})
    assert doc["destination"]["domain"] == "."


def test_directory_domains_are_not_dns_names() -> None:
    """``user.domain`` (an Active Directory or NetBIOS name) is left as written."""
    ecs = build_normalizer("ecs", sensor="s", timezone="UTC", keep_original=False)
    doc: dict[str, Any] = ecs.normalize(orjson.dumps({
        "@timestamp": "2024-01-31T01:00:00.000Z", "user": {"domain": "CONTOSO."},
        "destination": {"domain": "portal.gov.vn."}, "url": {"domain": "a.example."},
        "dns": {"question": {"name": "c2.example.", "registered_domain": "example."}}}))
    assert doc["user"]["domain"] == "CONTOSO."
    assert doc["destination"]["domain"] == "portal.gov.vn"
    assert doc["url"]["domain"] == "a.example"
    assert doc["dns"]["question"] == {"name": "c2.example", "registered_domain": "example"}
