"""Attack-contract simulation: what a creation costs to judge, and what other blocks cost.

On a local anvil with the vault scenario, three creations are judged again and again, each
time on a fresh fork of its block (cold reads, as in the monitor):

  drainer   - VaultDrainer by a fresh account: simulated, flagged (stops at the first drain)
  router    - an honest VaultRouter by a fresh account: simulated in full, not flagged
  unrelated - EventStorm by a seasoned account: screened out, never simulated

each with pyrevm in process and with the node's eth_simulateV1, in the same run (the ratio
is the node's time over pyrevm's). Then what the monitor's thread pays for an unrelated
creation once the watched functions are known (screened out from its creation code, no
fork), and the rule's own cost on a 200-transaction block without creations.

    .venv/bin/python benchmarks/attack_contract.py [--rounds 20] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal
from pathlib import Path

import httpx
from eth_abi.abi import encode

from breakglass.contracts import compile_file, compile_sources
from breakglass.detect.rule import RuleSetup, Target
from breakglass.detect.rules.exploit.attack_contract import (
    AttackContractParams,
    AttackContractRule,
)
from breakglass.devchain import Anvil
from breakglass.ingest.events import BlockAdded, BlockHeader
from breakglass.logs import configure_logging
from breakglass.respond.preexec.attack_contract import (
    AssetWatch,
    AttackContractScreen,
    Creation,
)
from breakglass.respond.preexec.attack_contract_worker import ScreenConfig, ScreenWorker
from breakglass.respond.preexec.fork_evm import Fork, NextBlock
from breakglass.respond.preexec.fork_node import Backend, open_fork
from breakglass.scenario.vault import VaultScenario, deploy_vault

HONEST = Path(__file__).parents[1] / "tests" / "respond" / "preexec" / "HonestCallers.sol"


def _deploy(anvil: Anvil, sender: str, code: str) -> Creation:
    tx_hash = anvil.rpc("eth_sendTransaction", [{"from": sender, "data": code, "gas": "0x4c4b40"}])
    receipt = anvil.rpc("eth_getTransactionReceipt", [tx_hash])
    block = anvil.rpc("eth_getBlockByHash", [receipt["blockHash"], False])
    tx = anvil.rpc("eth_getTransactionByHash", [tx_hash])
    return Creation(
        address=str(receipt["contractAddress"]).lower(),
        deployer=sender.lower(),
        tx_hash=tx_hash,
        deployer_nonce=int(tx["nonce"], 16),
        init_code=bytes.fromhex(code.removeprefix("0x")),
        block_number=int(block["number"], 16),
        block_hash=block["hash"],
        timestamp=int(block["timestamp"], 16),
    )


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, round(0.95 * len(ordered)) - 1)]


def _through_process(anvil: Anvil, vault: VaultScenario, drainer: Creation, rounds: int) -> None:
    # Through the rule's simulator process, as the monitor runs it: start-up, then the
    # wait of the drainer's block (verdict plus the hop between processes).
    config = ScreenConfig(
        url=anvil.http_url,
        chain_id=anvil.chain_id,
        block_time=1,
        backend="pyrevm",
        targets={"vault": vault.vault},
        assets=(AssetWatch(vault.token, threshold=Decimal(1000)),),
    )
    started = time.perf_counter()
    worker = ScreenWorker(config, "bench-simulator")
    worker.submit([]).result(timeout=60)
    print(f"simulator process start: {(time.perf_counter() - started) * 1000:.0f} ms")
    waits = []
    for _ in range(rounds):
        started = time.perf_counter()
        (verdict,) = worker.submit([drainer]).result(timeout=60)
        waits.append((time.perf_counter() - started) * 1000)
        assert verdict.drain is not None
    p50, p95 = _percentiles(waits)
    print(f"drainer through the process: p50 {p50:.1f} ms  p95 {p95:.1f} ms")
    worker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="2 rounds, for CI")
    args = parser.parse_args()
    if args.smoke:
        args.rounds = 2
    configure_logging(level="ERROR")
    with Anvil.start() as anvil:
        vault = deploy_vault(anvil, users=3)
        target = encode(["address", "uint256"], [vault.vault, 1]).hex()
        honest = compile_sources({"HonestCallers.sol": HONEST.read_text()})
        storm = next(c for c in compile_file("EventStorm.sol").values() if len(c.bytecode) > 2)
        drainer_code = compile_file("VaultDrainer.sol")["VaultDrainer"].bytecode + target
        creations = {
            "drainer": _deploy(anvil, anvil.accounts[7], drainer_code),
            "router": _deploy(
                anvil,
                anvil.accounts[8],
                honest["VaultRouter"].bytecode + encode(["address"], [vault.vault]).hex(),
            ),
            "unrelated": _deploy(anvil, vault.admin, storm.bytecode),
        }
        client = httpx.Client()
        results: dict[tuple[str, str], tuple[float, float, int, bool]] = {}
        for backend in ("pyrevm", "node"):
            for name, creation in creations.items():
                times: list[float] = []
                calls, flagged = 0, False
                for _ in range(args.rounds):

                    def fork(c: Creation, backend: Backend = backend) -> Fork:
                        return open_fork(
                            anvil.http_url,
                            at=c.block_hash,
                            next_block=NextBlock(c.block_number + 1, c.timestamp + 1),
                            chain_id=anvil.chain_id,
                            backend=backend,
                            client=client,
                        )

                    screen = AttackContractScreen(
                        fork=fork,
                        targets={"vault": vault.vault},
                        assets=[AssetWatch(vault.token, threshold=Decimal(1000))],
                    )
                    verdict = screen.examine(creation)
                    assert verdict.error is None, verdict.error
                    times.append(verdict.seconds * 1000)
                    calls, flagged = verdict.calls, verdict.drain is not None
                p50, p95 = _percentiles(times)
                results[backend, name] = (p50, p95, calls, flagged)
                print(
                    f"{backend:7} {name:9} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  "
                    f"{calls:4} EVM calls  flagged={flagged}"
                )
        for name in creations:
            ratio = results["node", name][0] / max(results["pyrevm", name][0], 1e-9)
            print(f"node / pyrevm, {name:9}: {ratio:5.1f}x at p50")

        _through_process(anvil, vault, creations["drainer"], args.rounds)

        # Once the watched functions are read, an ordinary creation is screened out from its
        # creation code alone, in the monitor's thread: no fork, no worker, no wait.
        warm = screen
        assert warm.prescreen(creations["unrelated"]) is not None
        assert warm.prescreen(creations["drainer"]) is None
        loops = 2000
        started = time.perf_counter()
        for _ in range(loops):
            warm.prescreen(creations["unrelated"])
        per_creation = (time.perf_counter() - started) / loops * 1e6
        print(f"an unrelated creation screened out without a fork: {per_creation:.1f} µs")

        params = AttackContractParams.model_validate(
            {"assets": [{"token": vault.token, "threshold": 1000}]}
        )
        rule = AttackContractRule(
            RuleSetup("attack", "local", (Target("vault", vault.vault),), params)
        )
        txs = [
            {"hash": f"0x{i:064x}", "from": vault.admin, "to": vault.vault, "nonce": hex(i)}
            for i in range(200)
        ]
        receipts = [{"status": "0x1", "contractAddress": None} for _ in txs]
        header = BlockHeader(1, "0x" + "11" * 32, "0x" + "22" * 32, 1)
        block = BlockAdded("local", header, block={"transactions": txs}, receipts=receipts)
        loops = 2000
        started = time.perf_counter()
        for _ in range(loops):
            list(rule.on_block(block, {}))
        per_block = (time.perf_counter() - started) / loops * 1e6
        print(f"a 200-transaction block without creations: {per_block:.1f} µs of the rule's time")


if __name__ == "__main__":
    main()
