"""The configuration file: pydantic models, environment overrides, every problem at once.

A config file is YAML. Every key may be overridden by an environment variable
``SOCD_<SECTION>__<KEY>`` (``__`` separates levels, list items are numbered from 0:
``SOCD_INPUTS__0__LAYER=3``). An environment value is read by the type of its key: as
written for a text key (a password of digits stays text), as a list for a list of strings
(see below), as YAML for the others (numbers, ``true``/``false``, ``[...]``, ``{...}``).

**Lists of strings**, one rule everywhere (file and environment): a YAML list, or one string
of comma-separated items (``paths: "rules/"`` is ``["rules/"]``;
``SOCD_RULES__PATHS=r/,r/cyradar`` is ``["r/", "r/cyradar"]``).

:func:`load_config` validates everything before any server is touched and raises one
:class:`~socd.errors.ConfigError` listing every problem with its file, line and key;
:func:`read_config` and :func:`validate_config` do the same in steps, for
``socd check-config`` (:mod:`socd.check`), which goes on to the rules and connectors.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from socd.clock import ClockSkew, Duration, parse_duration
from socd.configsource import Origin, apply_environment
from socd.errors import ConfigError, Problem
from socd.secrets import SECRETS, apply_secret_files
from socd.state.suppress import Suppression, check_by, check_window
from socd.tls import tls_problems
from socd.yamlfile import YamlFileError, describe, error_key, parse_yaml

Layer = Literal[1, 2, 3, 4]
ThreatClassName = Literal["critical", "high-risk"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _seconds(value: Any) -> Any:
    """A length of time in seconds: a number, or a duration as ``max_clock_skew`` takes
    them (``500ms`` is not one; ``30s``, ``2m``, ``1h``)."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return parse_duration(value).total_seconds()
        except ValueError:
            raise ValueError(f"{value!r} is not a length of time: write a number of seconds "
                             "(30, 2.5) or a duration such as 30s, 2m or 1h") from None
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(gt=0)]
"""Seconds, more than 0; written as a number or a duration (``30s``, ``2m``)."""


def _split_commas(value: Any) -> Any:
    """A list of strings written as one string: its comma-separated items (blanks dropped)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


Texts = Annotated[list[str], BeforeValidator(_split_commas)]
"""A list of strings: a YAML list, or one string of comma-separated items."""
Paths = Annotated[list[Path], BeforeValidator(_split_commas)]
"""A list of paths, written as :data:`Texts`."""

KAFKA_TOPIC_MAX = 249
_TOPIC_CHAR = re.compile(r"[a-zA-Z0-9._-]")


def _kafka_topic(value: str) -> str:
    """Kafka's rules for a topic name (``org.apache.kafka.common.internals.Topic.validate``):
    1 to 249 characters, each an ASCII letter or digit, ``.``, ``_`` or ``-``; not ``.`` or
    ``..``."""
    if not value:
        raise ValueError("the topic name is empty: give the name of the Kafka topic")
    if value in (".", ".."):
        raise ValueError(f"Kafka refuses the topic name {value!r}: choose another name")
    if len(value) > KAFKA_TOPIC_MAX:
        raise ValueError(f"the topic name has {len(value)} characters; Kafka allows at most "
                         f"{KAFKA_TOPIC_MAX}: shorten it")
    bad = sorted({char for char in value if not _TOPIC_CHAR.fullmatch(char)})
    if bad:
        raise ValueError(f"Kafka refuses {', '.join(repr(c) for c in bad)} in a topic name "
                         f"{value!r}: use only ASCII letters, digits, '.', '_' and '-'")
    return value


Topic = Annotated[str, AfterValidator(_kafka_topic)]
"""A Kafka topic name, checked as Kafka checks it."""


def _group_id(value: str) -> str:
    if not value.strip():
        raise ValueError("the consumer group id is empty: give a name such as socd (socd "
                         "processes with the same group_id share the input partitions)")
    return value


_HOST_PORT = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$")


class KafkaConfig(_Model):
    bootstrap_servers: Texts = Field(default_factory=lambda: ["127.0.0.1:9092"])
    group_id: Annotated[str, AfterValidator(_group_id)] = "socd"
    client_id: str = "socd"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    """A file holding ``sasl_password`` (see :mod:`socd.secrets`)."""
    ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates (SSL, SASL_SSL); default:
    the system's trusted CAs."""
    ssl_certfile: Path | None = None
    """PEM file of socd's client certificate (with its chain), for brokers that require one
    (``ssl.client.auth=required``); goes with ``ssl_keyfile``."""
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    """The password of an encrypted ``ssl_keyfile``."""
    ssl_key_password_file: Path | None = None
    ssl_check_hostname: bool = True
    """Check that a broker's certificate names the host socd connected to."""
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    max_batch: Annotated[int, Field(ge=1, le=100_000)] = 2000
    """Most records taken from Kafka in one fetch."""
    max_message_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    """A larger message goes to the dead-letter topic with reason ``too_large``."""
    session_timeout_ms: Annotated[int, Field(ge=1000)] = 30_000

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one broker as HOST:PORT")
        for item in value:
            if not _HOST_PORT.match(item):
                raise ValueError(f"{item!r} is not HOST:PORT (for example 127.0.0.1:9092)")
        return value

    @model_validator(mode="after")
    def _security(self) -> KafkaConfig:
        _raise_first(_kafka_security_problems(self.model_dump()))
        return self


