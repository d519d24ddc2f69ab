"""Function and event signatures: from the plan's ABIs and from a shipped table of common ones.

The table, ``signatures.json`` next to this module, maps a selector (``0x`` + 8 hex) to a
human-readable signature such as ``transfer(address to,uint256 amount) returns (bool)``, and a
topic0 to a list of event signatures such as ``Transfer(address indexed from,...)`` (one topic
can stand for several events, e.g. ERC-20 and ERC-721 ``Transfer``). Every key is keccak256 of
the canonical signature; :func:`check_table` recomputes them. Tuple types are written without
component names, e.g. ``aggregate((address,bytes)[] calls)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak

from breakglass.chain.codec import CodecError, EventSpec, LogCodec

Abi = Sequence[Mapping[str, Any]]

__all__ = [
    "Arg",
    "Decoder",
    "FunctionSig",
    "Param",
    "abi_functions",
    "abi_type",
    "check_table",
    "event_abi",
    "parse_function",
    "table_events",
    "table_functions",
]


@dataclass(frozen=True, slots=True)
class Param:
    """One argument: its name (may be empty), canonical type and, for events, ``indexed``."""

    name: str
    type: str
    indexed: bool = False


@dataclass(frozen=True, slots=True)
class FunctionSig:
    """A function's name, inputs and outputs (canonical types)."""

    name: str
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...] = ()

    @property
    def signature(self) -> str:
        """The canonical signature, e.g. ``transfer(address,uint256)``."""
        return f"{self.name}({','.join(p.type for p in self.inputs)})"

    @property
    def selector(self) -> str:
        """``0x`` + 8 hex digits of keccak256 of :attr:`signature`."""
        return "0x" + keccak(text=self.signature)[:4].hex()


def _split_top(text: str) -> list[str]:
    """Split at commas that are not inside parentheses."""
    parts: list[str] = []
    depth, current = 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += (ch == "(") - (ch == ")")
        current += ch
    if current.strip():
        parts.append(current)
    return [p.strip() for p in parts]


def _parse_param(text: str, index: int) -> Param:
    if text.startswith("("):
        depth, end = 0, 0
        for end, ch in enumerate(text):  # noqa: B007 - the end position is the result
            depth += (ch == "(") - (ch == ")")
            if depth == 0:
                break
        end += 1
        while end < len(text) and text[end] in "[]0123456789":
            end += 1
        kind, rest = text[:end], text[end:].split()
    else:
        kind, *rest = text.split()
    indexed = "indexed" in rest
    names = [w for w in rest if w != "indexed"]
    return Param(names[0] if names else f"arg{index}", kind, indexed)


def _parse_params(text: str) -> tuple[Param, ...]:
    return tuple(_parse_param(p, i) for i, p in enumerate(_split_top(text)))


def _split_call(text: str) -> tuple[str, str, str]:
    """``name(params) returns (outs)`` → (name, params, outs)."""
    name, rest = text.split("(", 1)
    depth, i = 1, 0
    while depth:
        depth += (rest[i] == "(") - (rest[i] == ")")
        i += 1
    params, tail = rest[: i - 1], rest[i:].strip()
    outs = ""
    if tail.startswith("returns"):
        outs = tail[len("returns") :].strip()[1:-1]
    return name.strip(), params, outs


def parse_function(text: str) -> FunctionSig:
    """Parse ``name(type name,...) returns (type,...)`` into a :class:`FunctionSig`."""
    name, params, outs = _split_call(text)
    return FunctionSig(name, _parse_params(params), _parse_params(outs))


def abi_type(entry: Mapping[str, Any]) -> str:
    """The canonical type of an ABI parameter entry, tuples expanded: ``(uint256,address)[]``."""
    kind = str(entry["type"])
    if kind.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in entry.get("components", ()))
        return f"({inner}){kind[len('tuple') :]}"
    return kind


def _abi_params(entries: Iterable[Mapping[str, Any]]) -> tuple[Param, ...]:
    return tuple(
        Param(str(e.get("name") or f"arg{i}"), abi_type(e), bool(e.get("indexed")))
        for i, e in enumerate(entries)
    )


def abi_functions(abi: Iterable[Mapping[str, Any]]) -> dict[str, FunctionSig]:
    """selector → :class:`FunctionSig` of every function of a JSON ABI."""
    found: dict[str, FunctionSig] = {}
    for entry in abi:
        if entry.get("type") == "function":
            sig = FunctionSig(
                str(entry["name"]),
                _abi_params(entry.get("inputs", ())),
                _abi_params(entry.get("outputs", ())),
            )
            found.setdefault(sig.selector, sig)
    return found


def event_abi(text: str) -> dict[str, Any]:
    """A JSON ABI entry for an event signature such as ``Sync(uint112 reserve0,...)``."""
    name, params, _ = _split_call(text)
    inputs = [{"name": p.name, "type": p.type, "indexed": p.indexed} for p in _parse_params(params)]
    return {"type": "event", "name": name, "inputs": inputs, "anonymous": False}


@dataclass(frozen=True, slots=True)
class Arg:
    """One decoded argument; ``value`` is JSON-ready (int, bool, str, ``0x`` hex, lists)."""

    name: str
    type: str
    value: Any


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, str) and len(value) == 42 and value[:2] == "0x":
        return value.lower()
    return value


