"""Reaction: ``newHeads`` of the first exploit block → the pause transaction's broadcast.

anvil mines a block every second (``--block-time 1``). A ``DrainableVault`` holds 200k real
OpenZeppelin ``ERC20PresetMinterPauser`` tokens deposited by 20 users; its
``emergencyWithdraw`` lost its role check. An attacker *process* (so it does not compete for
this process's GIL) holds pre-signed ``VaultDrainer.drain()`` transactions (2 gwei tip, 30 gwei
max fee) and sends one right after each new head, so the drain takes a fifth of the vault per
block over five blocks. The same process is the neutral clock: it stamps every ``newHeads``
notification with ``perf_counter()`` as it arrives on its own websocket (CLOCK_MONOTONIC on
Linux, so the same clock as this process) before doing anything else, and both defenders are
timed from that stamp. Measured one after the other on the same chain, each run from the same
``evm_snapshot`` (reverted after each run, pool dropped):

  (a) baseline   - a plain ``AsyncWeb3(WebSocketProvider)`` bot subscribed to newHeads that
                   holds a pre-signed ``pause()`` (20 gwei tip, 200 gwei max fee); per head it
                   calls ``eth_getLogs`` (blockHash, the token's Transfer from the vault) and on
                   a hit ``eth_sendRawTransaction``; broadcast = when that call returned.
  (b) breakglass - the monitor as ``breakglass monitor`` wires it (``runtime.monitor``: the
                   outbox relay, the incident desk and the notifier consume the alerts'
                   events) with a ``Responder`` on a plan whose ``large-outflow`` rule
                   on the vault triggers a ``pause`` step (mode auto, verify ``paused()``);
                   broadcast = the ``StepEvent`` with phase ``broadcast``. A fresh monitor and
                   database per run (alerts are deduplicated across runs otherwise).

Per run: latency (broadcast - arrival of the first exploit block's head), the block the pause
landed in (must be the next one) and the share of the vault's funds still there when it did.

Budget (DESIGN.md): (b) <= 15 ms at p95, pause in the next block; the bar is (a), ~7 ms p50.

    .venv/bin/python benchmarks/reaction.py [--runs 30] [--baseline-only | --breakglass-only]
                                        [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
import websockets
from web3 import AsyncWeb3, Web3
from web3.providers.persistent import WebSocketProvider

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.logs import configure_logging
from breakglass.plan import load_plan
from breakglass.runtime.monitor import MonitorApp, build_pipeline
from breakglass.scenario.vault import (
    TRANSFER_TOPIC,
    Attacker,
    VaultScenario,
    deploy_vault,
    plan_yaml,
)

WARMUP = 1
BROADCAST_TIMEOUT = 8.0
BASELINE_TIP_GWEI = Decimal(20)

# --------------------------------------------------------------------------------------------
# The attacker process: neutral newHeads clock + one pre-signed drain per head once armed.
# stdin:  "arm <nonce>" | "disarm" | "quit"
# stdout: "ready" | "head <hash> <number> <perf>" | "sent <tx_hash> <head_number>" | "error .."


async def attacker_main(ws_url: str, scenario_path: str) -> None:
    fields = json.loads(Path(scenario_path).read_text())
    fields["users"] = tuple(fields["users"])
    attacker = Attacker(VaultScenario(**fields))
    out = sys.stdout

    def emit(line: str) -> None:
        out.write(line + "\n")
        out.flush()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with websockets.connect(ws_url, max_size=None, compression=None) as ws:
        await ws.send(
            orjson.dumps(
                {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            )
        )

        async def commands() -> None:
            while line := (await reader.readline()).decode().strip():
                word, *rest = line.split()
                if word == "arm":
                    attacker.arm(int(rest[0]))
                elif word == "disarm":
                    attacker.disarm()
                elif word == "quit":
                    break
            await ws.close()

        task = asyncio.create_task(commands())
        emit("ready")
        request_id = 1
        async for message in _messages(ws):
            arrived = time.perf_counter()
            data = orjson.loads(message)
            if data.get("method") != "eth_subscription":
                if "error" in data:
                    emit(f"error {data['error']}")
                continue
            head = data["params"]["result"]
            number = int(head["number"], 16)
            raw = attacker.on_head(number)
            if raw is not None:
                request_id += 1
                body = {"jsonrpc": "2.0", "id": request_id, "method": "eth_sendRawTransaction"}
                body["params"] = [raw]
                await ws.send(orjson.dumps(body))
            emit(f"head {head['hash']} {number} {arrived!r}")
            if raw is not None:
                emit(f"sent {attacker.sent[-1][0]} {number}")
        await task


async def _messages(ws: Any) -> Any:
    """The connection's messages until it closes, however it closes."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in ws:
            yield message


