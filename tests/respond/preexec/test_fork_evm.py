"""The in-process fork: real OpenZeppelin and vault bytecode on anvil, simulated in pyrevm."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from breakglass.devchain import Anvil
from breakglass.respond.preexec.fork_evm import (
    NATIVE,
    Call,
    ForkEVM,
    Holding,
    NextBlock,
    SimulationError,
    revert_reason,
)
from breakglass.scenario.vault import TRANSFER_TOPIC, VaultScenario, calldata, deploy_vault


def _data(signature: str, *args: object) -> bytes:
    return bytes.fromhex(calldata(signature, *args)[2:])


@pytest.fixture(scope="module")
def vault(anvil: Anvil) -> VaultScenario:
    return deploy_vault(anvil, users=3)


@pytest.fixture
def fork(anvil: Anvil, vault: VaultScenario) -> Iterator[ForkEVM]:
    head = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    number, timestamp = int(head["number"], 16), int(head["timestamp"], 16)
    yield ForkEVM(
        anvil.http_url,
        at=head["hash"],
        next_block=NextBlock(number + 1, timestamp + 1),
        chain_id=anvil.chain_id,
    )


def test_a_drain_shows_as_the_vault_losing_tokens_and_is_rolled_back(
    fork: ForkEVM, vault: VaultScenario
) -> None:
    watch = [Holding(vault.vault, vault.token), Holding(vault.vault, NATIVE)]
    outcome = fork.call(Call(vault.attacker, vault.drainer, _data("drain()")), watch=watch)
    assert outcome.success and outcome.error is None
    chunk = vault.deposited // vault.parts
    assert outcome.losses() == {Holding(vault.vault, vault.token): chunk}
    assert outcome.gas_used > 21_000
    assert any(
        log.topics[0] == TRANSFER_TOPIC and log.address == vault.token for log in outcome.logs
    )
    # Rolled back: the vault still holds everything on the fork.
    assert fork.token_balance(vault.token, vault.vault) == vault.deposited


def test_kept_calls_add_up_and_a_revert_says_why(fork: ForkEVM, vault: VaultScenario) -> None:
    watch = [Holding(vault.vault, vault.token)]
    drain = Call(vault.attacker, vault.drainer, _data("drain()"))
    fork.call(drain, watch=watch, keep=True)
    second = fork.call(drain, watch=watch, keep=True)
    assert second.losses() == {Holding(vault.vault, vault.token): vault.deposited // vault.parts}
    assert fork.token_balance(vault.token, vault.vault) == vault.deposited * 3 // 5

    refused = fork.call(Call(vault.guardian, vault.drainer, _data("drain()")), watch=watch)
    assert not refused.success
    assert refused.error == "not owner"
    assert refused.deltas == {} and refused.logs == ()


def test_funding_and_value(fork: ForkEVM, vault: VaultScenario) -> None:
    fresh = "0x" + "ab" * 20
    assert fork.balance(fresh) == 0
    fork.set_balance(fresh, 5 * 10**18)
    outcome = fork.call(
        Call(fresh, vault.attacker, b"", value=2 * 10**18),
        watch=[Holding(fresh, NATIVE), Holding(vault.attacker, NATIVE)],
    )
    assert outcome.success
    assert outcome.deltas == {
        Holding(fresh, NATIVE): -2 * 10**18,
        Holding(vault.attacker, NATIVE): 2 * 10**18,
    }
    assert fork.nonce(vault.attacker) >= 1
    assert len(fork.code(vault.vault)) > 1000 and fork.code(fresh) == b""


@pytest.mark.unit
def test_revert_reasons_in_words() -> None:
    assert revert_reason(bytes.fromhex("08c379a0") + _data("f(string)", "empty")[4:]) == "empty"
    assert revert_reason(bytes.fromhex("4e487b71") + (17).to_bytes(32, "big")) == "panic 0x11"
    assert revert_reason(bytes.fromhex("deadbeef")) == "reverted with error 0xdeadbeef"
    assert revert_reason(b"") == "reverted"


@pytest.mark.unit
def test_an_unreachable_node_is_a_simulation_error_without_its_url() -> None:
    fork = ForkEVM(
        "http://127.0.0.1:9/secret-api-key", at=5, next_block=NextBlock(6, 1), chain_id=1
    )
    with pytest.raises(SimulationError) as raised:
        fork.balance("0x" + "11" * 20)
    assert "secret-api-key" not in str(raised.value)
    assert "127.0.0.1" not in str(raised.value)


def test_a_contract_can_be_the_caller_and_keeps_its_code(
    fork: ForkEVM, vault: VaultScenario
) -> None:
    # revm refuses transactions from accounts with code (EIP-3607); a factory calling what
    # it made is such a caller. Its code is set aside for the call only.
    code = fork.code(vault.vault)
    send = Call(vault.vault, vault.token, _data("transfer(address,uint256)", vault.attacker, 5))
    outcome = fork.call(send, watch=[Holding(vault.vault, vault.token)])
    assert outcome.success
    assert outcome.losses() == {Holding(vault.vault, vault.token): 5}
    assert fork.code(vault.vault) == code
    assert fork.call(Call(vault.attacker, vault.vault, _data("paused()"))).success
