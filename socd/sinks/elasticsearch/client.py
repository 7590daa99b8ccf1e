"""The client: ``elasticsearch.*`` settings → an :class:`AsyncElasticsearch`."""

from __future__ import annotations

import base64
import re
from typing import Any

from elastic_transport import OrjsonSerializer
from elasticsearch import AsyncElasticsearch

from socd.config import ElasticsearchConfig


def make_client(cfg: ElasticsearchConfig) -> AsyncElasticsearch:
    """A client of ``cfg.hosts`` with its credentials and TLS settings. It retries nothing
    itself (``max_retries=0``, no retry on timeout): socd retries by its own policy
    (:mod:`socd.sinks.elasticsearch.retry`), item by item, and splits what times out."""
    options: dict[str, Any] = {
        "request_timeout": cfg.request_timeout,
        "verify_certs": cfg.verify_certs,
        "retry_on_timeout": False,
        "max_retries": 0,
        # Bulk responses hold an item per document: orjson parses them several times faster.
        "serializer": OrjsonSerializer(),
    }
    if cfg.ca_certs:
        options["ca_certs"] = str(cfg.ca_certs)
    if cfg.ssl_assert_fingerprint:
        # elastic-transport then trusts the certificate whose (or whose chain's) SHA-256
        # fingerprint this is, instead of checking the chain against CAs.
        options["ssl_assert_fingerprint"] = cfg.ssl_assert_fingerprint
    if cfg.client_cert and cfg.client_key:
        options.update(client_cert=str(cfg.client_cert), client_key=str(cfg.client_key))
    if cfg.api_key:
        options["api_key"] = cfg.api_key.get_secret_value()
    elif cfg.username is not None and cfg.password is not None:
        # Encoded here as UTF-8 (RFC 7617 §2.1, as Elasticsearch decodes it): the client
        # encodes a (user, password) pair as ASCII and fails on any other character.
        pair = f"{cfg.username}:{cfg.password.get_secret_value()}".encode()
        options["basic_auth"] = base64.b64encode(pair).decode("ascii")
    return AsyncElasticsearch(cfg.hosts, **options)


def shown_hosts(cfg: ElasticsearchConfig) -> str:
    """``elasticsearch.hosts`` for a log line or a message: comma-separated, without any
    ``user:password@`` a URL may carry."""
    return ", ".join(_USERINFO.sub(r"\1", host) for host in cfg.hosts)


_USERINFO = re.compile(r"^(https?://)[^/@]*@")
