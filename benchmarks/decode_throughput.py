"""Log decoding throughput: orjson ceiling vs breakglass's LogCodec vs web3.py.

Generates real logs on a local anvil with EventStorm (a few blocks, thousands of logs per
transaction), fetches the raw ``eth_getLogs`` responses once as bytes, then measures on one
core:

  (a) ceiling   - ``orjson.loads`` of the responses alone
  (b) breakglass - ``orjson.loads`` + ``LogCodec.decode_many``
  (b') plain     - ``orjson.loads`` + the same decoder written without generated code: the
                  same converters, checks and output (asserted equal), but a loop over each
                  event's argument specs per log instead of a function ``exec``-ed per event;
                  the gap between (b) and (b') is what the generated code buys
  (c) web3.py   - ``contract.events.X().process_log`` on ``w3.eth.get_logs`` results
                  (on a subset; the fetch itself is not timed, which favours web3)

Budget (DESIGN.md): (b) >= 100k logs/s, >= 30x web3, >= 30% of the ceiling.

    .venv/bin/python benchmarks/decode_throughput.py [--logs 24000] [--web3-logs 3000] [--smoke]
"""

from __future__ import annotations

import argparse
import functools
import gc
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from eth_account import Account
from web3 import Web3

from breakglass.chain.codec import (  # the plain decoder reuses the codec's own pieces
    DecodedLog,
    LogCodec,
    _dynamic_decoder,
    _Malformed,
    _static_converter,
)
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil

PAIRS_PER_TX = 1000  # storm(n) emits 2n logs (Transfer + Swap); ~6M gas per 1000 pairs.


KEEP_GC = False
WORD = 32


def _topic_converter(abi_type: str) -> Callable[[str], Any]:
    """Hex topic → value, as the generated code converts it (a dynamic type keeps its hash)."""
    convert = _static_converter(abi_type) or bytes

    def topic(text: str) -> Any:
        if len(text) != 66:
            raise _Malformed("topic is not 32 bytes")
        return convert(bytes.fromhex(text[2:]))

    return topic


class PlainCodec:
    """``LogCodec.decode_many`` without generated code: per log, a loop over the event's
    argument specs calling the same converters."""

    def __init__(self, codec: LogCodec) -> None:
        self.events: dict[str, tuple[Any, ...]] = {}
        for topic0, spec in codec.events.items():
            topics = [(name, _topic_converter(t)) for name, t in spec.indexed]
            words = [(name, _static_converter(t)) for name, t in spec.non_indexed]
            dynamic = None
            if not all(convert is not None for _, convert in words):
                dynamic = _dynamic_decoder([t for _, t in spec.non_indexed])
            names = [name for name, _ in spec.non_indexed]
            size = WORD * len(words)
            self.events[topic0] = (spec.name, 1 + len(topics), topics, words, dynamic, names, size)

    def decode_many(self, raw_logs: list[dict[str, Any]]) -> list[DecodedLog]:
        out: list[DecodedLog] = []
        for raw in raw_logs:
            topics = raw.get("topics")
            if not topics:
                continue
            event = self.events.get(topics[0])
            if event is None:
                continue
            name, ntopics, topic_specs, word_specs, dynamic, names, size = event
            if len(topics) != ntopics:
                continue
            data = raw["data"]
            if data[:2] != "0x":
                raise _Malformed("data is not 0x-prefixed hex")
            body = bytes.fromhex(data[2:])
            args: dict[str, Any] = {}
            for index, (arg, convert) in enumerate(topic_specs, start=1):
                args[arg] = convert(topics[index])
            if dynamic is not None:
                args.update(zip(names, dynamic(body), strict=True))
            else:
                if len(body) != size:
                    raise _Malformed(f"data is {len(body)} bytes, expected {size}")
                for index, (arg, convert) in enumerate(word_specs):
                    args[arg] = convert(body[index * WORD : (index + 1) * WORD])
            out.append(
                DecodedLog(
                    raw["address"].lower(),
                    int(raw["blockNumber"], 16),
                    raw["transactionHash"],
                    int(raw["logIndex"], 16),
                    name,
                    args,
                    raw.get("removed") is True,
                )
            )
        return out


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


def _decode_all(
    decode_many: Callable[[Any], list[DecodedLog]], bodies: list[bytes], n_logs: int
) -> None:
    total = 0
    for body in bodies:
        total += len(decode_many(orjson.loads(body)["result"]))
    assert total == n_logs


def _fetch_bodies(anvil: Anvil, address: str, head: int) -> list[bytes]:
    """The raw ``eth_getLogs`` responses, one per block, fetched once as bytes."""
    bodies: list[bytes] = []
    with httpx.Client() as client:
        for block in range(1, head + 1):
            payload = {
                "jsonrpc": "2.0",
                "id": block,
                "method": "eth_getLogs",
                "params": [{"fromBlock": hex(block), "toBlock": hex(block), "address": address}],
            }
            response = client.post(
                anvil.http_url,
                content=orjson.dumps(payload),
                headers={"content-type": "application/json"},
                timeout=60,
            )
            bodies.append(response.content)
    return bodies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=24_000)
    parser.add_argument("--web3-logs", type=int, default=3_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep-gc", action="store_true", help="leave the cyclic GC on")
    parser.add_argument("--smoke", action="store_true", help="few logs, one repeat, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.logs, args.web3_logs, args.repeat = 2_000, 200, 1
    global KEEP_GC  # noqa: PLW0603
    KEEP_GC = args.keep_gc

    with Anvil.start() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.http_url))
        t0 = time.perf_counter()
        address, abi, head = _generate(anvil, w3, args.logs)
        print(f"generated logs in {time.perf_counter() - t0:.1f} s, head block {head}")

        bodies = _fetch_bodies(anvil, address, head)
        n_logs = sum(len(orjson.loads(b)["result"]) for b in bodies)
        size = sum(map(len, bodies))
        print(f"{n_logs} logs in {len(bodies)} responses, {size / 1e6:.1f} MB")

        codec = LogCodec.from_abi(abi, name="EventStorm")

        def ceiling() -> None:
            for body in bodies:
                orjson.loads(body)

        plain = PlainCodec(codec)
        for body in bodies:  # the same decoder: the same output, log for log
            result = orjson.loads(body)["result"]
            assert plain.decode_many(result) == codec.decode_many(result)

        rate_ceiling = n_logs / _best(ceiling, args.repeat)
        ours = functools.partial(_decode_all, codec.decode_many, bodies, n_logs)
        rate_ours = n_logs / _best(ours, args.repeat)
        plain_loop = functools.partial(_decode_all, plain.decode_many, bodies, n_logs)
        rate_plain = n_logs / _best(plain_loop, args.repeat)

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
        print(f"(b') same, no generated code:    {rate_plain:>12,.0f} logs/s")
        print(f"(c) web3.py process_log:         {rate_web3:>12,.0f} logs/s ({len(subset)} logs)")
        print(f"ours / plain:   {rate_ours / rate_plain:6.2f}x   (what exec-generated code buys)")
        print(f"ours / web3:    {rate_ours / rate_web3:6.1f}x   (target >= 30x)")
        print(f"ours / ceiling: {rate_ours / rate_ceiling:6.1%}   (target >= 30%)")
        print(f"ours >= 100k/s: {'yes' if rate_ours >= 100_000 else 'NO'}")


if __name__ == "__main__":
    main()
