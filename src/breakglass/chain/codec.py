"""Precompiled decoders for raw JSON-RPC logs.

``LogCodec.from_abi(abi)`` does all the ABI work once: it hashes every non-anonymous event
signature and builds a table topic0 → decoder. :meth:`LogCodec.decode` then takes one raw log
exactly as ``orjson`` parses a JSON-RPC ``eth_getLogs`` / ``eth_subscribe`` answer (hex
strings) and returns a :class:`DecodedLog`, without web3 objects or per-call ABI lookups.

Value conventions (the same for topics and data, and for nested values):

* ``address`` → lowercase ``0x``-prefixed hex ``str`` (not checksummed: cheaper, and equal
  addresses compare equal as strings). ``DecodedLog.address`` is lowercased too.
* ``uintN`` / ``intN`` → ``int``; ``bool`` → ``bool``; ``bytesN`` → ``bytes`` of length N.
* ``string`` → ``str``; ``bytes`` → ``bytes``; arrays and tuples → ``tuple`` (as eth-abi).
* An *indexed* argument of a dynamic type (``string``, ``bytes``, arrays, tuples) is stored by
  the EVM only as its keccak hash: it stays the 32-byte topic, as ``bytes``.

``DecodedLog.args`` lists the indexed arguments first, then the data arguments.
``DecodedLog.removed`` is the log's ``removed`` flag (``True`` for a log undone by a reorg).

Speed: each event gets a small Python function generated once (no loop over arguments, no
per-call lookups); events whose data arguments are all one-word types (address, uintN, intN,
bool, bytesN) never touch eth-abi, the others use eth-abi's tuple decoder built once. An
address topic is checked for length and zero padding but its 40 hex digits are not
re-validated (every other topic and all data go through ``bytes.fromhex``).

Outcomes: a log whose topic0 is not an event of the ABI, an anonymous log (no topics), or a
log whose topic count differs from the event's (e.g. an ERC-721 ``Transfer`` read with an
ERC-20 ABI) is *not this ABI's event* → ``None``. A log that is this event but cannot be
decoded (wrong data length, non-zero padding, values out of range, bad hex, missing fields) →
:class:`CodecError` carrying the transaction hash and log index.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from eth_abi.abi import default_codec
from eth_utils.crypto import keccak

from breakglass.errors import ChainError

__all__ = ["CodecError", "DecodedLog", "EventSpec", "LogCodec"]

_WORD = 32

_Converter = Callable[[bytes], Any]
_DecodeFn = Callable[[Mapping[str, Any], Sequence[str]], "DecodedLog | None"]
_STREAM: Callable[[bytes], Any] = default_codec.stream_class


class CodecError(ChainError):
    """A log matched an event of the ABI but could not be decoded."""

    def __init__(self, message: str, *, tx_hash: str | None, log_index: int | str | None) -> None:
        super().__init__(f"{message} (tx {tx_hash}, log index {log_index})")
        self.tx_hash = tx_hash
        self.log_index = log_index


class DecodedLog(NamedTuple):
    """One decoded log. ``address`` is lowercase hex; ``args`` maps argument name → value."""

    address: str
    block_number: int
    tx_hash: str
    log_index: int
    event: str
    args: dict[str, Any]
    removed: bool = False


class _Malformed(Exception):
    """Internal signal, turned into :class:`CodecError` with the log's position."""


# --- static word converters (one 32-byte ABI word → Python value) -------------------------


def _uint256(word: bytes) -> int:
    return int.from_bytes(word, "big")


def _make_uint(bits: int) -> _Converter:
    if bits == 256:
        return _uint256

    def convert(word: bytes) -> int:
        value = int.from_bytes(word, "big")
        if value >> bits:
            raise _Malformed(f"value out of range for uint{bits}")
        return value

    return convert


def _make_int(bits: int) -> _Converter:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1

    def convert(word: bytes) -> int:
        value = int.from_bytes(word, "big", signed=True)
        if bits != 256 and not low <= value <= high:
            raise _Malformed(f"value out of range for int{bits}")
        return value

    return convert


_ZERO12 = bytes(12)


def _address(word: bytes) -> str:
    if word[:12] != _ZERO12:
        raise _Malformed("non-zero padding in address")
    return "0x" + word[12:].hex()


def _bool(word: bytes) -> bool:
    value = int.from_bytes(word, "big")
    if value > 1:
        raise _Malformed("invalid bool")
    return value == 1


