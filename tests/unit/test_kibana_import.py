"""The Kibana import client against a local server that checks requests as Kibana does.

The fake Kibana enforces the import API's contract (Kibana's saved objects import route,
``core-saved-objects-server-internal/src/routes/import.ts``, and its docs): ``POST
[/s/<space>]/api/saved_objects/_import``, query ``overwrite=true`` only, the ``kbn-xsrf``
header (Kibana answers 400 "Request must contain a kbn-xsrf header." without it), a
``multipart/form-data`` body whose only part is ``file`` with a ``.ndjson`` name (400
"Invalid file extension .json" otherwise), and the configured credentials (401 otherwise).
Its answers have the shapes of ``SavedObjectsImportResponse`` and
``SavedObjectsImportFailure`` (``core-saved-objects-common/src/saved_objects_imports.ts``)
and, for HTTP errors, Kibana's ``{"statusCode", "error", "message"}`` body.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import ssl
import subprocess
import types
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer
from pydantic import ValidationError

from socd.errors import ConfigError, UsageError
from socd.sinks.kibana import (
    KibanaConfig,
    KibanaError,
    for_prefix,
    import_saved_objects,
    load_saved_objects,
)
from socd.sinks.kibana.client import kibana_url

Answer = tuple[int, Any] | Callable[[list[dict[str, Any]]], tuple[int, Any]]


def kibana_error(status: int, error: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"statusCode": status, "error": error, "message": message}


def imported(objects: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """Kibana's answer when every object was imported (8.x: successResults, warnings)."""
    icons = {"index-pattern": "indexPatternApp", "search": "discoverApp",
             "dashboard": "dashboardApp"}
    return 200, {"success": True, "successCount": len(objects), "warnings": [],
                 "successResults": [
                     {"type": o["type"], "id": o["id"], "overwrite": True, "managed": False,
                      "meta": {"title": o["attributes"]["title"], "icon": icons[o["type"]]}}
                     for o in objects]}


@dataclass
class Seen:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    parts: list[tuple[str | None, str | None, str | None]] = field(default_factory=list)
    objects: list[dict[str, Any]] = field(default_factory=list)


class FakeKibana:
    """Answers like Kibana's import route; records what it was sent."""

    def __init__(self, *, path: str = "/api/saved_objects/_import",
                 authorization: str | None = None) -> None:
        self.path = path
        self.authorization = authorization
        self.answer: Answer = imported
        self.seen: list[Seen] = []

    async def handle(self, request: web.Request) -> web.Response:
        seen = Seen(request.method, request.path, list(request.query.items()),
                    dict(request.headers))
        self.seen.append(seen)
        if request.method != "POST" or request.path != self.path:
            return self.reply(kibana_error(404, "Not Found", "Not Found"))
        if self.authorization and request.headers.get("Authorization") != self.authorization:
            return self.reply(kibana_error(
                401, "Unauthorized", "[security_exception]: unable to authenticate user"))
        if "kbn-xsrf" not in request.headers:
            return self.reply(kibana_error(400, "Bad Request",
                                           "Request must contain a kbn-xsrf header."))
        if seen.query != [("overwrite", "true")]:
            return self.reply(kibana_error(400, "Bad Request", f"[request query]: {seen.query}"))
        if not request.content_type.startswith("multipart/form-data"):
            return self.reply(kibana_error(415, "Unsupported Media Type",
                                           "Unsupported Media Type"))
        reader = await request.multipart()
        payload = b""
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader)
            seen.parts.append((part.name, part.filename, part.headers.get("Content-Type")))
            payload = await part.read()
        if [p[0] for p in seen.parts] != ["file"]:
            return self.reply(kibana_error(400, "Bad Request", "[request body.file]: expected"))
        filename = seen.parts[0][1] or ""
        if not filename.lower().endswith(".ndjson"):
            suffix = "." + filename.rsplit(".", 1)[-1] if "." in filename else ""
            return self.reply(kibana_error(400, "Bad Request",
                                           f"Invalid file extension {suffix}"))
        seen.objects = [json.loads(line) for line in payload.decode().splitlines() if line]
        answer = self.answer(seen.objects) if callable(self.answer) else self.answer
        return self.reply(answer)

    @staticmethod
    def reply(answer: tuple[int, Any]) -> web.Response:
        status, body = answer
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)


