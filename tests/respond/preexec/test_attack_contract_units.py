"""Attack-contract pieces without a chain: selectors from real bytecode, the calls tried,
the rule's parameters, and a simulation that cannot run."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from pydantic import ValidationError

from breakglass.detect.engine import Detector
from breakglass.detect.rule import RuleSetup, Target
from breakglass.detect.rules.exploit.attack_contract import (
    AttackContractParams,
    AttackContractRule,
)
from breakglass.ingest.events import BlockAdded, BlockHeader
from breakglass.nodepkgs import find_node_file
from breakglass.plan.models.chain import Chain
from breakglass.respond.preexec.attack_contract_calls import candidate_calls
from breakglass.respond.preexec.bytecode import (
    code_references,
    dispatcher_selectors,
    pushed_selectors,
)

pytestmark = pytest.mark.unit

VAULT = "0x" + "11" * 20
TOKEN = "0x" + "22" * 20
DEPLOYER = "0x" + "33" * 20


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"


def _selectors(abi: list[dict[str, Any]]) -> set[str]:
    return {
        "0x" + keccak(text=_signature(item))[:4].hex() for item in abi if item["type"] == "function"
    }


@pytest.mark.parametrize(
    "build",
    [
        "@uniswap/v2-periphery/build/UniswapV2Router02.json",
        "@uniswap/v2-core/build/UniswapV2Pair.json",
        "@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json",
    ],
)
def test_the_dispatcher_gives_exactly_the_abi_functions(build: str) -> None:
    path = find_node_file(Path("node_modules") / build)
    assert path is not None, "run npm install"
    artefact = json.loads(path.read_text())
    runtime = artefact.get("deployedBytecode") or artefact["evm"]["deployedBytecode"]["object"]
    code = bytes.fromhex(str(runtime).removeprefix("0x"))
    assert set(dispatcher_selectors(code)) == _selectors(artefact["abi"])


def test_references_and_pushed_selectors() -> None:
    # PUSH20 vault; PUSH32 word holding the token (an immutable); PUSH4 transfer(...).
    transfer = "0xa9059cbb"
    code = (
        bytes([0x73])
        + bytes.fromhex(VAULT[2:])
        + bytes([0x7F])
        + bytes(12)
        + bytes.fromhex(TOKEN[2:])
        + bytes([0x63])
        + bytes.fromhex(transfer[2:])
    )
    assert code_references(code, [VAULT, TOKEN, DEPLOYER]) == [VAULT, TOKEN]
    assert pushed_selectors(code, {transfer, "0x70a08231"}) == [transfer]
    # A selector pushed as a constant is no dispatcher entry: no EQ and JUMPI after it.
    assert dispatcher_selectors(code) == []
    # Bytes inside a push are data: a PUSH4 opcode inside PUSH20 data is not read.
    hidden = bytes([0x73]) + bytes([0x63]) + bytes.fromhex(transfer[2:]) + bytes(15)
    assert pushed_selectors(hidden, {transfer}) == []


def test_the_calls_tried_start_without_arguments_and_end_with_the_fallback() -> None:
    calls = list(
        candidate_calls(
            contract=TOKEN,
            caller=DEPLOYER,
            selectors=["0x9890220b", "0x12345678"],
            addresses=[VAULT],
            amounts=[10**18, 10**18, 0, 5],
            value=7,
        )
    )
    # 2 addresses (vault, deployer), 2 amounts: 1 + 2 + 2 + 4 argument lists per selector.
    assert len(calls) == 9 * 2 + 2 + 1
    assert [c.data[:4].hex() for c in calls[:2]] == ["9890220b", "12345678"]
    assert calls[0].data[4:] == bytes(32 * 6) and calls[0].value == 0
    with_target = calls[2]
    assert with_target.data[4:36] == bytes(12) + bytes.fromhex(VAULT[2:])
    assert all(len(c.data) == 4 + 32 * 6 for c in calls[:-1])
    assert calls[-1].data == b"" and calls[-1].value == 7
    assert {c.caller for c in calls} == {DEPLOYER} and {c.to for c in calls} == {TOKEN}


def test_every_asset_needs_a_threshold_it_can_be_judged_by() -> None:
    with pytest.raises(ValidationError, match="needs a threshold"):
        AttackContractParams.model_validate({"assets": [{"token": TOKEN}]})
    with pytest.raises(ValidationError, match="needs a threshold"):
        AttackContractParams.model_validate({"assets": [{"native": True, "usd": 3000}]})
    with pytest.raises(ValidationError, match="exactly one of token or native"):
        AttackContractParams.model_validate(
            {"assets": [{"token": TOKEN, "native": True, "threshold": 1}]}
        )
    with pytest.raises(ValidationError):
        AttackContractParams.model_validate({"assets": []})
    params = AttackContractParams.model_validate(
        {"assets": [{"native": True, "usd": 3000}], "threshold_usd": 50_000}
    )
    assert params.simulator == "auto" and params.max_selectors == 16


def _rule(chain: Chain | None, **params: Any) -> AttackContractRule:
    setup = RuleSetup(
        "attack",
        "local",
        (Target("vault", VAULT),),
        AttackContractParams.model_validate(
            {"assets": [{"token": TOKEN, "threshold": 1}], **params}
        ),
        chain_config=chain,
    )
    return AttackContractRule(setup)


def _block_with_creation(number: int = 7) -> BlockAdded:
    tx_hash = "0x" + "ab" * 32
    header = BlockHeader(number, f"0x{number:064x}", "0x" + "ef" * 32, 1_700_000_000)
    tx = {"hash": tx_hash, "from": DEPLOYER, "nonce": "0x0", "to": None, "input": "0x6080"}
    receipt = {"transactionHash": tx_hash, "status": "0x1", "contractAddress": "0x" + "44" * 20}
    return BlockAdded("local", header, block={"transactions": [tx]}, receipts=[receipt])


def test_blocks_without_creations_cost_no_simulation() -> None:
    rule = _rule(None)
    header = BlockHeader(8, "0x" + "01" * 32, "0x" + "02" * 32, 1)
    block = BlockAdded("local", header, block={"transactions": []}, receipts=[])
    assert list(rule.on_block(block, {})) == []
    assert rule._screen is None and rule._worker is None  # no fork, no thread was made


def test_a_simulation_that_cannot_run_is_a_rule_failure_not_silence() -> None:
    dead = Chain.model_validate({"chain_id": 31337, "rpc": ["http://127.0.0.1:9/key-in-path"]})
    rule = _rule(dead, wait_seconds=5)
    detector = Detector("local", [rule], failure_budget=1, report_disabled=True)
    (finding,) = detector.evaluate(_block_with_creation())
    assert finding.kind == "rule-disabled"
    assert "attack-contract simulation failed" in finding.description
    assert "key-in-path" not in finding.description
    assert rule.screen.counts.failed == 1


def test_a_rule_built_without_a_plan_says_it_cannot_fork() -> None:
    rule = _rule(None)
    detector = Detector("local", [rule], failure_budget=1, report_disabled=True)
    (finding,) = detector.evaluate(_block_with_creation())
    assert finding.kind == "rule-disabled"
    assert "no chain configuration" in finding.description


def test_the_teams_own_deployers_are_not_simulated() -> None:
    # A dead node: any fork would fail. A trusted deployer's contract needs none.
    dead = Chain.model_validate({"chain_id": 31337, "rpc": ["http://127.0.0.1:9"]})
    rule = _rule(dead, trusted_deployers=[DEPLOYER])
    detector = Detector("local", [rule], failure_budget=1, report_disabled=True)
    assert detector.evaluate(_block_with_creation()) == []
    (verdict,) = rule.verdicts
    assert not verdict.simulated and verdict.reasons == ("trusted deployer",)
    assert rule.screen.counts.screened_out == 1


def test_the_node_simulator_leaves_pending_deployments_to_pyrevm() -> None:
    import httpx  # noqa: PLC0415

    from breakglass.respond.preexec.fork_evm import SimulationError  # noqa: PLC0415
    from breakglass.respond.preexec.fork_node import NodeFork  # noqa: PLC0415

    fork = NodeFork("http://127.0.0.1:9", at=1, client=httpx.Client())
    with pytest.raises(SimulationError, match="pyrevm only"):
        fork.deploy(DEPLOYER, b"\x60\x80")


def test_a_node_without_eth_simulate_is_said_so_once_asked() -> None:
    import httpx  # noqa: PLC0415

    from breakglass.respond.preexec.fork_evm import NextBlock, SimulationError  # noqa: PLC0415
    from breakglass.respond.preexec.fork_node import open_fork, probe_simulate  # noqa: PLC0415

    asked: list[str] = []

    def node(request: httpx.Request) -> httpx.Response:
        method = json.loads(request.content)["method"]
        asked.append(method)
        error = {"code": -32601, "message": f"the method {method} does not exist"}
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 1, "error": error})

    client = httpx.Client(transport=httpx.MockTransport(node))
    url = "http://node.invalid/no-simulate"
    assert probe_simulate(url, client) is False
    for _ in range(2):
        with pytest.raises(SimulationError, match="serves no eth_simulateV1"):
            open_fork(
                url, at=1, next_block=NextBlock(2, 1), chain_id=1, backend="node", client=client
            )
    assert asked == ["eth_simulateV1", "eth_simulateV1"]  # the probe, then one cached answer


def test_a_node_that_stops_answering_backs_up_the_simulations_boundedly_and_loudly() -> None:
    import socket  # noqa: PLC0415

    # A node that accepts connections and never answers: the simulator waits on it (in its
    # own process: the monitor's threads go on).
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        port = silent.getsockname()[1]
        hung = Chain.model_validate({"chain_id": 31337, "rpc": [f"http://127.0.0.1:{port}"]})
        rule = _rule(hung, wait_seconds=0.01)
        detector = Detector("local", [rule], failure_budget=1, report_disabled=True)
        for number in range(1, 17):
            assert detector.evaluate(_block_with_creation(number)) == []
        (finding,) = detector.evaluate(_block_with_creation(17))
        assert finding.kind == "rule-disabled"
        assert "not judged: simulations are backed up" in finding.description
        assert len(rule._late) <= 10  # the backlog was shed, not grown
    finally:
        silent.close()


def test_a_simulation_that_hangs_is_ended_with_its_process_and_said() -> None:
    import socket  # noqa: PLC0415

    from breakglass.respond.preexec.attack_contract import AssetWatch  # noqa: PLC0415
    from breakglass.respond.preexec.attack_contract_blocks import (  # noqa: PLC0415
        block_creations,
    )
    from breakglass.respond.preexec.attack_contract_worker import (  # noqa: PLC0415
        ScreenConfig,
        ScreenWorker,
    )
    from breakglass.respond.preexec.fork_evm import SimulationError  # noqa: PLC0415

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    try:
        config = ScreenConfig(
            url=f"http://127.0.0.1:{silent.getsockname()[1]}",
            chain_id=31337,
            block_time=1,
            backend="pyrevm",
            targets={"vault": VAULT},
            assets=(AssetWatch(TOKEN, threshold=Decimal(1)),),
        )
        worker = ScreenWorker(config, "test-simulator", stuck_after=3)
        assert worker.submit([]).result(timeout=60) == []  # the process is up
        (creation,) = block_creations(_block_with_creation())
        with pytest.raises(SimulationError, match="no verdict within 3 s"):
            worker.submit([creation]).result(timeout=60)
        assert worker.restarts == 1
        worker.close()
    finally:
        silent.close()


def test_the_common_selectors_are_the_token_standards() -> None:
    from breakglass.respond.preexec.bytecode import COMMON_SELECTORS  # noqa: PLC0415

    signatures = [
        "transfer(address,uint256)",
        "transferFrom(address,address,uint256)",
        "approve(address,uint256)",
        "balanceOf(address)",
        "allowance(address,address)",
        "totalSupply()",
        "decimals()",
        "symbol()",
        "name()",
        "supportsInterface(bytes4)",
    ]
    assert {"0x" + keccak(text=s)[:4].hex() for s in signatures} == COMMON_SELECTORS
