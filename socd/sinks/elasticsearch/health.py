"""The health check: can socd reach the cluster, and does it take socd's credentials?

Run at start-up, before anything is fetched, as Vector's sink does (``GET /_cluster/health``,
healthy on a 2xx answer):

* 2xx — reachable; the cluster's status (``green``, ``yellow``, ``red``) is returned;
* 401 — the credentials are refused: :class:`~socd.errors.CredentialsRefused`, whose message
  names the settings to correct (``elasticsearch.api_key``, or ``elasticsearch.username`` and
  ``elasticsearch.password``); trying again cannot help;
* 403 — authenticated, but the role may not read the cluster's health (the ``monitor``
  privilege): reachable (``"unknown"``); the index template check that follows tells whether
  socd may do what it needs (:func:`refused` then names the privileges);
* a TLS handshake that fails (certificate not trusted, fingerprint not matching):
  :class:`~socd.errors.TlsRefused`, naming the settings; trying again cannot help;
* 429, 5xx, connection errors, timeouts — :class:`~socd.errors.SinkError` (retriable): the
  caller waits and tries again;
* any other status (a server without this API) — reachable (``"unknown"``).
"""

from __future__ import annotations

import ssl

from aiohttp import ServerFingerprintMismatch
from elasticsearch import AsyncElasticsearch
from elasticsearch import exceptions as es_exc

from socd.config import ElasticsearchConfig
from socd.errors import CredentialsRefused, SinkError, TlsRefused
from socd.sinks.elasticsearch.client import shown_hosts
from socd.sinks.elasticsearch.service import api_reason

PRIVILEGES = ("the cluster privileges monitor and manage_index_templates (manage_ilm too where "
              "the cluster has ILM, for socd setup) and the index privileges create_index and "
              "index on {prefix}-alerts-*")
"""What socd's Elasticsearch user needs, for the message of a 403."""


async def check_health(client: AsyncElasticsearch, cfg: ElasticsearchConfig) -> str:
    """The cluster's health status, or ``"unknown"`` (see the module's docstring).

    Raises CredentialsRefused (401) or SinkError (unreachable, overloaded: retriable).
    """
    try:
        response = await client.cluster.health()
    except es_exc.ApiError as exc:
        status = exc.meta.status
        if status == 401:
            raise refused(cfg, exc, "the health check (GET /_cluster/health)") from exc
        if status == 429 or status >= 500:
            raise SinkError(f"{shown_hosts(cfg)}: {api_reason(exc)}") from exc
        return "unknown"
    except es_exc.TransportError as exc:
        if tls_failure(exc) is not None:
            raise tls_refused(cfg, exc) from exc
        raise SinkError(f"cannot reach {shown_hosts(cfg)}: {type(exc).__name__}: {exc}"
                        ) from exc
    body = response.body
    return str(body.get("status", "unknown")) if isinstance(body, dict) else "unknown"


def tls_failure(exc: BaseException) -> BaseException | None:
    """The TLS failure behind a transport error (a certificate not trusted, a fingerprint
    that does not match), found along its causes; None when it is no TLS failure."""
    found: BaseException | None = None
    seen: BaseException | None = exc
    for _ in range(8):  # elastic-transport → aiohttp → ssl: a few links at most
        if seen is None:
            break
        if isinstance(seen, (ssl.SSLError, es_exc.SSLError, ServerFingerprintMismatch)):
            found = seen  # the deepest one says most (ssl's own verify message)
        seen = seen.__cause__ or seen.__context__
    return found


def tls_refused(cfg: ElasticsearchConfig, exc: BaseException) -> TlsRefused:
    """The error for a TLS handshake that failed (:func:`tls_failure`): it names the
    settings to correct; trying again cannot help."""
    cause = tls_failure(exc) or exc
    if isinstance(cause, ServerFingerprintMismatch):
        fix = ("its certificate does not have the fingerprint elasticsearch."
               "ssl_assert_fingerprint gives: correct the fingerprint (the SHA-256 of the "
               "cluster's certificate, as `openssl x509 -noout -fingerprint -sha256` prints "
               "it)")
    elif isinstance(cause, ssl.SSLCertVerificationError):
        fix = (f"its TLS certificate is not trusted "
               f"({getattr(cause, 'verify_message', None) or 'verify failed'}): set "
               "elasticsearch.ca_certs to the CA that signed it (now "
               f"{cfg.ca_certs or 'the system CAs'}) or elasticsearch.ssl_assert_fingerprint")
    else:
        reason = getattr(cause, "reason", None)
        fix = (f"the TLS handshake failed{f' ({reason.lower()})' if reason else ''}: check "
               "that elasticsearch.hosts are https:// addresses, elasticsearch.ca_certs, and "
               "elasticsearch.client_cert/client_key where the cluster requires a client "
               "certificate")
    return TlsRefused(f"Elasticsearch at {shown_hosts(cfg)}: {fix}")


def refused(cfg: ElasticsearchConfig, exc: es_exc.ApiError, doing: str) -> CredentialsRefused:
    """The error for a 401 or 403 answer to ``doing`` (what socd asked), naming the settings
    (401) or the privileges (403) to correct."""
    where = f"Elasticsearch at {shown_hosts(cfg)}"
    if exc.meta.status == 403:
        return CredentialsRefused(
            f"{where} refused {doing} to socd's user ({api_reason(exc)}): give "
            f"the user of {_credential_keys(cfg)} "
            f"{PRIVILEGES.format(prefix=cfg.index_prefix)}, or set credentials that have them")
    if cfg.api_key:
        fix = ("correct elasticsearch.api_key (the \"encoded\" value of POST "
               "/_security/api_key; SOCD_ELASTICSEARCH__API_KEY in the environment)")
    elif cfg.username is not None:
        fix = ("correct elasticsearch.username and elasticsearch.password "
               "(SOCD_ELASTICSEARCH__PASSWORD in the environment), or set "
               "elasticsearch.api_key instead")
    else:
        fix = ("the cluster requires credentials: set elasticsearch.api_key, or "
               "elasticsearch.username and elasticsearch.password")
    return CredentialsRefused(f"{where} refused socd's credentials for {doing} "
                              f"({api_reason(exc)}): {fix}")


def _credential_keys(cfg: ElasticsearchConfig) -> str:
    if cfg.api_key:
        return "elasticsearch.api_key"
    if cfg.username is not None:
        return f"elasticsearch.username ({cfg.username})"
    return "elasticsearch.api_key or elasticsearch.username (none is set)"
