"""A private PostgreSQL cluster for a test that restarts its database: ``initdb`` and
``pg_ctl`` from the system's PostgreSQL, on a free port, data in a temporary directory, trust
authentication. The shared server on 5432 is never restarted."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg


class MissingPostgres(RuntimeError):
    """The PostgreSQL server binaries are not on this machine."""


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or (
        [path] if (path := shutil.which(name)) else []
    )
    if not found:
        raise MissingPostgres(
            f"{name} not found (looked in /usr/lib/postgresql/*/bin and PATH): install the "
            "PostgreSQL server package (e.g. apt-get install postgresql) to run this test"
        )
    return found[-1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivatePostgres:
    """initdb'd in a temporary directory at construction; :meth:`start`, :meth:`restart`,
    :meth:`stop` (which deletes the directory).

    Run as root (as in a container), the server runs as the ``postgres`` user, which
    ``initdb`` requires, in a directory of its own outside root's private tmp."""

    def __init__(self) -> None:
        self.port = _free_port()
        root = Path(tempfile.mkdtemp(prefix="bg-pg-"))
        self.data = root / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(root, "postgres")
        self._sockets = root
        self._run(_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/breakglass"

    def _run(self, *argv: str) -> None:
        done = subprocess.run([*self._as, *argv], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stderr.strip()[-500:]}")

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self._sockets} -c fsync=off"
        argv = [_bin("pg_ctl"), "-D", str(self.data), "-w", "-t", "30", "-m", "fast"]
        self._run(*argv, "-o", options, "-l", str(self._sockets / "server.log"), action)

    def start(self) -> PrivatePostgres:
        self._ctl("start")
        admin = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute("CREATE DATABASE breakglass")
        return self

    def down(self) -> None:
        """Stop the server (fast: every session ends); :meth:`up` starts it again."""
        self._ctl("stop")

    def up(self) -> None:
        """Start the server again, on the same port and data."""
        self._ctl("start")

    def stop(self) -> None:
        try:
            self._ctl("stop")
        finally:
            shutil.rmtree(self._sockets, ignore_errors=True)
