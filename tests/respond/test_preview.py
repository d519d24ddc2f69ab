"""The preview on a node without ``eth_simulateV1``: a plain ``eth_call`` and
``eth_estimateGas`` against a real OpenZeppelin token on anvil still say whether the pause
would succeed, and why it would revert."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from breakglass.chain.errors import RpcError
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.respond.actions.build import build_action
from breakglass.respond.preview import Simulation, simulate_action

from .conftest import GUARDIAN, INTRUDER, PlanWriter

pytestmark = pytest.mark.chain

BODY = """
signers:
  guardian: {type: env, key: "${GUARDIAN_KEY}"}
playbooks:
  - id: contain
    steps:
      - {action: pause, contract: token, signer: guardian, mode: approval, verify: "paused()"}
"""


class _OlderNode:
    """anvil answering as a node that predates ``eth_simulateV1`` does."""

    def __init__(self, pool: EndpointPool) -> None:
        self.pool = pool
        self.asked: list[str] = []

    async def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        self.asked.append(method)
        if method == "eth_simulateV1":
            raise RpcError(
                -32601, "the method eth_simulateV1 does not exist", endpoint="old", method=method
            )
        return await self.pool.request(method, params)

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        return await self.pool.batch(calls)


def _simulate(anvil: Anvil, write_plan: PlanWriter, sender: str) -> tuple[Simulation, list[str]]:
    loaded = write_plan(BODY.replace("{", "{{").replace("}", "}}"))
    playbook = loaded.plan.playbook("contain")
    assert playbook is not None
    action = build_action(loaded.plan, playbook.steps[0], playbook.id)

    async def go() -> tuple[Simulation, list[str]]:
        pool = EndpointPool([Endpoint(anvil.http_url)], chain="local")
        node = _OlderNode(pool)
        try:
            return await simulate_action(loaded, action, rpc=node, sender=sender), node.asked
        finally:
            await pool.aclose()

    return asyncio.run(go())


def test_without_simulate_v1_a_call_and_an_estimate_say_it_would_succeed(
    fresh_chain: Anvil, token: Any, write_plan: PlanWriter
) -> None:
    sim, asked = _simulate(fresh_chain, write_plan, fresh_chain.accounts[GUARDIAN])
    assert asked[-2:] == ["eth_call", "eth_estimateGas"]
    assert sim.outcome == "would-succeed" and sim.ok
    assert sim.gas_used is not None and 20_000 < sim.gas_used < 100_000
    assert sim.text == f"would succeed, about {sim.gas_used:,} gas"
    assert not token.paused()


def test_without_simulate_v1_the_revert_reason_is_given(
    fresh_chain: Anvil, token: Any, write_plan: PlanWriter
) -> None:
    sim, _ = _simulate(fresh_chain, write_plan, fresh_chain.accounts[INTRUDER])
    assert sim.outcome == "would-revert" and not sim.ok
    assert sim.text == "would revert: ERC20PresetMinterPauser: must have pauser role to pause"
