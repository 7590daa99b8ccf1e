"""deploy/compose/ starts Kafka, Elasticsearch, Kibana, Prometheus, Alertmanager and socd
with socd's assets loaded. Docker cannot run here: the file is read as compose reads it
(variables from .env), its services, pinned images, ports, mounts, health checks and start
order are checked, socd's configuration in it passes `socd check-config`, and where a
compose program exists (`docker compose` or `docker-compose`) its `config` must accept it."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from socd.check import check

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose"

SERVICES = {"kafka", "kafka-topics", "elasticsearch", "kibana", "socd-setup", "socd",
            "prometheus", "alertmanager"}
ONE_SHOT = {"kafka-topics", "socd-setup"}  # run once and exit 0; the others keep running
PORTS = {  # service: (host port, container port), host side on 127.0.0.1 only
    "kafka": (9094, 9094), "elasticsearch": (9200, 9200), "kibana": (5601, 5601),
    "prometheus": (9090, 9090), "alertmanager": (9093, 9093), "socd": (9464, 9464)}

_VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")


def env_file() -> dict[str, str]:
    """deploy/compose/.env as compose reads it: NAME=value lines, # comments."""
    values = {}
    for line in (COMPOSE / ".env").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's variable syntax: $$, ${VAR}, ${VAR:-default}, ${VAR:?error}, $VAR."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        value = values.get(name)
        if match.group(2) in (":-", "-") and not value:
            return match.group(3)
        if match.group(2) in (":?", "?") and not value:
            raise AssertionError(f"{name} is required: {match.group(3)}")
        assert value is not None, f"{name} is used but not set in .env"
        return value
    return _VARIABLE.sub(one, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = interpolate((COMPOSE / "compose.yaml").read_text(encoding="utf-8"), env_file())
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    """(source in the repository, target in the container) of each bind mount."""
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append(((COMPOSE / source).resolve(), target))
    return mounts


def test_the_stack_has_every_service(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == SERVICES


def test_every_image_is_pinned_to_a_version(compose: dict[str, Any]) -> None:
    """No `latest`, no tag left out: each image names a version (Elasticsearch and Kibana
    the same one), and socd's image is built from a pinned Python image."""
    tags = {}
    for name, service in services(compose).items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{name}: {image} has no tag"
        assert tag != "latest" and re.search(r"\d+\.\d+", tag), f"{name}: {image}"
        tags[name] = tag
    assert tags["elasticsearch"] == tags["kibana"]
    python = env_file()["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", python)
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    assert f"ARG PYTHON_IMAGE={python}\n" in dockerfile
    assert services(compose)["socd"]["build"]["args"]["PYTHON_IMAGE"] == python


def test_ports_are_published_on_the_loopback_only(compose: dict[str, Any]) -> None:
    published = {}
    for name, service in services(compose).items():
        for port in service.get("ports", []):
            address, host, container = port.split(":")
            assert address == "127.0.0.1", f"{name}: {port}"
            published[name] = (int(host), int(container))
    assert published == PORTS


def test_socd_and_prometheus_agree_on_the_addresses(compose: dict[str, Any]) -> None:
    """Prometheus scrapes socd where socd listens, as job `socd` (the alerts select it),
    and sends to Alertmanager's port; Kafka advertises the port the host sees."""
    config = yaml.safe_load((COMPOSE / "socd.yaml").read_text())
    listen_port = int(config["metrics"]["listen"].rpartition(":")[2])
    assert listen_port == PORTS["socd"][1]
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["job_name"] == "socd"
    assert job["static_configs"][0]["targets"] == [f"socd:{listen_port}"]
    assert prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        f"alertmanager:{PORTS['alertmanager'][1]}"]
    kafka = services(compose)["kafka"]["environment"]
    assert f"HOST://127.0.0.1:{PORTS['kafka'][0]}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert config["kafka"]["bootstrap_servers"] == "kafka:9092"
    assert "INTERNAL://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"]