async def serve(kibana: FakeKibana, **tls: Any) -> TestServer:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", kibana.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(**tls)
    return server


@pytest.fixture
async def kibana() -> AsyncIterator[tuple[FakeKibana, str]]:
    fake = FakeKibana()
    server = await serve(fake)
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


# --- the request ------------------------------------------------------------------------


async def test_request_is_the_documented_import(kibana: tuple[FakeKibana, str]) -> None:
    """POST /api/saved_objects/_import?overwrite=true, kbn-xsrf, one multipart part `file`
    named socd.ndjson carrying the shipped objects; the answer becomes printable lines."""
    fake, url = kibana
    lines = await import_saved_objects(KibanaConfig(), "socd", url)
    (seen,) = fake.seen
    assert (seen.method, seen.path, seen.query) == ("POST", "/api/saved_objects/_import",
                                                    [("overwrite", "true")])
    assert seen.headers["kbn-xsrf"] == "true"
    assert "Authorization" not in seen.headers
    assert seen.parts == [("file", "socd.ndjson", "application/ndjson")]
    assert seen.objects == load_saved_objects()
    assert lines[0] == f"Kibana: imported 6 saved objects into the space 'default' of " \
                       f"Kibana at {url}"
    assert "  dashboard socd-soc-overview: SOC overview" in lines
    assert lines[-1] == f"SOC overview: {url}/app/dashboards#/view/socd-soc-overview"


async def test_space_and_base_path_are_in_the_path() -> None:
    """kibana.space → /s/<space>/api/…, under Kibana's server.basePath taken from the URL."""
    fake = FakeKibana(path="/kibana/s/soc-team/api/saved_objects/_import")
    server = await serve(fake)
    try:
        url = str(server.make_url("/kibana/"))
        lines = await import_saved_objects(KibanaConfig(space="soc-team"), "socd", url)
    finally:
        await server.close()
    assert [s.path for s in fake.seen] == ["/kibana/s/soc-team/api/saved_objects/_import"]
    assert lines[-1].endswith("/kibana/s/soc-team/app/dashboards#/view/socd-soc-overview")


async def test_default_space_has_no_space_path(kibana: tuple[FakeKibana, str]) -> None:
    """space: default is the default space's plain path, as Kibana writes its URLs."""
    fake, url = kibana
    await import_saved_objects(KibanaConfig(space="default"), "socd", url)
    assert fake.seen[0].path == "/api/saved_objects/_import"


@pytest.mark.parametrize(("config", "header"), [
    (KibanaConfig(api_key="aWQ6a2V5"), "ApiKey aWQ6a2V5"),
    (KibanaConfig(username="socd", password="pässword"),
     "Basic " + base64.b64encode("socd:pässword".encode()).decode()),
])
async def test_credentials_are_sent(config: KibanaConfig, header: str) -> None:
    """An API key goes as `ApiKey <encoded>`, a user as HTTP basic."""
    fake = FakeKibana(authorization=header)
    server = await serve(fake)
    try:
        url = str(server.make_url(""))
        await import_saved_objects(config.model_copy(update={"url": url}), "socd")
    finally:
        await server.close()
    assert fake.seen[0].headers["Authorization"] == header


async def test_another_prefix_is_rewritten_before_sending(kibana: tuple[FakeKibana, str]) -> None:
    """index_prefix acme: Kibana receives the data view on acme-alerts* and acme- ids."""
    fake, url = kibana
    lines = await import_saved_objects(KibanaConfig(), "acme", url)
    sent = fake.seen[0].objects
    assert sent == for_prefix(load_saved_objects(), "acme")
    assert {o["id"] for o in sent} == {"acme-alerts", "acme-critical-threats",
                                       "acme-high-risk-threats", "acme-threats-by-layer",
                                       "acme-open-threats", "acme-soc-overview"}
    assert [o["attributes"]["title"] for o in sent if o["type"] == "index-pattern"] == [
        "acme-alerts*"]
    assert lines[-1].endswith("/app/dashboards#/view/acme-soc-overview")


async def test_running_again_sends_the_same_request(kibana: tuple[FakeKibana, str]) -> None:
    """Deterministic ids and overwrite=true: a second run replaces, never duplicates."""
    fake, url = kibana
    first = await import_saved_objects(KibanaConfig(), "socd", url)
    second = await import_saved_objects(KibanaConfig(), "socd", url)
    assert first == second
    assert fake.seen[0].objects == fake.seen[1].objects
    assert fake.seen[0].query == fake.seen[1].query == [("overwrite", "true")]