class AttackerProcess:
    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.heads: dict[str, float] = {}
        self.sent: list[tuple[str, int]] = []
        self.errors: list[str] = []
        self._ready = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, ws_url: str, scenario_path: Path) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--attacker",
            ws_url,
            str(scenario_path),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        await asyncio.wait_for(self._ready.wait(), 30)

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        while line := (await self.process.stdout.readline()).decode().strip():
            word, *rest = line.split(maxsplit=3)
            if word == "head":
                self.heads[rest[0]] = float(rest[2])
            elif word == "sent":
                self.sent.append((rest[0], int(rest[1])))
            elif word == "ready":
                self._ready.set()
            else:
                self.errors.append(line)

    async def command(self, line: str) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\n")
        await self.process.stdin.drain()

    async def arm(self, nonce: int) -> None:
        self.sent = []
        await self.command(f"arm {nonce}")

    async def stop(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            await self.command("quit")
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.terminate()  # our own child, by its handle
                await self.process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


# --------------------------------------------------------------------------------------------
# Runs


@dataclasses.dataclass
class Broadcast:
    perf: float
    tx_hash: str
    own_arrival: float | None = None  # the defender's own newHeads arrival, when it has one


@dataclasses.dataclass
class RunResult:
    latency: float | None  # broadcast - neutral arrival of the first exploit block's head
    own_latency: float | None
    first_block: int | None
    pause_block: int | None
    saved: float
    outcome: str = ""
    fees: tuple[float, float] | None = None  # the pause's (max fee, tip) in gwei
    ahead: bool | None = None  # the pause came before the drain sent with it


class Rpc:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.AsyncClient(timeout=10)
        self.request_id = 0

    async def __call__(self, method: str, *params: Any) -> Any:
        self.request_id += 1
        body = {"jsonrpc": "2.0", "id": self.request_id, "method": method, "params": list(params)}
        response = await self.client.post(
            self.url, content=orjson.dumps(body), headers={"content-type": "application/json"}
        )
        envelope = orjson.loads(response.content)
        if "error" in envelope:
            raise RuntimeError(f"{method}: {envelope['error']}")
        return envelope["result"]

    async def receipt(self, tx_hash: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (found := await self("eth_getTransactionReceipt", tx_hash)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no receipt for {tx_hash}")
            await asyncio.sleep(0.05)
        return dict(found)

    async def nonce(self, address: str) -> int:
        return int(await self("eth_getTransactionCount", address, "pending"), 16)

    async def vault_share(self, scenario: VaultScenario, block: int) -> float:
        call = {"to": scenario.token, "data": "0x70a08231" + scenario.vault[2:].rjust(64, "0")}
        balance = int(await self("eth_call", call, hex(block)), 16)
        return balance / scenario.deposited


class Defender:
    """One side: ``prepare`` arms it for a run; ``broadcast`` resolves when it sent the pause."""

    broadcast: asyncio.Future[Broadcast]

    async def prepare(self) -> None:
        raise NotImplementedError

    async def finish(self) -> str:
        """Wind the run down; returns an outcome note."""
        return ""


class BaselineBot(Defender):
    """A plain web3.py websocket bot holding a pre-signed pause."""

    def __init__(self, anvil: Anvil, rpc: Rpc, scenario: VaultScenario) -> None:
        self.anvil = anvil
        self.rpc = rpc
        self.scenario = scenario
        self.raw: str | None = None
        self.tx_hash = ""
        self.task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 15)

    async def _run(self) -> None:
        token = Web3.to_checksum_address(self.scenario.token)
        from_vault = "0x" + self.scenario.vault[2:].rjust(64, "0")
        async with AsyncWeb3(WebSocketProvider(self.anvil.ws_url)) as w3:
            await w3.eth.subscribe("newHeads")
            self.subscribed.set()
            async for message in w3.socket.process_subscriptions():
                arrived = time.perf_counter()
                header: Any = message["result"]
                logs = await w3.eth.get_logs(
                    {
                        "blockHash": header["hash"],
                        "address": token,
                        "topics": [TRANSFER_TOPIC, from_vault],  # type: ignore[list-item]
                    }
                )
                if logs and self.raw is not None:
                    raw, self.raw = self.raw, None
                    await w3.eth.send_raw_transaction(raw)
                    sent = time.perf_counter()
                    if not self.broadcast.done():
                        self.broadcast.set_result(Broadcast(sent, self.tx_hash, arrived))

    async def prepare(self) -> None:
        self.broadcast = asyncio.get_running_loop().create_future()
        nonce = await self.rpc.nonce(self.scenario.guardian)
        self.raw, self.tx_hash = self.scenario.sign_pause(
            nonce, priority_fee_gwei=BASELINE_TIP_GWEI
        )

    async def finish(self) -> str:
        self.raw = None
        return "sent"

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


def _responder_class() -> Any:
    """``breakglass.respond.Responder``, imported only when the breakglass side runs."""
    module = importlib.import_module("breakglass.respond")
    if hasattr(module, "Responder"):
        return module.Responder
    return importlib.import_module("breakglass.respond.responder").Responder


class BreakglassSide(Defender):
    """The monitor with a ``Responder`` on the scenario's plan, fresh per run."""

    def __init__(self, rpc: Rpc, plan_path: Path, workdir: Path) -> None:
        self.rpc = rpc
        self.loaded = load_plan(plan_path)
        self.workdir = workdir
        self.template = workdir / "template.db"
        store.upgrade(f"sqlite:///{self.template.as_posix()}")
        self.run_index = 0
        self.task: asyncio.Task[None] | None = None
        self.stop_event = asyncio.Event()
        self.engine: Any = None
        self.events: list[Any] = []
        self.settled = asyncio.Event()

    def on_event(self, event: Any) -> None:
        self.events.append(event)
        if event.phase == "broadcast" and not self.broadcast.done():
            tx_hash = str(event.detail.get("tx_hash", ""))
            self.broadcast.set_result(Broadcast(event.perf, tx_hash))
        if event.phase in ("done", "failed", "fallback", "skipped"):
            self.settled.set()
            if event.phase != "done" and not self.broadcast.done():
                self.broadcast.set_exception(RuntimeError(f"step {event.phase}: {event.detail}"))

    async def prepare(self) -> None:
        responder_class = _responder_class()

        self.run_index += 1
        self.broadcast = asyncio.get_running_loop().create_future()
        self.events = []
        self.settled = asyncio.Event()
        db = self.workdir / f"run{self.run_index}.db"
        shutil.copyfile(self.template, db)
        self.engine = store.make_engine(f"sqlite:///{db.as_posix()}")
        sessions = store.session_factory(self.engine)
        responder = responder_class(
            self.loaded, chain="local", sessions=sessions, on_event=self.on_event
        )
        self.stop_event = asyncio.Event()
        pipe = build_pipeline(self.loaded.plan, sessions)
        app = MonitorApp(
            self.loaded, "local", sessions, pipe.bus, pipe.relay, responder,
            pipe.desk, pipe.notifier,
        )  # fmt: skip
        self.task = asyncio.create_task(app.run(self.stop_event))
        # Ready once the monitor has stored the chain's current head as its checkpoint.
        height = int(await self.rpc("eth_blockNumber"), 16)
        deadline = time.monotonic() + 15
        while True:
            if self.task.done():
                self.task.result()
                raise RuntimeError("the monitor stopped before it was ready")
            with sessions() as session:
                found = store.get_checkpoint(session, chain="local")
            if found is not None and found.block_number >= height:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the monitor did not catch up with the head")
            await asyncio.sleep(0.05)

    async def finish(self) -> str:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settled.wait(), 5)
        phases = [e.phase for e in self.events]
        self.stop_event.set()
        if self.task is not None:
            try:
                await asyncio.wait_for(self.task, 10)
            except Exception as exc:  # report, keep measuring
                phases.append(f"monitor: {exc!r}")
        if self.engine is not None:
            self.engine.dispose()
        return phases[-1] if phases else "no events"


async def one_run(
    rpc: Rpc, actor: AttackerProcess, scenario: VaultScenario, side: Defender
) -> RunResult:
    await side.prepare()
    await actor.arm(await rpc.nonce(scenario.attacker))
    broadcast: Broadcast | None = None
    outcome = ""
    try:
        broadcast = await asyncio.wait_for(asyncio.shield(side.broadcast), BROADCAST_TIMEOUT)
    except (TimeoutError, RuntimeError) as exc:
        outcome = f"no broadcast: {exc!r}"
    pause_block: int | None = None
    fees = None
    pause_index = -1
    if broadcast is not None:
        receipt = await rpc.receipt(broadcast.tx_hash)
        pause_block = int(receipt["blockNumber"], 16)
        pause_index = int(receipt["transactionIndex"], 16)
        tx = await rpc("eth_getTransactionByHash", broadcast.tx_hash)
        max_fee = int(tx.get("maxFeePerGas") or tx["gasPrice"], 16) / 1e9
        fees = (max_fee, int(tx.get("maxPriorityFeePerGas") or "0x0", 16) / 1e9)
        if receipt["status"] != "0x1":
            outcome = "pause reverted"
    await actor.command("disarm")
    finished = await side.finish()
    outcome = outcome or finished

    first_block: int | None = None
    latency = own = None
    if actor.sent:
        first = await rpc.receipt(actor.sent[0][0])
        first_block = int(first["blockNumber"], 16)
        arrival = actor.heads.get(first["blockHash"])
        if broadcast is not None and arrival is not None:
            latency = broadcast.perf - arrival
            if os.environ.get("REACTION_TRACE") and isinstance(side, BreakglassSide):
                trace = " ".join(
                    f"{e.step}:{e.phase}@{(e.perf - arrival) * 1000:.1f}" for e in side.events
                )
                print(f"  trace: {trace}", flush=True)
            if broadcast.own_arrival is not None:
                own = broadcast.perf - broadcast.own_arrival
    ahead = None
    if pause_block is not None:
        for tx_hash, _ in actor.sent[1:]:
            drain = await rpc("eth_getTransactionReceipt", tx_hash)
            if drain is not None and int(drain["blockNumber"], 16) == pause_block:
                ahead = pause_index < int(drain["transactionIndex"], 16)
    end = pause_block if pause_block is not None else int(await rpc("eth_blockNumber"), 16)
    saved = await rpc.vault_share(scenario, end)
    return RunResult(latency, own, first_block, pause_block, saved, outcome, fees, ahead)


async def measure(
    name: str,
    anvil: Anvil,
    rpc: Rpc,
    actor: AttackerProcess,
    scenario: VaultScenario,
    side: Defender,
    runs: int,
    snapshot: list[str],
) -> list[RunResult]:
    results: list[RunResult] = []
    started = time.monotonic()
    for index in range(runs + WARMUP):
        result = await one_run(rpc, actor, scenario, side)
        await rpc("anvil_dropAllTransactions")
        await rpc("evm_revert", snapshot[0])
        snapshot[0] = await rpc("evm_snapshot")
        if index >= WARMUP:
            results.append(result)
        if result.latency is None or result.pause_block != (result.first_block or 0) + 1:
            print(f"  {name} run {index}: {result}", file=sys.stderr)
    print(f"  {name}: {runs} runs in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return results


# --------------------------------------------------------------------------------------------
# Report


def percentile(ms: list[float], q: float) -> float:
    ordered = sorted(ms)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def row(name: str, results: list[RunResult], own: bool = False) -> dict[str, float]:
    ms = [
        (r.own_latency if own else r.latency) * 1000
        for r in results
        if (r.own_latency if own else r.latency) is not None
    ]
    nxt = sum(
        1 for r in results if r.first_block is not None and r.pause_block == r.first_block + 1
    )
    saved = [r.saved for r in results]
    figures = {"p50": statistics.median(ms), "p95": percentile(ms, 0.95)} if ms else {}
    lat = (
        f"{figures['p50']:7.2f} {figures['p95']:7.2f} {max(ms):7.2f}"
        if ms
        else f"{'-':>7} {'-':>7} {'-':>7}"
    )
    ahead = sum(1 for r in results if r.ahead)
    tail = (
        ""
        if own
        else f"   next block {nxt:2d}/{len(results):<2d}"
        f"   ahead of drain {ahead:2d}/{len(results):<2d}"
        f"   saved mean {statistics.fmean(saved):6.1%} min {min(saved):6.1%}"
    )
    print(f"{name:<22} {len(ms):3d}/{len(results):<3d} {lat}{tail}")
    return figures


async def bench(args: argparse.Namespace) -> None:
    configure_logging("WARNING")  # per-request debug lines would be timed too
    do_baseline = not args.breakglass_only
    do_breakglass = not args.baseline_only
    if do_breakglass:
        try:
            _responder_class()
        except (ImportError, AttributeError) as exc:
            sys.exit(f"breakglass's Responder is not available ({exc}); use --baseline-only")

    workdir = Path(tempfile.mkdtemp(prefix="breakglass-reaction-"))
    actor = AttackerProcess()
    try:
        with Anvil.start(block_time=1) as anvil:
            try:
                results = await run_sides(
                    anvil, actor, workdir, args.runs, do_baseline, do_breakglass
                )
            finally:
                await actor.stop()  # before anvil goes
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if actor.errors:
        print(f"attacker process reported: {actor.errors[:5]}", file=sys.stderr)
    report(results)


async def run_sides(
    anvil: Anvil,
    actor: AttackerProcess,
    workdir: Path,
    runs: int,
    do_baseline: bool,
    do_breakglass: bool,
) -> dict[str, list[RunResult]]:
    scenario = deploy_vault(anvil, users=20, deposit=10_000, parts=5)
    scenario_path = workdir / "scenario.json"
    scenario_path.write_text(json.dumps(dataclasses.asdict(scenario)))
    plan_path = workdir / "plan.yaml"
    plan_path.write_text(plan_yaml(anvil, scenario))
    os.environ["GUARDIAN_KEY"] = scenario.guardian_key
    rpc = Rpc(anvil.http_url)
    await actor.start(anvil.ws_url, scenario_path)
    snapshot = [await rpc("evm_snapshot")]
    print(
        f"{runs} runs (+{WARMUP} warm-up) per side; anvil --block-time 1; vault of "
        f"{scenario.deposited // 10**18:,} aUSD from {len(scenario.users)} users, drained "
        f"in {scenario.parts} blocks (2 gwei tip)"
    )
    results: dict[str, list[RunResult]] = {}
    try:
        if do_baseline:
            bot = BaselineBot(anvil, rpc, scenario)
            await bot.start()
            try:
                results["baseline"] = await measure(
                    "baseline", anvil, rpc, actor, scenario, bot, runs, snapshot
                )
            finally:
                await bot.stop()
        if do_breakglass:
            side = BreakglassSide(rpc, plan_path, workdir)
            results["breakglass"] = await measure(
                "breakglass", anvil, rpc, actor, scenario, side, runs, snapshot
            )
    finally:
        await rpc.client.aclose()
    return results


def report(results: dict[str, list[RunResult]]) -> None:
    print()
    print(f"{'newHeads → broadcast':<22} {'n':>7} {'p50 ms':>7} {'p95 ms':>7} {'max ms':>7}")
    figures: dict[str, dict[str, float]] = {}
    if "baseline" in results:
        figures["baseline"] = row("baseline (web3 bot)", results["baseline"])
        row("  from bot's own head", results["baseline"], own=True)
    if "breakglass" in results:
        figures["breakglass"] = row("breakglass", results["breakglass"])
        fees = [r.fees for r in results["breakglass"] if r.fees is not None]
        if fees:
            caps, tips = [f[0] for f in fees], [f[1] for f in fees]
            print(
                f"breakglass pause bid: max fee {min(caps):.2f}-{max(caps):.2f} gwei, tip "
                f"{min(tips):.2f}-{max(tips):.2f} gwei (attacker: max fee 30, tip 2; baseline: "
                f"max fee 200, tip {BASELINE_TIP_GWEI}; anvil orders its pool by max fee)"
            )
        outcomes: dict[str, int] = {}
        for r in results["breakglass"]:
            outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
        print(f"breakglass step outcomes: {outcomes}")
    a, b = figures.get("baseline"), figures.get("breakglass")
    if a and b:
        print(
            f"breakglass / baseline: p50 {b['p50'] / a['p50']:.2f}x  p95 {b['p95'] / a['p95']:.2f}x"
        )
    if b:
        print(f"breakglass p95 <= 15 ms: {'yes' if b['p95'] <= 15 else 'NO'}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--attacker":
        asyncio.run(attacker_main(sys.argv[2], sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--baseline-only", action="store_true", help="no breakglass.respond needed")
    only.add_argument("--breakglass-only", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="2 runs, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.runs = 2
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    asyncio.run(bench(args))


if __name__ == "__main__":
    main()
