"""The mempool guard on anvil: honest traffic at a few hundred transactions per second, every
one touching the watched pool or its token, is simulated and starts no pause; with no
WebSocket endpoint the guard reads ``txpool_content`` and still front-runs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.plan.loader import load_plan
from breakglass.respond.preexec.mempool import MempoolGuard
from breakglass.respond.responder import Responder
from breakglass.scenario.mempool import (
    GUARDIAN_ENV,
    MempoolScenario,
    deploy_flash_swap,
    deploy_reentrancy,
    honest_raw,
    plan_yaml,
    rpc_batch,
)

pytestmark = pytest.mark.chain

HONEST = 600
BATCH = 60
EVERY = 0.2  # seconds between batches: 300 transactions per second


def _responder(anvil: Anvil, scenario: MempoolScenario, workdir: Path) -> Responder:
    plan = workdir / "plan.yaml"
    plan.write_text(plan_yaml(anvil, scenario))
    url = f"sqlite:///{(workdir / 'breakglass.db').as_posix()}"
    store.upgrade(url)
    return Responder(
        load_plan(plan), chain="local", sessions=store.session_factory(store.make_engine(url))
    )


def test_honest_traffic_at_rate_starts_no_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Anvil.start() as anvil:
        scenario = deploy_flash_swap(anvil)
        monkeypatch.setenv(GUARDIAN_ENV, scenario.guardian_key)
        raws = honest_raw(anvil, scenario, HONEST)

        async def scenario_run() -> tuple[MempoolGuard, Responder, float]:
            responder = _responder(anvil, scenario, tmp_path)
            await responder.start()
            guard = MempoolGuard(responder, "local", responder.env.rpc("local"))
            stop = asyncio.Event()
            task = asyncio.ensure_future(guard.run(stop))
            try:
                await asyncio.wait_for(guard.source.subscribed.wait(), 10)
                await asyncio.to_thread(anvil.rpc, "evm_setAutomine", [False])
                await asyncio.to_thread(anvil.rpc, "evm_setIntervalMining", [1])
                started = time.monotonic()
                for first in range(0, HONEST, BATCH):
                    calls = [("eth_sendRawTransaction", [r]) for r in raws[first : first + BATCH]]
                    await asyncio.to_thread(rpc_batch, anvil, calls)
                    await asyncio.sleep(
                        max(0.0, started + (first + BATCH) / HONEST * 2 - time.monotonic())
                    )
                rate = HONEST / (time.monotonic() - started)
                deadline = time.monotonic() + 60
                while guard.screen.stats.screened < HONEST and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                await responder.wait_idle()
            finally:
                stop.set()
                await task
                await responder.aclose()
            return guard, responder, rate

        guard, responder, rate = asyncio.run(scenario_run())
        mined = sum(
            1
            for n in range(
                int(anvil.rpc("eth_blockNumber"), 16) - 8, int(anvil.rpc("eth_blockNumber"), 16) + 1
            )
            for _ in anvil.rpc("eth_getBlockByNumber", [hex(n), False])["transactions"]
        )
        paused = scenario.paused(anvil)

    stats = guard.screen.stats
    assert rate >= 200, f"sent at {rate:.0f} tx/s"
    assert stats.screened >= HONEST, stats
    assert stats.kept == stats.screened, "every honest transaction touches the pool or dUSD"
    assert stats.simulated >= HONEST * 9 // 10, stats
    assert stats.critical == 0, stats
    assert not guard.runs and not responder.results
    assert not paused
    assert mined >= HONEST * 9 // 10, "the honest traffic was real and got mined"


def test_without_a_websocket_the_txpool_is_read_and_the_exploit_still_front_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Anvil.start() as anvil:
        scenario = deploy_reentrancy(anvil)
        monkeypatch.setenv(GUARDIAN_ENV, scenario.guardian_key)
        before = scenario.at_risk(anvil)

        async def scenario_run() -> MempoolGuard:
            responder = _responder(anvil, scenario, tmp_path)
            await responder.start()
            guard = MempoolGuard(responder, "local", responder.env.rpc("local"), ws_url=None)
            guard.source.ws_url = None  # the chain's ws is not used: polling alone
            stop = asyncio.Event()
            task = asyncio.ensure_future(guard.run(stop))
            try:
                await asyncio.to_thread(anvil.rpc, "evm_setAutomine", [False])
                await asyncio.to_thread(anvil.rpc, "evm_setIntervalMining", [2])
                nonce = int(
                    anvil.rpc("eth_getTransactionCount", [scenario.attacker, "pending"]), 16
                )
                raw, _ = scenario.sign_exploit(nonce)
                await asyncio.to_thread(anvil.rpc, "eth_sendRawTransaction", [raw])
                deadline = time.monotonic() + 10
                while not guard.runs and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert guard.runs, guard.source.stats
                await asyncio.wait_for(guard.runs[0].done.wait(), 20)
                await responder.wait_idle()
            finally:
                stop.set()
                await task
                await responder.aclose()
            return guard

        guard = asyncio.run(scenario_run())
        after = scenario.at_risk(anvil)

    assert guard.source.stats.polls >= 1 and guard.source.stats.connects == 0
    assert guard.runs[0].order == "before"
    assert after == before
