"""Passwords the settings would send unencrypted are warned about (socd.tls), with the key
to change; encrypted settings give no such warning."""

from __future__ import annotations

from pathlib import Path

import pytest

from socd.config import read_config, validate_config

BASE = """
inputs:
  - {topic: t1, connector: cyradar, layer: 2, sensor: s}
"""


@pytest.mark.parametrize(("extra", "key"), [
    ("kafka: {security_protocol: SASL_PLAINTEXT, sasl_mechanism: PLAIN, sasl_username: u, "
     "sasl_password: p}", "kafka.security_protocol"),
    ("metrics: {username: u, password: p}", "metrics.username"),
    ("elasticsearch: {hosts: ['http://es:9200'], api_key: k}", "elasticsearch.hosts"),
    ("kafka: {security_protocol: SASL_SSL, sasl_mechanism: PLAIN, sasl_username: u, "
     "sasl_password: p}", None),
    ("kafka: {security_protocol: SASL_PLAINTEXT, sasl_mechanism: SCRAM-SHA-256, "
     "sasl_username: u, sasl_password: p}", None),
    ("elasticsearch: {hosts: ['https://es:9200'], api_key: k}", None),
])
def test_unencrypted_passwords_are_warned_about(tmp_path: Path, extra: str,
                                                key: str | None) -> None:
    path = tmp_path / "socd.yaml"
    path.write_text(BASE + extra + "\n")
    raw = read_config(path, {})
    assert validate_config(raw) is not None
    warned = {p.key for p in raw.problems if p.warning and "unencrypted" in p.message}
    assert warned == ({key} if key else set())
    assert not [p for p in raw.problems if not p.warning]
