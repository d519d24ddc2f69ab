"""TxSender and NonceManager on a real anvil: replacement, outside nonces, cancel, pre-signing."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from eth_account import Account

from breakglass.chain import Endpoint, EndpointPool
from breakglass.respond.gas import Fees, GasStrategy, Urgency
from breakglass.respond.nonces import NonceManager
from breakglass.respond.sender import SendError, TxReverted, TxSender

pytestmark = pytest.mark.chain

GWEI = 10**9


@pytest.fixture
def chain(anvil):
    """The module's anvil, reverted to a snapshot (automine on, empty pool) after each test."""
    snapshot = anvil.rpc("evm_snapshot")
    yield anvil
    with contextlib.suppress(Exception):
        anvil.rpc("anvil_dropAllTransactions")
    anvil.rpc("evm_revert", [snapshot])
    anvil.rpc("evm_setAutomine", [True])


@contextlib.asynccontextmanager
async def _sender(anvil, index):
    pool = EndpointPool([Endpoint(anvil.http_url)], chain="test")
    account = Account.from_key(anvil.private_keys[index])
    nonces = NonceManager(pool, account.address)
    sender = TxSender(pool, account, anvil.chain_id, nonces, GasStrategy(pool), poll_interval=0.05)
    try:
        yield pool, sender
    finally:
        await pool.aclose()


async def _tx(pool, tx_hash):
    return await pool.request("eth_getTransactionByHash", [tx_hash])


async def _until_hashes(sender, nonce, count):
    while len(sender.hashes(nonce)) < count:
        await asyncio.sleep(0.02)
    return sender.hashes(nonce)


def _outside_send(anvil, index, nonce, fees):
    """A transaction from the same key, signed and sent without breakglass."""
    account = Account.from_key(anvil.private_keys[index])
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": anvil.chain_id,
            "nonce": nonce,
            "to": anvil.accounts[9],
            "value": 5,
            "gas": 21_000,
            "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
    )
    return anvil.rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])


