"""Decoders: the bytes of one message → a dict of the sensor's own fields.

A mapping file's ``format`` picks one of :data:`DECODERS`; its ``from:`` paths then name
the keys of the dict it returns. Every decoder raises :class:`~socd.errors.DecodeError`
(reason ``not_utf8`` or ``not_json``) or :class:`~socd.errors.NormalizeError` (reason
``invalid_event``: UTF-8 text that is not a message of the format) and nothing else.

``json``   one JSON object (:mod:`.json`)
``ecs``    one JSON object already in ECS; dotted keys expanded into objects (:mod:`.json`)
``cef``    one ArcSight CEF line, with or without a syslog header (:mod:`.cef`)
``leef``   one IBM LEEF 1.0/2.0 line, with or without a syslog header (:mod:`.leef`)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from socd.normalize.codecs.cef import decode_cef
from socd.normalize.codecs.json import decode_ecs, decode_json
from socd.normalize.codecs.leef import decode_leef

Decoder = Callable[[bytes], dict[str, Any]]
"""message bytes → the sensor's fields; raises an InputError with the dead-letter reason."""

DECODERS: dict[str, Decoder] = {
    "json": decode_json,
    "ecs": decode_ecs,
    "cef": decode_cef,
    "leef": decode_leef,
}

__all__ = ["DECODERS", "Decoder", "decode_cef", "decode_ecs", "decode_json", "decode_leef"]
