"""The configuration file: pydantic models, environment overrides, every problem at once.

A config file is YAML. Every key may be overridden by an environment variable
``SOCD_<SECTION>__<KEY>`` (``__`` separates levels, list items are numbered from 0:
``SOCD_INPUTS__0__LAYER=3``). Values from the environment are read as YAML scalars or
flow collections, so ``SOCD_ELASTICSEARCH__HOSTS='["http://es:9200"]'`` works, and a
comma-separated string is accepted where a list of strings is expected.

:func:`load_config` validates everything before any server is touched and raises one
:class:`~socd.errors.ConfigError` listing every problem with its file, line and key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from socd.errors import ConfigError, Problem
from socd.yamlfile import KeyLines, YamlFileError, humane, line_of, read_yaml

ENV_PREFIX = "SOCD_"
Layer = Literal[1, 2, 3, 4]
ThreatClassName = Literal["critical", "high-risk"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


_HOST_PORT = re.compile(r"^\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}$")


class KafkaConfig(_Model):
    bootstrap_servers: list[str] = Field(default_factory=lambda: ["127.0.0.1:9092"])
    group_id: str = "socd"
    client_id: str = "socd"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = None
    ssl_cafile: Path | None = None
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    max_batch: Annotated[int, Field(ge=1, le=100_000)] = 2000
    """Most records taken from Kafka in one fetch."""
    max_message_bytes: Annotated[int, Field(ge=1024)] = 1_048_576
    """A larger message goes to the dead-letter topic with reason ``too_large``."""
    session_timeout_ms: Annotated[int, Field(ge=1000)] = 30_000

    _split = field_validator("bootstrap_servers", mode="before")(_split_commas)

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one broker as HOST:PORT")
        for item in value:
            if not _HOST_PORT.match(item):
                raise ValueError(f"{item!r} is not HOST:PORT (for example 127.0.0.1:9092)")
        return value


class InputConfig(_Model):
    topic: Annotated[str, Field(min_length=1)]
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
    pipelines: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    """pySigma processing pipelines that fit the rules to this input's events: socd's own
    (``windows``, ``winlogbeat``, ``zeek``, ``suricata``), an installed pySigma plugin's, or the
    path of a pipeline YAML file."""
    timezone: str | None = None
    """Zone for timestamps that carry no offset; defaults to ``report.timezone``."""
    keep_original: bool = True
    """Keep the message as received in ``event.original``."""

    @property
    def label(self) -> str:
        return self.name or self.topic

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else _check_zone(value)


class RulesConfig(_Model):
    paths: list[Path] = Field(default_factory=lambda: [Path("rules")])
    placeholders: dict[str, list[str]] = Field(default_factory=dict)
    """Values for Sigma ``|expand`` placeholders (``%name%``)."""
    watch: bool = True
    """Reload the rules when a rule file changes (checked every 2 s), as on SIGHUP."""


class ElasticsearchConfig(_Model):
    hosts: list[str] = Field(default_factory=lambda: ["http://127.0.0.1:9200"])
    index_prefix: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")] = "socd"
    username: str | None = None
    password: str | None = None
    api_key: str | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout: Annotated[float, Field(gt=0)] = 30.0
    max_in_flight: Annotated[int, Field(ge=1, le=16)] = 2
    """Bulk requests in flight at once; offsets are still committed in order."""
    bulk_max_docs: Annotated[int, Field(ge=1, le=100_000)] = 2000
    """Documents gathered into one bulk request (from one or more fetches)."""
    retry_backoff_max: Annotated[float, Field(gt=0)] = 30.0
    """Longest wait between retries while Elasticsearch is unreachable or overloaded."""

    _split = field_validator("hosts", mode="before")(_split_commas)

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
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together: set both or neither")
        return self


class MetricsConfig(_Model):
    listen: str = "127.0.0.1:9464"
    """HOST:PORT for GET /metrics; an empty string turns the endpoint off."""

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        if value and not _HOST_PORT.match(value):
            raise ValueError(f"{value!r} is not HOST:PORT (for example 127.0.0.1:9464)")
        return value


class DeadLetterConfig(_Model):
    topic: Annotated[str, Field(min_length=1)] = "socd.dead-letter"


class SharingConfig(_Model):
    enabled: bool = True
    topic: Annotated[str, Field(min_length=1)] = "socd.national"
    min_class: ThreatClassName = "critical"


class ReportConfig(_Model):
    timezone: str = "Asia/Ho_Chi_Minh"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value)


class LoggingConfig(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "console"] = "json"


class Config(_Model):
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    inputs: Annotated[list[InputConfig], Field(min_length=1)]
    rules: RulesConfig = Field(default_factory=RulesConfig)
    elasticsearch: ElasticsearchConfig = Field(default_factory=ElasticsearchConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    dead_letter: DeadLetterConfig = Field(default_factory=DeadLetterConfig)
    sharing: SharingConfig = Field(default_factory=SharingConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)

    @property
    def pipelines(self) -> list[tuple[str, ...]]:
        """The distinct sets of pipelines the inputs fit the rules with (``()``: none)."""
        return list(dict.fromkeys(tuple(item.pipelines) for item in self.inputs))

    @model_validator(mode="after")
    def _topics(self) -> Config:
        seen: set[str] = set()
        for item in self.inputs:
            if item.topic in seen:
                raise ValueError(f"inputs: topic {item.topic!r} is listed twice; one input a topic")
            seen.add(item.topic)
        for name, topic in (("dead_letter.topic", self.dead_letter.topic),
                            ("sharing.topic", self.sharing.topic)):
            if topic in seen:
                raise ValueError(f"{name} {topic!r} is also an input topic; use another topic")
        return self


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as "
                         "Asia/Ho_Chi_Minh") from exc
    return value


# --------------------------------------------------------------------------- loading


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment, validate; raise ConfigError with every problem."""
    path = Path(path)
    environ = os.environ if environ is None else environ
    try:
        data, lines = read_yaml(path)
    except YamlFileError as exc:
        raise ConfigError([exc.problem]) from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(str(path), "the file must be a YAML mapping of sections "
                                   "(kafka:, inputs:, elasticsearch:, ...)", line=1)])
    problems: list[Problem] = []
    env_keys: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        keys = tuple(part.lower() for part in name[len(ENV_PREFIX):].split("__"))
        if any(not part for part in keys):
            problems.append(Problem(None, "empty key part; write SOCD_SECTION__KEY", key=name))
            continue
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        if value is None:
            value = raw
        error = _set_path(data, keys, value)
        if error:
            problems.append(Problem(None, error, key=name))
        else:
            env_keys[keys] = name
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(str(part) for part in err["loc"])
            problems.append(_problem_for(path, loc, err["msg"], lines, env_keys))
    else:
        if not problems:
            return _resolve_paths(config, path.parent)
    raise ConfigError(problems)


