"""breakglass signs with eth-keys directly; every byte must equal eth-account's signature."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_utils.address import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from breakglass.respond.signers.keys import KeyAccount

KEYS = st.integers(min_value=1, max_value=2**256 - 2**129).map(lambda n: f"0x{n:064x}")
UINT = st.integers(min_value=0, max_value=2**64)


@settings(max_examples=60, deadline=None)
@given(
    key=KEYS,
    chain_id=st.integers(min_value=1, max_value=2**32),
    nonce=UINT,
    tip=UINT,
    extra=UINT,
    gas=st.integers(min_value=21_000, max_value=30_000_000),
    to=st.binary(min_size=20, max_size=20),
    value=UINT,
    data=st.binary(max_size=200),
)
def test_transactions_are_signed_as_eth_account_signs_them(
    key: str,
    chain_id: int,
    nonce: int,
    tip: int,
    extra: int,
    gas: int,
    to: bytes,
    value: int,
    data: bytes,
) -> None:
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to_checksum_address(to),
        "value": value,
        "data": data,
        "gas": gas,
        "maxFeePerGas": tip + extra,
        "maxPriorityFeePerGas": tip,
    }
    ours = KeyAccount(key)
    theirs = Account.from_key(key)
    assert ours.address == theirs.address
    signed, expected = ours.sign_transaction(tx), theirs.sign_transaction(tx)
    assert signed.raw_transaction == bytes(expected.raw_transaction)
    assert signed.hash == expected.hash
    assert Account.recover_transaction(signed.raw_transaction) == theirs.address


@settings(max_examples=30, deadline=None)
@given(key=KEYS, message_hash=st.binary(min_size=32, max_size=32))
def test_hashes_are_signed_as_eth_account_signs_them(key: str, message_hash: bytes) -> None:
    signature = KeyAccount(key).unsafe_sign_hash(message_hash).signature
    assert signature == bytes(Account.from_key(key).unsafe_sign_hash(message_hash).signature)


@pytest.mark.parametrize(
    "key", ["", "0x12", "0x" + "zz" * 32, "0x" + "00" * 32, "0x" + "ff" * 32, "0x" + "11" * 33]
)
def test_a_bad_key_is_a_value_error(key: str) -> None:
    with pytest.raises(ValueError, match="private key"):
        KeyAccount(key)


def test_the_key_is_never_shown() -> None:
    key = "0x" + "4c" * 32
    account = KeyAccount(key)
    assert key[2:] not in repr(account) + str(account)
    assert account.address in repr(account)


@pytest.mark.parametrize(
    "change",
    [{"type": 0}, {"gasPrice": 1}, {"accessList": []}],
    ids=["legacy type", "legacy fee field", "access list"],
)
def test_other_transactions_are_refused(change: dict[str, object]) -> None:
    tx = {
        "type": 2,
        "chainId": 1,
        "nonce": 0,
        "to": "0x" + "22" * 20,
        "value": 0,
        "data": b"",
        "gas": 21_000,
        "maxFeePerGas": 2,
        "maxPriorityFeePerGas": 1,
    } | change
    with pytest.raises(ValueError, match="EIP-1559"):
        KeyAccount("0x" + "4c" * 32).sign_transaction(tx)
