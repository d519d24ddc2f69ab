"""Built-in rules on real transactions: OpenZeppelin 4.9.6 bytecode on anvil.

Each rule has a transaction it must flag and one it must not.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from web3 import Web3

from breakglass.analysis import assets
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect import Detector
from breakglass.detect.setup import rule_detector

pytestmark = pytest.mark.chain

MINTER_ROLE = Web3.keccak(text="MINTER_ROLE")


def detector(kind: str, targets: list[tuple[str, str]], **params: Any) -> Detector:
    return rule_detector(kind, targets, chain="local", params=params)


def test_paused_and_unpaused(token: Any, evaluate: Any) -> None:
    admin = token.anvil.accounts[0]
    watch = [("token", token.address)]
    paused, unpaused = detector("paused", watch), detector("unpaused", watch)
    pause_receipt = token.call(admin, "pause")
    (finding,) = evaluate(paused, pause_receipt)
    assert finding.kind == "paused"
    assert finding.rule == "my-paused"
    assert finding.title == f"token paused by {admin.lower()}"
    assert finding.tx_hash == pause_receipt["transactionHash"]
    assert evaluate(unpaused, pause_receipt) == []  # a pause is not an unpause
    unpause_receipt = token.call(admin, "unpause")
    (finding,) = evaluate(unpaused, unpause_receipt)
    assert finding.severity == "critical"
    other = detector("paused", [("elsewhere", "0x" + "12" * 20)])
    assert evaluate(other, pause_receipt) == []  # not a watched contract


def test_role_granted_and_revoked(token: Any, evaluate: Any) -> None:
    admin, newcomer = token.anvil.accounts[0], token.anvil.accounts[3]
    watch = [("token", token.address)]
    granted, revoked = detector("role-granted", watch), detector("role-revoked", watch)
    receipt = token.call(admin, "grantRole", MINTER_ROLE, newcomer)
    (finding,) = evaluate(granted, receipt)
    assert newcomer.lower() in finding.addresses
    assert finding.data["role"] == "0x" + MINTER_ROLE.hex()
    assert evaluate(revoked, receipt) == []
    receipt = token.call(admin, "revokeRole", MINTER_ROLE, newcomer)
    (finding,) = evaluate(revoked, receipt)
    assert finding.data["account"] == newcomer.lower()


def test_large_outflow(token: Any, evaluate: Any) -> None:
    admin, vault, attacker = (token.anvil.accounts[i] for i in (0, 2, 4))
    token.call(admin, "mint", vault, 1_000 * 10**18)
    rule = detector("large-outflow", [("vault", vault)], token=token.address, threshold=500)
    small = token.call(vault, "transfer", attacker, 10 * 10**18)
    assert evaluate(rule, small) == []
    large = token.call(vault, "transfer", attacker, 600 * 10**18)
    (finding,) = evaluate(rule, large)
    assert finding.data["value"] == 600 * 10**18
    short = f"{attacker[:6].lower()}…{attacker[-4:].lower()}"
    assert finding.title == f"600 tokens left vault to {short}"
    inflow = token.call(attacker, "transfer", vault, 590 * 10**18)
    assert evaluate(rule, inflow) == []  # into the vault is not an outflow


def test_a_failing_rule_is_disabled_and_says_so(token: Any, evaluate: Any) -> None:
    admin = token.anvil.accounts[0]
    broken = detector("paused", [("token", token.address)])
    rule = broken.rules[0]

    def explode(*_: Any) -> Any:
        raise RuntimeError("bug in rule")

    rule.on_log = explode  # type: ignore[method-assign]
    broken.failure_budget = 2
    receipt = token.call(admin, "pause")
    assert evaluate(broken, receipt) == []
    token.call(admin, "unpause")
    receipt = token.call(admin, "pause")
    (finding,) = evaluate(broken, receipt)
    assert finding.kind == "rule-disabled"
    assert broken.disabled == ["my-paused"]
    token.call(admin, "unpause")


def test_proxy_upgrade_admin_change_and_ownership(token: Any, evaluate: Any) -> None:
    """A real TransparentUpgradeableProxy behind a real ProxyAdmin, both OpenZeppelin 4.9.6."""
    team, attacker = token.anvil.accounts[0], token.anvil.accounts[5]
    proxy_admin = token.deploy(team, "ProxyAdmin")
    admin = token.at(proxy_admin, token.artifact("ProxyAdmin")["abi"])
    checksum = Web3.to_checksum_address
    proxy = token.deploy(
        team, "TransparentUpgradeableProxy", checksum(token.address), checksum(proxy_admin), b""
    )
    deployed = token.last_receipt
    watch = [("pool", proxy)]
    upgraded, admin_changed = detector("upgraded", watch), detector("admin-changed", watch)
    (finding,) = evaluate(upgraded, deployed)
    assert finding.data["implementation"] == token.address
    (finding,) = evaluate(admin_changed, deployed)
    assert finding.data["newAdmin"] == proxy_admin

    new_impl = token.deploy(team, "ERC20PresetMinterPauser", "Other", "OTH")
    receipt = token.call(team, "upgrade", checksum(proxy), checksum(new_impl), contract=admin)
    (finding,) = evaluate(upgraded, receipt)
    assert finding.title == f"pool upgraded to implementation {new_impl}"
    assert evaluate(admin_changed, receipt) == []

    owner_rule = detector("ownership-transferred", [("proxy-admin", proxy_admin)])
    receipt = token.call(team, "transferOwnership", attacker, contract=admin)
    (finding,) = evaluate(owner_rule, receipt)
    assert finding.data == {"previousOwner": team.lower(), "newOwner": attacker.lower()}
    assert evaluate(upgraded, receipt) == []


def test_upgraded_reads_the_implementation_slot(token: Any, evaluate: Any) -> None:
    """A change of the EIP-1967 slot with no Upgraded event (written here with
    ``anvil_setStorageAt``) is flagged; a block that leaves the slot alone is not."""
    team = token.anvil.accounts[0]
    proxy_admin = token.deploy(team, "ProxyAdmin")
    checksum = Web3.to_checksum_address
    proxy = token.deploy(
        team, "TransparentUpgradeableProxy", checksum(token.address), checksum(proxy_admin), b""
    )
    upgraded = detector("upgraded", [("pool", proxy)])
    (finding,) = evaluate(upgraded, token.last_receipt)  # the event; the slot is the baseline
    assert finding.data == {"implementation": token.address}

    def mined() -> dict[str, Any]:
        token.anvil.rpc("evm_mine")
        latest: dict[str, Any] = token.anvil.rpc("eth_getBlockByNumber", ["latest", False])
        return {"blockHash": latest["hash"]}

    assert evaluate(upgraded, mined()) == []  # nothing changed
    rogue = "0x" + "66" * 20
    slot = "0x360894a13ba1a3210667c828492db98dca3e2076cc3735a920a3ca505d382bbc"
    token.anvil.rpc("anvil_setStorageAt", [proxy, slot, "0x" + rogue[2:].rjust(64, "0")])
    (finding,) = evaluate(upgraded, mined())
    assert finding.title == f"pool implementation changed to {rogue} without an Upgraded event"
    assert finding.data == {"implementation": rogue, "previous": token.address, "source": "slot"}
    assert finding.tx_hash is None
    assert evaluate(upgraded, mined()) == []  # reported once


def test_large_outflow_title_names_the_token_once_its_symbol_is_read(
    token: Any, evaluate: Any
) -> None:
    admin, vault, attacker = (token.anvil.accounts[i] for i in (0, 5, 6))
    token.call(admin, "mint", vault, 120_000 * 10**18 + 6 * 10**15)
    rule = detector("large-outflow", [("vault", vault)], token=token.address, threshold=500)

    async def read() -> assets.AssetInfo:
        pool = EndpointPool([Endpoint(token.anvil.http_url)])
        try:
            return await assets.read_asset(pool=pool, chain="local", address=token.address)
        finally:
            await pool.aclose()

    assert asyncio.run(read()) == assets.AssetInfo("aUSD", 18)
    receipt = token.call(vault, "transfer", attacker, 110_000 * 10**18 + 6 * 10**15)
    (finding,) = evaluate(rule, receipt)
    short = f"{attacker[:6].lower()}…{attacker[-4:].lower()}"
    assert finding.title == f"110,000.01 aUSD left vault to {short}"
    assert finding.data["value"] == 110_000 * 10**18 + 6 * 10**15  # exact where stored
