"""Detection cost against the number of watched contracts, with the same matching events.

One real block of EventStorm logs from anvil is evaluated by two detectors whose rules are
alike except for how many contracts they watch: 10, or 10,000. Every watched set includes
the contracts the block's logs touch, so both see exactly the same matches; the index by
``(address, topic0)`` should make the extra 9,990 contracts cost nothing per block.

Budget (issue 4): time(10,000) / time(10) <= 1.5.

    .venv/bin/python benchmarks/rule_scaling.py [--logs 4000] [--smoke]
"""

from __future__ import annotations

import argparse

import httpx
import orjson
from decode_throughput import _best, _generate
from web3 import Web3

from breakglass.detect import Detector, configured_rule
from breakglass.devchain import Anvil
from breakglass.ingest.events import BlockAdded, BlockHeader
from breakglass.logs import configure_logging

KINDS = ("paused", "unpaused", "role-granted", "upgraded", "ownership-transferred")


def _detector(storm: str, watched: int) -> Detector:
    targets = [("storm", storm), *((f"c{i}", f"0x{i + 1:040x}") for i in range(watched - 1))]
    rules = [configured_rule(kind, targets, chain="local", rule_id=kind) for kind in KINDS]
    params = {"token": storm, "threshold": 10**30}
    rules.append(
        configured_rule("large-outflow", targets, chain="local", rule_id="outflow", params=params)
    )
    return Detector("local", rules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=4_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="few logs and repeats, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.logs, args.repeat = 1_000, 2
    configure_logging("WARNING")
    with Anvil.start() as anvil:
        address, _abi, head = _generate(anvil, Web3(Web3.HTTPProvider(anvil.http_url)), args.logs)
        raw = anvil.rpc("eth_getBlockByNumber", [hex(head), False])
        payload = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_getLogs",
            "params": [{"blockHash": raw["hash"]}],
        }
        logs = orjson.loads(
            httpx.post(
                anvil.http_url,
                content=orjson.dumps(payload),
                headers={"content-type": "application/json"},
                timeout=60,
            ).content
        )["result"]
    block = BlockAdded("local", BlockHeader.from_rpc(raw), logs=logs)
    storm = address.lower()
    timings = {}
    for watched in (10, 10_000):
        detector = _detector(storm, watched)
        timings[watched] = _best(lambda d=detector: d.evaluate(block), args.repeat)
        print(
            f"{watched:>6,} watched contracts: {timings[watched] * 1000:8.2f} ms per block "
            f"({len(logs)} logs, {len(detector.rules)} rules)"
        )
    ratio = timings[10_000] / timings[10]
    print(f"ratio 10,000 / 10: {ratio:.2f}   (target <= 1.5: {'yes' if ratio <= 1.5 else 'NO'})")


if __name__ == "__main__":
    main()