def _by(value: list[str]) -> list[str]:
    check_by(value)
    return value


def _window(value: timedelta) -> timedelta:
    check_window(value)
    return value


class SuppressConfig(_Model):
    """``inputs[].suppress``: one alert per rule, key and window (:mod:`socd.state.suppress`)."""

    by: Annotated[Texts, AfterValidator(_by)]
    """The key: 1 to 8 ECS field names."""
    for_: Annotated[Duration, AfterValidator(_window), Field(alias="for")]
    """The window's length: 1 s to 31 d."""

    @property
    def suppression(self) -> Suppression:
        return Suppression(tuple(self.by), self.for_)


def _no_suppress(value: Any) -> Any:
    """``suppress: false`` (or null) on an input: none."""
    return None if value is False else value


class InputConfig(_Model):
    topic: Topic
    connector: Annotated[str, Field(min_length=1)]
    """A built-in connector (cyradar, suricata, wazuh, cef, leef, zeek, ecs) or the path of a
    mapping file."""
    layer: Layer
    sensor: Annotated[str, Field(min_length=1)]
    """Observer name when the event has none; also the ``sensor`` metric label."""
    name: str | None = None
    """Name of this input in metrics and logs; defaults to the topic."""
    logsource: dict[Literal["product", "category", "service"], str] | None = None
    """The Sigma logsource of this input's events; defaults to the connector's."""
    pipelines: Annotated[list[Annotated[str, Field(min_length=1)]],
                         BeforeValidator(_split_commas)] = Field(default_factory=list)
    """pySigma processing pipelines that fit the rules to this input's events: socd's own
    (``windows``, ``winlogbeat``, ``zeek``, ``suricata``), an installed pySigma plugin's, or the
    path of a pipeline YAML file."""
    timezone: str | None = None
    """Zone for timestamps that carry no offset; defaults to ``report.timezone``."""
    keep_original: bool = True
    """Keep the message as received in ``event.original``."""
    max_clock_skew: ClockSkew = Field(default_factory=ClockSkew)
    """How far a threat's ``@timestamp`` may be ahead of or behind socd's clock (see
    :mod:`socd.clock`)."""
    suppress: Annotated[SuppressConfig | None, BeforeValidator(_no_suppress)] = None
    """``{by: [fields…], for: DURATION}``: the default suppression of this input's threats
    (one alert per rule, key and window; see :mod:`socd.state.suppress`), for the rules
    whose ``socd:`` section does not say ``suppress:``."""

    @property
    def label(self) -> str:
        return self.name or self.topic

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone(value)


class RulesConfig(_Model):
    paths: Paths = Field(default_factory=lambda: [Path("rules")])
    """Files and folders of Sigma rules (folders searched recursively)."""
    placeholders: dict[str, Texts] = Field(default_factory=dict)
    """Values for Sigma ``|expand`` placeholders (``%name%``)."""
    watch: bool = True
    """Reload the rules when a rule file changes (checked every 2 s), as on SIGHUP."""

    @field_validator("paths")
    @classmethod
    def _some(cls, value: list[Path]) -> list[Path]:
        if not value:
            raise ValueError("no rule path: name at least one file or folder of Sigma rules")
        return value


_INDEX_PREFIX = re.compile(r"[a-z0-9][a-z0-9_.-]{0,199}")


