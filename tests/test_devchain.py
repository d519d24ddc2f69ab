"""The local anvil chain: start, accounts, mining, stop, and startup failures."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3
from web3.types import Wei

from breakglass import devchain, nodepkgs
from breakglass.devchain import Anvil, find_anvil
from breakglass.errors import DevchainError

pytestmark = pytest.mark.chain


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_answers_with_requested_chain_id() -> None:
    with Anvil.start(chain_id=4242, accounts=2) as chain:
        assert chain.chain_id == 4242
        assert int(chain.rpc("eth_chainId"), 16) == 4242
        assert chain.http_url == f"http://127.0.0.1:{chain.port}"
        assert chain.ws_url == f"ws://127.0.0.1:{chain.port}"


def test_two_chains_run_at_once() -> None:
    with Anvil.start(chain_id=1001) as first, Anvil.start(chain_id=1002) as second:
        assert first.port != second.port
        assert first.pid != second.pid
        assert int(first.rpc("eth_chainId"), 16) == 1001
        assert int(second.rpc("eth_chainId"), 16) == 1002


def test_accounts_are_deterministic_and_funded(anvil: Anvil) -> None:
    assert len(anvil.accounts) == len(anvil.private_keys) == 10
    assert anvil.accounts[0] == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    assert [a.lower() for a in anvil.rpc("eth_accounts")] == [a.lower() for a in anvil.accounts]
    for address, key in zip(anvil.accounts, anvil.private_keys, strict=True):
        assert Account.from_key(key).address == address
        assert int(anvil.rpc("eth_getBalance", [address, "latest"]), 16) == 10_000 * 10**18


def test_web3_transactions(anvil: Anvil) -> None:
    w3 = Web3(HTTPProvider(anvil.http_url))
    sender, receiver = anvil.accounts[0], anvil.accounts[1]
    before = w3.eth.get_balance(receiver)

    tx_hash = w3.eth.send_transaction({"from": sender, "to": receiver, "value": Wei(10**18)})
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)["status"] == 1

    # A locally signed transaction proves the derived private keys are anvil's.
    signed = Account.sign_transaction(
        {
            "to": receiver,
            "value": 2 * 10**18,
            "gas": 21_000,
            "maxFeePerGas": 10 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "nonce": w3.eth.get_transaction_count(sender),
            "chainId": anvil.chain_id,
        },
        anvil.private_keys[0],
    )
    raw_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(raw_hash, timeout=10)["status"] == 1
    assert w3.eth.get_balance(receiver) == before + 3 * 10**18


def test_block_time_mines_by_itself() -> None:
    with Anvil.start(block_time=0.2, accounts=1) as chain:
        first = int(chain.rpc("eth_blockNumber"), 16)
        deadline = time.monotonic() + 5
        while int(chain.rpc("eth_blockNumber"), 16) < first + 3:
            assert time.monotonic() < deadline, "no blocks mined with block_time=0.2"
            time.sleep(0.1)


def test_stop_kills_the_process_and_is_idempotent() -> None:
    chain = Anvil.start(accounts=1)
    pid = chain.pid
    assert not _gone(pid)
    chain.stop()
    assert _gone(pid)
    assert not chain.running
    chain.stop()
    with pytest.raises(DevchainError, match="stopped"):
        chain.rpc("eth_chainId")


def test_rpc_error_envelope_raises(anvil: Anvil) -> None:
    with pytest.raises(DevchainError, match="no_such_method"):
        anvil.rpc("no_such_method")


def test_missing_binary_raises_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "anvil"
    with pytest.raises(DevchainError, match="not found") as info:
        Anvil.start(binary=missing)
    assert str(missing) in str(info.value)


def test_non_executable_binary_raises(tmp_path: Path) -> None:
    fake = tmp_path / "anvil"
    fake.write_text("not a program")
    with pytest.raises(DevchainError, match="cannot run anvil"):
        Anvil.start(binary=fake)


def test_not_found_anywhere_says_run_npm_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BREAKGLASS_ANVIL_PATH", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(nodepkgs, "__file__", str(tmp_path / "pkg" / "nodepkgs.py"))
    with pytest.raises(DevchainError, match="run `npm install` in the project root"):
        find_anvil()


def test_env_setting_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_anvil()
    monkeypatch.setenv("BREAKGLASS_ANVIL_PATH", str(real))
    assert find_anvil() == real
    monkeypatch.setenv("BREAKGLASS_ANVIL_PATH", str(tmp_path / "missing"))
    with pytest.raises(DevchainError, match="BREAKGLASS_ANVIL_PATH"):
        find_anvil()


def test_bad_extra_args_include_anvils_error() -> None:
    with pytest.raises(DevchainError, match="--no-such-flag") as info:
        Anvil.start(extra_args=["--no-such-flag"])
    assert "unexpected argument" in str(info.value)


def test_taken_port_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = devchain._free_port
        monkeypatch.setattr(devchain, "_free_port", lambda: next(ports, None) or real_free_port())
        with Anvil.start(accounts=1) as chain:
            assert chain.port != taken
            assert int(chain.rpc("eth_chainId"), 16) == 31337
