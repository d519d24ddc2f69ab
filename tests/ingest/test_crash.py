"""SIGKILL the ingesting process at random points, again and again, while the chain grows and
reorgs: a transactional sink still records every canonical block exactly once.

The seed is printed (``pytest -s`` or on failure); set ``BREAKGLASS_CRASH_SEED`` to replay it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.ingest import BlockStream

pytestmark = pytest.mark.chain

WORKER = Path(__file__).with_name("crash_worker.py")
KILLS = 10
MINE_EVERY = 0.08


class Miner(threading.Thread):
    """Mines a block every ``MINE_EVERY`` seconds; :meth:`reorg` replaces the last few."""

    def __init__(self, anvil: Anvil) -> None:
        super().__init__(daemon=True)
        self.anvil = anvil
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.reorgs: list[tuple[int, int]] = []  # (height, depth)
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.wait(MINE_EVERY):
                with self.lock:
                    self.anvil.rpc("evm_mine", [])
        except BaseException as exc:  # reported by the test, not lost in the thread
            self.error = exc

    def reorg(self, depth: int) -> None:
        """Replace the last ``depth`` blocks; a transfer in the first makes every hash new."""
        with self.lock:
            height = int(self.anvil.rpc("eth_blockNumber", []), 16)
            sender, receiver = self.anvil.accounts[0], self.anvil.accounts[1]
            transfer = {"from": sender, "to": receiver, "value": "0x1"}
            self.anvil.rpc("anvil_reorg", [depth, [[transfer, 0]]])
            self.reorgs.append((height, depth))

    def stop(self) -> None:
        self.stopping.set()
        self.join(10)
        if self.error is not None:
            raise self.error


class Worker:
    def __init__(self, anvil: Anvil, db: str, log: Path) -> None:
        self.log = log
        with log.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, str(WORKER), "--rpc", anvil.http_url, "--db", db],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # blocks until ready, or EOF if it died
        if not line.startswith("ready"):
            self.process.wait(5)
            pytest.fail(f"worker did not start: {line!r}\n{log.read_text()[-3000:]}")
        resumed = line.split("resumed=")[1].strip()
        self.resumed = None if resumed == "None" else int(resumed)

    def kill(self) -> None:
        code = self.process.poll()
        assert code is None, f"worker died by itself ({code}):\n{self.log.read_text()[-3000:]}"
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        assert self.process.stdout is not None
        self.process.stdout.close()


def checkpoint(db: str) -> tuple[int, str] | None:
    engine = store.make_engine(db)
    try:
        with store.session_factory(engine)() as session:
            found = store.get_checkpoint(session, chain="local")
            return None if found is None else (found.block_number, found.block_hash)
    finally:
        engine.dispose()


def sink_events(db: str) -> list[tuple[int, str, int, str]]:
    engine = store.make_engine(db)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT seq, kind, number, hash FROM sink_events ORDER BY seq")
            )
            return [(r.seq, r.kind, r.number, r.hash) for r in rows]
    finally:
        engine.dispose()


def replay(rows: list[tuple[int, str, int, str]]) -> dict[int, str]:
    view: dict[int, str] = {}
    for seq, kind, number, block_hash in rows:
        if kind == "add":
            assert number not in view, f"seq {seq}: block {number} added twice"
            assert not view or number == max(view) + 1, f"seq {seq}: block {number} out of order"
            view[number] = block_hash
        else:
            assert kind == "remove", f"seq {seq}: unknown kind {kind!r}"
            assert view.get(number) == block_hash, f"seq {seq}: removed {number}, never added"
            assert number == max(view), f"seq {seq}: removed {number} below the tip"
            del view[number]
    return view


def wait_for_tip(anvil: Anvil, db: str, worker: Worker, log: Path, timeout: float = 15) -> None:
    """Until the worker's checkpoint is a block that is canonical now and at least as high
    as the chain was when called."""
    target = int(anvil.rpc("eth_blockNumber", []), 16)
    deadline = time.monotonic() + timeout
    while True:
        done = checkpoint(db)
        if done is not None and done[0] >= target:
            block = anvil.rpc("eth_getBlockByNumber", [hex(done[0]), False])
            if block is not None and block["hash"] == done[1]:
                return
        assert time.monotonic() < deadline, f"worker stuck at {done}, chain at {target}"
        assert worker.process.poll() is None, log.read_text()[-3000:]
        time.sleep(0.05)


def test_gap_longer_than_the_window_is_delivered_whole(harness) -> None:
    """Found by the crash test: after downtime longer than ``depth`` blocks, the oldest
    undelivered blocks fell out of the ring, were skipped, and the checkpoint got a hole."""
    harness.stream = BlockStream(
        chain="local",
        fetcher=harness.fetcher,
        checkpoints=harness.stream.checkpoints,
        subscribers=[harness.recorder],
        depth=4,
    )
    harness.follow(2)
    harness.mine(11)  # "down" for nearly three windows
    harness.sync()
    harness.follow(2)
    view = harness.recorder.view()
    assert view == harness.canonical(range(min(view), harness.height() + 1))


def test_sigkill_at_random_points_loses_and_repeats_nothing(anvil: Anvil, tmp_path: Path) -> None:
    seed = int(os.environ.get("BREAKGLASS_CRASH_SEED", random.randrange(2**32)))
    print(f"crash test seed: {seed} (BREAKGLASS_CRASH_SEED={seed} replays it)")
    rng = random.Random(seed)
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    log = tmp_path / "worker.log"

    miner = Miner(anvil)
    miner.start()
    resumed: list[int | None] = []
    try:
        anvil_mined = time.monotonic()
        while int(anvil.rpc("eth_blockNumber", []), 16) < 8:  # room for the deepest reorg
            assert time.monotonic() - anvil_mined < 10
            time.sleep(MINE_EVERY)
        # One round that surely retracts delivered blocks: let the worker catch up, then
        # reorg under it and wait until it has followed, before the random rounds.
        worker = Worker(anvil, db, log)
        resumed.append(worker.resumed)
        wait_for_tip(anvil, db, worker, log)
        miner.reorg(4)  # deeper than the worker can lag behind a block every 80 ms
        wait_for_tip(anvil, db, worker, log)
        worker.kill()
        for _ in range(KILLS - 1):
            worker = Worker(anvil, db, log)
            resumed.append(worker.resumed)
            time.sleep(rng.uniform(0.0, 0.5))
            if rng.random() < 0.6:  # a reorg while it runs, often of blocks it delivered
                miner.reorg(rng.randint(1, 5))
                time.sleep(rng.uniform(0.0, 0.3))
            worker.kill()
            if rng.random() < 0.2:  # and one while it is down
                miner.reorg(rng.randint(1, 5))
    finally:
        miner.stop()

    tip = int(anvil.rpc("eth_blockNumber", []), 16)
    tip_hash = anvil.rpc("eth_getBlockByNumber", [hex(tip), False])["hash"]
    worker = Worker(anvil, db, log)
    try:
        deadline = time.monotonic() + 30
        while checkpoint(db) != (tip, tip_hash):
            assert time.monotonic() < deadline, f"no catch-up to {tip}: at {checkpoint(db)}"
            assert worker.process.poll() is None, log.read_text()[-3000:]
            time.sleep(0.05)
    finally:
        worker.kill()

    rows = sink_events(db)
    view = replay(rows)
    assert view, "nothing was delivered"
    first = min(view)
    canonical = {
        n: anvil.rpc("eth_getBlockByNumber", [hex(n), False])["hash"] for n in range(first, tip + 1)
    }
    assert view == canonical
    assert sum(r is not None for r in resumed) >= KILLS - 2, f"restarts resumed at {resumed}"
    removed = sum(kind == "remove" for _, kind, _, _ in rows)
    print(
        f"{KILLS} kills, {len(rows)} sink rows, {removed} removals, "
        f"{len(miner.reorgs)} reorgs {miner.reorgs}, blocks {first}..{tip}"
    )
    assert miner.reorgs, "the run should mix reorgs with crashes"
    assert removed, "no reorg retracted a delivered block; the run tested too little"