def _index_prefix(value: str) -> str:
    """A prefix that makes valid Elasticsearch index names (lowercase, none of
    ``\\/*?"<>| ,#:``, not starting with ``-_+``, at most 255 bytes: the index API's rules),
    kept simpler: a lowercase letter or digit, then those, ``_``, ``.`` or ``-``."""
    if not _INDEX_PREFIX.fullmatch(value):
        raise ValueError(f"{value!r} cannot start Elasticsearch index names: use a lowercase "
                         "letter or digit, then lowercase letters, digits, '_', '.' or '-' "
                         "(at most 200 characters), for example socd")
    return value


_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


def _fingerprint(value: str) -> str:
    """A SHA-256 fingerprint, 64 hex digits, with or without ``:`` between bytes."""
    digits = value.replace(":", "").strip().lower()
    if not _FINGERPRINT.fullmatch(digits):
        raise ValueError("not a SHA-256 fingerprint: write the 64 hex digits (with or without "
                         "':'), as `openssl x509 -noout -fingerprint -sha256 -in ca.crt` "
                         "prints them")
    return digits


class ElasticsearchConfig(_Model):
    hosts: Texts = Field(default_factory=lambda: ["http://127.0.0.1:9200"])
    index_prefix: Annotated[str, AfterValidator(_index_prefix)] = "socd"
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    """A file holding ``password`` (see :mod:`socd.secrets`)."""
    api_key: SecretStr | None = None
    """The ``encoded`` value of Elasticsearch's create-API-key call."""
    api_key_file: Path | None = None
    ca_certs: Path | None = None
    """PEM file of the CA(s) that signed the cluster's certificate; default: the system's."""
    ssl_assert_fingerprint: Annotated[str, AfterValidator(_fingerprint)] | None = None
    """The SHA-256 fingerprint of the cluster's certificate or of a CA in its chain (as
    Elasticsearch prints it at its first start), trusted instead of ``ca_certs``."""
    client_cert: Path | None = None
    """PEM file of socd's client certificate, for a cluster that requires one; goes with
    ``client_key``."""
    client_key: Path | None = None
    verify_certs: bool = True
    request_timeout: Seconds = 30.0
    """Seconds a request may go unanswered. A bulk request that times out is sent again in
    halves, and the request size adapts (socd.sinks.elasticsearch.size)."""
    max_in_flight: Annotated[int, Field(ge=1, le=16)] = 2
    """Bulk requests in flight at once; offsets are still committed in order."""
    bulk_max_docs: Annotated[int, Field(ge=1, le=100_000)] = 2000
    """Documents gathered into one bulk request (from one or more fetches): the most; fewer
    while the cluster is slow (socd.sinks.elasticsearch.size)."""
    retry_backoff_max: Seconds = 30.0
    """Longest wait between retries while Elasticsearch is unreachable or overloaded."""

    @field_validator("hosts")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one URL such as http://127.0.0.1:9200")
        for item in value:
            if not re.match(r"^https?://", item):
                raise ValueError(f"{item!r} is not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _auth(self) -> ElasticsearchConfig:
        _raise_first(_login_problems(self.model_dump()) + _pair_problems(
            self.model_dump(), "client_cert", "client_key"))
        return self


class MetricsConfig(_Model):
    listen: str = "127.0.0.1:9464"
    """HOST:PORT for GET /metrics; an empty string turns the endpoint off."""
    certfile: Path | None = None
    """PEM certificate (with its chain): serve /metrics over HTTPS; goes with ``keyfile``."""
    keyfile: Path | None = None
    username: str | None = None
    """HTTP basic authentication of /metrics (RFC 7617): every request must carry it."""
    password: SecretStr | None = None
    password_file: Path | None = None

    @model_validator(mode="after")
    def _auth(self) -> MetricsConfig:
        _raise_first(_login_problems(self.model_dump()) + _pair_problems(
            self.model_dump(), "certfile", "keyfile"))
        return self

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value and not _HOST_PORT.match(value):
            raise ValueError(f"{value!r} is not HOST:PORT (for example 127.0.0.1:9464); an "
                             "empty value turns the endpoint off (listen: \"\" in the file, "
                             "SOCD_METRICS__LISTEN= in the environment)")
        return value


class DeadLetterConfig(_Model):
    topic: Topic = "socd.dead-letter"


class DeliveryConfig(_Model):
    """Bounds of delivery (:mod:`socd.delivery`): memory held by batches not yet durable, and
    how often a message whose processing raises is tried before it is dead-lettered."""

    max_in_flight_events: Annotated[int, Field(ge=1)] = 20_000
    """Events consumed and not yet durable at which fetching stops until some are."""
    max_in_flight_bytes: Annotated[int, Field(ge=1)] = 64 * 1024 * 1024
    """Bytes (of bulk request bodies, the encoded documents) not yet durable at which
    fetching stops until some are; 64 MiB."""
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    """Times one message whose processing raises is processed before it is dead-lettered
    as ``processing_failed``."""


def _network(value: str) -> str:
    """An address range in CIDR notation (``10.0.0.0/8``, ``fc00::/7``), or one address."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an address range: write it as 10.0.0.0/8 or "
                         "fc00::/7 (CIDR notation), or as one address") from None


Network = Annotated[str, AfterValidator(_network)]

RFC1918 = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
"""The private IPv4 ranges of RFC 1918."""
INTERNAL_NETWORKS = (*RFC1918, "127.0.0.0/8", "169.254.0.0/16", "100.64.0.0/10",
                     "::1/128", "fc00::/7", "fe80::/10")
"""What :attr:`SharingRedaction.networks` leaves out by default: RFC 1918, loopback,
link-local, carrier-grade NAT (RFC 6598) and their IPv6 counterparts (RFC 4193 unique local,
RFC 4291 link-local)."""


def _domain(value: str) -> str:
    """A DNS name as :func:`socd.sharing.redact.dns_name` reads one (the same rule decides
    what is redacted)."""
    from socd.sharing.redact import dns_name  # the sharing package reads this module

    if dns_name(value) is None:
        raise ValueError(f"{value!r} is not a DNS name: write one such as binhphuoc.gov.vn "
                         "(at least two labels of letters, digits and '-')")
    return value


class SharingIdentity(_Model):
    """The department, as a STIX 2.1 ``identity`` (STIX 2.1 §4.5): the sharer of every
    sighting (``created_by_ref``) and where it was sighted (``where_sighted_refs``)."""

    name: str = ""
    """The department's name as the national centre knows it (required to share)."""
    identity_class: Literal["organization", "group", "system"] = "organization"
    sectors: Texts = Field(default_factory=lambda: ["government-regional"])
    """STIX 2.1 industry-sector-ov values (§10.9)."""
    contact_information: str | None = None


class SharingRedaction(_Model):
    """What never leaves the department. Host names, user names, the sensor's raw message
    and every field socd does not turn into a STIX object are never shared."""

    networks: Annotated[list[Network], BeforeValidator(_split_commas)] = Field(
        default_factory=lambda: list(INTERNAL_NETWORKS))
    """Addresses in these ranges are left out of every shared object."""
    domains: Annotated[list[Annotated[str, AfterValidator(_domain)]],
                       BeforeValidator(_split_commas)] = Field(default_factory=list)
    """DNS names equal to or under these (``internal.example.gov.vn``) are left out, and
    URLs on them."""


class SharingConfig(_Model):
    """Layer-4 sharing with the national centre (STIX 2.1 sightings on ``topic``); active
    when the ``sharing`` section is present and ``enabled``."""

    enabled: bool = True
    topic: Topic = "socd.national"
    min_class: ThreatClassName = "critical"
    """Threats of this class or above are shared; a rule's ``socd: share:`` overrides it."""
    identity: SharingIdentity = Field(default_factory=SharingIdentity)
    tlp: Literal["white", "green", "amber", "red"] = "amber"
    """The TLP marking of every shared object (STIX 2.1 §7.2.1.4; TLP 2.0's CLEAR is white)."""
    redact: SharingRedaction = Field(default_factory=SharingRedaction)
    transactional: Literal["auto"] | bool = "auto"
    """Publish sightings and commit offsets in one Kafka transaction: ``auto`` where the
    broker supports transactions, ``true`` to require it, ``false`` never."""
    transactional_id: str | None = None
    """The producer's ``transactional.id``; by default ``<kafka.group_id>.sharing.<host
    name>``. Unique per socd process, and the same across its restarts."""


class ReportConfig(_Model):
    timezone: str = "Asia/Ho_Chi_Minh"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return check_zone(value)


class LoggingConfig(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


KIBANA_URL = re.compile(r"^https?://[^/?#]+(/[^?#]*)?$")
"""An http(s) URL with an optional base path, no query or fragment."""


class KibanaConfig(_Model):
    """The ``kibana:`` section of the configuration file.

    ``url`` is Kibana's base URL (with its ``server.basePath``, if any); ``--kibana URL``
    overrides it. Authenticate with ``api_key`` (the base64 ``encoded`` value Elasticsearch's
    create-API-key call returns, sent as ``Authorization: ApiKey …``) or with ``username``
    and ``password`` (HTTP basic), not both. ``ca_certs`` is a PEM file of the CA that
    signed Kibana's certificate. ``space`` is the id of the Kibana space to import into
    (``None`` or ``default``: the default space).
    """

    url: str | None = None
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    space: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")] | None = None
    request_timeout: Seconds = 60.0
    """Seconds for the whole import request."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not KIBANA_URL.match(value):
            raise ValueError(f"{value!r} is not an http:// or https:// URL such as "
                             "https://kibana.example:5601")
        return value

    @model_validator(mode="after")
    def _auth(self) -> KibanaConfig:
        _raise_first(_auth_problems(self.model_dump()))
        return self


class Config(_Model):
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    inputs: Annotated[list[InputConfig], Field(min_length=1)]
    rules: RulesConfig = Field(default_factory=RulesConfig)
    elasticsearch: ElasticsearchConfig = Field(default_factory=ElasticsearchConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    dead_letter: DeadLetterConfig = Field(default_factory=DeadLetterConfig)
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    sharing: SharingConfig = Field(default_factory=SharingConfig)
    kibana: KibanaConfig = Field(default_factory=KibanaConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    _origin: Origin | None = PrivateAttr(default=None)
    """Where it was read from (set by :func:`validate_config`)."""

    @property
    def origin(self) -> Origin | None:
        """Where the configuration came from (None when built in code)."""
        return self._origin

    @property
    def sharing_active(self) -> bool:
        """Whether threats are shared: the ``sharing`` section is present and enabled."""
        return "sharing" in self.model_fields_set and self.sharing.enabled

    @property
    def pipelines(self) -> list[tuple[str, ...]]:
        """The distinct sets of pipelines the inputs fit the rules with (``()``: none)."""
        return list(dict.fromkeys(tuple(item.pipelines) for item in self.inputs))

    def problem(self, loc: Sequence[str | int], message: str, *,
                warning: bool = False) -> Problem:
        """A problem about the key at ``loc``, placed where it was written (see
        :meth:`Origin.problem`)."""
        if self._origin is not None:
            return self._origin.problem(loc, message, warning=warning)
        return Problem(None, message, key=".".join(str(p) for p in loc), warning=warning)


def _login_problems(section: Mapping[str, Any]) -> list[str]:
    """What is wrong with a section's ``username`` and ``password`` taken together: one
    message per problem. ``section`` may be the raw mapping of a section whose other keys
    failed, so the check runs however the rest of it fared."""
    user = section.get("username") is not None
    if (user and not _given(section, "password")) or (
            not user and section.get("password") is not None):
        return ["username and password go together: set both or neither (the password as "
                "password, password_file, or a systemd credential: deploy/README.md, "
                "'Secrets'; outside systemd no credential is seen)"]
    return []


def _given(section: Mapping[str, Any], key: str) -> bool:
    """Whether a secret is given: the key, or its ``_file`` twin (whose own problems, if
    any, are reported on it)."""
    return section.get(key) is not None or section.get(f"{key}_file") is not None


def _auth_problems(section: Mapping[str, Any]) -> list[str]:
    """:func:`_login_problems`, and an ``api_key`` set beside a ``username`` (Kibana)."""
    problems = _login_problems(section)
    if section.get("api_key") is not None and section.get("username") is not None:
        problems.append("set api_key or username/password, not both")
    return problems


def _sharing_problems(section: Mapping[str, Any]) -> list[str]:
    """An enabled ``sharing`` section must name the department that shares (reported on
    ``sharing.identity.name``: :data:`_SECTION_CHECK_KEYS`)."""
    identity = section.get("identity")
    name = identity.get("name") if isinstance(identity, dict) else None
    if section.get("enabled", True) is not False and not (isinstance(name, str) and name.strip()):
        said = "is empty" if isinstance(name, str) else "is not set"
        return [f"the department's name {said}: name it as the national centre knows it "
                "(the creator of every shared sighting), or set sharing.enabled: false"]
    return []


def _pair_problems(section: Mapping[str, Any], first: str, second: str) -> list[str]:
    """``first`` and ``second`` must be set together (a certificate and its key)."""
    if (section.get(first) is None) != (section.get(second) is None):
        return [f"{first} and {second} go together: set both or neither"]
    return []


def _kafka_security_problems(section: Mapping[str, Any]) -> list[str]:
    """The SASL settings against ``security_protocol`` (Kafka's client configuration:
    ``sasl.mechanism`` applies to SASL_PLAINTEXT and SASL_SSL only), and the client
    certificate with its key."""
    protocol = section.get("security_protocol", "PLAINTEXT")
    sasl = str(protocol).startswith("SASL_")
    problems: list[str] = []
    if sasl and section.get("sasl_mechanism") is None:
        problems.append(f"security_protocol {protocol} needs sasl_mechanism (PLAIN, "
                        "SCRAM-SHA-256 or SCRAM-SHA-512), sasl_username and sasl_password")
    elif sasl and (section.get("sasl_username") is None
                   or not _given(section, "sasl_password")):
        problems.append(f"security_protocol {protocol} needs sasl_username and sasl_password "
                        "(or sasl_password_file, or the systemd credential "
                        "socd-kafka-sasl-password: deploy/README.md, 'Secrets'; outside "
                        "systemd no credential is seen)")
    elif not sasl and section.get("sasl_mechanism") is not None:
        problems.append(f"sasl_mechanism has no effect with security_protocol {protocol}: "
                        "use SASL_SSL (or SASL_PLAINTEXT), or remove it")
    return problems + _pair_problems(section, "ssl_certfile", "ssl_keyfile")


def _raise_first(problems: list[str]) -> None:
    if problems:
        raise ValueError(problems[0])


_SECTION_CHECKS = {
    "elasticsearch": (("username", "password"), _login_problems),
    "metrics": (("username", "password"), _login_problems),
    "kafka": (("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password",
               "ssl_certfile", "ssl_keyfile"), _kafka_security_problems),
    "kibana": (("username", "password", "api_key"), _auth_problems),
    "sharing": (("enabled", "identity"), _sharing_problems),
}
"""The checks across the keys of one section, with the keys each reads: run on the raw
section when other keys of it fail (a model validator runs only when every key of its model
is valid), skipped when a key it reads is itself wrong (that key is reported on its own)."""

_SECTION_CHECK_KEYS: dict[str, tuple[str, ...]] = {"sharing": ("identity", "name")}
"""The key, under its section, a section check's problems are about (else the section)."""


def check_zone(value: str) -> str:
    """``value`` if it names an IANA time zone; ValueError (with what to write) if not."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as "
                         "Asia/Ho_Chi_Minh") from exc
    return value


# --------------------------------------------------------------------------- across keys


Loc = tuple[str | int, ...]


def _topics(config: Config) -> list[tuple[Loc, str]]:
    """Every Kafka topic the configuration names, with its key (sharing only when set)."""
    found: list[tuple[Loc, str]] = [
        (("inputs", index, "topic"), item.topic) for index, item in enumerate(config.inputs)]
    found.append((("dead_letter", "topic"), config.dead_letter.topic))
    if "sharing" in config.model_fields_set:
        found.append((("sharing", "topic"), config.sharing.topic))
    return found


def _raw_topics(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """The valid Kafka topics of a configuration that did not validate as a whole, with their
    keys, as :func:`_topics` would give them (an invalid topic is reported on its own)."""
    found: list[tuple[Loc, str | None]] = []
    inputs = data.get("inputs")
    if isinstance(inputs, list):
        found.extend((("inputs", index, "topic"), item.get("topic"))
                     for index, item in enumerate(inputs) if isinstance(item, dict))
    for section, default in (("dead_letter", DeadLetterConfig().topic),
                             ("sharing", SharingConfig().topic)):
        if section not in data:
            if section == "dead_letter":
                found.append(((section, "topic"), default))
            continue
        body = data[section]
        topic = body.get("topic", default) if isinstance(body, dict) else None
        found.append(((section, "topic"), topic))
    valid: list[tuple[Loc, str]] = []
    for loc, topic in found:
        if isinstance(topic, str):
            try:
                valid.append((loc, _kafka_topic(topic)))
            except ValueError:
                continue
    return valid


def config_problems(config: Config) -> list[Problem]:
    """What is wrong across keys: a topic named twice, or two topics Kafka cannot hold side
    by side (names equal once ``.`` and ``_`` are taken alike: Kafka refuses to create the
    second, ``Topic.hasCollision``)."""
    problems = [config.problem(loc, message)
                for loc, message in _topic_problems(_topics(config))]
    if config.sharing_active:
        problems.extend(config.problem(("sharing", *_SECTION_CHECK_KEYS["sharing"]), message)
                        for message in _sharing_problems(
                            config.sharing.model_dump(exclude_unset=True)))
    return problems


def _topic_problems(topics: Sequence[tuple[Loc, str]]) -> list[tuple[Loc, str]]:
    """The problems of :func:`config_problems`, as (key, message)."""
    problems: list[tuple[Loc, str]] = []
    first: dict[str, Loc] = {}
    unified: dict[str, tuple[Loc, str]] = {}
    for loc, topic in topics:
        earlier = first.get(topic)
        if earlier is not None:
            problems.append((loc, (
                f"topic {topic!r} is also {_dotted(earlier)}: every input needs its own topic, "
                "and the dead-letter topic must be none of them")))
            continue
        first[topic] = loc
        other = unified.get(topic.replace(".", "_"))
        if other is not None:
            problems.append((loc, (
                f"Kafka cannot hold both {other[1]!r} ({_dotted(other[0])}) and {topic!r}: it "
                "takes '.' and '_' alike in metric names and refuses the second: rename one")))
            continue
        unified[topic.replace(".", "_")] = (loc, topic)
    return problems


def _partial_problems(data: Mapping[str, Any], origin: Origin, failed: set[Loc],
                      reported: list[Problem]) -> list[Problem]:
    """The checks across keys, run on a configuration some of whose keys failed (their keys
    in ``failed``): on whatever did validate, so that one run shows every problem. Problems
    already in ``reported`` are not repeated."""
    found = [origin.problem(loc, message) for loc, message in _topic_problems(_raw_topics(data))]
    for section, (keys, check) in _SECTION_CHECKS.items():
        body = data.get(section)
        if isinstance(body, dict) and not any(
                loc[:2] == (section, key) for loc in failed for key in keys):
            loc = (section, *_SECTION_CHECK_KEYS.get(section, ()))
            found.extend(origin.problem(loc, message) for message in check(body))
    seen = {(problem.key, problem.message) for problem in reported}
    return [problem for problem in found if (problem.key, problem.message) not in seen]


def config_warnings(config: Config) -> list[Problem]:
    """What works but deserves a look: sharing without a redacted domain (the department's
    own names would leave), and topic names that mix ``.`` and ``_`` (Kafka's own warning:
    such names can collide in its metrics)."""
    warnings: list[Problem] = []
    if config.sharing_active and not config.sharing.redact.domains:
        warnings.append(config.problem(("sharing", "redact", "domains"), (
            "no domain is redacted: an attack on one of the department's own servers whose "
            "address is public shares that server's name as an indicator; list the "
            "department's own DNS zones here (for example binhphuoc.gov.vn)"), warning=True))
    for loc, topic in _topics(config):
        if "." in topic and "_" in topic:
            warnings.append(config.problem(loc, (
                f"the topic name {topic!r} mixes '.' and '_'; Kafka warns that such names can "
                "collide in its metrics: use one or the other"), warning=True))
    return warnings


def _dotted(loc: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in loc)


# --------------------------------------------------------------------------- loading


@dataclass(slots=True)
class RawConfig:
    """A configuration as read, before validation: the file's data with the environment's
    overrides applied, where each key came from, and the problems found so far."""

    data: dict[str, Any] | None
    """None when the file could not be read at all."""
    origin: Origin
    problems: list[Problem] = field(default_factory=list)


def read_config(path: str | Path, environ: Mapping[str, str] | None = None) -> RawConfig:
    """Read the file (every repeated key reported) and apply the ``SOCD_*`` overrides."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    try:
        document = parse_yaml(path)
    except YamlFileError as exc:
        return RawConfig(None, Origin(path), list(exc.problems))
    raw = RawConfig(document.data, Origin(path, document.lines), list(document.duplicates))
    if raw.data is None:
        raw.data = {}
    if not isinstance(raw.data, dict):
        raw.problems.append(Problem(str(path), "the file must be a YAML mapping of sections "
                                    "(kafka:, inputs:, elasticsearch:, ...)", line=1))
        raw.data = None
        return raw
    env_keys, env_problems = apply_environment(raw.data, environ, Config)
    raw.problems.extend(env_problems)
    raw.origin = Origin(path, document.lines, env_keys)
    raw.problems.extend(apply_secret_files(raw.data, environ, raw.origin))
    return raw


def validate_config(raw: RawConfig) -> Config | None:
    """The validated configuration, paths resolved next to the file; None when it is not
    valid. Every problem found (warnings too) is added to ``raw.problems``."""
    if raw.data is None:
        return None
    try:
        config = Config.model_validate(raw.data)
    except ValidationError as exc:
        failed: set[Loc] = set()
        for err in exc.errors():
            failed.add(tuple(err["loc"]))
            if _is_secret(err["loc"]):
                err["input"] = _HIDDEN  # a wrongly typed secret is still a secret
            raw.problems.append(raw.origin.problem(error_key(err),
                                                   describe(err, _UNKNOWN_KEY_HINT)))
        raw.problems.extend(_partial_problems(raw.data, raw.origin, failed, raw.problems))
        return None
    config = _resolve_paths(config, raw.origin.path.parent)
    config._origin = raw.origin
    raw.problems.extend(config_problems(config))
    raw.problems.extend(tls_problems(config))
    raw.problems.extend(config_warnings(config))
    return config


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment, validate; raise ConfigError with every problem
    (warnings do not count: see :func:`config_warnings`)."""
    raw = read_config(path, environ)
    config = validate_config(raw)
    errors = [problem for problem in raw.problems if not problem.warning]
    if config is None or errors:
        raise ConfigError(errors)
    return config


_UNKNOWN_KEY_HINT = "remove it or check its spelling against README.md (Configuration)"


class _Hidden:
    """Stands for a secret's value in a message."""

    def __repr__(self) -> str:
        return "the value (not shown: it is a secret)"


_HIDDEN = _Hidden()


def _is_secret(loc: Sequence[str | int]) -> bool:
    """Whether the key at ``loc`` (a pydantic error's) holds a secret (:data:`SECRETS`)."""
    return len(loc) >= 2 and (loc[0], loc[1]) in SECRETS


def _looks_like_path(connector: str) -> bool:
    return "/" in connector or connector.endswith((".yaml", ".yml"))


_TLS_FILES: dict[str, tuple[str, ...]] = {
    "kafka": ("ssl_cafile", "ssl_certfile", "ssl_keyfile"),
    "elasticsearch": ("ca_certs", "client_cert", "client_key"),
    "kibana": ("ca_certs",),
    "metrics": ("certfile", "keyfile"),
}
"""The certificate and key files of each section, relative to the config file's folder."""


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative rule, mapping-file and TLS file paths are relative to the config file's
    folder (as the ``_file`` keys of secrets are), whatever the working directory."""
    update: dict[str, Any] = {
        "rules": resolve_rules(config.rules, base),
        "inputs": [resolve_input(item, base) for item in config.inputs]}
    for name, keys in _TLS_FILES.items():
        section = getattr(config, name, None)
        if section is None:
            continue
        files = {key: base / path for key in keys
                 if isinstance(path := getattr(section, key, None), Path)
                 and not path.is_absolute()}
        if files:
            update[name] = section.model_copy(update=files)
    return config.model_copy(update=update)


def resolve_rules(rules: RulesConfig, base: Path) -> RulesConfig:
    paths = [p if p.is_absolute() else (base / p) for p in rules.paths]
    return rules.model_copy(update={"paths": paths})


def resolve_input(item: InputConfig, base: Path) -> InputConfig:
    update: dict[str, Any] = {}
    if _looks_like_path(item.connector) and not Path(item.connector).is_absolute():
        update["connector"] = str(base / item.connector)
    if any(_looks_like_path(p) and not Path(p).is_absolute() for p in item.pipelines):
        update["pipelines"] = [str(base / p) if _looks_like_path(p) and not Path(
            p).is_absolute() else p for p in item.pipelines]
    return item.model_copy(update=update) if update else item
