"""Secrets read from files: ``*_file`` keys and systemd credentials.

Every secret key of the configuration (:data:`SECRETS`) may be given three ways, the first
that applies wins:

1. the key itself (``elasticsearch.api_key: ...``, or ``SOCD_ELASTICSEARCH__API_KEY``);
2. its ``_file`` twin (``elasticsearch.api_key_file: /etc/socd/es-api-key``): the file's
   text is the secret. ``${CREDENTIALS_DIRECTORY}`` in the path is the directory where
   systemd puts the credentials of ``LoadCredential=`` (systemd.exec(5), "Credentials"),
   so ``api_key_file: ${CREDENTIALS_DIRECTORY}/socd-es-api-key`` reads the credential; a
   relative path is relative to the configuration file's folder;
3. the systemd credential of the secret's well-known name (``socd-es-api-key``: the table)
   when socd runs with ``$CREDENTIALS_DIRECTORY`` set and the credential exists: a
   ``LoadCredential=socd-es-api-key:/etc/socd/credentials/es-api-key`` line in the unit
   is all it takes (systemd's advice to services: look the credential up by its name).

A key and its ``_file`` twin both set is an error naming both. A file that cannot be read,
is empty, or is not UTF-8 stops start-up with the key and the path, never the content. One
line break at the end of a file (``echo secret > file``) is not part of the secret.

The values are held as :class:`pydantic.SecretStr`: they print as ``**********``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from socd.configsource import Origin
from socd.errors import Problem

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"
"""The environment variable systemd sets to the unit's credentials folder."""
_PLACEHOLDER = "${CREDENTIALS_DIRECTORY}"

SECRETS: Mapping[tuple[str, str], str] = {
    ("kafka", "sasl_password"): "socd-kafka-sasl-password",
    ("kafka", "ssl_key_password"): "socd-kafka-ssl-key-password",
    ("elasticsearch", "api_key"): "socd-es-api-key",
    ("elasticsearch", "password"): "socd-es-password",
    ("kibana", "api_key"): "socd-kibana-api-key",
    ("kibana", "password"): "socd-kibana-password",
    ("metrics", "password"): "socd-metrics-password",
}
"""(section, key) of every secret → the name of its systemd credential."""

MAX_SECRET_BYTES = 64 * 1024
"""A secret file larger than this is refused (a wrong path, such as a log file)."""


def apply_secret_files(data: dict[str, Any], environ: Mapping[str, str],
                       origin: Origin) -> list[Problem]:
    """Put into ``data`` (the raw configuration, environment overrides applied) the secret
    each ``_file`` key or systemd credential names (see the module's docstring); return the
    problems found, each about the ``_file`` key (or the secret's key), never its value."""
    problems: list[Problem] = []
    credentials = environ.get(CREDENTIALS_DIRECTORY) or None
    base = origin.path.parent
    for (section, key), credential in SECRETS.items():
        body = data.get(section)
        if body is not None and not isinstance(body, dict):
            continue  # the section itself is wrong: reported by validation
        body = body or {}
        file_key = f"{key}_file"
        given, named = body.get(key), body.get(file_key)
        if given is not None and named is not None:
            problems.append(origin.problem((section, file_key), (
                f"{section}.{key} and {section}.{file_key} are both set: keep one (the "
                "file keeps the secret out of the configuration)")))
            continue
        if given is not None:
            continue
        if named is not None:
            path, problem = _resolve(named, credentials, base)
            if path is not None:
                secret, problem = read_secret(path)
                if secret is not None:
                    data.setdefault(section, body)[key] = secret
                    continue
            problems.append(origin.problem((section, file_key), problem))
            continue
        if credentials is not None:
            path = Path(credentials) / credential
            if path.exists():
                secret, problem = read_secret(path)
                if secret is not None:
                    data.setdefault(section, body)[key] = secret
                else:
                    problems.append(origin.problem((section, key), (
                        f"from the systemd credential {credential}: {problem}")))
    return problems


def _resolve(named: Any, credentials: str | None, base: Path) -> tuple[Path | None, str]:
    """The path a ``_file`` key names, or the problem with it."""
    if not isinstance(named, (str, Path)) or not str(named).strip():
        return None, "expected the path of a file holding the secret"
    text = str(named)
    if _PLACEHOLDER in text:
        if credentials is None:
            return None, (f"{text} names {_PLACEHOLDER}, but ${CREDENTIALS_DIRECTORY} is not "
                          "set: socd reads it when systemd starts it with LoadCredential= "
                          "(see deploy/README.md); elsewhere give the file's own path")
        text = text.replace(_PLACEHOLDER, credentials)
    path = Path(text)
    return (path if path.is_absolute() else base / path), ""


def read_secret(path: Path) -> tuple[str | None, str]:
    """The secret held by the file at ``path`` (without one final line break), or None and
    why it cannot be used (naming the path, never the content)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_SECRET_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, (f"cannot read {path} ({reason.lower()}): give a file socd's user may "
                      "read (mode 0600 or 0640, owned by socd)")
    if len(raw) > MAX_SECRET_BYTES:
        return None, (f"{path} is larger than {MAX_SECRET_BYTES} bytes: it does not look "
                      "like a secret; check the path")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{path} is not UTF-8 text: write the secret as text"
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        return None, f"{path} is empty: write the secret into it"
    return text, ""
