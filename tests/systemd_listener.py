"""systemd's side of sd_notify(3) for the tests: a real ``AF_UNIX`` datagram socket, bound
at a path or in the abstract namespace, read by a thread that stamps each datagram with
``time.monotonic()`` on arrival (so that it is read even while the sender's event loop, or
the test's, is blocked)."""

from __future__ import annotations

import asyncio
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Listener:
    """The socket's ``address`` as NOTIFY_SOCKET names it, and what arrived."""

    address: str
    received: list[tuple[float, str]] = field(default_factory=list)

    def messages(self) -> list[str]:
        """Each datagram's text, in order of arrival."""
        return [text for _, text in self.received]

    def named(self, name: str) -> list[tuple[float, dict[str, str]]]:
        """The datagrams that carry ``name``, each as (arrival, its assignments)."""
        parsed = [(at, dict(line.split("=", 1) for line in text.split("\n")))
                  for at, text in list(self.received)]
        return [(at, fields) for at, fields in parsed if name in fields]

    def settle(self, count: int, timeout: float = 10) -> list[str]:
        """The datagrams once at least ``count`` have arrived (or ``timeout`` passed)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages()

    def settle_named(self, name: str, count: int, timeout: float = 10) -> None:
        """Until at least ``count`` datagrams carrying ``name`` have arrived (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while len(self.named(name)) < count and time.monotonic() < deadline:
            time.sleep(0.01)

    async def until(self, condition: Callable[[Listener], bool], timeout: float = 60) -> None:
        """Until ``condition(self)`` holds; AssertionError with what arrived after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition(self):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"not received in {timeout} s; got {self.messages()[-20:]}")


def _read(sock: socket.socket, listener: Listener, stop: threading.Event) -> None:
    sock.settimeout(0.05)
    while not stop.is_set():
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        listener.received.append((time.monotonic(), data.decode("utf-8")))


@contextmanager
def listening(kind: str = "path") -> Iterator[Listener]:
    """A bound socket of ``kind`` ``path`` or ``abstract`` (``@name``), read until the end."""
    with tempfile.TemporaryDirectory() as directory, \
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        if kind == "path":
            address = os.path.join(directory, "notify")  # short: AF_UNIX paths ≤ 107 bytes
            sock.bind(address)
        else:
            address = f"@socd-test-{os.getpid()}-{id(sock)}"
            sock.bind("\0" + address[1:])
        found = Listener(address)
        stop = threading.Event()
        thread = threading.Thread(target=_read, args=(sock, found, stop), daemon=True)
        thread.start()
        try:
            yield found
        finally:
            stop.set()
            thread.join()
