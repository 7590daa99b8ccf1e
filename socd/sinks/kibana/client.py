"""The import request: ``POST [/s/<space>]/api/saved_objects/_import?overwrite=true``.

Sent as Kibana documents it for 8.x and 9.x
(https://www.elastic.co/docs/api/doc/kibana/operation/operation-post-saved-objects-import):
the ``kbn-xsrf`` header and a ``multipart/form-data`` body whose one part,
``file``, is named ``*.ndjson``. Kibana answers an import that failed object by object with
``200`` and ``{"success": false, "successCount": N, "errors": [...]}`` (the shapes of
``SavedObjectsImportResponse`` / ``SavedObjectsImportFailure`` in Kibana's
``core-saved-objects-common``); each such error, and each HTTP failure, becomes a
:class:`KibanaError` that lists every object and why.
"""

from __future__ import annotations

import base64
import json
import socket
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from socd.config import KIBANA_URL as _URL
from socd.config import KibanaConfig
from socd.errors import ConfigError, Problem, SocdError, UsageError
from socd.sinks.kibana.objects import encode_ndjson, for_prefix, load_saved_objects


class KibanaError(SocdError):
    """Kibana could not be reached, refused the request, or refused some objects.

    ``failures`` holds one line per object Kibana did not import (empty for HTTP errors);
    ``retriable`` is true when trying again later can help (unreachable, 5xx).
    """

    def __init__(self, message: str, *, failures: Sequence[str] = (),
                 retriable: bool = False) -> None:
        self.failures: tuple[str, ...] = tuple(failures)
        self.retriable = retriable
        super().__init__("\n".join([message, *(f"  {line}" for line in self.failures)]))


async def import_saved_objects(config: KibanaConfig, index_prefix: str,
                               url: str | None = None, *,
                               path: Path | None = None) -> list[str]:
    """Import the saved objects into Kibana; return the lines to print.

    ``url`` (from ``--kibana``) overrides ``config.url``; ``index_prefix`` is
    ``elasticsearch.index_prefix``; ``path`` replaces the shipped file (tests).

    Returns one line for the import, one per object imported (``type id: title``, with the
    id Kibana stored it under when it chose another one), any warnings Kibana gave, and the
    dashboard's address. Raises :class:`~socd.errors.UsageError` for a bad ``url``,
    :class:`~socd.errors.ConfigError` for a missing or bad ``kibana.url``
    or CA file, and :class:`KibanaError` when Kibana is unreachable, answers with an HTTP
    error (401, 403, 404, 413, 5xx …), or refuses any object (each one listed with its
    reason).
    """
    base = kibana_url(config, url)
    objects = for_prefix(load_saved_objects(path), index_prefix)
    space_path = f"/s/{config.space}" if config.space not in (None, "default") else ""
    where = f"space {config.space or 'default'!r} of Kibana at {base}"
    endpoint = f"{base}{space_path}/api/saved_objects/_import?overwrite=true"
    status, body = await _post_file(config, endpoint, encode_ndjson(objects))
    answer = _answer(status, body, config, where)
    return _report(answer, objects, where, f"{base}{space_path}")


def kibana_url(config: KibanaConfig, url: str | None) -> str:
    """The Kibana base URL, without a trailing ``/``: ``url`` (``--kibana URL``) when given
    and not empty, else ``config.url`` (``kibana.url``).

    Raises :class:`~socd.errors.UsageError` naming ``--kibana`` for a bad option value, and
    :class:`~socd.errors.ConfigError` naming ``kibana.url`` when neither is set or the key's
    value is bad. ``socd setup`` calls it before touching Elasticsearch.
    """
    example = "an http:// or https:// URL such as https://kibana.example:5601"
    if url:
        if not _URL.match(url):
            raise UsageError(f"--kibana {url!r} is not {example}: give Kibana's base URL")
        return url.rstrip("/")
    chosen = config.url
    if chosen is None:
        raise ConfigError([Problem(None, "no Kibana URL: give socd setup --kibana URL, "
                                         "or set kibana.url", key="kibana.url")])
    if not _URL.match(chosen):
        raise ConfigError([Problem(None, f"{chosen!r} is not {example}", key="kibana.url")])
    return chosen.rstrip("/")


