"""Every error socd raises derives from :class:`SocdError`.

::

    SocdError                     root; ``retriable`` says whether trying again can help
    ├── UsageError                a command was given something it cannot use (a missing
    │                             or unreadable file, a bad argument): exit status 2
    ├── ConfigError               the configuration is wrong; carries every problem found
    ├── RuleError                 a rule file cannot be loaded; carries every problem found
    ├── ConnectorError            a connector mapping file is wrong (start-up)
    ├── InputError                one message cannot be used; becomes a dead letter
    │   ├── DecodeError           not UTF-8, not JSON, not an object, too large
    │   └── NormalizeError        required field missing, wrong type
    └── SinkError                 Elasticsearch or Kafka refused or could not be reached
        ├── DeadLetterUnavailable the dead-letter topic cannot take a message: stop consuming
        ├── CredentialsRefused    Elasticsearch refused socd's credentials or privileges at
        │                         start-up (401/403): not retriable, start-up stops
        └── TlsRefused            a server's TLS certificate is not trusted (CA, fingerprint)
                                  at start-up: not retriable, start-up stops

Errors of aiokafka and elasticsearch-py are translated into these at the source and sink
boundaries; the stages in between never see them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file: where (file, line, key) and what to do about it.

    ``warning`` marks something that does not stop socd but that a person should know
    (a setting that has no effect yet, an input no rule can meet); it prints as
    ``file:line: key: warning: message``.
    """

    file: str | None
    message: str
    line: int | None = None
    key: str | None = None
    warning: bool = False

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.key:
            where = f"{where}: {self.key}"
        return f"{where}: warning: {self.message}" if self.warning else f"{where}: {self.message}"


def in_order(problems: Iterable[Problem]) -> list[Problem]:
    """``problems`` sorted by file, then line (problems without a file, such as those of
    environment variables, first), then key; each distinct problem once."""
    unique = dict.fromkeys(problems)
    return sorted(unique, key=lambda p: (p.file or "", p.line or 0, p.key or "", p.warning))


class SocdError(Exception):
    """Root of socd's errors."""

    retriable: bool = False


class _ProblemsError(SocdError):
    """An error that carries every problem found, not only the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(SocdError):
    """A command was given something it cannot use: a missing, unreadable or wrongly typed
    file, or an argument out of range. The message names it and says what to give instead."""


class ConfigError(_ProblemsError):
    """The configuration file (or an environment override) is wrong."""


class RuleError(_ProblemsError):
    """One or more rule files cannot be loaded."""


class ConnectorError(_ProblemsError):
    """A connector mapping file is wrong."""


class InputError(SocdError):
    """One input message cannot be used. ``reason`` is one of :data:`DEAD_LETTER_REASONS`."""

    reason: str = "invalid"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if reason is not None:
            self.reason = reason


class DecodeError(InputError):
    """The bytes are not a JSON object (or not UTF-8, or too large)."""

    reason = "not_json"


class NormalizeError(InputError):
    """The message decoded but its fields do not fit the connector."""

    reason = "invalid_event"


class SinkError(SocdError):
    """A sink (Elasticsearch, a Kafka producer) failed."""

    retriable = True


class DeadLetterUnavailable(SinkError):
    """The dead-letter topic cannot take a message; consuming must stop."""


class CredentialsRefused(SinkError):
    """Elasticsearch answered 401 (the credentials) or 403 (the privileges) at start-up.
    The message names the settings to correct; trying again cannot help."""

    retriable = False


class TlsRefused(SinkError):
    """A TLS handshake failed at start-up: the server's certificate is not trusted by the
    configured CA or fingerprint. The message names the settings; trying again cannot help."""

    retriable = False


class SharingError(SinkError):
    """Layer-4 sharing cannot go on (Kafka unreachable at start-up, the transactional
    producer refused or taken over by another process); the message says what to fix."""


class SharingRefused(SharingError):
    """Kafka refused the sharing producer as configured (transactions required and refused,
    the transactional id not allowed or taken over by another process): a configuration
    error, which trying again cannot mend."""

    retriable = False


DEAD_LETTER_REASONS: tuple[str, ...] = (
    "not_utf8",        # bytes are not UTF-8
    "not_json",        # not JSON, or JSON but not an object
    "too_large",       # over the configured message size limit
    "invalid_event",   # required field missing or of the wrong type
    "index_rejected",  # Elasticsearch refused the document as malformed (4xx)
    "processing_failed",  # processing raised every time (socd's defect for this message)
)
"""The fixed set of dead-letter reason codes (a metric label and a header value)."""
