"""Replicas as processes, a webhook receiver and the checks of what they did, shared by the
cluster tests and ``benchmarks/failover.py``."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


@dataclass
class Receiver:
    """A webhook endpoint counting the POSTs per path."""

    port: int = 0
    paths: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}"

    def start(self) -> Receiver:
        paths = self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                paths.append(self.path.split("?")[0])
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class Replica:
    """``breakglass monitor PLAN --bus NATS -v`` in its own process, on PostgreSQL (without
    ``nats``: embedded mode, the same command without ``--bus``).

    :attr:`blocks` holds (arrival time, chain, number) of each block it processed, read from
    its ``-v`` lines; everything it writes to stderr is appended to ``log``.
    """

    def __init__(self, name: str, *, plan: Path, db: str, nats: str | None, env: dict[str, str],
                 ttl: float, log: Path) -> None:  # fmt: skip
        self.name = name
        self.blocks: list[tuple[float, str, int]] = []
        self.ready = threading.Event()
        self._log = log.open("a", encoding="utf-8")
        environ = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
        environ |= env | {
            "BREAKGLASS_DATABASE_URL": db,
            "BREAKGLASS_LOG_LEVEL": "WARNING",
            "COLUMNS": "200",  # one block per line
        }
        scale_out = ["--bus", nats, "--lease-ttl", str(ttl)] if nats else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "breakglass", "monitor", str(plan), "-v",
             "--poll-interval", "0.1", "--status-every", "0", *scale_out],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=environ,
            text=True,
        )  # fmt: skip
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self._log.write(f"[{self.name}] {line}")
            self._log.flush()
            if "monitoring" in line:
                self.ready.set()
            found = _BLOCK.search(line)
            if found:
                self.blocks.append((time.monotonic(), found[1], int(found[2])))

    def last_block_at(self) -> float:
        return self.blocks[-1][0] if self.blocks else 0.0

    def kill(self) -> None:
        """SIGKILL, as a machine that dies."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


_BLOCK = re.compile(r"^(\S+): block (\d+) 0x")


def active(replicas: list[Replica], *, within: float = 2.5) -> Replica | None:
    """The replica that processed a block most recently (within ``within`` seconds)."""
    live = [r for r in replicas if r.process.poll() is None and r.blocks]
    if not live:
        return None
    best = max(live, key=Replica.last_block_at)
    return best if time.monotonic() - best.last_block_at() < within else None


def wait_for(condition: Any, timeout: float, what: str, step: float = 0.05) -> float:
    """Poll ``condition`` until true; seconds waited. Raises AssertionError on timeout."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(step)
    raise AssertionError(f"{what}: not within {timeout} s")


def gaps(numbers: Iterator[int] | list[int]) -> list[int]:
    """Block numbers missing between the lowest and the highest of ``numbers``."""
    seen = set(numbers)
    if not seen:
        return []
    return [n for n in range(min(seen), max(seen) + 1) if n not in seen]


class Proxy:
    """A TCP relay to ``port`` that :meth:`cut` partitions: every connection through it is
    dropped and new ones are refused until :meth:`mend`."""

    def __init__(self, port: int) -> None:
        self.target = port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._cut = False
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self._cut = True
        with self._lock:
            for s in self._open:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._open.clear()

    def mend(self) -> None:
        self._cut = False

    def close(self) -> None:
        self.cut()
        self._listener.close()
