"""``run_monitor`` with a responder starts the mempool guard where the plan enables it: a
pending reentrancy exploit is paused ahead of in its own block, by the monitor alone."""

from __future__ import annotations

import asyncio
import inspect
import time
from pathlib import Path
from typing import Any

import pytest

from breakglass import store
from breakglass.detect.monitor import run_monitor
from breakglass.devchain import Anvil
from breakglass.plan.loader import load_plan
from breakglass.respond.responder import Responder
from breakglass.scenario.mempool import GUARDIAN_ENV, deploy_reentrancy, plan_yaml

pytestmark = pytest.mark.chain


def _receipt(anvil: Anvil, tx_hash: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (found := anvil.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
        assert time.monotonic() < deadline, f"{tx_hash} not mined"
        time.sleep(0.05)
    return dict(found)


def test_the_monitor_front_runs_a_pending_exploit_when_the_plan_enables_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Anvil.start() as anvil:
        scenario = deploy_reentrancy(anvil)
        monkeypatch.setenv(GUARDIAN_ENV, scenario.guardian_key)
        before = scenario.at_risk(anvil)
        plan = tmp_path / "plan.yaml"
        plan.write_text(plan_yaml(anvil, scenario, gas="{}", extra_mempool=", max_fee_gwei: 200"))
        loaded = load_plan(plan)
        url = f"sqlite:///{(tmp_path / 'breakglass.db').as_posix()}"
        store.upgrade(url)
        engine = store.make_engine(url)
        sessions = store.session_factory(engine)

        async def scenario_run() -> tuple[str, list[str]]:
            responder = Responder(loaded, chain="local", sessions=sessions)
            stop = asyncio.Event()
            extra: dict[str, Any] = {}
            if "on_alert" in inspect.signature(run_monitor).parameters:
                extra["on_alert"] = lambda _alert: None
            task = asyncio.ensure_future(
                run_monitor(
                    loaded_plan=loaded,
                    chain="local",
                    sessions=sessions,
                    stop_event=stop,
                    responder=responder,
                    **extra,
                )
            )
            try:
                while not responder.armed:  # armed: the guard starts right after
                    assert not task.done(), task
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)  # the guard subscribes
                await asyncio.to_thread(anvil.rpc, "evm_setAutomine", [False])
                await asyncio.to_thread(anvil.rpc, "evm_setIntervalMining", [2])
                nonce = int(
                    anvil.rpc("eth_getTransactionCount", [scenario.attacker, "pending"]), 16
                )
                raw, exploit = scenario.sign_exploit(nonce)
                await asyncio.to_thread(anvil.rpc, "eth_sendRawTransaction", [raw])
                receipt = await asyncio.to_thread(_receipt, anvil, exploit, 10)
                block = anvil.rpc("eth_getBlockByNumber", [receipt["blockNumber"], True])
                senders = [str(tx["from"]).lower() for tx in block["transactions"]]
                await responder.wait_idle()
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)
            return receipt["status"], senders

        status, senders = asyncio.run(scenario_run())
        paused, after = scenario.paused(anvil), scenario.at_risk(anvil)
        engine.dispose()

    assert status == "0x0", "the exploit reverts"
    assert senders.index(scenario.guardian) < senders.index(scenario.attacker), senders
    assert paused and after == before