def _make_fixed_bytes(size: int) -> _Converter:
    if size == 32:
        return bytes
    padding = bytes(32 - size)

    def convert(word: bytes) -> bytes:
        if word[size:] != padding:
            raise _Malformed(f"non-zero padding in bytes{size}")
        return word[:size]

    return convert


def _static_converter(abi_type: str) -> _Converter | None:
    """A converter for a one-word value type, or ``None`` for anything else."""
    if abi_type == "address":
        return _address
    if abi_type == "bool":
        return _bool
    for prefix, factory, limit in (("uint", _make_uint, 256), ("int", _make_int, 256)):
        if abi_type.startswith(prefix) and abi_type[len(prefix) :].isdigit():
            bits = int(abi_type[len(prefix) :])
            if bits % 8 or not 8 <= bits <= limit:
                return None
            return factory(bits)
    if abi_type == "uint":
        return _uint256
    if abi_type == "int":
        return _make_int(256)
    if abi_type.startswith("bytes") and abi_type[5:].isdigit():
        size = int(abi_type[5:])
        return _make_fixed_bytes(size) if 1 <= size <= 32 else None
    return None


def _canonical_type(param: Mapping[str, Any]) -> str:
    """The canonical ABI type string, with tuples expanded, e.g. ``(uint256,address)[]``."""
    abi_type = str(param["type"])
    if abi_type.startswith("tuple"):
        inner = ",".join(_canonical_type(c) for c in param.get("components", ()))
        return f"({inner}){abi_type[len('tuple') :]}"
    return abi_type


# --- event specs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Everything needed to decode one event, computed once from its ABI entry."""

    name: str
    signature: str
    topic0: str
    indexed: tuple[tuple[str, str], ...]
    """(name, canonical type) of the indexed arguments, in topic order."""
    non_indexed: tuple[tuple[str, str], ...]
    """(name, canonical type) of the data arguments, in data order."""
    order: tuple[str, ...]
    """Argument names in declaration order. ``DecodedLog.args`` holds the indexed arguments
    first, then the data arguments (cheaper than reordering)."""


class _Source:
    """The source of one generated decoder, and the namespace it runs in."""

    def __init__(self, spec: EventSpec) -> None:
        self.namespace: dict[str, Any] = {
            "_Malformed": _Malformed,
            "_DecodedLog": DecodedLog,
            "_new": tuple.__new__,
            "_fromhex": bytes.fromhex,
            "_from_bytes": int.from_bytes,
            "_Z24": "0" * 24,
            "_Z12": bytes(12),
            "_NAME": spec.name,
        }
        self.lines: list[str] = []
        self.items: list[str] = []  # "key: value" entries of the args dict, in order

    def const(self, value: Any) -> str:
        """A fresh namespace name bound to ``value`` (ABI text never enters the source)."""
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def line(self, text: str) -> None:
        self.lines.append("    " + text)

    def item(self, arg_name: str, expression: str) -> None:
        self.items.append(f"{self.const(arg_name)}: {expression}")


def _gen_topics(src: _Source, spec: EventSpec) -> None:
    for index, (arg_name, arg_type) in enumerate(spec.indexed, start=1):
        t = f"t{index}"
        src.line(f"{t} = topics[{index}]")
        bad_len = src.const(f"topic for {arg_name!r} is not 32 bytes")
        src.line(f"if len({t}) != 66: raise _Malformed({bad_len})")
        if arg_type == "address":
            padding = src.const(f"non-zero padding in address {arg_name!r}")
            src.line(f"if {t}[2:26] != _Z24: raise _Malformed({padding})")
            src.item(arg_name, f"'0x' + {t}[26:].lower()")
        elif arg_type in ("uint256", "uint"):
            src.line(f"_fromhex({t}[2:])")  # validates the hex digits
            src.item(arg_name, f"int({t}, 16)")
        else:
            # Other static types convert the word; dynamic types keep the 32-byte hash.
            convert = src.const(_static_converter(arg_type) or bytes)
            src.item(arg_name, f"{convert}(_fromhex({t}[2:]))")