async def test_objects_stored_under_another_id_are_reported(
        kibana: tuple[FakeKibana, str]) -> None:
    """When Kibana keeps an object under a new id (it exists in another space), say so and
    link the dashboard by the id Kibana chose."""
    fake, url = kibana

    def moved(objects: list[dict[str, Any]]) -> tuple[int, Any]:
        status, body = imported(objects)
        for item in body["successResults"]:
            if item["type"] == "dashboard":
                item["destinationId"] = "3f0c5a6e-0000-4000-8000-000000000001"
        body["warnings"] = [{"type": "simple", "message": "Some objects were copied"}]
        return status, body

    fake.answer = moved
    lines = await import_saved_objects(KibanaConfig(), "socd", url)
    assert "  dashboard socd-soc-overview: SOC overview (stored as " \
           "3f0c5a6e-0000-4000-8000-000000000001)" in lines
    assert "warning: Some objects were copied" in lines
    assert lines[-1].endswith("#/view/3f0c5a6e-0000-4000-8000-000000000001")


# --- Kibana refusing ---------------------------------------------------------------------


async def test_every_per_object_error_in_a_200_is_reported(
        kibana: tuple[FakeKibana, str]) -> None:
    """success: false in a 200: each failed object with its reason, and the count."""
    fake, url = kibana
    fake.answer = (200, {
        "success": False, "successCount": 3, "warnings": [],
        "errors": [
            {"id": "socd-soc-overview", "type": "dashboard",
             "meta": {"title": "SOC overview", "icon": "dashboardApp"},
             "error": {"type": "missing_references",
                       "references": [{"type": "index-pattern", "id": "socd-alerts"}]}},
            {"id": "socd-critical-threats", "type": "search",
             "meta": {"title": "Critical threats"},
             "error": {"type": "unknown", "message": "version conflict", "statusCode": 409}},
            {"id": "socd-alerts", "type": "index-pattern", "meta": {"title": "socd-alerts*"},
             "error": {"type": "unsupported_type"}},
            {"id": "socd-open-threats", "type": "search", "meta": {},
             "error": {"type": "ambiguous_conflict",
                       "destinations": [{"id": "a1"}, {"id": "b2"}]}},
        ]})
    with pytest.raises(KibanaError) as caught:
        await import_saved_objects(KibanaConfig(), "socd", url)
    error = caught.value
    assert not error.retriable
    assert str(error).startswith("Kibana imported 3 of 6 saved objects into the space "
                                 "'default'")
    assert error.failures == (
        "dashboard socd-soc-overview (SOC overview): refers to objects that exist neither "
        "in the file nor in Kibana: index-pattern socd-alerts",
        "search socd-critical-threats (Critical threats): version conflict (status 409)",
        "index-pattern socd-alerts (socd-alerts*): this Kibana does not import objects of "
        "this type",
        "search socd-open-threats (): matches several existing objects (a1, b2); delete all "
        "but one and retry",
    )
    assert all(line in str(error) for line in error.failures)


@pytest.mark.parametrize(("answer", "expected", "retriable"), [
    (kibana_error(401, "Unauthorized", "[security_exception]: unable to authenticate user"),
     "Kibana refused the credentials (401: [security_exception]: unable to authenticate "
     "user); set kibana.api_key, or kibana.username and kibana.password", False),
    (kibana_error(403, "Forbidden", "Unable to bulk_create dashboard"),
     "may not import saved objects", False),
    (kibana_error(400, "Bad Request", "Invalid file extension .json"),
     "Kibana refused the import into the space 'default' of Kibana at URL (400: Invalid "
     "file extension .json)", False),
    (kibana_error(404, "Not Found", "Not Found"), "check that the space exists", False),
    (kibana_error(413, "Request Entity Too Large", "Payload content length greater than "
                  "maximum allowed: 26214400"), "savedObjects.maxImportPayloadBytes", False),
    (kibana_error(503, "Service Unavailable", "License is not available."),
     "(503: License is not available.)", True),
    ((502, "<html>Bad Gateway</html>"), "(502: <html>Bad Gateway</html>)", True),
    ((200, "<html>login</html>"), "did not answer like Kibana's import API", False),
])
async def test_http_errors_say_what_to_do(kibana: tuple[FakeKibana, str],
                                          answer: tuple[int, Any], expected: str,
                                          retriable: bool) -> None:
    """Each HTTP refusal names Kibana's message and the fix; only 5xx is worth retrying."""
    fake, url = kibana
    fake.answer = answer
    with pytest.raises(KibanaError) as caught:
        await import_saved_objects(KibanaConfig(), "socd", url)
    assert expected.replace("URL", url) in str(caught.value)
    assert caught.value.retriable is retriable


