"""Log lines in ECS shape, so that a log pipeline (journald → Elastic Agent, Filebeat, Loki)
needs no parsing rules.

The shape follows Elastic's ECS logging specification (``spec/spec.json`` and
``spec/README.md`` of elastic/ecs-logging) and the ECS field reference:

* the first keys, in this order: ``@timestamp`` (ISO-8601, UTC), ``log.level`` (``debug``,
  ``info``, ``warning``, ``error``, ``critical``), ``message``; then ``ecs.version``.
  ``log.level`` and ``ecs.version`` are top-level keys with a dot in the name, as the
  specification asks ("SHOULD NOT be a nested object field"); the other ECS keys are written
  the same way, so that every ECS key of a line looks alike (``jq '.["log.logger"]'``) —
  Elasticsearch, Filebeat's ``ndjson`` parser (``expand_keys``) and Elastic Agent read a
  dotted key as the nested field;
* ``log.logger`` (the logger's name: ``socd.app``, ``elastic_transport.node_pool`` …),
  ``service.name: socd``, ``event.dataset: socd.log``;
* ``message``: socd's event name (``partitions_assigned``), or a library's formatted message;
  ``event.action``: socd's event name again, on every line of a ``socd.*`` logger (a keyword
  field, to filter and count on; a library's free-text message is not one);
* an exception: ``error.type`` (the class, qualified by its module unless built in:
  ``aiokafka.errors.KafkaConnectionError``), ``error.message`` and ``error.stack_trace`` (the
  traceback as text). socd's own ``error`` / ``error_type`` keys (a reason as text, a class
  name) are these same fields and are written as them, ahead of what the exception gives;
* every other key — socd's own (``inputs``, ``hosts``, ``phase`` …) and a library's
  ``extra`` — under one object ``socd``, so that no key of socd's can ever collide with an ECS
  field of the same name (``file``, ``host``, ``message``) in an index with ECS mappings.

:func:`ecs_shape` is a structlog processor (``(logger, method name, event dict) → event
dict``); it expects the keys structlog's ``add_log_level``, ``add_logger_name`` and
``TimeStamper(fmt="iso", utc=True)`` add (``level``, ``logger``, ``timestamp``).
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import MutableMapping
from types import TracebackType
from typing import Any

ECS_VERSION = "9.4.0"
"""The ECS version the lines conform to: the field reference socd's documents follow
(``socd/normalize/ecs_fields.tsv``)."""

DATASET = "socd.log"
"""``event.dataset`` of every line (the ECS logging specification: ``<service>.log``)."""

SERVICE = "socd"

OWN = "socd"
"""The object that holds every key that is not an ECS field."""

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]

# keys structlog or the standard library put in the event dict that are not data
_DROPPED = frozenset({"positional_args"})


def ecs_shape(_logger: Any, _method: str,
              event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """Rename structlog's keys to their ECS fields and put the rest under ``socd``.

    Returns a new dict whose first keys are ``@timestamp``, ``log.level``, ``message``,
    ``ecs.version`` (the order the ECS logging specification recommends). Never raises on
    odd values: a value is kept as given and rendered by the JSON renderer.
    """
    logger = str(event_dict.pop("logger", "") or "")
    message = event_dict.pop("event", "")
    out: dict[str, Any] = {
        "@timestamp": event_dict.pop("timestamp", None),
        "log.level": event_dict.pop("level", None),
        "message": message if isinstance(message, str) else str(message),
        "ecs.version": ECS_VERSION,
        "log.logger": logger,
        "service.name": SERVICE,
        "event.dataset": DATASET,
    }
    if logger == "socd" or logger.startswith("socd."):
        out["event.action"] = out["message"]
    error_message = event_dict.pop("error", None)
    error_type = event_dict.pop("error_type", None)
    exc = _exc_info(event_dict.pop("exc_info", None))
    stack = event_dict.pop("exception", None)  # a traceback already formatted as text
    if exc is not None:
        error_type = error_type if error_type is not None else _type_name(exc[0])
        error_message = error_message if error_message is not None else str(exc[1])
        stack = "".join(traceback.format_exception(*exc)).rstrip("\n")
    if error_type is not None:
        out["error.type"] = str(error_type)
    if error_message is not None:
        out["error.message"] = str(error_message)
    if stack is not None:
        out["error.stack_trace"] = str(stack)
    own = {key: value for key, value in event_dict.items() if key not in _DROPPED}
    if own:
        out[OWN] = own
    return out


def _exc_info(value: object) -> _ExcInfo | None:
    """The ``exc_info`` a log call gave (``True``, an exception or the triple) as a triple,
    or None when there is no exception (``False``, None, ``True`` outside an ``except``)."""
    if isinstance(value, BaseException):
        return type(value), value, value.__traceback__
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value[0], value[1], value[2]
    if value is True:
        current = sys.exc_info()
        if current[1] is not None:
            return type(current[1]), current[1], current[2]
    return None


def _type_name(kind: type[BaseException]) -> str:
    """As a traceback names it: ``ZeroDivisionError``, ``aiokafka.errors.KafkaError``."""
    module = kind.__module__
    if module in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{module}.{kind.__qualname__}"