def _gen_data(src: _Source, spec: EventSpec) -> None:
    converters = [_static_converter(t) for _, t in spec.non_indexed]
    if not all(c is not None for c in converters):
        decode = src.const(_dynamic_decoder([t for _, t in spec.non_indexed]))
        src.line(f"values = {decode}(b)")
        for index, (arg_name, _) in enumerate(spec.non_indexed):
            src.item(arg_name, f"values[{index}]")
        return
    # Every data argument is one word: slice words directly, no eth-abi on the hot path.
    size = _WORD * len(converters)
    size_msg = src.const(f"data is %d bytes, expected {size}")
    src.line(f"if len(b) != {size}: raise _Malformed({size_msg} % len(b))")
    for index, (arg_name, arg_type) in enumerate(spec.non_indexed):
        lo, hi = index * _WORD, (index + 1) * _WORD
        if arg_type in ("uint256", "uint"):
            src.item(arg_name, f"_from_bytes(b[{lo}:{hi}], 'big')")
        elif arg_type == "address":
            padding = src.const(f"non-zero padding in address {arg_name!r}")
            src.line(f"if b[{lo}:{lo + 12}] != _Z12: raise _Malformed({padding})")
            src.item(arg_name, f"'0x' + b[{lo + 12}:{hi}].hex()")
        else:
            src.item(arg_name, f"{src.const(converters[index])}(b[{lo}:{hi}])")


