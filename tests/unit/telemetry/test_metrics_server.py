"""``/metrics`` over HTTPS and behind basic authentication (socd.telemetry.httpserver),
served on a real loopback socket and fetched by a real HTTP client."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from prometheus_client import CollectorRegistry

from socd.config import MetricsConfig
from socd.errors import ConfigError
from socd.telemetry.metrics import Metrics, MetricsServer, metrics_options


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def files(tmp_path: Path, ca: trustme.CA) -> dict[str, Path]:
    leaf = ca.issue_cert("127.0.0.1")
    paths = {"ca": tmp_path / "ca.pem", "cert": tmp_path / "m.pem", "key": tmp_path / "m.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    leaf.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    leaf.private_key_pem.write_to_path(str(paths["key"]))
    return paths


def _serve(cfg: MetricsConfig) -> Iterator[int]:
    server: MetricsServer = Metrics(CollectorRegistry()).serve("127.0.0.1:0",
                                                              **metrics_options(cfg))
    try:
        yield server.port
    finally:
        server.close()


def _get(url: str, *, auth: str | None = None, context: ssl.SSLContext | None = None
         ) -> tuple[int, dict[str, str]]:
    request = urllib.request.Request(url)
    if auth is not None:
        request.add_header("Authorization", auth)
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            body = response.read().decode()
            assert "socd_events_total" in body or "# HELP" in body
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(("auth", "status"), [
    (None, 401),
    (_basic("prometheus", "s3cret-ü"), 200),
    (_basic("prometheus", "wrong"), 401),
    (_basic("other", "s3cret-ü"), 401),
    ("Basic not-base64!", 401),
    ("Bearer s3cret-ü", 401),
    (_basic("prometheus", "s3cret-ü").replace("Basic", "basic"), 200),  # RFC 7617: any case
])
def test_basic_auth(auth: str | None, status: int) -> None:
    """Only the configured user and password (UTF-8, RFC 7617) get the metrics; the others
    get 401 with a Basic challenge."""
    cfg = MetricsConfig(username="prometheus", password="s3cret-ü")  # type: ignore[arg-type]
    for port in _serve(cfg):
        got, headers = _get(f"http://127.0.0.1:{port}/metrics", auth=auth)
        assert got == status
        if status == 401:
            assert headers["WWW-Authenticate"].startswith('Basic realm="socd"')


def test_https(files: dict[str, Path]) -> None:
    """With certfile and keyfile: HTTPS that a client trusting the CA accepts; plain HTTP
    and a client without the CA get nothing, and the server goes on serving."""
    cfg = MetricsConfig(certfile=files["cert"], keyfile=files["key"])
    for port in _serve(cfg):
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            _get(f"http://127.0.0.1:{port}/metrics")
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            _get(f"https://127.0.0.1:{port}/metrics", context=ssl.create_default_context())
        # a client that connects and never says anything does not hold the others up
        with socket.create_connection(("127.0.0.1", port)):
            trusted = ssl.create_default_context(cafile=str(files["ca"]))
            assert _get(f"https://127.0.0.1:{port}/metrics", context=trusted)[0] == 200


def test_unloadable_certificate_is_a_config_error(files: dict[str, Path],
                                                  tmp_path: Path) -> None:
    other = trustme.CA().issue_cert("x")
    (tmp_path / "other.key").write_bytes(other.private_key_pem.bytes())
    cfg = MetricsConfig(certfile=files["cert"], keyfile=tmp_path / "other.key")
    with pytest.raises(ConfigError, match=r"metrics\.certfile"):
        metrics_options(cfg)


@pytest.mark.parametrize("keys", [{"username": "u"}, {"certfile": "c.pem"}])
def test_halves_of_a_pair_are_refused(keys: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="go together"):
        MetricsConfig.model_validate(keys)
