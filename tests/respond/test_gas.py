"""GasStrategy and bump: pricing rules on a fake RPC, EMERGENCY against a real anvil."""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account

from breakglass.chain import Endpoint, EndpointPool
from breakglass.respond.gas import Fees, GasCapError, GasCaps, GasStrategy, Urgency, bump

GWEI = 10**9


def test_bump_raises_both_fields_by_at_least_12_5_percent_rounded_up():
    assert bump(Fees(100, 10)) == Fees(113, 12)
    assert bump(Fees(100, 10), factor=1.01) == Fees(113, 12)  # 12.5% is the floor
    assert bump(Fees(100, 10), factor=2) == Fees(200, 20)
    fees = Fees(37 * GWEI + 1, 3 * GWEI + 7)
    bumped = bump(fees)
    assert bumped.max_fee_per_gas * 8 >= fees.max_fee_per_gas * 9
    assert bumped.max_priority_fee_per_gas * 8 >= fees.max_priority_fee_per_gas * 9


def test_bump_within_caps_and_gas_cap_error_when_cap_blocks_it():
    assert bump(Fees(100, 10), factor=2, caps=GasCaps(150, None)) == Fees(150, 20)
    with pytest.raises(GasCapError, match=r"12\.5%"):
        bump(Fees(100, 10), caps=GasCaps(max_fee_per_gas=112, max_priority_fee_per_gas=None))
    with pytest.raises(GasCapError):
        bump(Fees(100, 10), caps=GasCaps(max_fee_per_gas=None, max_priority_fee_per_gas=11))


class FakeRpc:
    def __init__(self, rewards, next_base=10 * GWEI):
        self.batches = 0
        self.history = {
            "baseFeePerGas": [hex(next_base)] * (len(rewards) + 1),
            "reward": [[hex(r) for r in row] for row in rewards],
        }

    async def request(self, method, params=()):
        raise AssertionError(f"quote must batch, got {method}")

    async def batch(self, calls):
        self.batches += 1
        assert [m for m, _ in calls] == ["eth_feeHistory", "eth_getBlockByNumber"]
        return [self.history, {"number": "0x10", "baseFeePerGas": hex(9 * GWEI)}]


def test_quote_prices_each_urgency_in_one_round_trip_and_caches():
    rpc = FakeRpc([[1 * GWEI, 2 * GWEI, 3 * GWEI], [2 * GWEI, 4 * GWEI, 9 * GWEI]])
    now = [0.0]
    strategy = GasStrategy(rpc, max_age=5, clock=lambda: now[0])
    assert strategy.cached(Urgency.EMERGENCY) is None
    emergency = asyncio.run(strategy.quote(Urgency.EMERGENCY))
    assert rpc.batches == 1
    assert emergency.max_priority_fee_per_gas > 2 * 9 * GWEI  # twice the highest recent tip
    assert emergency.max_fee_per_gas == 4 * 10 * GWEI + emergency.max_priority_fee_per_gas
    normal = strategy.cached(Urgency.NORMAL)
    assert normal is not None
    assert normal.max_priority_fee_per_gas < emergency.max_priority_fee_per_gas
    assert strategy.cached(Urgency.EMERGENCY) == emergency
    now[0] = 6.0
    assert strategy.cached(Urgency.EMERGENCY) is None


def test_emergency_floor_on_empty_blocks_and_caps_win():
    rpc = FakeRpc([[0, 0, 0]] * 3, next_base=GWEI)
    fees = asyncio.run(GasStrategy(rpc).quote(Urgency.EMERGENCY))
    assert fees.max_priority_fee_per_gas >= 5 * GWEI
    capped = GasStrategy(rpc, GasCaps(max_fee_per_gas=3 * GWEI, max_priority_fee_per_gas=GWEI))
    fees = asyncio.run(capped.quote(Urgency.EMERGENCY))
    assert fees == Fees(3 * GWEI, GWEI)


def _send_with_tip(anvil, index, tip):
    account = Account.from_key(anvil.private_keys[index])
    nonce = int(anvil.rpc("eth_getTransactionCount", [account.address, "pending"]), 16)
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": anvil.chain_id,
            "nonce": nonce,
            "to": anvil.accounts[9],
            "value": 1,
            "gas": 21_000,
            "maxFeePerGas": 100 * GWEI,
            "maxPriorityFeePerGas": tip,
        }
    )
    anvil.rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])


@pytest.mark.chain
def test_emergency_quote_beats_recent_tips_and_respects_caps(anvil):
    tips = [1 * GWEI, 3 * GWEI, 7 * GWEI, 2 * GWEI]
    for index, tip in enumerate(tips):
        _send_with_tip(anvil, index, tip)  # automine: one block each

    async def run():
        pool = EndpointPool([Endpoint(anvil.http_url)], chain="test")
        try:
            free = await GasStrategy(pool).quote(Urgency.EMERGENCY)
            caps = GasCaps(max_fee_per_gas=5 * GWEI, max_priority_fee_per_gas=4 * GWEI)
            capped = await GasStrategy(pool, caps).quote(Urgency.EMERGENCY)
            latest = await pool.request("eth_getBlockByNumber", ["latest", False])
            return free, capped, int(latest["baseFeePerGas"], 16)
        finally:
            await pool.aclose()

    free, capped, base = asyncio.run(run())
    assert free.max_priority_fee_per_gas > max(tips)
    assert free.max_fee_per_gas >= 2 * base * 7 // 8 + free.max_priority_fee_per_gas
    assert capped.max_fee_per_gas <= 5 * GWEI
    assert capped.max_priority_fee_per_gas <= 4 * GWEI