def test_stuck_tx_is_replaced_by_a_bump_and_the_replacement_mined(chain):
    chain.rpc("evm_setAutomine", [False])
    base = int(chain.rpc("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
    low = Fees(max_fee_per_gas=base + 1000, max_priority_fee_per_gas=1)

    async def run():
        async with _sender(chain, 1) as (pool, sender):
            prepared = await sender.prepare(
                chain.accounts[8], b"", 1, urgency=Urgency.NORMAL, gas_limit=21_000, fees=low
            )
            first = await sender.broadcast(prepared)
            pool_content = await pool.request("txpool_content")
            waiting = asyncio.create_task(
                sender.wait(first, timeout=20, replace_after=0.2, max_bumps=1)
            )
            hashes = await asyncio.wait_for(_until_hashes(sender, prepared.nonce, 2), 10)
            await pool.request("evm_mine")
            receipt = await waiting
            mined = await _tx(pool, receipt.tx_hash)
            old = await pool.request("eth_getTransactionReceipt", [first])
            return prepared, first, pool_content, hashes, receipt, mined, old

    prepared, first, pool_content, hashes, receipt, mined, old = asyncio.run(run())
    assert first == prepared.tx_hash
    pending = {a.lower(): txs for a, txs in pool_content["pending"].items()}
    assert str(prepared.nonce) in pending[chain.accounts[1].lower()]
    assert hashes[0] == first
    assert receipt.tx_hash == hashes[1] != first
    assert receipt.status == 1
    assert old is None
    assert int(mined["nonce"], 16) == prepared.nonce == receipt.nonce
    assert int(mined["maxFeePerGas"], 16) * 8 >= low.max_fee_per_gas * 9
    assert int(mined["maxPriorityFeePerGas"], 16) * 8 >= low.max_priority_fee_per_gas * 9


def test_outside_mined_tx_from_same_key_is_reconciled(chain):
    async def run():
        async with _sender(chain, 2) as (_pool, sender):
            first = await sender.wait(
                await sender.broadcast(
                    await sender.prepare(chain.accounts[8], b"", 1, urgency=Urgency.HIGH)
                ),
                timeout=10,
                replace_after=5,
            )
            outside_nonce = first.nonce + 1
            fees = await sender.gas.quote(Urgency.NORMAL)
            _outside_send(chain, 2, outside_nonce, fees)  # automine: mined at once
            stale = await sender.prepare(chain.accounts[8], b"", 2, urgency=Urgency.HIGH)
            sent = await sender.broadcast(stale)  # "nonce too low" stays inside
            receipt = await sender.wait(sent, timeout=10, replace_after=5)
            return outside_nonce, stale, sent, receipt

    outside_nonce, stale, sent, receipt = asyncio.run(run())
    assert stale.nonce == outside_nonce  # reserved locally, no round trip
    assert sent != stale.tx_hash
    assert receipt.nonce == outside_nonce + 1
    assert receipt.status == 1


def test_outside_pending_tx_with_higher_fees_is_not_replaced(chain):
    chain.rpc("evm_setAutomine", [False])

    async def run():
        async with _sender(chain, 3) as (pool, sender):
            await sender.nonces.sync()
            outside = _outside_send(chain, 3, 0, Fees(100 * GWEI, 50 * GWEI))
            prepared = await sender.prepare(chain.accounts[8], b"", 1, urgency=Urgency.NORMAL)
            sent = await sender.broadcast(prepared)  # "replacement underpriced": next nonce
            await pool.request("evm_mine")
            receipt = await sender.wait(sent, timeout=10, replace_after=5)
            outside_receipt = await pool.request("eth_getTransactionReceipt", [outside])
            return prepared, receipt, outside_receipt

    prepared, receipt, outside_receipt = asyncio.run(run())
    assert prepared.nonce == 0
    assert receipt.nonce == 1
    assert int(outside_receipt["status"], 16) == 1


def test_cancel_replaces_a_stuck_tx_with_a_self_transfer(chain):
    chain.rpc("evm_setAutomine", [False])

    async def run():
        async with _sender(chain, 4) as (pool, sender):
            prepared = await sender.prepare(
                chain.accounts[8], b"", 10**18, urgency=Urgency.NORMAL, gas_limit=21_000
            )
            stuck = await sender.broadcast(prepared)
            cancel = await sender.cancel(prepared.nonce)
            await pool.request("evm_mine")
            receipt = await sender.wait(stuck, timeout=10, replace_after=5)
            return prepared, stuck, cancel, receipt, await _tx(pool, receipt.tx_hash)

    prepared, stuck, cancel, receipt, mined = asyncio.run(run())
    assert receipt.tx_hash == cancel != stuck
    assert receipt.nonce == prepared.nonce
    assert mined["to"].lower() == mined["from"].lower() == chain.accounts[4].lower()
    assert int(mined["value"], 16) == 0
    assert int(mined["maxFeePerGas"], 16) * 8 >= prepared.fees.max_fee_per_gas * 9
    assert int(mined["maxPriorityFeePerGas"], 16) * 8 >= prepared.fees.max_priority_fee_per_gas * 9


def test_presigned_tx_broadcast_later_is_mined_and_discard_returns_the_nonce(chain):
    async def run():
        async with _sender(chain, 5) as (pool, sender):
            await sender.gas.refresh()  # warm cache: prepare needs only the nonce sync
            presigned = await sender.prepare(
                chain.accounts[8], b"", 7, urgency=Urgency.EMERGENCY, gas_limit=21_000
            )
            spare = await sender.prepare(
                chain.accounts[8], b"", 8, urgency=Urgency.EMERGENCY, gas_limit=21_000
            )
            await sender.discard(spare)
            await pool.request("anvil_mine", ["0x3"])  # time passes
            sent = await sender.broadcast(presigned)
            receipt = await sender.wait(sent, timeout=10, replace_after=5)
            again = await sender.prepare(chain.accounts[8], b"", 9, urgency=Urgency.NORMAL)
            return presigned, spare, sent, receipt, again

    presigned, spare, sent, receipt, again = asyncio.run(run())
    assert sent == presigned.tx_hash
    assert receipt.status == 1
    assert receipt.nonce == presigned.nonce
    assert again.nonce == spare.nonce == presigned.nonce + 1
    assert "raw" not in repr(presigned)


def test_revert_is_tx_reverted_and_failed_estimate_is_send_error(chain):
    reverter = "0x" + "42" * 20
    chain.rpc("anvil_setCode", [reverter, "0x60006000fd"])  # PUSH1 0 PUSH1 0 REVERT

    async def run():
        async with _sender(chain, 6) as (_pool, sender):
            with pytest.raises(SendError, match="estimation"):
                await sender.prepare(reverter, b"\x01", urgency=Urgency.HIGH)
            prepared = await sender.prepare(
                reverter, b"\x01", urgency=Urgency.HIGH, gas_limit=50_000
            )
            sent = await sender.broadcast(prepared)
            with pytest.raises(TxReverted) as reverted:
                await sender.wait(sent, timeout=10, replace_after=5)
            with pytest.raises(SendError):
                await sender.wait("0x" + "ab" * 32, timeout=1, replace_after=1)
            assert chain.private_keys[6].removeprefix("0x") not in repr(sender)
            return prepared, reverted.value.receipt

    prepared, receipt = asyncio.run(run())
    assert receipt.status == 0
    assert receipt.tx_hash == prepared.tx_hash


class CountRpc:
    """eth_getTransactionCount answers from settable numbers; counts round trips."""

    def __init__(self, pending=0, latest=0):
        self.pending, self.latest, self.calls = pending, latest, 0

    async def request(self, method, params=()):
        raise AssertionError(method)

    async def batch(self, calls):
        self.calls += 1
        await asyncio.sleep(0)
        return [hex(self.pending), hex(self.latest)]


def test_nonce_manager_reserves_locally_jumps_forward_and_reuses_released():
    async def run():
        rpc = CountRpc(pending=4, latest=4)
        nonces = NonceManager(rpc, "0xabc")
        first = await asyncio.gather(*(nonces.reserve() for _ in range(20)))
        assert sorted(first) == list(range(4, 24))
        assert rpc.calls == 1  # one sync, then no round trips
        nonces.release(10)
        assert await nonces.reserve() == 10  # a gap is filled first
        nonces.release(23)
        assert await nonces.reserve() == 23  # the top one simply lowers the counter
        rpc.pending, rpc.latest = 30, 12  # someone else sent up to nonce 29
        assert await nonces.sync() == 30
        assert min(nonces.in_flight) == 12  # nonces below "latest" are forgotten as mined
        assert await nonces.reserve() == 30
        nonces.mined(12)
        assert 12 not in nonces.in_flight

    asyncio.run(run())


def test_concurrent_sends_get_distinct_nonces_and_all_mine(chain):
    async def run():
        async with _sender(chain, 7) as (_pool, sender):
            await sender.gas.refresh()

            async def one(value):
                prepared = await sender.prepare(
                    chain.accounts[8], b"", value, urgency=Urgency.HIGH, gas_limit=21_000
                )
                sent = await sender.broadcast(prepared)
                return await sender.wait(sent, timeout=15, replace_after=5)

            return await asyncio.gather(*(one(v) for v in range(1, 11)))

    receipts = asyncio.run(run())
    assert sorted(r.nonce for r in receipts) == list(range(10))
    assert all(r.status == 1 for r in receipts)