def test_the_shipped_assets_are_mounted_from_the_repository(compose: dict[str, Any]) -> None:
    """Every bind mount's source exists in the repository; the alert and recording rules,
    the Alertmanager configuration, socd's configuration and its rules are among them, and
    Prometheus's rule_files pattern finds the rules where they are mounted."""
    every = {name: bind_mounts(service) for name, service in services(compose).items()}
    for name, mounts in every.items():
        for source, target in mounts:
            assert source.exists(), f"{name}: {source} (for {target}) is not in the repository"
    sources = {(name, source.relative_to(ROOT).as_posix()): target
               for name, mounts in every.items() for source, target in mounts}
    assert sources[("socd", "rules")] == "/etc/socd/rules"
    assert sources[("socd", "deploy/compose/socd.yaml")] == "/etc/socd/socd.yaml"
    assert sources[("alertmanager", "deploy/prometheus/alertmanager.yml")] == (
        "/etc/alertmanager/alertmanager.yml")
    prometheus = yaml.safe_load((COMPOSE / "prometheus.yml").read_text())
    (pattern,) = prometheus["rule_files"]
    rules = {target for (name, source), target in sources.items()
             if name == "prometheus" and fnmatch.fnmatch(target, pattern)}
    assert {PurePosixPath(target).name for target in rules} == {
        "socd-alerts.yml", "socd-recording.yml"}


def test_socd_setup_loads_the_template_and_the_kibana_objects(compose: dict[str, Any]) -> None:
    """`socd setup` installs the index template and, with kibana.url set, imports
    deploy/kibana/socd.ndjson, which the image carries inside the package (the Dockerfile
    copies it into the build and the ignore file lets it through)."""
    setup = services(compose)["socd-setup"]
    assert setup["command"][:1] == ["setup"]
    config = yaml.safe_load((COMPOSE / "socd.yaml").read_text())
    assert config["kibana"]["url"] == f"http://kibana:{PORTS['kibana'][1]}"
    dockerfile = (COMPOSE / "Dockerfile").read_text()
    copied = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("COPY ")
              and "--from" not in line]
    ignore = (COMPOSE / "Dockerfile.dockerignore").read_text().splitlines()
    for source in copied:
        assert (ROOT / source).exists(), source
        assert any(line.lstrip("!").rstrip("/") in (source, source.rstrip("/"))
                   for line in ignore if line.startswith("!")), f"{source} is ignored"
    assert "deploy/kibana" in copied and "rules" in copied and "connectors" in copied


def test_start_order_waits_on_health_and_completion(compose: dict[str, Any]) -> None:
    """Each long-running service has a health check; every dependency names its condition:
    a one-shot service must have completed successfully, another be healthy or started."""
    every = services(compose)
    for name, service in every.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
        else:
            assert service["healthcheck"]["test"], name
            assert service.get("restart") == "unless-stopped", name
        for dependency, how in service.get("depends_on", {}).items():
            condition = how["condition"]
            if dependency in ONE_SHOT:
                assert condition == "service_completed_successfully", (name, dependency)
            else:
                assert condition in {"service_healthy", "service_started"}, (name, dependency)
    assert set(every["socd"]["depends_on"]) == {"kafka-topics", "socd-setup"}
    assert every["socd-setup"]["depends_on"]["kibana"]["condition"] == "service_healthy"
    assert every["kafka-topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_the_topics_created_are_the_ones_socd_reads_and_writes(
        compose: dict[str, Any]) -> None:
    """socd creates no topic: kafka-topics makes every input topic, the dead-letter topic
    and the sharing topic of socd.yaml."""
    script = services(compose)["kafka-topics"]["command"][0]
    created = set()
    for words in re.findall(r"for topic in ([^;]+);", script):
        created |= set(words.replace("\\", " ").split())
    config = yaml.safe_load((COMPOSE / "socd.yaml").read_text())
    wanted = {item["topic"] for item in config["inputs"]}
    wanted |= {config["dead_letter"]["topic"], config["sharing"]["topic"]}
    assert created == wanted
    assert "--if-not-exists" in script  # safe to run again


def test_socd_configuration_in_the_stack_passes_check_config(
        compose: dict[str, Any], tmp_path: Path) -> None:
    """The configuration as socd sees it in its container (its bind mounts laid out under a
    folder, with the container's SOCD_* variables) has no problem and no warning."""
    service = services(compose)["socd"]
    for source, target in bind_mounts(service):
        place = tmp_path / target.lstrip("/")
        place.parent.mkdir(parents=True, exist_ok=True)
        place.symlink_to(source, target_is_directory=source.is_dir())
    environ = {key: str(value) for key, value in service.get("environment", {}).items()
               if key.startswith("SOCD_")}
    found = check(tmp_path / "etc" / "socd" / "socd.yaml", environ)
    assert found.errors == []
    assert found.warnings == []
    assert service["command"] == ["run", "-c", "/etc/socd/socd.yaml"]


def _compose_program() -> list[str] | None:
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


def test_compose_accepts_the_file() -> None:
    """`docker compose config` (or Debian's docker-compose) validates the file against the
    compose schema without a Docker daemon."""
    program = _compose_program()
    if program is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run([*program, "config", "--services"], cwd=COMPOSE,
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == SERVICES
