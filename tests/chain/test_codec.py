"""LogCodec: raw JSON-RPC logs decoded with precompiled decoders, checked against web3.py."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3

from breakglass.chain.codec import CodecError, DecodedLog, LogCodec
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.errors import ChainError

TRANSFER_ABI: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": "Transfer",
        "anonymous": False,
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "Small",
        "anonymous": False,
        "inputs": [
            {"name": "a", "type": "uint8", "indexed": False},
            {"name": "b", "type": "int16", "indexed": False},
            {"name": "c", "type": "bool", "indexed": False},
            {"name": "d", "type": "bytes4", "indexed": False},
            {"name": "e", "type": "address", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "Dyn",
        "anonymous": False,
        "inputs": [{"name": "s", "type": "string", "indexed": False}],
    },
    {
        "type": "event",
        "name": "Anon",
        "anonymous": True,
        "inputs": [{"name": "x", "type": "uint256", "indexed": False}],
    },
    {
        "type": "event",
        "name": "Idx",
        "anonymous": False,
        "inputs": [
            {"name": "id", "type": "uint256", "indexed": True},
            {"name": "delta", "type": "int8", "indexed": True},
            {"name": "x'}, __import__('os')) #", "type": "bytes4", "indexed": True},
        ],
    },
    {"type": "function", "name": "f", "inputs": [], "outputs": []},
]
TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
ALICE = "0x" + "ab" * 20
BOB = "0x" + "cd" * 20
TX = "0x" + "11" * 32


def _word(value: int | str, *, signed: bool = False) -> str:
    if isinstance(value, str):
        return value.removeprefix("0x").rjust(64, "0")
    return value.to_bytes(32, "big", signed=signed).hex()


def _topic_addr(address: str) -> str:
    return "0x" + _word(address)


def _raw(topics: list[str], data: str, **extra: Any) -> dict[str, Any]:
    log = {
        "address": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "topics": topics,
        "data": data,
        "blockNumber": "0x10",
        "transactionHash": TX,
        "transactionIndex": "0x0",
        "blockHash": "0x" + "22" * 32,
        "logIndex": "0x7",
        "removed": False,
    }
    log.update(extra)
    return log


@pytest.fixture(scope="module")
def codec() -> LogCodec:
    return LogCodec.from_abi(TRANSFER_ABI, name="Token")


# --- unit tests (no chain) ------------------------------------------------------------------


def test_table_has_non_anonymous_events_only(codec: LogCodec) -> None:
    assert len(codec) == 4
    assert codec.topic0("Transfer") == TRANSFER_TOPIC
    assert {spec.name for spec in codec.events.values()} == {"Transfer", "Small", "Dyn", "Idx"}
    with pytest.raises(KeyError):
        codec.topic0("Anon")


def test_decode_transfer(codec: LogCodec) -> None:
    log = _raw([TRANSFER_TOPIC, _topic_addr(ALICE), _topic_addr(BOB)], "0x" + _word(10**18))
    decoded = codec.decode(log)
    assert decoded == DecodedLog(
        address="0x5fbdb2315678afecb367f032d93f642f64180aa3",
        block_number=16,
        tx_hash=TX,
        log_index=7,
        event="Transfer",
        args={"from": ALICE, "to": BOB, "value": 10**18},
        removed=False,
    )


def test_decode_small_static_types(codec: LogCodec) -> None:
    topic = codec.topic0("Small")
    data = "0x" + _word(255) + _word(-2, signed=True) + _word(1) + "deadbeef" + "0" * 56
    data += _word(ALICE)
    decoded = codec.decode(_raw([topic], data, removed=True))
    assert decoded is not None
    assert decoded.args == {"a": 255, "b": -2, "c": True, "d": b"\xde\xad\xbe\xef", "e": ALICE}
    assert decoded.removed is True


def test_static_indexed_topics_and_hostile_names(codec: LogCodec) -> None:
    """uint/int/bytesN topics decode; ABI names are data, never code of the generated decoder."""
    topics = [
        codec.topic0("Idx"),
        "0x" + _word(2**255 + 1),
        "0x" + _word(-3, signed=True),
        "0xcafebabe" + "0" * 56,
    ]
    decoded = codec.decode(_raw(topics, "0x"))
    assert decoded is not None
    assert decoded.args == {
        "id": 2**255 + 1,
        "delta": -3,
        "x'}, __import__('os')) #": bytes.fromhex("cafebabe"),
    }
    with pytest.raises(CodecError, match="int8"):
        codec.decode(_raw([topics[0], topics[1], "0x" + _word(200), topics[3]], "0x"))
    with pytest.raises(CodecError, match="non-hexadecimal"):
        codec.decode(_raw([topics[0], "0x" + "g" * 64, topics[2], topics[3]], "0x"))
    with pytest.raises(CodecError, match="64 bytes, expected 0"):
        codec.decode(_raw(topics, "0x" + _word(1) * 2))


def test_upper_case_topic0_and_address(codec: LogCodec) -> None:
    log = _raw(
        [TRANSFER_TOPIC.upper().replace("0X", "0x"), _topic_addr(ALICE), _topic_addr(BOB)],
        "0x" + _word(1),
    )
    decoded = codec.decode(log)
    assert decoded is not None
    assert decoded.event == "Transfer"
    assert decoded.address == decoded.address.lower()


def test_unknown_topic_anonymous_and_other_shapes_are_none(codec: LogCodec) -> None:
    assert codec.decode(_raw(["0x" + "99" * 32], "0x")) is None
    assert codec.decode(_raw([], "0x" + _word(1))) is None
    # ERC-721 Transfer: same topic0, the token id is a third topic.
    erc721 = _raw([TRANSFER_TOPIC, _topic_addr(ALICE), _topic_addr(BOB), "0x" + _word(5)], "0x")
    assert codec.decode(erc721) is None
    assert codec.decode_many([erc721, _raw([], "0x")]) == []


@pytest.mark.parametrize(
    ("topics_tail", "data", "fragment"),
    [
        ([_topic_addr(ALICE), _topic_addr(BOB)], "0x" + _word(1)[:-2], "31 bytes, expected 32"),
        ([_topic_addr(ALICE), _topic_addr(BOB)], "0x" + _word(1) * 2, "64 bytes, expected 32"),
        ([_topic_addr(ALICE), _topic_addr(BOB)], "0x" + "zz" * 32, "non-hexadecimal"),
        ([_topic_addr(ALICE), _topic_addr(BOB)], _word(1), "0x-prefixed"),
        (["0x" + "ff" * 32, _topic_addr(BOB)], "0x" + _word(1), "padding in address"),
        ([_topic_addr(ALICE), "0x1234"], "0x" + _word(1), "not 32 bytes"),
    ],
)
def test_malformed_transfer_raises_with_position(
    codec: LogCodec, topics_tail: list[str], data: str, fragment: str
) -> None:
    with pytest.raises(CodecError) as info:
        codec.decode(_raw([TRANSFER_TOPIC, *topics_tail], data))
    assert isinstance(info.value, ChainError)
    assert info.value.tx_hash == TX
    assert info.value.log_index == 7
    assert fragment in str(info.value)
    assert TX in str(info.value)
    assert "Transfer(address,address,uint256)" in str(info.value)


@pytest.mark.parametrize(
    ("index", "bad_word", "fragment"),
    [
        (0, _word(256), "uint8"),
        (1, _word(2**15), "int16"),
        (2, _word(2), "bool"),
        (3, "deadbeef" + "0" * 54 + "01", "bytes4"),
        (4, "01" + _word(ALICE)[2:], "address"),
    ],
)
def test_out_of_range_static_values(
    codec: LogCodec, index: int, bad_word: str, fragment: str
) -> None:
    words = [_word(1), _word(1), _word(1), "ab" * 4 + "0" * 56, _word(ALICE)]
    words[index] = bad_word
    with pytest.raises(CodecError, match=fragment):
        codec.decode(_raw([codec.topic0("Small")], "0x" + "".join(words)))


def test_dynamic_data_and_its_errors(codec: LogCodec) -> None:
    topic = codec.topic0("Dyn")
    text = "héllo".encode()
    data = "0x" + _word(32) + _word(len(text)) + text.hex().ljust(64, "0")
    decoded = codec.decode(_raw([topic], data))
    assert decoded is not None
    assert decoded.args == {"s": "héllo"}
    with pytest.raises(CodecError, match="does not decode"):
        codec.decode(_raw([topic], "0x" + _word(32) + _word(1000)))


def test_missing_fields_raise(codec: LogCodec) -> None:
    log = _raw([TRANSFER_TOPIC, _topic_addr(ALICE), _topic_addr(BOB)], "0x" + _word(1))
    del log["blockNumber"]
    with pytest.raises(CodecError, match="blockNumber"):
        codec.decode(log)
    pending = _raw(
        [TRANSFER_TOPIC, _topic_addr(ALICE), _topic_addr(BOB)], "0x" + _word(1), blockNumber=None
    )
    with pytest.raises(CodecError):
        codec.decode(pending)


# --- against web3.py on a real chain ---------------------------------------------------------


def _normalise(value: Any) -> Any:
    """web3's values in the codec's conventions: lowercase addresses, plain bytes, tuples."""
    if isinstance(value, str) and Web3.is_checksum_address(value):
        return value.lower()
    if isinstance(value, HexBytes):
        return bytes(value)
    if isinstance(value, list | tuple):
        return tuple(_normalise(v) for v in value)
    return value


class _Storm:
    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = Web3(Web3.HTTPProvider(anvil.http_url))
        compiled = compile_file("EventStorm.sol")["EventStorm"]
        self.abi = compiled.abi
        self.account = Account.from_key(anvil.private_keys[0])
        self.nonce = self.w3.eth.get_transaction_count(self.account.address)
        receipt = self.send({"data": compiled.bytecode})
        self.address = receipt["contractAddress"]
        self.contract = self.w3.eth.contract(address=self.address, abi=self.abi)

    def send(self, tx: dict[str, Any]) -> Any:
        tx = {
            "from": self.account.address,
            "nonce": self.nonce,
            "chainId": self.anvil.chain_id,
            "gas": 25_000_000,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            **tx,
        }
        signed = self.account.sign_transaction(tx)
        self.nonce += 1
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, receipt
        return receipt

    def call(self, fn: Any) -> Any:
        return self.send({"to": self.address, "data": fn._encode_transaction_data()})


@pytest.fixture(scope="module")
def storm(anvil: Anvil) -> _Storm:
    return _Storm(anvil)


@pytest.mark.chain
def test_eventstorm_logs_match_web3(storm: _Storm) -> None:
    c = storm.contract.functions
    storm.call(c.storm(6))
    storm.call(c.transfers(3))
    storm.call(
        c.note("topic", b"\x01" * 32, True, "text ☃", b"\x00\xff" * 40, -(2**200), [1, 2**256 - 1])
    )
    storm.call(c.note("", b"\x00" * 32, False, "", b"", 0, []))
    storm.call(c.storm(2))

    log_filter = {"fromBlock": "0x0", "toBlock": "latest", "address": storm.address}
    raw_logs = storm.anvil.rpc("eth_getLogs", [log_filter])
    web3_logs = storm.w3.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": storm.address}
    )
    assert len(raw_logs) == len(web3_logs) == 6 * 2 + 3 + 2 + 2 * 2

    codec = LogCodec.from_abi(storm.abi, name="EventStorm")
    by_topic0 = {spec.topic0: spec.name for spec in codec.events.values()}
    seen = set()
    for raw, w3_log in zip(raw_logs, web3_logs, strict=True):
        decoded = codec.decode(raw)
        assert decoded is not None
        event_name = by_topic0[raw["topics"][0]]
        expected = getattr(storm.contract.events, event_name)().process_log(w3_log)
        seen.add(event_name)
        assert decoded.event == expected["event"]
        assert decoded.address == expected["address"].lower()
        assert decoded.block_number == expected["blockNumber"]
        assert decoded.tx_hash == "0x" + bytes(expected["transactionHash"]).hex()
        assert decoded.log_index == expected["logIndex"]
        assert decoded.removed is False
        expected_args = {k: _normalise(v) for k, v in expected["args"].items()}
        assert decoded.args == expected_args
        assert {k: type(v) for k, v in decoded.args.items()} == {
            k: type(v) for k, v in expected_args.items()
        }
    assert seen == {"Transfer", "Swap", "Note"}


@pytest.mark.chain
def test_eventstorm_with_foreign_logs(storm: _Storm) -> None:
    """A codec for Transfer only ignores the other events of the same transaction."""
    storm.call(storm.contract.functions.storm(4))
    raw_logs = storm.anvil.rpc("eth_getLogs", [{"fromBlock": "latest", "address": storm.address}])
    assert len(raw_logs) == 8
    codec = LogCodec.from_abi(storm.abi, name="EventStorm", events=["Transfer"])
    decoded = codec.decode_many(raw_logs)
    assert [d.event for d in decoded] == ["Transfer"] * 4
    assert [d.log_index for d in decoded] == [0, 2, 4, 6]


def test_decode_many_stops_at_first_malformed_log(codec: LogCodec) -> None:
    good = _raw([TRANSFER_TOPIC, _topic_addr(ALICE), _topic_addr(BOB)], "0x" + _word(1))
    bad = dict(good, data="0x", logIndex="0x9")
    assert len(codec.decode_many([good, good])) == 2
    with pytest.raises(CodecError, match="Transfer") as info:
        codec.decode_many([good, bad, good])
    assert info.value.log_index == 9
    with pytest.raises(CodecError, match="not a JSON object"):
        codec.decode_many(["not a log"])  # type: ignore[list-item]
