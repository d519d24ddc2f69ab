"""Loss formula, attacker cluster and the plan's analysis section, without a chain."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import ValidationError
from rich.console import Console

from breakglass.analysis.cluster import build_cluster, create_address
from breakglass.analysis.loss_report import losses_csv, losses_json, losses_table
from breakglass.analysis.losses import (
    TRANSFER_TOPIC,
    LogTransfer,
    Loss,
    ResolvedPosition,
    compute_losses,
    parse_transfer,
    resolve_positions,
)
from breakglass.errors import PlanError
from breakglass.plan.models import Plan

VAULT, TOKEN, OTHER = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
ALICE, BOB, CAROL = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20
EVIL, LENDER, LOOT = "0x" + "ee" * 20, "0x" + "1e" * 20, "0x" + "10" * 20
HACK, OTHER_TX = "0x" + "ab" * 32, "0x" + "cd" * 32
POSITION = ResolvedPosition("vault", VAULT, "balanceOf(address)", None, 18, TOKEN)


def plan(**analysis: Any) -> Plan:
    return Plan.model_validate(
        {
            "protocol": "Acme",
            "chains": {"local": {"chain_id": 31337, "rpc": ["http://127.0.0.1:8545"]}},
            "contracts": {"vault": {"chain": "local", "address": VAULT}},
            "analysis": analysis,
        }
    )


def move(asset: str, src: str, dst: str, amount: int, tx: str = OTHER_TX, i: int = 0) -> Any:
    return LogTransfer(asset, src, dst, amount, tx, 10, i)


def test_plan_section_validates() -> None:
    loaded = plan(
        positions=[{"contract": "vault", "scale": "pricePerShare()", "asset": TOKEN}],
        labels=[{"address": LOOT, "kind": "mixer", "name": "Tornado"}],
    )
    assert loaded.analysis is not None
    (position,) = resolve_positions(loaded)
    assert (position.view, position.scale, position.scale_decimals) == (
        "balanceOf(address)",
        "pricePerShare()",
        18,
    )
    assert loaded.analysis.label(LOOT.upper().replace("0X", "0x")) is not None
    for bad in (
        {"positions": [{"contract": "vault", "view": "balanceOf(uint256)", "asset": TOKEN}]},
        {"positions": [{"contract": "vault", "scale": "price(address)", "asset": TOKEN}]},
        {"positions": [{"contract": "vault", "asset": TOKEN, "extra": 1}]},
        {"positions": [{"contract": "vault", "asset": TOKEN, "scale_decimals": -1}]},
        {"labels": [{"address": LOOT, "kind": "casino"}]},
    ):
        with pytest.raises(ValidationError):
            plan(**bad)
    with pytest.raises(PlanError, match="unknown contract"):
        resolve_positions(plan(positions=[{"contract": "nope", "asset": TOKEN}]))
    with pytest.raises(PlanError, match=r"no analysis\.positions"):
        resolve_positions(plan())


def test_loss_formula() -> None:
    before = {(ALICE, TOKEN): 1000, (BOB, TOKEN): 500, (CAROL, TOKEN): 100}
    after = {(ALICE, TOKEN): 400, (BOB, TOKEN): 0, (CAROL, TOKEN): 300}
    transfers = [
        move(TOKEN, VAULT, BOB, 450, i=1),  # Bob withdrew mid-attack
        move(TOKEN, VAULT, BOB, 450, i=1),  # the same log twice counts once
        move(TOKEN, CAROL, VAULT, 150, i=2),  # Carol deposited mid-attack
        move(OTHER, ALICE, EVIL, 77, i=3),  # an abused approval to the attacker
        move(OTHER, ALICE, CAROL, 5, i=4),  # an ordinary payment: not a loss
        move(VAULT, ALICE, EVIL, 9, i=5),  # shares: already in the position
        move(TOKEN, LENDER, EVIL, 10_000, HACK, 6),  # a flash loan, repaid with a fee
        move(TOKEN, EVIL, LENDER, 10_030, HACK, 7),
        move(TOKEN, CAROL, EVIL, 20, HACK, 8),  # taken inside the exploit
        move(TOKEN, EVIL, "0x" + "99" * 20, 1, i=9),  # not a user
    ]
    losses = compute_losses(
        [POSITION],
        before,
        after,
        transfers,
        users=[ALICE, BOB, CAROL, LENDER],
        exploit_txs=[HACK.upper().replace("0X", "0x")],
        cluster=[EVIL],
    )
    by_key = {(x.address, x.asset): x for x in losses}
    assert by_key[ALICE, TOKEN].amount == 600
    assert by_key[ALICE, OTHER].amount == 77
    assert by_key[BOB, TOKEN].amount == 50  # 500 - 0 - 450
    # Carol: 100 + 150 - 300 = -50 -> 0, plus 20 taken in the exploit.
    assert (by_key[CAROL, TOKEN].amount, by_key[CAROL, TOKEN].taken) == (20, 20)
    assert (LENDER, TOKEN) not in by_key  # repaid in the same transaction
    assert all(x.asset != VAULT for x in losses)
    assert by_key[BOB, TOKEN].detail() == {
        "amount": "50",
        "before": "500",
        "after": "0",
        "received": "450",
        "paid_in": "0",
        "taken": "0",
    }


def test_parse_transfer() -> None:
    log = {
        "address": TOKEN.upper().replace("0X", "0x"),
        "topics": [TRANSFER_TOPIC, "0x" + "0" * 24 + ALICE[2:], "0x" + "0" * 24 + BOB[2:]],
        "data": "0x" + f"{12345:064x}",
        "transactionHash": HACK,
        "blockNumber": "0x10",
        "logIndex": "0x2",
    }
    assert parse_transfer(log) == LogTransfer(TOKEN, ALICE, BOB, 12345, HACK, 16, 2)
    nft = {**log, "topics": [*log["topics"], "0x" + "0" * 63 + "1"], "data": "0x"}
    assert parse_transfer(nft) is None


def test_create_address() -> None:
    # anvil's first account deploys its first contract here (a well-known address).
    first = create_address("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 0)
    assert first == "0x5fbdb2315678afecb367f032d93f642f64180aa3"
    assert create_address(EVIL, 200) != create_address(EVIL, 199)


def test_cluster() -> None:
    attack_contract = create_address(EVIL, 3)
    child = create_address(attack_contract, 1)
    txs = [{"hash": HACK, "from": EVIL, "to": attack_contract, "nonce": "0x5"}]
    receipts = [{"transactionHash": HACK, "contractAddress": None, "logs": []}]
    transfers = [
        move(TOKEN, LENDER, attack_contract, 100, HACK, 0),
        move(TOKEN, VAULT, attack_contract, 150, HACK, 1),
        move(TOKEN, attack_contract, LENDER, 101, HACK, 2),
        move(TOKEN, attack_contract, LOOT, 49, HACK, 3),
        move(TOKEN, VAULT, ALICE, 5, HACK, 4),  # a user's withdrawal in the same block
        move(TOKEN, attack_contract, child, 0, HACK, 5),
    ]
    cluster = build_cluster(txs, receipts, transfers, victims=[VAULT], users=[ALICE], known=[TOKEN])
    kinds = {a: m.kind for a, m in cluster.members.items()}
    assert kinds == {
        EVIL: "sender",
        attack_contract: "contract",
        child: "contract",
        LOOT: "recipient",
    }
    assert LENDER not in cluster and ALICE not in cluster and VAULT not in cluster


def test_outputs() -> None:
    losses = [Loss(ALICE, TOKEN, 10**30 + 1, 10**30 + 1, 0, 0, 0, 0)]
    assert orjson.loads(losses_json(losses))[0]["amount"] == str(10**30 + 1)
    assert losses_csv(losses).splitlines() == [
        "address,asset,amount,before,after,received,paid_in,taken",
        f"{ALICE},{TOKEN},{10**30 + 1},{10**30 + 1},0,0,0,0",
    ]
    console = Console(width=400, record=True)
    console.print(losses_table(losses))
    assert str(10**30 + 1) in console.export_text()


def test_affected_and_movements() -> None:
    from breakglass.analysis.cluster import AttackerCluster  # noqa: PLC0415
    from breakglass.analysis.incident import _affected, _movements  # noqa: PLC0415

    losses = [
        Loss(ALICE, TOKEN, 600, 1000, 400, 0, 0, 0),
        Loss(BOB, TOKEN, 0, 500, 500, 0, 0, 0),
        Loss(CAROL, TOKEN, 0, 100, 0, 100, 0, 0),
    ]
    after = {(ALICE, TOKEN): 400, (BOB, TOKEN): 500}
    exploit = [
        move(TOKEN, VAULT, EVIL, 900, HACK, 0),
        move(TOKEN, EVIL, LOOT, 800, HACK, 1),
        move(TOKEN, EVIL, VAULT, 50, HACK, 2),
        move("ETH", EVIL, LENDER, 3, HACK, 0),
    ]
    for contained, saved in ((True, "saved"), (False, "at-risk")):
        rows = {
            r.address: r.status
            for r in _affected(losses, after, exploit, [VAULT], contained=contained)
        }
        assert rows == {VAULT: "impacted", ALICE: "impacted", BOB: saved}  # Carol withdrew in full
    cluster = AttackerCluster()
    cluster.add(EVIL, "sender", "")
    labelled = plan(labels=[{"address": LOOT, "kind": "mixer"}])
    moves = _movements(labelled, exploit, [VAULT], cluster)
    assert [(m.origin, m.destination, m.asset, m.amount, m.destination_kind) for m in moves] == [
        (VAULT, EVIL, TOKEN, 900, "unknown"),
        (EVIL, LOOT, TOKEN, 800, "mixer"),
        (EVIL, LENDER, "ETH", 3, "unknown"),
    ]
