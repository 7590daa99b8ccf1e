"""The service: one bulk request over the client, its result in socd's own terms.

:func:`send_bulk` makes exactly one ``POST /_bulk`` (the client retries nothing: see
:func:`socd.sinks.elasticsearch.client.make_client`) and returns either the per-item
:class:`~socd.sinks.elasticsearch.outcome.Outcome` or a :class:`RequestFailure` saying what
the whole request gets. elasticsearch-py's and elastic-transport's exceptions stop here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from elastic_transport import ConnectionTimeout
from elasticsearch import AsyncElasticsearch
from elasticsearch import exceptions as es_exc

from socd.event import IndexAction
from socd.sinks.elasticsearch.outcome import Outcome, bulk_outcome, reason_of
from socd.sinks.elasticsearch.request import FILTER_PATH, bulk_body
from socd.sinks.elasticsearch.retry import Action, request_action


@dataclass(frozen=True, slots=True)
class RequestFailure:
    """A bulk request that was not answered with items: what it gets, and why."""

    action: Action
    """RETRY, RETRY_SMALLER, SPLIT, REFUSED or REJECT (see :mod:`.retry`)."""
    reason: str
    """``HTTP 429: type: reason``, ``timed out after 30 s``, ``ConnectionError: ...``."""
    unreachable: bool = False
    """No answer at all (connection refused or reset, TLS): the cluster is away, not busy."""


def api_reason(exc: es_exc.ApiError) -> str:
    """``HTTP <status>: <type>: <reason>`` of an error response."""
    body: Any = exc.body
    error = body.get("error") if isinstance(body, dict) else body
    return reason_of(exc.meta.status, error or exc.message)


def failure_of(exc: es_exc.ApiError | es_exc.TransportError,
               timeout_s: float) -> RequestFailure:
    """The failure an exception of the client stands for: an error response (by its
    status), a timeout (``timeout_s``: the request timeout, for the reason), or a transport
    failure (connection refused or reset, TLS, an unreadable response: retried)."""
    if isinstance(exc, es_exc.ApiError):
        return RequestFailure(request_action(exc.meta.status), api_reason(exc))
    if isinstance(exc, ConnectionTimeout):
        return RequestFailure(Action.RETRY_SMALLER, f"no answer within {timeout_s:g} s")
    return RequestFailure(Action.RETRY, f"{type(exc).__name__}: {exc}", unreachable=True)


async def send_bulk(client: AsyncElasticsearch, actions: Sequence[IndexAction],
                    timeout_s: float) -> Outcome | RequestFailure:
    """One bulk request carrying ``actions`` (at least one)."""
    try:
        # Pre-encoded NDJSON passes through the client's serializer unchanged.
        response = await client.bulk(
            operations=bulk_body(actions), filter_path=FILTER_PATH)  # type: ignore[arg-type]
    except (es_exc.ApiError, es_exc.TransportError) as exc:
        return failure_of(exc, timeout_s)
    return bulk_outcome(actions, response.body)