def _decode_params(params: Sequence[Param], data: bytes) -> list[Arg] | None:
    try:
        values = abi_decode([p.type for p in params], data)
    except Exception:  # eth-abi raises many unrelated types; raw data is shown instead
        return None
    return [Arg(p.name, p.type, _jsonable(v)) for p, v in zip(params, values, strict=True)]


def _codec_layers(abi: Abi, name: str) -> list[LogCodec]:
    """Codecs over ``abi``'s events, split so that two events sharing a topic0 (ERC-20 and
    ERC-721 ``Transfer``) land in different codecs; exact duplicates are dropped."""
    layers: list[list[Mapping[str, Any]]] = []
    seen: list[set[str]] = []
    shapes: set[tuple[str, tuple[bool, ...]]] = set()
    for entry in abi:
        if entry.get("type") != "event" or entry.get("anonymous"):
            continue
        inputs = list(entry.get("inputs", ()))
        signature = f"{entry.get('name')}({','.join(abi_type(i) for i in inputs)})"
        shape = (signature, tuple(bool(i.get("indexed")) for i in inputs))
        if shape in shapes:
            continue
        shapes.add(shape)
        for layer, signatures in zip(layers, seen, strict=True):
            if signature not in signatures:
                layer.append(entry)
                signatures.add(signature)
                break
        else:
            layers.append([entry])
            seen.append({signature})
    return [LogCodec.from_abi(layer, name=name) for layer in layers]


class Decoder:
    """Decodes calls and logs with the plan's ABIs (by address) and the shipped table."""

    def __init__(self, abis: Mapping[str, Abi] | None = None) -> None:
        abis = {a.lower(): abi for a, abi in (abis or {}).items()}
        self._by_address = {a: abi_functions(abi) for a, abi in abis.items()}
        self._any: dict[str, FunctionSig] = {}
        for functions in self._by_address.values():
            for selector, sig in functions.items():
                self._any.setdefault(selector, sig)
        self._table = table_functions()
        self._codecs = {a: _codec_layers(abi, a) for a, abi in abis.items()}
        every: list[Mapping[str, Any]] = [e for abi in abis.values() for e in abi]
        self._fallback = _codec_layers([*every, *table_events()], "known events")
        self._specs: dict[int, dict[str, EventSpec]] = {}

    def function(self, to: str, selector: str) -> FunctionSig | None:
        """The function ``selector`` names on ``to``: its own ABI, the shipped table, then any
        plan ABI; ``None`` when unknown."""
        own = self._by_address.get(to.lower(), {})
        return own.get(selector) or self._table.get(selector) or self._any.get(selector)

    def call(
        self, to: str, data: str, output: str = "0x", *, failed: bool = False
    ) -> tuple[FunctionSig, list[Arg], list[Arg] | None] | None:
        """(function, arguments, outputs) of calldata ``data`` sent to ``to``; ``None`` when
        the selector is unknown or the data does not decode as the known function."""
        if len(data) < 10:
            return None
        sig = self.function(to, data[:10].lower())
        if sig is None:
            return None
        args = _decode_params(sig.inputs, bytes.fromhex(data[10:]))
        if args is None:
            return None
        outputs = None
        if sig.outputs and not failed and len(output) > 2:
            outputs = _decode_params(sig.outputs, bytes.fromhex(output[2:]))
        return sig, args, outputs

    def log(self, address: str, topics: Sequence[str], data: str) -> tuple[str, list[Arg]] | None:
        """(event signature, arguments) of a log, or ``None`` when no known event matches."""
        raw = {
            "address": address,
            "topics": list(topics),
            "data": data,
            "blockNumber": "0x0",
            "transactionHash": "",
            "logIndex": "0x0",
        }
        for codec in (*self._codecs.get(address.lower(), ()), *self._fallback):
            try:
                decoded = codec.decode(raw)
            except CodecError:
                continue
            if decoded is None:
                continue
            specs = self._specs.setdefault(id(codec), codec.events)
            spec = specs[topics[0].lower()]
            types = dict(spec.indexed + spec.non_indexed)
            return spec.signature, [
                Arg(n, types[n], _jsonable(decoded.args[n])) for n in spec.order
            ]
        return None


@cache
def _table() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("signatures.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def table_functions() -> dict[str, FunctionSig]:
    """selector → :class:`FunctionSig` of the shipped table."""
    return {sel: parse_function(text) for sel, text in _table()["functions"].items()}


def table_events() -> list[dict[str, Any]]:
    """JSON ABI entries of every event of the shipped table (several per topic at times)."""
    return [event_abi(t) for texts in _table()["events"].values() for t in texts]


def check_table() -> list[str]:
    """Keys of the shipped table that do not match keccak256 of their signatures."""
    wrong: list[str] = []
    for selector, text in _table()["functions"].items():
        if parse_function(text).selector != selector:
            wrong.append(selector)
    for topic, texts in _table()["events"].items():
        for text in texts:
            entry = event_abi(text)
            types: Sequence[str] = [p["type"] for p in entry["inputs"]]
            if "0x" + keccak(text=f"{entry['name']}({','.join(types)})").hex() != topic:
                wrong.append(topic)
    return wrong
