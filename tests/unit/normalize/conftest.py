"""Shared by the connector tests: the ECS reference, the sample files, a document walker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from socd.errors import InputError
from socd.normalize import Normalizer, build_normalizer, iter_messages

# Every file of ../shared/samples (but licences and notes) with its connector, and what it
# must give: documents and dead letters (messages the connector rejects).
SAMPLES: dict[str, tuple[str, int, int]] = {
    "suricata/oak_eve_2013_subset.json": ("suricata", 1112, 0),
    "suricata/surevego_eve.json": ("suricata", 266, 0),
    "suricata/surevego_eve_broken.json": ("suricata", 262, 7),
    "suricata/crowdsec_suricata-logs-evelog.log": ("suricata", 8, 0),
    "suricata/crowdsec_suricata-eve-detect.log": ("suricata", 4, 0),
    "suricata/tenzir_eve_excerpt.json": ("suricata", 7, 0),
    # generator output: every timestamp is the literal "{timestamp}"
    "wazuh/wazuh_indexer_sample_alerts_subset.json": ("wazuh", 0, 67),
    "wazuh/wazuh_indexer_wazuh-event.sample.json": ("wazuh", 1, 0),
    "cef/crowdsec_cef-logs.log": ("cef", 4, 0),
    "cef/crowdsec_unifi-cef-logs.log": ("cef", 3, 0),
    "cef/tenzir_checkpoint.log": ("cef", 3, 0),
    "cef/logstash-codec-cef_spec_inputs.jsonl": ("cef", 29, 0),  # the "raw" of each row
    "leef/tenzir_leef1.log": ("leef", 5, 0),
    "leef/tenzir_leef2.log": ("leef", 3, 0),
    "zeek/zeek_docs_intel_examples.ndjson": ("zeek", 3, 0),
    "zeek/zeek_docs_notice_example.ndjson": ("zeek", 1, 0),
}
# Zeek's own test logs (TSV): their timestamps are masked as XXXXXXXXXX.XXXXXX
ZEEK_TSV_ROWS = {
    "scripts.base.frameworks.notice.suppression.notice.log": 1,
    "scripts.policy.frameworks.intel.notice.notice.log": 3,
    "scripts.policy.frameworks.intel.seen.filename-in-http-get-response.intel.log": 1,
    "scripts.policy.frameworks.intel.seen.smb.intel.log": 1,
    "scripts.policy.frameworks.intel.whitelisting.intel.log": 20,
    "scripts.policy.frameworks.software.vulnerable.notice.log": 2,
    "scripts.policy.misc.capture-loss.notice.log": 2,
    "scripts.policy.protocols.ftp.bruteforce.notice.log": 1,
    "scripts.policy.protocols.http.sql-injection-plus-dvwa2.notice.log": 2,
    "scripts.policy.protocols.ssh.detect-bruteforcing.notice.log": 1,
    "scripts.policy.protocols.ssl.expiring-certs.notice.log": 2,
}
for _name, _rows in ZEEK_TSV_ROWS.items():
    SAMPLES[f"zeek/zeek_btest_tsv/{_name}"] = ("zeek", 0, _rows)

IGNORED_SAMPLE_FILES = (".md", ".txt", ".TXT")


@dataclass
class Outcome:
    """What a connector made of one sample file."""

    documents: list[dict[str, Any]] = field(default_factory=list)
    dead: list[tuple[int, InputError]] = field(default_factory=list)
    messages: int = 0


def normalizer(connector: str, **kwargs: Any) -> Normalizer:
    options: dict[str, Any] = {"sensor": "test-sensor", "timezone": "Asia/Ho_Chi_Minh"}
    options.update(kwargs)
    return build_normalizer(connector, **options)


def messages(path: Path, fmt: str) -> Iterator[tuple[int, bytes]]:
    """The file's messages as socd normalize frames them (the CEF spec rows: their raw)."""
    if path.name == "logstash-codec-cef_spec_inputs.jsonl":
        import orjson

        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if line.strip():
                yield number, orjson.loads(line)["raw"].encode("utf-8")
        return
    yield from iter_messages(path, fmt)


def run_sample(shared: Path, name: str, **kwargs: Any) -> Outcome:
    connector = SAMPLES[name][0]
    norm = normalizer(connector, **kwargs)
    outcome = Outcome()
    for number, raw in messages(shared / "samples" / name, norm.format):
        outcome.messages += 1
        try:
            outcome.documents.append(norm.normalize(raw))
        except InputError as exc:
            outcome.dead.append((number, exc))
    return outcome


def leaves(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted name, value) for every leaf; list items each on their own."""
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from leaves(value, name + ".")
        elif isinstance(value, list):
            for item in value:
                yield name, item
        else:
            yield name, value


@pytest.fixture(scope="session")
def ecs(shared_dir: Path) -> dict[str, dict[str, Any]]:
    """ecs_flat.yml: ECS field name → its definition (type, allowed values …)."""
    with open(shared_dir / "ecs" / "ecs_flat.yml", encoding="utf-8") as handle:
        data: dict[str, dict[str, Any]] = yaml.load(
            handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return data