class _EventDecoder:
    """The precompiled decoder of one event: a function generated once from its spec.

    The generated source is built only from fixed fragments of this module and integers;
    every name and message taken from the ABI is bound in the function's namespace, never
    spliced into the source. ``source`` keeps the text for debugging.
    """

    __slots__ = ("fn", "name", "ntopics", "source", "spec")

    def __init__(self, spec: EventSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.ntopics = 1 + len(spec.indexed)
        src = _Source(spec)
        src.line(f"if len(topics) != {self.ntopics}: return None")
        src.line("data = raw['data']")
        src.line("if data[:2] != '0x': raise _Malformed('data is not 0x-prefixed hex')")
        src.line("b = _fromhex(data[2:])")
        _gen_topics(src, spec)
        _gen_data(src, spec)
        src.line(
            "return _new(_DecodedLog, (raw['address'].lower(), int(raw['blockNumber'], 16),"
            " raw['transactionHash'], int(raw['logIndex'], 16), _NAME,"
            f" {{{', '.join(src.items)}}}, raw.get('removed') is True))"
        )
        self.source = "\n".join(["def _decode(raw, topics):", *src.lines]) + "\n"
        code = compile(self.source, f"<LogCodec {spec.signature}>", "exec")
        exec(code, src.namespace)  # noqa: S102 - source made of this module's fragments only
        self.fn: _DecodeFn = src.namespace["_decode"]


def _dynamic_decoder(types: Sequence[str]) -> Callable[[bytes], tuple[Any, ...]]:
    """eth-abi's tuple decoder for ``types``, built once; errors become ``_Malformed``."""
    decoder = default_codec._registry.get_tuple_decoder(*types, strict=True)

    def decode(data: bytes) -> tuple[Any, ...]:
        try:
            return tuple(decoder(_STREAM(data)))
        except Exception as exc:  # eth-abi raises many unrelated types
            raise _Malformed(f"data does not decode: {type(exc).__name__}: {exc}") from None

    return decode


def _event_spec(entry: Mapping[str, Any]) -> EventSpec:
    name = str(entry["name"])
    inputs = list(entry.get("inputs", ()))
    types = [_canonical_type(p) for p in inputs]
    signature = f"{name}({','.join(types)})"
    names = [str(p.get("name") or f"arg{i}") for i, p in enumerate(inputs)]
    indexed = tuple(
        (n, t) for n, t, p in zip(names, types, inputs, strict=True) if p.get("indexed")
    )
    data = tuple(
        (n, t) for n, t, p in zip(names, types, inputs, strict=True) if not p.get("indexed")
    )
    return EventSpec(
        name=name,
        signature=signature,
        topic0="0x" + keccak(text=signature).hex(),
        indexed=indexed,
        non_indexed=data,
        order=tuple(names),
    )


class LogCodec:
    """Decodes raw JSON-RPC logs of one ABI's events with decoders built once.

    Build it with :meth:`from_abi`; reuse it for every log. Thread-safe (read-only after
    construction).
    """

    __slots__ = ("_by_topic0", "_fns", "name")

    def __init__(self, events: Iterable[EventSpec], *, name: str = "abi") -> None:
        self.name = name
        self._by_topic0: dict[str, _EventDecoder] = {}
        for spec in events:
            # Two events with one signature decode identically; keep the first.
            if spec.topic0 not in self._by_topic0:
                self._by_topic0[spec.topic0] = _EventDecoder(spec)
        # The hot-path table: topic0 → generated function (returns None on a topic count
        # that is not the event's).
        self._fns: dict[str, _DecodeFn] = {t: d.fn for t, d in self._by_topic0.items()}

    @classmethod
    def from_abi(
        cls,
        abi: Iterable[Mapping[str, Any]],
        *,
        name: str = "abi",
        events: Iterable[str] | None = None,
    ) -> LogCodec:
        """Build the codec from a JSON ABI (a list of entries, as solc or Etherscan give it).

        Args:
            name: a label for messages and ``repr`` (e.g. the contract's name).
            events: only these event names (default: every non-anonymous event).
        """
        wanted = None if events is None else set(events)
        specs = [
            _event_spec(entry)
            for entry in abi
            if entry.get("type") == "event"
            and not entry.get("anonymous", False)
            and (wanted is None or entry.get("name") in wanted)
        ]
        return cls(specs, name=name)

    @property
    def events(self) -> dict[str, EventSpec]:
        """topic0 (lowercase ``0x`` hex) → spec of every event this codec decodes."""
        return {topic0: dec.spec for topic0, dec in self._by_topic0.items()}

    def topic0(self, event: str) -> str:
        """The topic0 of the event named ``event`` (for ``eth_getLogs`` filters).

        Raises:
            KeyError: the codec has no such event.
        """
        for topic0, dec in self._by_topic0.items():
            if dec.name == event:
                return topic0
        raise KeyError(f"{self.name} has no event {event!r}")

    def _lookup(self, topic0: object) -> _EventDecoder | None:
        """The decoder for a topic0 in any letter case (the slow path of a table miss)."""
        return self._by_topic0.get(topic0.lower()) if isinstance(topic0, str) else None

    def decode(self, raw_log: Mapping[str, Any]) -> DecodedLog | None:
        """Decode one raw log; ``None`` when it is not one of this codec's events.

        Raises:
            CodecError: the log is one of this codec's events but is malformed.
        """
        topics = raw_log.get("topics")
        if not topics:
            return None
        fn = self._fns.get(topics[0])
        if fn is None:
            decoder = self._lookup(topics[0])
            if decoder is None:
                return None
            fn = decoder.fn
        try:
            return fn(raw_log, topics)
        except (_Malformed, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._error(raw_log, exc) from None

    def decode_many(self, raw_logs: Iterable[Mapping[str, Any]]) -> list[DecodedLog]:
        """Decode many raw logs, dropping those that are not this codec's events.

        The same as :meth:`decode` in a loop, without a method call per log.

        Raises:
            CodecError: on the first malformed log.
        """
        get = self._fns.get
        out: list[DecodedLog] = []
        append = out.append
        raw: Mapping[str, Any] = {}
        try:
            for raw in raw_logs:
                topics = raw.get("topics")
                if not topics:
                    continue
                fn = get(topics[0])
                if fn is None:
                    decoder = self._lookup(topics[0])
                    if decoder is None:
                        continue
                    fn = decoder.fn
                decoded = fn(raw, topics)
                if decoded is not None:
                    append(decoded)
        except (_Malformed, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._error(raw, exc) from None
        return out

    def _error(self, raw_log: Mapping[str, Any], exc: Exception) -> CodecError:
        detail = str(exc) if isinstance(exc, _Malformed) else f"{type(exc).__name__}: {exc}"
        if not isinstance(raw_log, Mapping):
            return CodecError(
                f"{self.name}: a log is not a JSON object: {detail}", tx_hash=None, log_index=None
            )
        log_index: int | str | None = raw_log.get("logIndex")
        if isinstance(log_index, str):
            with contextlib.suppress(ValueError):
                log_index = int(log_index, 16)
        signature = "event"
        with contextlib.suppress(TypeError, IndexError, KeyError):
            decoder = self._lookup(raw_log["topics"][0])
            signature = decoder.spec.signature if decoder is not None else signature
        return CodecError(
            f"{self.name}: malformed {signature} log: {detail}",
            tx_hash=raw_log.get("transactionHash"),
            log_index=log_index,
        )

    def __len__(self) -> int:
        return len(self._by_topic0)

    def __repr__(self) -> str:
        return f"<LogCodec {self.name} events={len(self._by_topic0)}>"
