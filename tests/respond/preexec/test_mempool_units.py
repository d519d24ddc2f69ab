"""Pieces of mempool pre-execution that need no chain: the outbid, the screen's filter, the
synthetic block built from a simulation, and the plan's mempool settings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from pydantic import ValidationError

from breakglass.detect.engine import Detector
from breakglass.ingest.events import PendingTx
from breakglass.plan.models.chain import Chain, Mempool, Ordering
from breakglass.respond.gas import Fees, GasStrategy, Urgency, emergency_floor
from breakglass.respond.preexec.frontrun import outbid
from breakglass.respond.preexec.screen import PendingScreen, synthetic_block

GWEI = 10**9
POOL = "0x" + "11" * 20
ATTACK = "0x" + "22" * 20
HONEST = "0x" + "33" * 20


class FakeRpc:
    """Answers eth_getCode from a table and counts the calls."""

    def __init__(self, code: dict[str, str]) -> None:
        self.code = code
        self.calls: list[str] = []

    async def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        self.calls.append(method)
        return self.code.get(params[0], "0x")

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
        raise AssertionError("no simulation expected")


def test_the_outbid_doubles_the_exploits_bid_within_the_caps() -> None:
    tx = {"maxFeePerGas": hex(30 * GWEI), "maxPriorityFeePerGas": hex(2 * GWEI)}
    fees, outranks = outbid(tx, max_fee_cap=None, tip_cap=None)
    assert fees == Fees(61 * GWEI, 5 * GWEI) and outranks

    capped, outranks = outbid(tx, max_fee_cap=20 * GWEI, tip_cap=None)
    assert capped == Fees(20 * GWEI, 5 * GWEI) and not outranks

    legacy, _ = outbid({"gasPrice": hex(10 * GWEI)}, max_fee_cap=None, tip_cap=3 * GWEI)
    assert legacy == Fees(21 * GWEI, 3 * GWEI)


def test_the_screen_keeps_direct_calls_calldata_and_code_that_embeds_a_watched_address() -> None:
    rpc = FakeRpc({ATTACK: "0x6080" + POOL[2:] + "00", HONEST: "0x6080"})
    screen = PendingScreen(chain="c", detector=Detector("c", []), rpc=rpc, watched={POOL.upper()})

    async def run() -> list[bool]:
        return [
            await screen.touches({"to": POOL}),
            await screen.touches({"to": HONEST, "input": "0xabcdef01" + POOL[2:].rjust(64, "0")}),
            await screen.touches({"to": ATTACK, "input": "0x01"}),
            await screen.touches({"to": ATTACK, "input": "0x02"}),  # cached
            await screen.touches({"to": HONEST, "input": "0x"}),
            await screen.touches({"to": None, "input": "0x6080"}),  # a creation
        ]

    assert asyncio.run(run()) == [True, True, True, True, False, False]
    assert rpc.calls == ["eth_getCode", "eth_getCode"]


def test_the_synthetic_block_keeps_logs_in_order_and_drops_reverted_frames() -> None:
    def log(n: int, position: int) -> dict[str, Any]:
        return {
            "address": POOL,
            "topics": ["0x" + f"{n:064x}"],
            "data": "0x",
            "position": hex(position),
        }

    frame = {
        "type": "CALL",
        "to": ATTACK,
        "logs": [log(1, 0), log(4, 3)],  # position: sub-calls made before it
        "calls": [
            {"type": "CALL", "to": POOL, "logs": [log(2, 0)]},
            {"type": "CALL", "to": POOL, "logs": [log(9, 0)], "error": "execution reverted"},
            {"type": "CALL", "to": POOL, "logs": [log(3, 0)]},
        ],
    }
    pending = PendingTx("c", "0x" + "ab" * 32, {"hash": "0x" + "ab" * 32, "to": ATTACK}, 1.0)
    block = synthetic_block("c", pending, frame, number=7)
    assert [int(entry["topics"][0], 16) for entry in block.logs] == [1, 2, 3, 4]
    assert block.number == 7 and block.hash == pending.hash
    assert block.traces == [{"txHash": pending.hash, "result": frame}]
    assert block.logs[0]["transactionHash"] == pending.hash


def test_the_emergency_floor_lifts_only_emergency_bids() -> None:
    class Quotes:
        async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]:
            history = {"baseFeePerGas": [hex(GWEI)] * 2, "reward": [[hex(GWEI)] * 3]}
            return [history, {"number": "0x1", "baseFeePerGas": hex(GWEI)}]

        async def request(self, method: str, params: Sequence[Any] = ()) -> Any:
            raise AssertionError

    strategy = GasStrategy(Quotes())  # type: ignore[arg-type]

    async def run() -> tuple[Fees, Fees, Fees]:
        plain = await strategy.fees(Urgency.EMERGENCY)
        token = emergency_floor.set(Fees(300 * GWEI, 40 * GWEI))
        try:
            lifted = await strategy.fees(Urgency.EMERGENCY)
            normal = await strategy.fees(Urgency.NORMAL)
        finally:
            emergency_floor.reset(token)
        return plain, lifted, normal

    plain, lifted, normal = asyncio.run(run())
    assert plain.max_fee_per_gas < 300 * GWEI
    assert lifted == Fees(300 * GWEI, 40 * GWEI)
    assert normal.max_fee_per_gas < 300 * GWEI


def test_the_plan_says_how_a_chain_orders_and_a_private_route_needs_its_url() -> None:
    chain = Chain.model_validate(
        {"chain_id": 10, "rpc": ["https://rpc.example"], "ordering": "fifo"}
    )
    assert chain.ordering is Ordering.FIFO and not chain.mempool.enabled
    with pytest.raises(ValidationError, match="private_rpc"):
        Mempool.model_validate({"enabled": True, "route": "private"})
    routed = Mempool.model_validate({"route": "private", "private_rpc": "https://${RELAY}"})
    assert routed.private_rpc is not None and routed.private_rpc.env_vars == ("RELAY",)
