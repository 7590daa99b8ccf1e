"""A real Prometheus and Alertmanager for tests, and a webhook that records notifications.

``Webhook`` serves ``POST /<receiver>`` on a free loopback port and keeps every
notification (Alertmanager's webhook JSON, version 4) with the time it arrived.
``alertmanager()`` runs prometheus-alertmanager with deploy/prometheus/alertmanager.yml,
its receivers' URLs pointed at the webhook (``/on-call-pager``, ``/soc-tickets``) and its
waits shortened to ``wait`` seconds, clustering off. ``prometheus()`` runs Prometheus with
the shipped rule files, scraping ``targets`` as job ``socd``, scraping and evaluating every
``interval`` seconds. Both get free loopback ports and temporary storage, are ready when
the context manager yields and are stopped (SIGTERM, then SIGKILL) when it exits.
Programs come from tests.prometheus_tools (installed, or the test skips).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from socd.devservers import free_port
from tests.prometheus_tools import program

PROM = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULE_FILES = (PROM / "socd-recording.yml", PROM / "socd-alerts.yml")


@dataclass(frozen=True)
class Notification:
    receiver: str            # the URL path: the Alertmanager receiver's name
    at: float                # time.monotonic() on arrival
    body: dict[str, Any]     # the webhook JSON: status, alerts[], commonLabels ...

    def alerts(self, alertname: str) -> list[dict[str, Any]]:
        return [a for a in self.body["alerts"] if a["labels"].get("alertname") == alertname]


class Webhook:
    """Records Alertmanager's notifications; ``url`` is its base (no trailing slash)."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._changed = threading.Condition()
        received, changed = self.notifications, self._changed

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with changed:
                    received.append(Notification(self.path.strip("/"), time.monotonic(), body))
                    changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, match: Callable[[Notification], bool], timeout: float) -> Notification:
        """The first notification ``match`` accepts; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for notification in self.notifications:
                    if match(notification):
                        return notification
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching notification in {timeout} s; got "
                                         f"{[n.body for n in self.notifications]}")
                self._changed.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@contextmanager
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    try:
        yield hook
    finally:
        hook.close()


def alertmanager_config(webhook_url: str, wait: float) -> dict[str, Any]:
    """The shipped alertmanager.yml, notifying ``webhook_url/<receiver>``, waits shortened."""
    config: dict[str, Any] = yaml.safe_load((PROM / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        receiver["webhook_configs"] = [{"url": f"{webhook_url}/{receiver['name']}",
                                        "send_resolved": True}]
    for route in [config["route"], *config["route"].get("routes", [])]:
        for key in ("group_wait", "group_interval"):
            if key in route or route is config["route"]:
                route[key] = f"{wait}s"
    return config


@contextmanager
def alertmanager(workdir: Path, webhook_url: str, *, wait: float = 1) -> Iterator[str]:
    """A running Alertmanager; yields its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_config(webhook_url, wait)))
    port = free_port()
    command = [program("prometheus-alertmanager"), f"--config.file={config}",
               f"--storage.path={workdir / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]
    with _running(command, workdir / "alertmanager.log", f"http://127.0.0.1:{port}") as url:
        yield url


@contextmanager
def prometheus(workdir: Path, targets: Sequence[str], alertmanager_url: str, *,
               interval: float = 1, rule_files: Sequence[Path] = RULE_FILES) -> Iterator[str]:
    """A running Prometheus scraping ``targets`` (HOST:PORT) as job socd; yields its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": f"{interval}s", "evaluation_interval": f"{interval}s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": "socd",
                            "static_configs": [{"targets": list(targets)}]}],
        "alerting": {"alertmanagers": [{"static_configs": [
            {"targets": [urllib.parse.urlsplit(alertmanager_url).netloc]}]}]},
    }))
    port = free_port()
    command = [program("prometheus"), f"--config.file={config}",
               f"--storage.tsdb.path={workdir / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}"]
    with _running(command, workdir / "prometheus.log", f"http://127.0.0.1:{port}") as url:
        yield url


def query(prometheus_url: str, expr: str) -> list[dict[str, Any]]:
    """An instant query's result vector (``[{"metric": {...}, "value": [t, "v"]}]``)."""
    address = f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    with urllib.request.urlopen(address, timeout=5) as response:
        result: list[dict[str, Any]] = json.load(response)["data"]["result"]
    return result


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.1)


@contextmanager
def _running(command: list[str], log: Path, url: str, *, timeout: float = 30
             ) -> Iterator[str]:
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{command[0]} did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