async def test_wrong_credentials_point_at_the_keys_set() -> None:
    """A 401 with credentials configured asks to check them, not to add them."""
    fake = FakeKibana(authorization="ApiKey right")
    server = await serve(fake)
    try:
        with pytest.raises(KibanaError, match=r"401: .*check kibana.api_key"):
            await import_saved_objects(KibanaConfig(api_key="wrong"), "socd",
                                       str(server.make_url("")))
    finally:
        await server.close()


async def test_unreachable_kibana_is_a_retriable_error() -> None:
    """Connection refused: the URL is named and a retry may help."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(KibanaError, match=f"cannot reach Kibana at {url}/api/") as caught:
        await import_saved_objects(KibanaConfig(), "socd", url)
    assert caught.value.retriable
    message = str(caught.value)
    assert "object at 0x" not in message and "ssl" not in message.lower()
    assert f"connection refused (nothing listens on port {port})" in message
    assert "check kibana.url (or --kibana) and that Kibana is running" in message
    assert "\n" not in message


def _connector_error(error: OSError, kind: type[aiohttp.ClientConnectorError]
                     = aiohttp.ClientConnectorError) -> aiohttp.ClientConnectorError:
    key = types.SimpleNamespace(host="kibana.example", port=5601, ssl=True, is_ssl=True)
    return kind(key, error)  # type: ignore[arg-type]


@pytest.mark.parametrize(("error", "kind", "reason"), [
    (ConnectionRefusedError(111, "Connect call failed"), aiohttp.ClientConnectorError,
     "connection refused (nothing listens on port 5601)"),
    (socket.gaierror(-2, "Name or service not known"), aiohttp.ClientConnectorDNSError,
     "the name 'kibana.example' could not be resolved"),
    (socket.gaierror(-2, "Name or service not known"), aiohttp.ClientConnectorError,
     "the name 'kibana.example' could not be resolved"),
    (TimeoutError(), aiohttp.ClientConnectorError, "no answer (timed out)"),
    (OSError(113, "No route to host"), aiohttp.ClientConnectorError, "no route to host"),
])
def test_connection_failures_are_plain_words(error: OSError,
                                              kind: type[aiohttp.ClientConnectorError],
                                              reason: str) -> None:
    """Each way a connection fails is named in words, never as aiohttp's repr-laden text."""
    from socd.sinks.kibana.client import _connect_reason

    assert _connect_reason(_connector_error(error, kind)) == reason


async def test_a_silent_kibana_times_out() -> None:
    """No answer within kibana.request_timeout: a retriable error that names the setting."""
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        raise AssertionError("unreachable")

    app = web.Application()
    app.router.add_post("/api/saved_objects/_import", hang)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        with pytest.raises(KibanaError, match=r"kibana\.request_timeout") as caught:
            await import_saved_objects(KibanaConfig(request_timeout=0.2), "socd",
                                       str(server.make_url("")))
    finally:
        never.set()
        await server.close()
    assert caught.value.retriable


# --- TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), made with openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    return cert, key


