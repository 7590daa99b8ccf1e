"""The ``/metrics`` HTTP server: prometheus-client's WSGI app, optionally behind HTTPS and
HTTP basic authentication.

prometheus-client's own ``start_http_server`` serves TLS but has no authentication, and
wraps the listening socket, so that a client that stalls in the TLS handshake holds up
every other scrape. Here each connection is its own thread (as there), and the handshake
runs in that thread, bounded by :data:`HANDSHAKE_TIMEOUT_S`.

Basic authentication follows RFC 7617 (``Authorization: Basic base64(user ":" password)``,
UTF-8); a request without it, or with other credentials, gets ``401`` with
``WWW-Authenticate: Basic realm="socd", charset="UTF-8"``. The comparison takes the same
time whatever the credentials (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

HANDSHAKE_TIMEOUT_S = 10.0
"""How long one connection may take to finish its TLS handshake and send its request."""

Wsgi = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Requests are not logged (prometheus-client's handler does the same)."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        """In the connection's own thread: the TLS handshake (when serving HTTPS), then the
        request. A failed handshake (a plain-HTTP client, an untrusting one) closes it."""
        if self.tls is not None:
            request.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


def basic_auth(app: Wsgi, username: str, password: str) -> Wsgi:
    """``app`` behind HTTP basic authentication (RFC 7617) with these credentials."""
    expected = f"{username}:{password}".encode()

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        given = _credentials(environ.get("HTTP_AUTHORIZATION", ""))
        if not hmac.compare_digest(given, expected):
            start_response("401 Unauthorized", [
                ("WWW-Authenticate", 'Basic realm="socd", charset="UTF-8"'),
                ("Content-Type", "text/plain; charset=utf-8")])
            return [b"authentication required\n"]
        return app(environ, start_response)

    return guarded


def _credentials(header: str) -> bytes:
    """The ``user:password`` bytes of a Basic ``Authorization`` header (empty if none)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return b""
    try:
        return base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b""


def serve(host: str, port: int, registry: CollectorRegistry, *,
          tls: ssl.SSLContext | None = None,
          login: tuple[str, str] | None = None) -> tuple[WSGIServer, threading.Thread]:
    """Serve ``registry`` at ``http(s)://host:port/metrics`` from a daemon thread. Raises
    OSError when the address cannot be listened on."""
    app: Wsgi = make_wsgi_app(registry)
    if login is not None:
        app = basic_auth(app, *login)
    server_class = _Server6 if ":" in host else _Server
    server = make_server(host, port, app, server_class, handler_class=_Quiet)
    assert isinstance(server, _Server)
    server.tls = tls
    thread = threading.Thread(target=server.serve_forever, name="socd-metrics", daemon=True)
    thread.start()
    return server, thread
