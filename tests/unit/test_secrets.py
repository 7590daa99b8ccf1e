"""Secrets from ``*_file`` keys and systemd credentials (socd.secrets), as load_config
reads them: where each comes from, what wins, and every way a file can be wrong."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from socd.config import load_config, read_config, validate_config
from socd.errors import ConfigError
from socd.secrets import SECRETS, read_secret

BASE = """
inputs:
  - {topic: t1, connector: cyradar, layer: 2, sensor: s}
"""


def _write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "socd.yaml"
    path.write_text(BASE + extra)
    return path


def _problems(path: Path, environ: dict[str, str] | None = None) -> list[str]:
    raw = read_config(path, environ or {})
    validate_config(raw)
    return [str(problem) for problem in raw.problems if not problem.warning]


def test_a_file_key_gives_the_secret_without_its_final_line_break(tmp_path: Path) -> None:
    """``elasticsearch.api_key_file``: the file's text, one final newline dropped."""
    (tmp_path / "key").write_text("abc==\n")
    config = load_config(_write(tmp_path, "elasticsearch: {api_key_file: key}\n"), {})
    assert config.elasticsearch.api_key is not None
    assert config.elasticsearch.api_key.get_secret_value() == "abc=="
    assert "abc" not in repr(config) and "abc" not in str(config.elasticsearch)


@pytest.mark.parametrize(("section", "key"), sorted(SECRETS))
def test_every_secret_is_read_from_its_systemd_credential(tmp_path: Path, section: str,
                                                          key: str) -> None:
    """Each secret's credential (``socd-es-api-key`` …) in $CREDENTIALS_DIRECTORY is used
    when neither the key nor its file is set."""
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / SECRETS[section, key]).write_text("from-credential")
    extra = {
        "kafka": "kafka: {security_protocol: SASL_SSL, sasl_mechanism: PLAIN, "
                 "sasl_username: u}\n" if key == "sasl_password" else "",
        "elasticsearch": "elasticsearch: {username: u}\n" if key == "password" else "",
        "kibana": "kibana: {username: u}\n" if key == "password" else "",
        "metrics": "metrics: {username: u}\n",
    }[section]
    config = load_config(_write(tmp_path, extra), {"CREDENTIALS_DIRECTORY": str(credentials)})
    value = getattr(getattr(config, section), key)
    assert value is not None and value.get_secret_value() == "from-credential"


def test_the_key_wins_over_the_credential(tmp_path: Path) -> None:
    """An explicit key (here from the environment) is used; the credential is not read."""
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "socd-es-api-key").write_text("credential")
    config = load_config(_write(tmp_path), {"CREDENTIALS_DIRECTORY": str(credentials),
                                            "SOCD_ELASTICSEARCH__API_KEY": "0123"})
    assert config.elasticsearch.api_key is not None
    assert config.elasticsearch.api_key.get_secret_value() == "0123"  # text, not a number


def test_the_credentials_directory_placeholder(tmp_path: Path) -> None:
    """``${CREDENTIALS_DIRECTORY}/name`` in a file key is the credentials folder; without
    the variable, a problem saying that systemd sets it."""
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "kafka-pw").write_text("pw")
    path = _write(tmp_path, "kafka: {security_protocol: SASL_PLAINTEXT, sasl_mechanism: "
                  "SCRAM-SHA-512, sasl_username: u, sasl_password_file: "
                  "'${CREDENTIALS_DIRECTORY}/kafka-pw'}\n")
    config = load_config(path, {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.kafka.sasl_password is not None
    assert config.kafka.sasl_password.get_secret_value() == "pw"
    problems = _problems(path)
    assert any("kafka.sasl_password_file" in p and "LoadCredential=" in p for p in problems)


@pytest.mark.parametrize(("content", "told"), [
    (None, "cannot read"),
    (b"", "is empty"),
    (b"\n", "is empty"),
    (b"\xff\xfe", "is not UTF-8"),
    (b"x" * 70_000, "larger than"),
])
def test_a_file_that_cannot_be_used_names_the_key_and_the_path(
        tmp_path: Path, content: bytes | None, told: str) -> None:
    """Missing, empty, not UTF-8, far too large: one problem on the ``_file`` key with the
    path and what is wrong, never the content."""
    secret = tmp_path / "pw"
    if content is not None:
        secret.write_bytes(content)
    problems = _problems(_write(tmp_path, f"metrics: {{username: u, password_file: {secret}}}\n"))
    assert any("metrics.password_file" in p and str(secret) in p and told in p
               for p in problems), problems
    assert not any("xxxx" in p for p in problems)
    assert not any("go together" in p for p in problems), problems  # the file is given


def test_a_missing_password_says_where_it_may_come_from(tmp_path: Path) -> None:
    """Under systemd credentials, a command run outside systemd sees no password: the
    problem says the credential exists as a source, and that outside systemd none is seen."""
    problems = _problems(_write(tmp_path, "elasticsearch: {username: socd}\nkafka:\n"
                                "  {security_protocol: SASL_SSL, sasl_mechanism: PLAIN,"
                                " sasl_username: socd}\n"))
    assert any("elasticsearch: username and password go together" in p
               and "systemd credential" in p for p in problems), problems
    assert any("socd-kafka-sasl-password" in p and "outside systemd" in p
               for p in problems), problems


def test_a_key_and_its_file_together_is_an_error_naming_both(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("a")
    problems = _problems(_write(tmp_path, "kibana: {api_key: SECRETVALUE, api_key_file: pw}\n"))
    assert any("kibana.api_key and kibana.api_key_file are both set" in p for p in problems)
    assert not any("SECRETVALUE" in p for p in problems)


@pytest.mark.parametrize("value", ["[SECRETVALUE]", "{a: SECRETVALUE}", "12345678"])
def test_a_secret_of_the_wrong_type_is_told_without_its_value(tmp_path: Path,
                                                              value: str) -> None:
    """A secret written as a list, a mapping or a number is refused without repeating it."""
    path = _write(tmp_path, f"elasticsearch: {{username: u, password: {value}}}\n")
    problems = _problems(path)
    assert any("elasticsearch.password" in p for p in problems), problems
    assert not any("SECRETVALUE" in p or "12345678" in p for p in problems)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert "SECRETVALUE" not in str(caught.value) and "12345678" not in str(caught.value)


@settings(max_examples=60)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)
       .filter(lambda s: s.rstrip("\r\n") == s))
def test_read_secret_keeps_the_text_as_written(text: str) -> None:
    """Any text without a final line break comes back as written, with ``\\n`` or
    ``\\r\\n`` after it too (``echo`` adds one; Windows editors two characters)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "s"
        for ending in ("", "\n", "\r\n"):
            path.write_bytes((text + ending).encode())
            assert read_secret(path) == (text, "")
