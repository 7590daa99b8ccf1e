"""TLS settings → :class:`ssl.SSLContext`, checked at start-up with the key to correct.

* Kafka (``kafka.security_protocol`` SSL or SASL_SSL): :func:`kafka_context` — the CA file
  ``kafka.ssl_cafile`` (else the system's CAs), the client certificate ``kafka.ssl_certfile``
  with ``kafka.ssl_keyfile`` (and ``kafka.ssl_key_password``), host names checked unless
  ``kafka.ssl_check_hostname: false``.
* Elasticsearch: elasticsearch-py builds its own context from ``ca_certs``, ``client_cert``,
  ``client_key`` and ``ssl_assert_fingerprint``; :func:`tls_problems` loads the same files
  first, so that a missing or malformed one is a configuration problem, not a failure at the
  first request.
* ``/metrics`` over HTTPS: :func:`metrics_context` (``metrics.certfile``, ``metrics.keyfile``).

:func:`tls_problems` is run by :func:`socd.config.validate_config` (so by ``check-config``
and by ``run`` before any server is touched).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from socd.errors import Problem

if TYPE_CHECKING:
    from socd.config import Config, KafkaConfig, MetricsConfig


class TlsFileError(ValueError):
    """A TLS file cannot be used; ``key`` is the setting that names it (``kafka.ssl_cafile``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def tls_reason(exc: BaseException) -> str:
    """An OpenSSL or OS error in plain words (no Python repr)."""
    reason = getattr(exc, "reason", None)  # set by OpenSSL's errors only
    if isinstance(exc, ssl.SSLError) and reason:
        return str(reason).replace("_", " ").lower()
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return type(exc).__name__


def _load_cafile(context: ssl.SSLContext, key: str, path: Path) -> None:
    try:
        context.load_verify_locations(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise TlsFileError(key, f"cannot load the CA file {path} ({tls_reason(exc)}): give a PEM "
                           "file of the CA certificate(s)") from None


def _load_chain(context: ssl.SSLContext, keys: tuple[str, str], cert: Path, key: Path,
                password: str | None = None) -> None:
    try:
        context.load_cert_chain(str(cert), str(key), password=password)
    except (OSError, ssl.SSLError) as exc:
        raise TlsFileError(keys[0], (
            f"cannot load the certificate {cert} with the key {key} ({tls_reason(exc)}): give "
            f"PEM files, the key matching the certificate ({keys[1]})")) from None


def kafka_context(cfg: KafkaConfig) -> ssl.SSLContext:
    """The client context for Kafka's SSL and SASL_SSL. Raises :class:`TlsFileError`."""
    if cfg.ssl_cafile is None:
        context = ssl.create_default_context()
    else:  # the CA file only, as create_default_context(cafile=...) would
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        _load_cafile(context, "kafka.ssl_cafile", cfg.ssl_cafile)
    context.check_hostname = cfg.ssl_check_hostname
    if cfg.ssl_certfile is not None and cfg.ssl_keyfile is not None:
        password = cfg.ssl_key_password.get_secret_value() if cfg.ssl_key_password else None
        _load_chain(context, ("kafka.ssl_certfile", "kafka.ssl_keyfile"),
                    cfg.ssl_certfile, cfg.ssl_keyfile, password)
    return context


def metrics_context(cfg: MetricsConfig) -> ssl.SSLContext | None:
    """The server context of ``/metrics`` over HTTPS, or None for plain HTTP. Raises
    :class:`TlsFileError`."""
    if cfg.certfile is None or cfg.keyfile is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_chain(context, ("metrics.certfile", "metrics.keyfile"), cfg.certfile, cfg.keyfile)
    return context


def tls_problems(config: Config) -> list[Problem]:
    """Every TLS file of the configuration that cannot be loaded, as a problem on its key;
    and, as warnings, the passwords the settings would send unencrypted."""
    problems: list[Problem] = []

    def check(build: Callable[[], object]) -> None:
        try:
            build()
        except TlsFileError as exc:
            problems.append(config.problem(tuple(exc.key.split(".")), exc.message))

    if config.kafka.security_protocol in ("SSL", "SASL_SSL"):
        check(lambda: kafka_context(config.kafka))
    es = config.elasticsearch

    ca, cert, key = es.ca_certs, es.client_cert, es.client_key
    if ca is not None:
        check(lambda: _load_cafile(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT),
                                   "elasticsearch.ca_certs", ca))
    if cert is not None and key is not None:
        check(lambda: _load_chain(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), (
            "elasticsearch.client_cert", "elasticsearch.client_key"), cert, key))
    check(lambda: metrics_context(config.metrics))
    return problems + _clear_text_warnings(config)


def _clear_text_warnings(config: Config) -> list[Problem]:
    """Passwords that would cross the network unencrypted: warnings, not errors (a
    loopback address or a network socd's operators trust may make them acceptable)."""
    warnings: list[Problem] = []
    kafka, metrics = config.kafka, config.metrics
    if kafka.security_protocol == "SASL_PLAINTEXT" and kafka.sasl_mechanism == "PLAIN":
        warnings.append(config.problem(("kafka", "security_protocol"), (
            "SASL PLAIN over SASL_PLAINTEXT sends the password unencrypted: use SASL_SSL, "
            "or a SCRAM mechanism"), warning=True))
    if metrics.username is not None and metrics.certfile is None:
        warnings.append(config.problem(("metrics", "username"), (
            "basic authentication over plain HTTP sends the password unencrypted: set "
            "metrics.certfile and metrics.keyfile"), warning=True))
    if any(host.startswith("http://") for host in config.elasticsearch.hosts) and (
            config.elasticsearch.password is not None or config.elasticsearch.api_key):
        warnings.append(config.problem(("elasticsearch", "hosts"), (
            "credentials over http:// cross the network unencrypted: use https:// hosts"),
            warning=True))
    return warnings
