"""The whole detection path, raw JSON-RPC bytes to findings, through 50 rules.

Replays the decode benchmark's real EventStorm logs (thousands per block, from anvil) as
``BlockAdded`` events through a ``Detector`` holding 50 rules: 20 ``large-outflow`` rules
that every Transfer log matches (they share one codec, so a log is decoded once), and 30
rules of other kinds on the same and other contracts that the logs do not match. Measured in
the same run:

  (a) ceiling    - ``orjson.loads`` of the responses alone
  (b) decode     - ``orjson.loads`` + ``LogCodec.decode_many`` (no rules)
  (c) breakglass - ``orjson.loads`` + ``Detector.evaluate`` with the 50 rules

Budget (DESIGN.md): (c) at 100k logs/s or more on one core.

    .venv/bin/python benchmarks/rule_eval.py [--logs 24000] [--smoke]
"""

from __future__ import annotations

import argparse

import httpx
import orjson
from decode_throughput import _best, _generate
from web3 import Web3

from breakglass.chain.codec import LogCodec
from breakglass.detect import Detector, Rule, configured_rule
from breakglass.devchain import Anvil
from breakglass.ingest.events import BlockAdded, BlockHeader
from breakglass.logs import configure_logging


def _rules(storm: str) -> list[Rule]:
    rules = []
    for i in range(20):  # every Transfer matches these: the token is EventStorm itself
        watched = [(f"vault{i}-{k}", f"0x{i:02x}{k:038x}") for k in range(5)]
        params = {"token": storm, "threshold": 1}
        rules.append(
            configured_rule(
                "large-outflow", watched, chain="local", rule_id=f"outflow-{i}", params=params
            )
        )
    kinds = [
        "paused",
        "unpaused",
        "role-granted",
        "upgraded",
        "ownership-transferred",
        "admin-changed",
    ]
    for i in range(30):
        kind = kinds[i % len(kinds)]
        target = ("storm", storm) if i % 2 else (f"other{i}", f"0x{i + 100:040x}")
        rules.append(configured_rule(kind, [target], chain="local", rule_id=f"{kind}-{i}"))
    return rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=24_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="few logs, one repeat, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.logs, args.repeat = 2_000, 1
    configure_logging("WARNING")

    with Anvil.start() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.http_url))
        address, abi, head = _generate(anvil, w3, args.logs)
        bodies: list[tuple[BlockHeader, bytes]] = []
        with httpx.Client() as client:
            for number in range(1, head + 1):
                block = anvil.rpc("eth_getBlockByNumber", [hex(number), False])
                payload = {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "eth_getLogs",
                    "params": [{"blockHash": block["hash"]}],
                }
                response = client.post(
                    anvil.http_url,
                    content=orjson.dumps(payload),
                    headers={"content-type": "application/json"},
                    timeout=60,
                )
                bodies.append((BlockHeader.from_rpc(block), response.content))
    n_logs = sum(len(orjson.loads(b)["result"]) for _, b in bodies)
    storm = address.lower()
    detector = Detector("local", _rules(storm))
    codec = LogCodec.from_abi(abi)
    found: list[int] = []

    def ceiling() -> None:
        for _, body in bodies:
            orjson.loads(body)

    def decode() -> None:
        for _, body in bodies:
            codec.decode_many(orjson.loads(body)["result"])

    def ours() -> None:
        count = 0
        for header, body in bodies:
            logs = orjson.loads(body)["result"]
            count += len(detector.evaluate(BlockAdded("local", header, logs=logs)))
        found.append(count)

    rates = {}
    for name, fn in (("ceiling", ceiling), ("decode", decode), ("breakglass", ours)):
        rates[name] = n_logs / _best(fn, args.repeat)
    print(
        f"{n_logs} logs in {len(bodies)} blocks, {len(detector.rules)} rules, "
        f"{found[-1]} findings per pass"
    )
    print(f"(a) orjson parse only (ceiling):   {rates['ceiling']:>10,.0f} logs/s")
    print(f"(b) parse + decode, no rules:      {rates['decode']:>10,.0f} logs/s")
    print(f"(c) parse + 50 rules (breakglass): {rates['breakglass']:>10,.0f} logs/s")
    print(
        f"(c)/(a): {rates['breakglass'] / rates['ceiling']:.1%}   "
        f"(c) >= 100k logs/s: {'yes' if rates['breakglass'] >= 100_000 else 'NO'}"
    )


if __name__ == "__main__":
    main()
