"""breakglass.respond.signers.safe against real Safe 1.4.1 contracts on anvil."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3
from web3.exceptions import ContractLogicError

from breakglass.errors import BreakglassError, ChainError
from breakglass.nodepkgs import find_node_file
from breakglass.respond.signers.safe import (
    SafeAccount,
    SafeError,
    SafeJsonError,
    SafeSignatureError,
    SafeTxData,
    from_service_json,
    recover_signer,
    sign_safe_tx,
    to_service_json,
)

pytestmark = pytest.mark.chain

ZERO = "0x0000000000000000000000000000000000000000"
TOKEN = Path("node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")


def _load_safe_chain():
    # Tests run with --import-mode=importlib, so a sibling module is loaded by path.
    name = "breakglass_tests_safe_chain"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("safe_chain.py")
        )
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


safe_chain = _load_safe_chain()


@pytest.fixture(scope="module")
def w3(anvil):
    return Web3(Web3.HTTPProvider(anvil.http_url))


@pytest.fixture(scope="module")
def owners(anvil):
    """Three owner accounts (LocalAccount), sorted as the Safe wants them."""
    return sorted(
        (Account.from_key(key) for key in anvil.private_keys[1:4]),
        key=lambda acct: int(acct.address, 16),
    )


@pytest.fixture(scope="module")
def safe(anvil, owners):
    address = safe_chain.deploy_safe(
        anvil.http_url, anvil.private_keys[0], [o.address for o in owners], 2
    )
    return SafeAccount(address, anvil.http_url)


@pytest.fixture(scope="module")
def safe_contract(w3, safe):
    abi = safe_chain.safe_artifact("SafeL2.sol/SafeL2.json")["abi"]
    return w3.eth.contract(address=safe.address, abi=abi)


@pytest.fixture(scope="module")
def token(w3, anvil, safe):
    path = find_node_file(TOKEN)
    assert path is not None, "run npm install"
    built = json.loads(path.read_text())
    key = anvil.private_keys[0]
    address = safe_chain.deploy_artifact(w3, key, built, "Acme USD", "aUSD")
    contract = w3.eth.contract(address=address, abi=built["abi"])
    role = contract.functions.PAUSER_ROLE().call()
    grant = contract.encode_abi("grantRole", [role, safe.address])
    safe_chain.send(w3, key, {"to": address, "data": grant})
    return contract


def _signed(tx, *accounts):
    return {acct.address: sign_safe_tx(tx, acct) for acct in accounts}


def _eth_sign(tx, acct):
    """An ``eth_sign`` style owner signature: v + 4 over the prefixed hash."""
    sig = acct.sign_message(encode_defunct(primitive=tx.safe_tx_hash)).signature
    return bytes(sig[:64]) + bytes([sig[64] + 4])


def test_reads_the_safe(safe, owners):
    assert safe.owners() == [o.address for o in owners]
    assert safe.threshold() == 2
    assert isinstance(safe.nonce(), int)  # 0 or 1, whether the pause test ran first
    assert safe.version() == "1.4.1"
    assert repr(safe) == f"SafeAccount({safe.address!r})"


def test_hash_matches_contract(safe, safe_contract, anvil):
    tx = SafeTxData(
        chain_id=anvil.chain_id,
        safe=safe.address,
        to=anvil.accounts[7].lower(),
        value=10**18,
        data=b"\xde\xad\xbe\xef",
        operation=1,
        safe_tx_gas=50_000,
        base_gas=21_000,
        gas_price=3,
        gas_token=anvil.accounts[8],
        refund_receiver=anvil.accounts[9],
        nonce=7,
    )
    assert tx.to == anvil.accounts[7]
    onchain = safe_contract.functions.getTransactionHash(
        tx.to, tx.value, tx.data, tx.operation, tx.safe_tx_gas, tx.base_gas,
        tx.gas_price, tx.gas_token, tx.refund_receiver, tx.nonce,
    ).call()  # fmt: skip
    assert tx.safe_tx_hash == bytes(onchain)
    assert safe.build(tx.to, b"").safe_tx_hash == bytes(
        safe_contract.functions.getTransactionHash(tx.to, 0, b"", 0, 0, 0, 0, ZERO, ZERO, 0).call()
    )


def test_one_signature_reverts(safe, token, owners, w3, anvil):
    tx = safe.build(token.address, bytes.fromhex(token.encode_abi("pause")[2:]))
    calldata = safe.exec_calldata(tx, _signed(tx, owners[0]))
    with pytest.raises(ContractLogicError, match="GS020"):
        w3.eth.call({"from": anvil.accounts[9], "to": safe.address, "data": calldata})
    assert not safe.is_executed(tx)


def test_two_of_three_pauses_the_token(safe, token, owners, w3, anvil):
    tx = safe.build(token.address, bytes.fromhex(token.encode_abi("pause")[2:]))
    assert not token.functions.paused().call()
    signatures = {owners[2].address: sign_safe_tx(tx, owners[2])}
    signatures[owners[0].address] = _eth_sign(tx, owners[0])  # eth_sign works too
    calldata = safe.exec_calldata(tx, signatures)  # given unsorted, sorted inside
    safe_chain.send(w3, anvil.private_keys[9], {"to": safe.address, "data": calldata})
    assert token.functions.paused().call()
    assert safe.is_executed(tx)
    assert safe.nonce() == tx.nonce + 1


def test_exec_calldata_checks_signatures_and_safe(safe, owners, anvil):
    tx = safe.build(anvil.accounts[7], b"")
    with pytest.raises(SafeSignatureError, match="was made by"):
        safe.exec_calldata(tx, {owners[0].address: sign_safe_tx(tx, owners[1])})
    other = SafeTxData(**{**tx.__dict__, "chain_id": tx.chain_id + 1})
    with pytest.raises(SafeError, match=r"not 0x\w+ on chain"):
        safe.exec_calldata(other, {})


def test_non_owner_signature_is_detectable(safe, anvil):
    tx = safe.build(anvil.accounts[7], b"")
    stranger = Account.from_key(anvil.private_keys[5])
    signer = recover_signer(tx, sign_safe_tx(tx, stranger))
    assert signer == stranger.address
    assert signer not in safe.owners()


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (b"\x01" * 64, "65 bytes"),
        (b"\x00" * 64 + b"\x1b", "does not recover"),
        (b"\x00" * 31 + b"\x01" + b"\x00" * 33, "CONTRACT_SIGNATURE"),
        (b"\x00" * 31 + b"\x01" + b"\x00" * 32 + b"\x01", "APPROVED_HASH"),
    ],
)
def test_recover_signer_rejects(signature, message, safe, anvil):
    tx = safe.build(anvil.accounts[7], b"")
    with pytest.raises(SafeSignatureError, match=message):
        recover_signer(tx, signature)


def test_safe_tx_data_validates(anvil):
    base = dict(
        chain_id=1, safe=anvil.accounts[1], to=anvil.accounts[2], value=0, data=b"",
        operation=0, safe_tx_gas=0, base_gas=0, gas_price=0, gas_token=ZERO,
        refund_receiver=ZERO, nonce=0,
    )  # fmt: skip
    for change, message in [
        ({"operation": 2}, "operation"),
        ({"value": -1}, "value"),
        ({"nonce": True}, "nonce"),
        ({"to": "0x1234"}, "to is not an address"),
        ({"safe": 12}, "safe is not an address"),
        ({"data": "0x12"}, "data must be bytes"),
        ({"gas_price": 2**256}, "gas_price must be a uint256"),
    ]:
        with pytest.raises(SafeError, match=message):
            SafeTxData(**{**base, **change})
    assert issubclass(SafeError, ChainError)
    assert issubclass(SafeJsonError, BreakglassError)


# -- Safe Transaction Service JSON ------------------------------------------------------------


@pytest.fixture(scope="module")
def proposal(safe, owners, anvil):
    """A transaction at a future nonce with two owner signatures."""
    tx = safe.build(anvil.accounts[7], b"\x12\x34", value=5, nonce=42)
    return tx, _signed(tx, owners[1], owners[2])


def test_post_body_shape(proposal):
    tx, signatures = proposal
    doc = to_service_json(tx, signatures)
    ordered = sorted(signatures, key=lambda a: int(a, 16))
    assert doc["value"] == "5"
    assert doc["data"] == "0x1234"
    assert doc["sender"] == ordered[0]
    assert doc["origin"] == "breakglass"
    assert doc["contractTransactionHash"] == "0x" + tx.safe_tx_hash.hex()
    assert doc["signature"] == "0x" + b"".join(signatures[a] for a in ordered).hex()
    assert [c["owner"] for c in doc["confirmations"]] == ordered
    assert to_service_json(tx, {}, sender=ordered[1])["signature"] is None
    with pytest.raises(SafeError, match="sender"):
        to_service_json(tx, {})


def test_round_trip_post_body(proposal):
    tx, signatures = proposal
    doc = json.loads(json.dumps(to_service_json(tx, signatures)))
    assert from_service_json(doc) == (tx, signatures)
    del doc["confirmations"], doc["chainId"]  # the bare POST body: signatures concatenated
    assert from_service_json(doc, chain_id=tx.chain_id) == (tx, signatures)


def _get_shape(tx, signatures):
    """The shape ``GET /api/v1/multisig-transactions/{hash}/`` returns."""
    return {
        "safe": tx.safe,
        "to": tx.to,
        "value": str(tx.value),
        "data": "0x" + tx.data.hex() if tx.data else None,
        "operation": tx.operation,
        "gasToken": None,
        "safeTxGas": "0",
        "baseGas": "0",
        "gasPrice": "0",
        "refundReceiver": None,
        "nonce": str(tx.nonce),
        "safeTxHash": "0x" + tx.safe_tx_hash.hex(),
        "proposer": next(iter(signatures)),
        "isExecuted": False,
        "confirmationsRequired": 2,
        "confirmations": [
            {
                "owner": owner,
                "submissionDate": "2026-01-01T00:00:00Z",
                "transactionHash": None,
                "signature": "0x" + sig.hex(),
                "signatureType": "EOA",
            }
            for owner, sig in signatures.items()
        ],
        "signatures": None,
    }


def test_round_trip_get_response(proposal):
    tx, signatures = proposal
    assert from_service_json(_get_shape(tx, signatures), chain_id=tx.chain_id) == (tx, signatures)


def _confirm(owner_index, signer_index):
    """A change whose confirmation claims owner ``owner_index`` but is signed by another key."""

    def change(tx, owners):
        signer = owners[signer_index] if signer_index is not None else Account.create()
        sig = "0x" + sign_safe_tx(tx, signer).hex()
        return {"confirmations": [{"owner": owners[owner_index].address, "signature": sig}]}

    return change


BROKEN = {
    "tampered hash": ({"contractTransactionHash": "0x" + "00" * 32}, "does not match"),
    "tampered value": ({"value": "6"}, "does not match"),
    "wrong chain": ({"chainId": 2}, "does not match"),
    "short signature": ({"signature": "0x1234", "confirmations": []}, "65-byte"),
    "bad hex": ({"signature": "0xzz"}, "not valid hex"),
    "zero signature": ({"signature": "0x" + "00" * 64 + "1b"}, "does not recover"),
    "contract signature": ({"signature": "0x" + "00" * 65}, "only ECDSA"),
    "owner mismatch": (_confirm(2, 1), "not its owner"),
    "stranger as owner": (_confirm(1, None), "not its owner"),
    "missing to": ({"to": None}, "'to' is missing"),
    "missing nonce": ({"nonce": None}, "'nonce' is missing"),
    "missing hash": ({"contractTransactionHash": None}, "'contractTransactionHash'.* is missing"),
    "missing safe": ({"safe": None}, "'safe' is missing"),
    "float value": ({"value": 1.5}, "'value' must be an integer"),
    "bool nonce": ({"nonce": True}, "'nonce' must be an integer"),
    "word operation": ({"operation": "call"}, "'operation' must be an integer"),
    "bad operation": ({"operation": 3}, "operation must be 0"),
    "int data": ({"data": 12}, "'data' must be a 0x-prefixed"),
    "bad address": ({"to": "0xnothex"}, "to is not an address"),
    "confirmations not list": ({"confirmations": "x"}, "must be a list"),
    "confirmation not object": ({"confirmations": [1]}, "must be an object"),
    "confirmation unsigned": ({"confirmations": [{"owner": ZERO}]}, "'signature' is missing"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_bad_documents_raise_safe_json_error(case, proposal, owners):
    tx, signatures = proposal
    change, message = BROKEN[case]
    if callable(change):
        change = change(tx, owners)
    doc = {**to_service_json(tx, signatures), **change}
    with pytest.raises(SafeJsonError, match=message):
        from_service_json(doc)


def test_chain_id_is_required_and_checked(proposal):
    tx, signatures = proposal
    doc = to_service_json(tx, signatures)
    with pytest.raises(SafeJsonError, match="expected chain"):
        from_service_json(doc, chain_id=tx.chain_id + 1)
    del doc["chainId"]
    with pytest.raises(SafeJsonError, match="chainId"):
        from_service_json(doc)
    with pytest.raises(SafeJsonError, match="JSON object"):
        from_service_json([doc])  # type: ignore[arg-type]


def test_errors_never_echo_a_private_key(proposal, anvil):
    tx, signatures = proposal
    key = anvil.private_keys[4]
    for doc in (
        {**to_service_json(tx, signatures), "to": key},
        {**to_service_json(tx, signatures), "value": key},
        {**to_service_json(tx, signatures), "signature": key[:-1] + "z"},
    ):
        with pytest.raises(SafeJsonError) as caught:
            from_service_json(doc)
        assert key[2:12] not in str(caught.value)
    with pytest.raises(SafeError) as caught:
        to_service_json(tx, signatures, sender=key)
    assert key[2:12] not in str(caught.value)


def test_read_failures_are_safe_errors(anvil):
    with pytest.raises(SafeError, match="could not read owners"):
        SafeAccount(anvil.accounts[5], anvil.http_url).owners()  # not a contract
    with pytest.raises(SafeError, match="could not read nonce"):
        SafeAccount(anvil.accounts[5], "http://127.0.0.1:9").nonce()  # nothing listens