_UNKNOWN_KEY_HINT = "remove it or check its spelling against README.md (Configuration)"


def _problem_for(path: Path, loc: tuple[str, ...], msg: str, lines: KeyLines,
                 env_keys: Mapping[tuple[str, ...], str]) -> Problem:
    message = humane(msg, _UNKNOWN_KEY_HINT)
    key = ".".join(loc) or "(top level)"
    for length in range(len(loc), -1, -1):
        if loc[:length] in env_keys:
            return Problem(None, message, key=f"{key} (from {env_keys[loc[:length]]})")
    return Problem(str(path), message, line=line_of(lines, loc), key=key)


def _set_path(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> str | None:
    node: Any = data
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                return f"{key!r} is not the index of an existing list item"
            if last:
                node[int(key)] = value
            else:
                node = node[int(key)]
            continue
        if not isinstance(node, dict):
            return "this key reaches inside a value that is not a section"
        if last:
            node[key] = value
        else:
            node = node.setdefault(key, {})
    return None


def _looks_like_path(connector: str) -> bool:
    return "/" in connector or connector.endswith((".yaml", ".yml"))


def _resolve_paths(config: Config, base: Path) -> Config:
    """Relative rule and mapping-file paths are relative to the config file's folder."""
    paths = [p if p.is_absolute() else (base / p) for p in config.rules.paths]
    inputs = []
    for item in config.inputs:
        update: dict[str, Any] = {}
        if _looks_like_path(item.connector) and not Path(item.connector).is_absolute():
            update["connector"] = str(base / item.connector)
        if any(_looks_like_path(p) and not Path(p).is_absolute() for p in item.pipelines):
            update["pipelines"] = [str(base / p) if _looks_like_path(p) and not Path(
                p).is_absolute() else p for p in item.pipelines]
        inputs.append(item.model_copy(update=update) if update else item)
    return config.model_copy(update={"rules": config.rules.model_copy(update={"paths": paths}),
                                     "inputs": inputs})