def _ssl(config: KibanaConfig) -> ssl.SSLContext | bool:
    if not config.verify_certs:
        return False
    try:
        return ssl.create_default_context(
            cafile=str(config.ca_certs) if config.ca_certs else None)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError([Problem(None, f"cannot read the CA file {config.ca_certs}: {exc}",
                                   key="kibana.ca_certs")]) from exc


async def _post_file(config: KibanaConfig, endpoint: str, payload: bytes) -> tuple[int, str]:
    headers = {"kbn-xsrf": "true"}
    if config.api_key:
        headers["Authorization"] = f"ApiKey {config.api_key.get_secret_value()}"
    elif config.username is not None and config.password is not None:
        # RFC 7617 with UTF-8, as Elasticsearch's security realm decodes it
        pair = f"{config.username}:{config.password.get_secret_value()}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
    form = aiohttp.FormData()
    form.add_field("file", payload, filename="socd.ndjson", content_type="application/ndjson")
    tls = _ssl(config)
    timeout = aiohttp.ClientTimeout(total=config.request_timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                endpoint, data=form, headers=headers, ssl=tls) as response:
            return response.status, await response.text()
    except (aiohttp.ClientSSLError, ssl.SSLError) as exc:
        raise KibanaError(f"cannot reach Kibana at {endpoint}: TLS failed ({_tls_reason(exc)}); "
                          "set kibana.ca_certs to the CA that signed Kibana's certificate, "
                          "and check that kibana.url (or --kibana) is Kibana's https:// "
                          "address") from exc
    except TimeoutError as exc:  # before ClientError: aiohttp's timeouts are both
        raise KibanaError(f"Kibana did not answer within {config.request_timeout:g} s "
                          f"({endpoint}); check that Kibana is running, or raise "
                          "kibana.request_timeout if it is busy", retriable=True) from exc
    except aiohttp.ClientConnectorError as exc:
        raise KibanaError(f"cannot reach Kibana at {endpoint}: {_connect_reason(exc)}; check "
                          "kibana.url (or --kibana) and that Kibana is running and reachable "
                          "from this host", retriable=True) from exc
    except aiohttp.ClientError as exc:
        detail = str(exc) if " object at 0x" not in str(exc) else ""
        raise KibanaError(f"cannot reach Kibana at {endpoint}: {type(exc).__name__}"
                          f"{': ' + detail if detail else ''}; check kibana.url (or --kibana) "
                          "and that Kibana is running", retriable=True) from exc


def _connect_reason(exc: aiohttp.ClientConnectorError) -> str:
    """The connection's failure in plain words (aiohttp's own text holds Python reprs)."""
    cause = exc.os_error
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(cause, socket.gaierror):
        return f"the name {exc.host!r} could not be resolved"
    if isinstance(cause, ConnectionRefusedError):
        return f"connection refused (nothing listens on port {exc.port})"
    if isinstance(cause, TimeoutError):
        return "no answer (timed out)"
    if cause.strerror:
        return cause.strerror[0].lower() + cause.strerror[1:]
    return type(cause).__name__


def _tls_reason(exc: BaseException) -> str:
    cause = getattr(exc, "certificate_error", None) or getattr(exc, "os_error", None) or exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate not trusted: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return str(getattr(cause, "reason", None) or "handshake failed")
    return "handshake failed"


def _message(body: str) -> str:
    """Kibana's error body is ``{"statusCode": …, "error": …, "message": …}``."""
    try:
        parsed = json.loads(body)
    except json.JSONDecodeError:
        return body.strip()[:500] or "(empty body)"
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])
    return body.strip()[:500]


