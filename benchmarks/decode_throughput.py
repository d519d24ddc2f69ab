"""Log decoding throughput: orjson ceiling vs breakglass's LogCodec vs web3.py.

Generates real logs on a local anvil with EventStorm (a few blocks, thousands of logs per
transaction), fetches the raw ``eth_getLogs`` responses once as bytes, then measures on one
core:

  (a) ceiling   - ``orjson.loads`` of the responses alone
  (b) breakglass - ``orjson.loads`` + ``LogCodec.decode_many``
  (c) web3.py   - ``contract.events.X().process_log`` on ``w3.eth.get_logs`` results
                  (on a subset; the fetch itself is not timed, which favours web3)

Budget (DESIGN.md): (b) >= 100k logs/s, >= 30x web3, >= 30% of the ceiling.

    .venv/bin/python benchmarks/decode_throughput.py [--logs 24000] [--web3-logs 3000]
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from eth_account import Account
from web3 import Web3

from breakglass.chain.codec import LogCodec
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil

PAIRS_PER_TX = 1000  # storm(n) emits 2n logs (Transfer + Swap); ~6M gas per 1000 pairs.


KEEP_GC = False


def _best(fn: Callable[[], Any], repeat: int) -> float:
    """Best wall time of ``repeat`` runs, with the cyclic GC off while timing (as ``timeit``)
    unless ``--keep-gc``."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        if not KEEP_GC:
            gc.disable()
        try:
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def _generate(anvil: Anvil, w3: Web3, total_logs: int) -> tuple[str, list[dict[str, Any]], int]:
    compiled = compile_file("EventStorm.sol")["EventStorm"]
    account = Account.from_key(anvil.private_keys[0])
    nonce = 0
    # Mine a few blocks with several storm transactions each: anvil slows as blocks pile up.
    anvil.rpc("evm_setAutomine", [False])

    def send(tx: dict[str, Any]) -> str:
        nonlocal nonce
        tx = {
            "nonce": nonce,
            "chainId": anvil.chain_id,
            "gas": 14_000_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            **tx,
        }
        nonce += 1
        raw = account.sign_transaction(tx).raw_transaction
        return str(anvil.rpc("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))

    deploy = send({"data": compiled.bytecode})
    anvil.rpc("evm_mine")
    address = anvil.rpc("eth_getTransactionReceipt", [deploy])["contractAddress"]
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=compiled.abi)
    data = contract.functions.storm(PAIRS_PER_TX)._encode_transaction_data()

    txs = -(-total_logs // (2 * PAIRS_PER_TX))
    hashes = []
    for index in range(txs):
        hashes.append(send({"to": contract.address, "data": data}))
        if index % 4 == 3:
            anvil.rpc("evm_mine")
    anvil.rpc("evm_mine")
    for tx_hash in hashes:
        receipt = anvil.rpc("eth_getTransactionReceipt", [tx_hash])
        assert receipt["status"] == "0x1", receipt
    return address, compiled.abi, int(anvil.rpc("eth_blockNumber"), 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=24_000)
    parser.add_argument("--web3-logs", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep-gc", action="store_true", help="leave the cyclic GC on")
    args = parser.parse_args()
    global KEEP_GC  # noqa: PLW0603
    KEEP_GC = args.keep_gc

    with Anvil.start() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.http_url))
        t0 = time.perf_counter()
        address, abi, head = _generate(anvil, w3, args.logs)
        print(f"generated logs in {time.perf_counter() - t0:.1f} s, head block {head}")

        # The raw responses, one per block, fetched once as bytes.
        bodies: list[bytes] = []
        with httpx.Client() as client:
            for block in range(1, head + 1):
                payload = {
                    "jsonrpc": "2.0",
                    "id": block,
                    "method": "eth_getLogs",
                    "params": [
                        {"fromBlock": hex(block), "toBlock": hex(block), "address": address}
                    ],
                }
                response = client.post(
                    anvil.http_url,
                    content=orjson.dumps(payload),
                    headers={"content-type": "application/json"},
                    timeout=60,
                )
                bodies.append(response.content)
        n_logs = sum(len(orjson.loads(b)["result"]) for b in bodies)
        size = sum(map(len, bodies))
        print(f"{n_logs} logs in {len(bodies)} responses, {size / 1e6:.1f} MB")

        codec = LogCodec.from_abi(abi, name="EventStorm")

        def ceiling() -> None:
            for body in bodies:
                orjson.loads(body)

        def ours() -> None:
            decode_many = codec.decode_many
            total = 0
            for body in bodies:
                total += len(decode_many(orjson.loads(body)["result"]))
            assert total == n_logs

        rate_ceiling = n_logs / _best(ceiling, args.repeat)
        rate_ours = n_logs / _best(ours, args.repeat)

        # web3.py baseline on a subset.
        contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)
        events = {
            topic0: getattr(contract.events, spec.name)() for topic0, spec in codec.events.items()
        }
        w3_logs = list(
            w3.eth.get_logs({"fromBlock": 0, "toBlock": head, "address": contract.address})
        )
        subset = w3_logs[: args.web3_logs]

        def web3_baseline() -> None:
            for log in subset:
                events["0x" + bytes(log["topics"][0]).hex()].process_log(log)

        rate_web3 = len(subset) / _best(web3_baseline, max(1, args.repeat // 2))

        print(f"cyclic GC {'on' if KEEP_GC else 'off'} while timing; best of {args.repeat}")
        print(f"(a) orjson parse only (ceiling): {rate_ceiling:>12,.0f} logs/s")
        print(f"(b) breakglass parse + decode:   {rate_ours:>12,.0f} logs/s")
        print(f"(c) web3.py process_log:         {rate_web3:>12,.0f} logs/s ({len(subset)} logs)")
        print(f"ours / web3:    {rate_ours / rate_web3:6.1f}x   (target >= 30x)")
        print(f"ours / ceiling: {rate_ours / rate_ceiling:6.1%}   (target >= 30%)")
        print(f"ours >= 100k/s: {'yes' if rate_ours >= 100_000 else 'NO'}")


if __name__ == "__main__":
    main()
