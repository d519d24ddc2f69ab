"""Mempool pre-execution: a pending exploit seen → the pause broadcast, and who goes first.

anvil mines a block every second (interval mining, fee ordering: it ranks its pool by max
fee). A single-transaction drain (default: the reentrancy of ``GuardedEtherVault``, 100 ETH
of ten users; ``--scenario flash-swap``: the demo pool's Uniswap V2 flash-swap manipulation)
is sent to the mempool with a 30 gwei max fee and a 2 gwei tip. Two defenders, one after
the other on the same chain, each run from the same ``evm_snapshot``:

  (a) post-hoc    - ``run_monitor`` with a ``Responder`` (the reaction path of
                    benchmarks/reaction.py): the exploit is mined, the monitor sees its block
                    and pauses; latency = the block's ``newHeads`` arrival → the pause's
                    ``broadcast`` step event. The first transaction's take is lost.
  (b) pre-execution - a ``MempoolGuard`` with the same ``Responder``: the exploit is seen
                    pending, simulated, judged by the same rules and the pause sent with a bid
                    above it; latency = the ``newPendingTransactions`` arrival → ``broadcast``.
                    A win is the pause mined before the exploit in the same block, the exploit
                    reverted and nothing lost.

The plan sets no chain gas caps (so the emergency bid alone, a few gwei here, would lose) and
caps the mempool outbid at 200 gwei. Confirmation of ``[pause, exploit]`` runs alongside the
send; its time is reported apart.

Budget (DESIGN.md, issue 18): (b) p95 <= 15 ms; win rate over 30 runs >= 95%.

    .venv/bin/python benchmarks/preexec_frontrun.py [--runs 30] [--scenario reentrancy|flash-swap]
                                                   [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from breakglass import store
from breakglass.detect.monitor import run_monitor
from breakglass.devchain import Anvil
from breakglass.logs import configure_logging
from breakglass.plan import load_plan
from breakglass.respond.preexec.mempool import MempoolGuard
from breakglass.respond.responder import Responder
from breakglass.scenario.mempool import (
    GUARDIAN_ENV,
    MempoolScenario,
    deploy_flash_swap,
    deploy_reentrancy,
    plan_yaml,
)

WARMUP = 1
TIMEOUT = 10.0
CAPS = ", max_fee_gwei: 200, max_priority_fee_gwei: 50"


@dataclass
class Result:
    latency: float | None  # seconds
    won: bool
    saved: float  # share of the funds at risk still there
    outcome: str
    confirm: float | None = None  # seconds of the [pause, exploit] simulation


class Side:
    """A fresh responder (and database) per run; ``broadcast`` is the pause's step event."""

    def __init__(self, anvil: Anvil, scenario: MempoolScenario, workdir: Path, mempool: bool):
        self.anvil = anvil
        self.scenario = scenario
        self.workdir = workdir
        self.mempool = mempool
        plan = workdir / f"plan-{'mempool' if mempool else 'posthoc'}.yaml"
        plan.write_text(plan_yaml(anvil, scenario, mempool=mempool, gas="{}", extra_mempool=CAPS))
        self.loaded = load_plan(plan)
        self.template = workdir / "template.db"
        if not self.template.exists():
            store.upgrade(f"sqlite:///{self.template.as_posix()}")
        self.index = 0
        self.broadcast: float | None = None
        self.heads: dict[int, float] = {}

    def on_event(self, event: Any) -> None:
        if event.phase == "broadcast" and self.broadcast is None:
            self.broadcast = event.perf

    def on_block(self, block: Any, _findings: int) -> None:
        self.heads[block.number] = block.received_at

    async def run(self) -> Result:
        self.index += 1
        self.broadcast, self.heads = None, {}
        db = self.workdir / f"{'m' if self.mempool else 'p'}{self.index}.db"
        shutil.copyfile(self.template, db)
        engine = store.make_engine(f"sqlite:///{db.as_posix()}")
        sessions = store.session_factory(engine)
        responder = Responder(self.loaded, chain="local", sessions=sessions, on_event=self.on_event)
        stop = asyncio.Event()
        before = self.scenario.at_risk(self.anvil)
        try:
            if self.mempool:
                await responder.start()
                guard = MempoolGuard(responder, "local", responder.env.rpc("local"))
                task = asyncio.ensure_future(guard.run(stop))
                await asyncio.wait_for(guard.source.subscribed.wait(), TIMEOUT)
                result = await self._pre_execution(guard)
            else:
                task = asyncio.ensure_future(self._monitor(responder, sessions, stop))
                await self._caught_up(sessions, task)
                result = await self._post_hoc()
            await responder.wait_idle()
        finally:
            stop.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 15)
            if self.mempool:
                await responder.aclose()
            engine.dispose()
        result.saved = self.scenario.at_risk(self.anvil) / before
        return result

    async def _send_exploit(self) -> str:
        nonce = int(
            await asyncio.to_thread(
                self.anvil.rpc, "eth_getTransactionCount", [self.scenario.attacker, "pending"]
            ),
            16,
        )
        raw, tx_hash = self.scenario.sign_exploit(nonce)
        await asyncio.to_thread(self.anvil.rpc, "eth_sendRawTransaction", [raw])
        return tx_hash

    async def _pre_execution(self, guard: MempoolGuard) -> Result:
        await self._send_exploit()
        deadline = time.monotonic() + TIMEOUT
        while not guard.runs and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if not guard.runs:
            return Result(None, False, 0.0, f"not caught: {guard.screen.stats}")
        run = guard.runs[0]
        await asyncio.wait_for(run.done.wait(), TIMEOUT * 2)
        latency = None if self.broadcast is None else self.broadcast - run.seen_at
        return Result(latency, run.stopped, 0.0, f"{run.order}", run.confirm_seconds)

    async def _monitor(self, responder: Responder, sessions: Any, stop: asyncio.Event) -> None:
        extra: dict[str, Any] = {}
        if "on_alert" in inspect.signature(run_monitor).parameters:
            extra["on_alert"] = lambda _alert: None
        await run_monitor(
            loaded_plan=self.loaded,
            chain="local",
            sessions=sessions,
            stop_event=stop,
            responder=responder,
            on_block=self.on_block,
            **extra,
        )

    async def _caught_up(self, sessions: Any, task: asyncio.Future[None]) -> None:
        height = int(await asyncio.to_thread(self.anvil.rpc, "eth_blockNumber"), 16)
        deadline = time.monotonic() + 15
        while True:
            if task.done():
                task.result()
                raise RuntimeError("the monitor stopped before it was ready")
            with sessions() as session:
                found = store.get_checkpoint(session, chain="local")
            if found is not None and found.block_number >= height:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the monitor did not catch up with the head")
            await asyncio.sleep(0.05)

    async def _post_hoc(self) -> Result:
        exploit = await self._send_exploit()
        deadline = time.monotonic() + TIMEOUT
        while self.broadcast is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        receipt = await asyncio.to_thread(self.anvil.rpc, "eth_getTransactionReceipt", [exploit])
        if self.broadcast is None or receipt is None:
            return Result(None, False, 0.0, "no broadcast")
        arrival = self.heads.get(int(receipt["blockNumber"], 16))
        latency = None if arrival is None else self.broadcast - arrival
        return Result(latency, False, 0.0, "after (post-hoc)")