def _answer(status: int, body: str, config: KibanaConfig, where: str) -> dict[str, Any]:
    if status == 200:
        try:
            parsed = json.loads(body)
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("success"), bool):
            raise KibanaError(f"the {where} did not answer like Kibana's import API: "
                              f"{body.strip()[:200]!r}; is the URL Kibana's base URL?")
        return parsed
    detail = f"{status}: {_message(body)}"
    if status == 401:
        fix = ("check kibana.api_key or kibana.username/password" if
               config.api_key or config.username else
               "set kibana.api_key, or kibana.username and kibana.password")
        raise KibanaError(f"Kibana refused the credentials ({detail}); {fix}")
    if status == 403:
        raise KibanaError(f"the Kibana user may not import saved objects into the {where} "
                          f"({detail}); it needs write access to data views, saved searches "
                          "and dashboards there (feature privileges All for Dashboard, "
                          "Discover and Data View Management)")
    if status == 404:
        raise KibanaError(f"not found ({detail}): check that the space exists in the {where} "
                          "and that the URL is Kibana's base URL, with its server.basePath")
    if status == 413:
        raise KibanaError(f"Kibana refused the file as too large ({detail}); raise "
                          "savedObjects.maxImportPayloadBytes in kibana.yml")
    raise KibanaError(f"Kibana refused the import into the {where} ({detail})",
                      retriable=status >= 500)


def _describe(error: Mapping[str, Any]) -> str:
    """A reason for each error type of Kibana's SavedObjectsImportFailure."""
    kind = error.get("type")
    if kind == "missing_references":
        missing = ", ".join(f"{ref.get('type')} {ref.get('id')}"
                            for ref in error.get("references", ()))
        return f"refers to objects that exist neither in the file nor in Kibana: {missing}"
    if kind == "conflict":
        return f"conflicts with the existing object {error.get('destinationId', '')}".rstrip()
    if kind == "ambiguous_conflict":
        ids = ", ".join(str(d.get("id")) for d in error.get("destinations", ()))
        return f"matches several existing objects ({ids}); delete all but one and retry"
    if kind == "unsupported_type":
        return "this Kibana does not import objects of this type"
    if kind == "unknown":
        return f"{error.get('message', 'failed')} (status {error.get('statusCode', '?')})"
    return json.dumps(error, ensure_ascii=False)


def _report(answer: Mapping[str, Any], objects: Sequence[Mapping[str, Any]], where: str,
            app_base: str) -> list[str]:
    warnings = [f"warning: {w.get('message', w)}" +
                (f" ({w['actionPath']})" if isinstance(w, dict) and w.get("actionPath") else "")
                for w in answer.get("warnings") or ()]
    count = answer.get("successCount", 0)
    if not answer["success"]:
        failures = [f"{e.get('type')} {e.get('id')} ({(e.get('meta') or {}).get('title', '')})"
                    f": {_describe(e.get('error') or {})}" for e in answer.get("errors") or ()]
        raise KibanaError(f"Kibana imported {count} of {len(objects)} saved objects into the "
                          f"{where}; {len(failures)} failed:", failures=[*failures, *warnings])
    lines = [f"Kibana: imported {count} saved objects into the {where}"]
    stored = {}
    for item in answer.get("successResults") or ():
        title = (item.get("meta") or {}).get("title", "")
        line = f"  {item.get('type')} {item.get('id')}: {title}"
        if item.get("destinationId"):
            line += f" (stored as {item['destinationId']})"
            stored[item.get("id")] = item["destinationId"]
        lines.append(line)
    lines.extend(warnings)
    for obj in objects:
        if obj["type"] == "dashboard":
            dashboard = stored.get(obj["id"], obj["id"])
            lines.append(f"{obj['attributes'].get('title')}: "
                         f"{app_base}/app/dashboards#/view/{dashboard}")
    return lines
