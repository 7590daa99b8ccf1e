"""The threat documents of ``<prefix>-alerts*`` read and updated with optimistic concurrency."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    ConflictError,
    NotFoundError,
    TransportError,
)

from socd.alerts.model import MAX_TRIES, Change, Outcome, decide
from socd.errors import SinkError, UsageError


@dataclass(frozen=True, slots=True)
class Found:
    """Threats of a search: the newest ``hits`` and how many match in all."""

    hits: list[dict[str, Any]]
    total: int


class Store:
    """The threat documents of ``<prefix>-alerts*`` through ``client``, with Elasticsearch's
    errors turned into socd's (UsageError for a query it cannot parse, SinkError otherwise)."""

    def __init__(self, client: AsyncElasticsearch, prefix: str, hosts: str) -> None:
        self.client = client
        self.pattern = f"{prefix}-alerts*"
        self.hosts = hosts

    async def search(self, query: dict[str, Any], size: int) -> Found:
        """The newest ``size`` matching documents (by ``@timestamp``) with their
        ``_seq_no``/``_primary_term``, and the number of all matches."""
        try:
            answer = await self.client.search(
                index=self.pattern, query=query, size=size, sort=[{"@timestamp": "desc"}],
                seq_no_primary_term=True, track_total_hits=True, ignore_unavailable=True,
                allow_no_indices=True)
        except NotFoundError:
            return Found([], 0)  # no index yet: no threat yet
        except BadRequestError as exc:
            raise UsageError(f"--query: Elasticsearch cannot use it: {_reason(exc)}: check "
                             "the query-string syntax") from None
        except (ApiError, TransportError) as exc:
            raise self._failed("search", exc) from exc
        hits = answer["hits"]
        total = hits["total"]["value"] if isinstance(hits["total"], dict) else hits["total"]
        return Found(list(hits["hits"]), int(total))

    async def by_ids(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The documents of ``ids`` that exist, by id."""
        found = await self.search({"ids": {"values": list(ids)}}, len(ids))
        return {hit["_id"]: hit for hit in found.hits}

    async def reread(self, hit: Mapping[str, Any]) -> dict[str, Any] | None:
        """The document of ``hit`` as it is now (None when it was deleted)."""
        try:
            answer = await self.client.get(index=hit["_index"], id=hit["_id"])
        except NotFoundError:
            return None
        except (ApiError, TransportError) as exc:
            raise self._failed("read", exc) from exc
        return dict(answer.body)

    async def apply(self, hit: Mapping[str, Any], change: Change) -> tuple[Outcome, str]:
        """``change`` on the document of ``hit`` (as read, with ``_seq_no`` and
        ``_primary_term``), conditional on it being unchanged since; on a conflict the
        document is read again and the change decided again. Raises SinkError after
        :data:`MAX_TRIES` conflicts in a row."""
        current: Mapping[str, Any] | None = hit
        for _ in range(MAX_TRIES):
            if current is None:
                return "refused", "deleted meanwhile"
            socd = current.get("_source", {}).get("socd") or {}
            outcome, fields, shown = decide(socd, change)
            if fields is None:
                return outcome, shown
            try:
                await self.client.update(index=current["_index"], id=current["_id"],
                                         doc={"socd": fields},
                                         if_seq_no=current["_seq_no"],
                                         if_primary_term=current["_primary_term"])
            except ConflictError:
                current = await self.reread(current)
                continue
            except NotFoundError:
                return "refused", "deleted meanwhile"
            except (ApiError, TransportError) as exc:
                raise self._failed("update", exc) from exc
            return outcome, shown
        raise SinkError(f"{hit['_id']}: changed by others {MAX_TRIES} times while being "
                        "updated: run the command again")

    async def refresh(self, indices: set[str]) -> None:
        """Make the changes of ``indices`` searchable now, so that a ``list`` right after
        sees them; a refusal (no ``maintenance`` privilege) only delays that to the
        index's own refresh."""
        if not indices:
            return
        with contextlib.suppress(ApiError, TransportError):
            await self.client.indices.refresh(index=",".join(sorted(indices)))

    def _failed(self, what: str, exc: Exception) -> SinkError:
        if isinstance(exc, AuthenticationException | AuthorizationException):
            return SinkError(f"Elasticsearch at {self.hosts} refused the {what} "
                             f"({_reason(exc)}): check elasticsearch.api_key or "
                             "elasticsearch.username/password and the user's privileges on "
                             f"{self.pattern}")
        return SinkError(f"Elasticsearch at {self.hosts}: {what} failed: {_reason(exc)}: "
                         "check elasticsearch.hosts and that the cluster is running")


def _reason(exc: Exception) -> str:
    if isinstance(exc, ApiError):
        info = exc.info if isinstance(exc.info, dict) else {}
        error = info.get("error")
        if isinstance(error, dict):
            causes = error.get("root_cause") or [error]
            return str(causes[0].get("reason") or error.get("type") or exc.message)
        return f"HTTP {exc.status_code} {exc.message}"
    return f"{type(exc).__name__}: {exc}"