async def test_https_with_the_configured_ca(certificate: tuple[Path, Path]) -> None:
    """kibana.ca_certs verifies Kibana's certificate; without it the TLS error names it."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    fake = FakeKibana()
    server = await serve(fake, ssl=context)
    url = str(server.make_url(""))
    try:
        assert url.startswith("https://")
        lines = await import_saved_objects(KibanaConfig(ca_certs=cert), "socd", url)
        assert lines[0].startswith("Kibana: imported 6")
        with pytest.raises(KibanaError, match=r"set kibana\.ca_certs") as caught:
            await import_saved_objects(KibanaConfig(), "socd", url)
        message = str(caught.value)
        assert "object at 0x" not in message
        assert f"cannot reach Kibana at {url}" in message
        assert "TLS failed (certificate not trusted: " in message
    finally:
        await server.close()
    assert len(fake.seen) == 1


# --- configuration -----------------------------------------------------------------------


async def test_a_url_is_required() -> None:
    """Neither --kibana URL nor kibana.url: a configuration problem naming the key."""
    with pytest.raises(ConfigError, match=r"kibana.url: no Kibana URL"):
        await import_saved_objects(KibanaConfig(), "socd")
    with pytest.raises(UsageError, match=r"^--kibana 'kibana:5601' is not an http"):
        await import_saved_objects(KibanaConfig(), "socd", "kibana:5601")


@pytest.mark.parametrize(("configured", "option", "expected"), [
    ("https://kibana.example:5601/", None, "https://kibana.example:5601"),
    ("https://kibana.example:5601", "", "https://kibana.example:5601"),
    ("https://kibana.example:5601", "http://other:5601/base/", "http://other:5601/base"),
    (None, "http://127.0.0.1:5601", "http://127.0.0.1:5601"),
])
def test_the_option_overrides_the_key(configured: str | None, option: str | None,
                                      expected: str) -> None:
    assert kibana_url(KibanaConfig(url=configured), option) == expected


@pytest.mark.parametrize("option", ["not-a-url", "kibana:5601", "ftp://kibana", "//kibana"])
def test_a_bad_option_names_the_option_not_the_key(option: str) -> None:
    """The value came from --kibana: the message says so, whatever kibana.url holds."""
    for configured in (None, "https://kibana.example:5601"):
        with pytest.raises(UsageError) as caught:
            kibana_url(KibanaConfig(url=configured), option)
        assert str(caught.value).startswith(f"--kibana {option!r} is not an http")
        assert "kibana.url" not in str(caught.value)


async def test_a_missing_ca_file_is_a_configuration_problem(tmp_path: Path) -> None:
    """A CA file that cannot be read is reported under kibana.ca_certs before any request."""
    with pytest.raises(ConfigError, match=r"kibana.ca_certs: cannot read the CA file"):
        await import_saved_objects(KibanaConfig(ca_certs=tmp_path / "nope.pem"), "socd",
                                   "https://127.0.0.1:9")


@pytest.mark.parametrize(("values", "message"), [
    ({"url": "kibana.example:5601"}, "is not an http:// or https:// URL"),
    ({"username": "socd"}, "username and password go together"),
    ({"api_key": "k", "username": "u", "password": "p"}, "not both"),
    ({"space": "SOC Team"}, "should match pattern"),
    ({"request_timeout": 0}, "greater than 0"),
    ({"index_prefix": "socd"}, "Extra inputs are not permitted"),
])
def test_config_rejects_what_cannot_work(values: dict[str, Any], message: str) -> None:
    """Bad URLs, half credentials, two kinds of credentials, space ids Kibana refuses,
    and unknown keys are refused when the configuration is read."""
    with pytest.raises(ValidationError, match=message):
        KibanaConfig(**values)


def test_config_is_frozen() -> None:
    """Like every configuration section, the model cannot be changed after validation."""
    config = KibanaConfig(url="https://kibana.example:5601", space="soc-team")
    with pytest.raises(ValidationError):
        config.url = "http://other"  # type: ignore[misc]


def test_a_broken_objects_file_names_its_line(tmp_path: Path) -> None:
    """A line that is not a saved object is reported with file and line."""
    path = tmp_path / "objects.ndjson"
    path.write_text('{"type":"index-pattern","id":"x","attributes":{}}\n\n{"id":1}\nnot json\n')
    with pytest.raises(ConfigError) as caught:
        load_saved_objects(path)
    assert [(p.line, p.message.split(":")[0]) for p in caught.value.problems] == [
        (3, "not a saved object (type, id, attributes)"), (4, "not JSON")]
    assert all(p.file == str(path) for p in caught.value.problems)


def test_an_export_summary_line_is_skipped(tmp_path: Path) -> None:
    """A file exported from Kibana ends with its export summary, which Kibana's import skips."""
    path = tmp_path / "export.ndjson"
    path.write_text('{"type":"index-pattern","id":"x","attributes":{"title":"x*"}}\n'
                    '{"excludedObjects":[],"excludedObjectsCount":0,"exportedCount":1,'
                    '"missingRefCount":0,"missingReferences":[]}\n')
    assert [o["id"] for o in load_saved_objects(path)] == ["x"]