async def measure(name: str, side: Side, anvil: Anvil, runs: int) -> list[Result]:
    results: list[Result] = []
    snapshot = anvil.rpc("evm_snapshot")
    started = time.monotonic()
    for index in range(runs + WARMUP):
        result = await side.run()
        anvil.rpc("anvil_dropAllTransactions")
        anvil.rpc("evm_revert", [snapshot])
        snapshot = anvil.rpc("evm_snapshot")
        if index >= WARMUP:
            results.append(result)
        if result.latency is None:
            print(f"  {name} run {index}: {result}", file=sys.stderr)
    print(f"  {name}: {runs} runs in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, results: list[Result]) -> dict[str, float]:
    ms = [r.latency * 1000 for r in results if r.latency is not None]
    figures = {"p50": statistics.median(ms), "p95": percentile(ms, 0.95)} if ms else {}
    lat = f"{figures['p50']:7.2f} {figures['p95']:7.2f} {max(ms):7.2f}" if ms else "      -" * 3
    saved = [r.saved for r in results]
    won = sum(r.won for r in results)
    print(
        f"{name:<16} {len(ms):3d}/{len(results):<3d} {lat}"
        f"   pause first {won:2d}/{len(results):<2d}"
        f"   saved mean {statistics.fmean(saved):6.1%} min {min(saved):6.1%}"
    )
    return figures


async def bench(args: argparse.Namespace) -> None:
    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="breakglass-preexec-"))
    try:
        with Anvil.start() as anvil:
            deploy = deploy_flash_swap if args.scenario == "flash-swap" else deploy_reentrancy
            scenario = deploy(anvil)
            os.environ[GUARDIAN_ENV] = scenario.guardian_key
            anvil.rpc("evm_setAutomine", [False])
            anvil.rpc("evm_setIntervalMining", [1])
            print(
                f"{args.runs} runs (+{WARMUP} warm-up) per side; anvil 1 s blocks, fee ordering; "
                f"{scenario.kind} exploit at 30 gwei max fee, 2 gwei tip"
            )
            posthoc = await measure(
                "post-hoc", Side(anvil, scenario, workdir, False), anvil, args.runs
            )
            preexec = await measure(
                "pre-execution", Side(anvil, scenario, workdir, True), anvil, args.runs
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(f"{'seen → broadcast':<16} {'n':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    a = row("post-hoc", posthoc)
    b = row("pre-execution", preexec)
    confirms = [r.confirm * 1000 for r in preexec if r.confirm is not None]
    if confirms:
        print(
            f"[pause, exploit] confirmation (alongside the send): p50 "
            f"{statistics.median(confirms):.2f} ms, p95 {percentile(confirms, 0.95):.2f} ms"
        )
    outcomes: dict[str, int] = {}
    for r in preexec:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    print(f"pre-execution orders: {outcomes}")
    if a and b:
        print(
            f"pre-execution / post-hoc: p50 {b['p50'] / a['p50']:.2f}x"
            f"  p95 {b['p95'] / a['p95']:.2f}x"
        )
    if b:
        print(f"pre-execution p95 <= 15 ms: {'yes' if b['p95'] <= 15 else 'NO'}")
    wins = sum(r.won for r in preexec)
    rate = wins / len(preexec) if preexec else 0.0
    print(
        f"front-run win rate {wins}/{len(preexec)} = {rate:.0%}"
        f" (>= 95%: {'yes' if rate >= 0.95 else 'NO'})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--scenario", choices=("reentrancy", "flash-swap"), default="reentrancy")
    parser.add_argument("--smoke", action="store_true", help="2 runs, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 2
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
