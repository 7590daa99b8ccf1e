"""Layer-4 sharing with the national monitoring centre: each shared threat as a STIX 2.1
sighting in one bundle (:mod:`socd.sharing.stix`), with what must not leave the department
left out (:mod:`socd.sharing.redact`). See ``docs/sharing.md``."""

from __future__ import annotations

from socd.sharing.redact import Observable, Redactor, Shareable
from socd.sharing.stix import NAMESPACE, Sighting, SightingBuilder

__all__ = ["NAMESPACE", "Observable", "Redactor", "Shareable", "Sighting", "SightingBuilder"]
