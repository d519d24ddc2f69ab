"""A checkpoint belongs to one chain: a database reused against another chain (a restarted
devnet with a new genesis) is refused by ``monitor`` and ``backfill`` instead of skipping
every block below the old height."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.errors import ChainError, DevchainError
from breakglass.ingest import (
    BlockHeader,
    ChainIdentity,
    ChainMismatch,
    CheckpointStore,
    fetch_chain_identity,
)

pytestmark = pytest.mark.chain

ROOT = Path(__file__).parents[2]
NOW = datetime(2026, 12, 5, tzinfo=UTC)
TOKEN = "0x" + "11" * 20


@pytest.fixture
def other_anvil() -> Iterator[Anvil]:
    """A second chain with the same chain id but its own genesis (another start time)."""
    try:
        chain = Anvil.start(extra_args=["--timestamp", "1600000000"])
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test: {exc}", pytrace=False)
    with chain:
        yield chain


def genesis(anvil: Anvil) -> ChainIdentity:
    block = anvil.rpc("eth_getBlockByNumber", ["0x0", False])
    return ChainIdentity(int(anvil.rpc("eth_chainId", []), 16), block["hash"])


def write_plan(path: Path, url: str) -> Path:
    path.write_text(
        "protocol: T\n"
        "chains:\n"
        f'  local: {{chain_id: 31337, rpc: ["{url}"]}}\n'
        "contracts:\n"
        f'  token: {{chain: local, address: "{TOKEN}"}}\n'
        "rules:\n"
        "  - {id: token-paused, rule: paused, contracts: [token], severity: critical}\n",
        encoding="utf-8",
    )
    return path


def cli_env(home: Path) -> dict[str, str]:
    env = {**os.environ, "BREAKGLASS_HOME": str(home), "COLUMNS": "400", "NO_COLOR": "1"}
    env["BREAKGLASS_LOG_LEVEL"] = "WARNING"
    env.pop("BREAKGLASS_DATABASE_URL", None)
    return env


def has_checkpoint(home: Path) -> bool:
    if not (home / "breakglass.db").exists():
        return False
    engine = store.make_engine(f"sqlite:///{(home / 'breakglass.db').as_posix()}")
    try:
        with store.session_factory(engine)() as session:
            return store.get_checkpoint(session, chain="local") is not None
    except OperationalError:  # the monitor is still migrating the new database
        return False
    finally:
        engine.dispose()


def monitor_until_checkpoint(plan: Path, home: Path) -> None:
    """Run ``breakglass monitor`` until it has stored a checkpoint, then stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "breakglass", "monitor", str(plan), "--poll-interval", "0.05"],
        cwd=ROOT,
        env=cli_env(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()
            if has_checkpoint(home):
                break
            assert time.monotonic() < deadline, "no checkpoint in time"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        cwd=ROOT,
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_monitor_refuses_a_database_of_another_chain(
    anvil: Anvil, other_anvil: Anvil, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    for _ in range(5):
        anvil.rpc("evm_mine", [])
    monitor_until_checkpoint(write_plan(tmp_path / "a.yaml", anvil.http_url), home)
    engine = store.make_engine(f"sqlite:///{(home / 'breakglass.db').as_posix()}")
    with store.session_factory(engine)() as session:
        row = store.get_checkpoint(session, chain="local")
        assert row is not None
        assert (row.chain_id, row.genesis_hash) == (31337, genesis(anvil).genesis_hash)
    engine.dispose()

    plan_b = write_plan(tmp_path / "b.yaml", other_anvil.http_url)
    result = run_cli("monitor", str(plan_b), "--poll-interval", "0.05", home=home)

    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "another chain" in message
    assert f"chain id 31337, genesis {genesis(anvil).genesis_hash}" in message
    assert f"chain id 31337, genesis {genesis(other_anvil).genesis_hash}" in message
    assert "Traceback" not in result.stderr


def test_backfill_refuses_progress_made_on_another_chain(
    anvil: Anvil, other_anvil: Anvil, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    args = ("--chain", "local", "--from", "0", "--to", "latest")
    done = run_cli("backfill", "--plan", str(write_plan(tmp_path / "a.yaml", anvil.http_url)),
                   *args, home=home)  # fmt: skip
    assert done.returncode == 0, done.stderr

    plan_b = write_plan(tmp_path / "b.yaml", other_anvil.http_url)
    refused = run_cli("backfill", "--plan", str(plan_b), *args, home=home)

    assert refused.returncode == 2, refused.stderr
    message = " ".join(refused.stderr.split())
    assert "backfill:local:0-latest" in message
    assert genesis(anvil).genesis_hash in message
    assert genesis(other_anvil).genesis_hash in message


def _header(number: int) -> BlockHeader:
    return BlockHeader(number, "0x" + f"{number:064x}", "0x" + f"{number - 1:064x}", 1_700_000_000)


def test_a_checkpoint_from_before_identities_is_stamped_on_first_start(
    anvil: Anvil, other_anvil: Anvil, sessions: sessionmaker[Session]
) -> None:
    with sessions.begin() as session:  # as written before checkpoints had an identity
        store.save_checkpoint(session, chain="local", block_number=40, block_hash="0x1", now=NOW)

    checkpoints = CheckpointStore(sessions, "local")
    checkpoints.verify(genesis(anvil))
    with sessions() as session:
        row = store.get_checkpoint(session, chain="local")
        assert row is not None and row.block_number == 40
        assert (row.chain_id, row.genesis_hash) == (31337, genesis(anvil).genesis_hash)

    CheckpointStore(sessions, "local").verify(genesis(anvil))  # the same chain again: fine
    with pytest.raises(ChainMismatch) as raised:
        CheckpointStore(sessions, "local").verify(genesis(other_anvil))
    assert raised.value.stored == genesis(anvil)
    assert raised.value.found == genesis(other_anvil)


def test_the_first_checkpoint_of_a_new_database_carries_the_identity(
    anvil: Anvil, sessions: sessionmaker[Session]
) -> None:
    checkpoints = CheckpointStore(sessions, "local")
    checkpoints.verify(genesis(anvil))  # nothing stored yet: nothing to compare
    with checkpoints.unit() as session:
        checkpoints.added(session, _header(1))
    with checkpoints.unit() as session:  # a retraction keeps the identity
        checkpoints.removed(session, _header(1))
    with sessions() as session:
        row = store.get_checkpoint(session, chain="local")
        assert row is not None and row.block_number == 0
        assert (row.chain_id, row.genesis_hash) == (31337, genesis(anvil).genesis_hash)


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{(tmp_path / 'db' / 'breakglass.db').as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    yield store.session_factory(engine)
    engine.dispose()


def test_no_endpoint_answering_the_identity_check_is_an_error_that_says_why() -> None:
    async def check() -> None:
        pool = EndpointPool([Endpoint("http://127.0.0.1:9")], chain="local")
        try:
            await fetch_chain_identity(pool, chain="local")
        finally:
            await pool.aclose()

    with pytest.raises(ChainError, match="chain 'local': cannot tell which chain"):
        asyncio.run(check())
