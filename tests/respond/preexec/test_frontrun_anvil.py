"""Mempool pre-execution on anvil with 2 s blocks: a pending exploit is simulated, the plan's
rules fire on its simulation, and the pause lands before it in the same block, so the exploit
reverts and nothing is lost. With ``--order fifo`` (a first-come sequencer) it cannot: the
pause lands after the exploit, as docs/pre-execution.md says."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.plan.loader import load_plan
from breakglass.respond.preexec.frontrun import FrontRun
from breakglass.respond.preexec.mempool import MempoolGuard
from breakglass.respond.responder import Responder
from breakglass.scenario.mempool import (
    GUARDIAN_ENV,
    MempoolScenario,
    deploy_flash_swap,
    deploy_reentrancy,
    plan_yaml,
)

pytestmark = pytest.mark.chain

BLOCK_TIME = 2
RELAYED: list[str] = []  # what the private relay forwarded: method and first param


class RecordingRelay:
    """A private-transaction RPC stand-in: forwards JSON-RPC to anvil and records it."""

    def __init__(self, upstream: str) -> None:
        client = httpx.Client()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                request = json.loads(body)
                for one in request if isinstance(request, list) else [request]:
                    RELAYED.append(f"{one['method']} {(one.get('params') or [''])[0]}")
                answer = client.post(upstream, content=body, headers=_JSON).content
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingRelay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


_JSON = {"content-type": "application/json"}


async def _front_run(
    anvil: Anvil,
    scenario: MempoolScenario,
    workdir: Path,
    *,
    ordering: str = "priority-fee",
    max_fee_gwei: int = 200,
    route: str = "",
) -> tuple[FrontRun, MempoolGuard]:
    plan = workdir / "plan.yaml"
    # No chain gas caps: the emergency bid alone (a few gwei here) would come after the
    # exploit's 30 gwei; the mempool caps let the outbid reach past it.
    plan.write_text(
        plan_yaml(
            anvil,
            scenario,
            ordering=ordering,
            confirm="before",
            gas="{}",
            extra_mempool=f", max_fee_gwei: {max_fee_gwei}, max_priority_fee_gwei: 50{route}",
        )
    )
    loaded = load_plan(plan)
    url = f"sqlite:///{(workdir / 'breakglass.db').as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    responder = Responder(loaded, chain="local", sessions=store.session_factory(engine))
    await responder.start()
    assert responder.armed == 1, responder.arm_failures
    guard = MempoolGuard(responder, "local", responder.env.rpc("local"))
    stop = asyncio.Event()
    task = asyncio.ensure_future(guard.run(stop))
    try:
        await asyncio.wait_for(guard.source.subscribed.wait(), 10)
        await asyncio.to_thread(anvil.rpc, "evm_setAutomine", [False])
        await asyncio.to_thread(anvil.rpc, "evm_setIntervalMining", [BLOCK_TIME])
        nonce = int(anvil.rpc("eth_getTransactionCount", [scenario.attacker, "pending"]), 16)
        raw, exploit = scenario.sign_exploit(nonce)
        await asyncio.to_thread(anvil.rpc, "eth_sendRawTransaction", [raw])
        deadline = time.monotonic() + 8 * BLOCK_TIME
        while not guard.runs and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert guard.runs, f"no front-run; screen: {guard.screen.stats}"
        run = guard.runs[0]
        assert run.exploit == exploit
        await asyncio.wait_for(run.done.wait(), 8 * BLOCK_TIME)
        await responder.wait_idle()
    finally:
        stop.set()
        await task
        await responder.aclose()
        engine.dispose()
    return run, guard


def _run(
    deploy: Callable[[Anvil], MempoolScenario],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    extra_args: tuple[str, ...] = (),
    ordering: str = "priority-fee",
    max_fee_gwei: int = 200,
    relay: bool = False,
) -> tuple[FrontRun, MempoolGuard, MempoolScenario, int, int, bool]:
    with Anvil.start(extra_args=extra_args) as anvil:
        scenario = deploy(anvil)
        monkeypatch.setenv(GUARDIAN_ENV, scenario.guardian_key)
        before = scenario.at_risk(anvil)
        with contextlib.ExitStack() as stack:
            route = ""
            if relay:
                recorder = stack.enter_context(RecordingRelay(anvil.http_url))
                route = f", route: private, private_rpc: '{recorder.url}'"
                RELAYED.clear()
            run, guard = asyncio.run(
                _front_run(
                    anvil,
                    scenario,
                    tmp_path,
                    ordering=ordering,
                    max_fee_gwei=max_fee_gwei,
                    route=route,
                )
            )
        return run, guard, scenario, before, scenario.at_risk(anvil), scenario.paused(anvil)


@pytest.mark.parametrize("deploy", [deploy_reentrancy, deploy_flash_swap], ids=lambda d: d.__name__)
def test_the_pause_lands_before_the_pending_exploit_in_the_same_block(
    deploy: Callable[[Anvil], MempoolScenario],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run, guard, scenario, before, after, paused = _run(deploy, tmp_path, monkeypatch)

    assert run.outranks and run.fees.max_fee_per_gas > 30 * 10**9
    assert run.confirmed is True, run.confirm_note  # [pause, exploit] simulated first
    assert run.order == "before", run
    assert run.blocks[0] == run.blocks[1], "the pause and the exploit share a block"
    assert run.exploit_status == 0, "the exploit reverts behind the pause"
    assert paused
    assert after == before, f"{scenario.kind}: lost {before - after} base units"
    assert guard.screen.stats.simulated >= 1


def test_a_first_come_sequencer_cannot_be_front_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _, _, before, after, paused = _run(
        deploy_reentrancy, tmp_path, monkeypatch, extra_args=("--order", "fifo"), ordering="fifo"
    )

    assert run.order == "after", run
    assert run.exploit_status == 1, "the exploit went first and succeeded"
    assert paused, "the pause still lands, right after"
    assert after < before


def test_a_cap_below_the_exploits_bid_is_kept_and_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _, _, before, after, _ = _run(deploy_reentrancy, tmp_path, monkeypatch, max_fee_gwei=20)

    assert not run.outranks
    assert run.fees.max_fee_per_gas == 20 * 10**9
    assert run.order == "after", "capped below the exploit's 30 gwei, the pause comes second"
    assert after < before


def test_a_private_route_sends_the_pause_only_through_the_private_rpc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, _, _, before, after, paused = _run(deploy_reentrancy, tmp_path, monkeypatch, relay=True)

    assert run.route == "private"
    assert len(RELAYED) == 1 and RELAYED[0].startswith("eth_sendRawTransaction"), RELAYED
    assert run.order == "before" and paused and after == before
