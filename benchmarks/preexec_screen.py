"""Mempool screening: pending transactions screened per second on one core, and the share
that needed a simulation, with bounded memory.

anvil does not mine (automine off), so everything sent stays pending. A mix of pending
transactions is sent in JSON-RPC batches: most are unrelated (ether transfers from 20 funded
keys to 200 addresses), the rest (``--watched``, default 15%) deposit into or withdraw from
the watched ``GuardedEtherVault``. One ``MempoolGuard`` (the real pipeline:
``newPendingTransactions`` → ``eth_getTransactionByHash`` → filter, with the code of each
called address read once → ``debug_traceCall`` + the plan's rules for what touches the vault)
screens them in this process, one event loop on one core. Throughput is the number screened
over the time from the first notification to the last screen; CPU is this process's.

Memory: the guard runs with small bounds (1,000 remembered hashes, 1,000 cached code verdicts)
and the process's peak RSS is read after each half of the load; bounded structures stay at
their bounds and the second half adds no more than noise.

Target (issue 18): >= 500 screened/s with >= 10% simulated.

    .venv/bin/python benchmarks/preexec_screen.py [--count 4000] [--watched 0.15] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from eth_account import Account
from eth_utils.crypto import keccak

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.logs import configure_logging
from breakglass.plan import load_plan
from breakglass.respond.preexec.mempool import MempoolGuard
from breakglass.respond.responder import Responder
from breakglass.scenario.mempool import (
    GUARDIAN_ENV,
    Call,
    MempoolScenario,
    deploy_reentrancy,
    plan_yaml,
    rpc_batch,
    sign_calls,
)

SENDERS = 20
RECIPIENTS = 200
BATCH = 200


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_load(
    anvil: Anvil, scenario: MempoolScenario, count: int, watched: float
) -> tuple[list[str], int]:
    """Signed raw transactions, the watched ones spread evenly; and how many are watched."""
    keys = ["0x" + keccak(text=f"preexec screen sender {i}").hex() for i in range(SENDERS)]
    for key in keys:
        anvil.rpc("anvil_setBalance", [Account.from_key(key).address, hex(10**24)])
    recipients = ["0x" + keccak(text=f"recipient {i}").hex()[-40:] for i in range(RECIPIENTS)]
    every = max(1, round(1 / watched)) if watched > 0 else count + 1
    honest = [h for h in scenario.honest if h[3] > 0]  # deposits: they never revert
    calls: list[Call] = []
    for index in range(count):
        if index % every == 0:
            calls.append(honest[len(calls) // every % len(honest)])
        else:
            calls.append((keys[index % SENDERS], recipients[index % RECIPIENTS], "0x", 1))
    chosen = len(range(0, count, every))
    raws = sign_calls(anvil, calls, gas=100_000)
    return raws, chosen


async def screen(anvil: Anvil, plan: Path, raws: list[str], workdir: Path) -> None:
    url = f"sqlite:///{(workdir / 'db.sqlite').as_posix()}"
    store.upgrade(url)
    responder = Responder(
        load_plan(plan), chain="local", sessions=store.session_factory(store.make_engine(url))
    )
    guard = MempoolGuard(responder, "local", responder.env.rpc("local"))
    guard.source.remember = 1_000
    guard.screen.code_cache = 1_000
    stop = asyncio.Event()
    task = asyncio.ensure_future(guard.run(stop))
    await asyncio.wait_for(guard.source.subscribed.wait(), 10)
    stats = guard.screen.stats
    half = len(raws) // 2
    rss: list[float] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for part in (raws[:half], raws[half:]):
        target = stats.screened + len(part)
        for first in range(0, len(part), BATCH):
            calls = [("eth_sendRawTransaction", [r]) for r in part[first : first + BATCH]]
            await asyncio.to_thread(rpc_batch, anvil, calls)
        deadline = time.monotonic() + 120
        while stats.screened < target and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.wait_for(guard.source.drain(), 60)  # the last screens finish too
        rss.append(_peak_rss_mb())
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    stop.set()
    await task
    await responder.aclose()
    n = stats.screened
    print(f"screened {n}/{len(raws)} pending transactions in {wall:.2f} s (sending included)")
    print(f"  throughput   {n / wall:8.0f} /s wall   ({cpu / wall:.0%} of one core busy here)")
    print(
        f"  kept         {stats.kept:8d}   simulated {stats.simulated} ({stats.simulated / n:.1%})"
    )
    print(
        f"  code lookups {stats.code_lookups:8d} (each with a simulation thrown away:"
        f" {stats.discarded})   failed {stats.failed}"
        f"   critical {stats.critical}"
    )
    print(f"  source       {guard.source.stats}")
    print(
        f"  memory: peak RSS {rss[0]:.0f} MB after the first half, {rss[1]:.0f} MB after the "
        f"second; remembered hashes {len(guard.source._seen)} (bound 1000), cached code "
        f"verdicts {len(guard.screen._refers)} (bound 1000)"
    )
    share = stats.simulated / n if n else 0.0
    print(f">= 500/s with >= 10% simulated: {'yes' if n / wall >= 500 and share >= 0.10 else 'NO'}")


async def bench(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="breakglass-screen-"))
    try:
        with Anvil.start() as anvil:
            scenario = deploy_reentrancy(anvil, users=7)
            os.environ[GUARDIAN_ENV] = scenario.guardian_key
            plan = workdir / "plan.yaml"
            plan.write_text(plan_yaml(anvil, scenario))
            raws, watched = build_load(anvil, scenario, args.count, args.watched)
            anvil.rpc("evm_setAutomine", [False])
            print(
                f"{len(raws)} pending transactions, {watched} ({watched / len(raws):.0%}) "
                f"touching the watched vault; anvil not mining"
            )
            await screen(anvil, plan, raws, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--watched", type=float, default=0.15)
    parser.add_argument("--smoke", action="store_true", help="400 transactions, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.count = 400
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
