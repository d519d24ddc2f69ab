"""What the YAML rule kinds share: signatures, expressions, title templates and names."""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator

from breakglass.chain.codec import DecodedLog, LogCodec
from breakglass.detect.expr import Expression, ExpressionError, compile_expression
from breakglass.detect.rule import RuleSetup, Target
from breakglass.errors import PlanError
from breakglass.ingest.events import BlockAdded

__all__ = [
    "Expr",
    "Param",
    "Signature",
    "block_env",
    "check_template",
    "compile_where",
    "contract_env",
    "event_codec",
    "log_env",
    "parse_signature",
    "plain",
    "render",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ELEMENTARY = re.compile(
    r"^(?:address|bool|string|bytes(?:[1-9]|[12][0-9]|3[0-2])?|u?int(?:8|16|24|32|40|48|56|64|72"
    r"|80|88|96|104|112|120|128|136|144|152|160|168|176|184|192|200|208|216|224|232|240|248|256)?)"
    r"((?:\[[0-9]*\])*)$"
)
_KEYWORDS = frozenset({"indexed", "memory", "calldata", "storage"})


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str
    indexed: bool = False


@dataclass(frozen=True, slots=True)
class Signature:
    """A parsed ``Name(type [indexed] [name], ...)``; unnamed parameters are ``arg0``..."""

    name: str
    params: tuple[Param, ...]

    @property
    def canonical(self) -> str:
        return f"{self.name}({','.join(p.type for p in self.params)})"

    def abi_event(self) -> dict[str, Any]:
        inputs = [{"name": p.name, "type": p.type, "indexed": p.indexed} for p in self.params]
        return {"type": "event", "name": self.name, "inputs": inputs, "anonymous": False}


def _canonical(kind: str) -> str:
    match = _ELEMENTARY.match(kind)
    if match is None:
        raise ValueError(
            f"unknown ABI type {kind!r}; expected e.g. address, uint256, bytes32, string, "
            "uint256[] (tuples are not supported)"
        )
    base = kind[: len(kind) - len(match.group(1))]
    if base in ("uint", "int"):
        base += "256"
    return base + match.group(1)


def parse_signature(text: str, *, event: bool) -> Signature:
    """``Transfer(address indexed from, address indexed to, uint256 value)`` as a
    :class:`Signature`; ``indexed`` only where ``event``.

    Raises:
        ValueError: the text is not such a signature (the message says what is wrong).
    """
    example = (
        "Transfer(address indexed from, address indexed to, uint256 value)"
        if event
        else "upgradeTo(address newImplementation)"
    )
    match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\((.*)\)\s*", text, re.DOTALL)
    if match is None or "(" in match.group(2) or ")" in match.group(2):
        raise ValueError(f"not a signature: {text!r}; expected e.g. {example}")
    name, body = match.groups()
    params: list[Param] = []
    for position, part in enumerate(p.strip() for p in body.split(",")) if body.strip() else ():
        words = part.split()
        if not words:
            raise ValueError(f"parameter {position + 1} of {text!r} is empty")
        kind, rest = _canonical(words[0]), words[1:]
        indexed = "indexed" in rest
        if indexed and not event:
            raise ValueError(f"`indexed` in {text!r}: only event parameters are indexed")
        rest = [w for w in rest if w not in _KEYWORDS]
        if len(rest) > 1 or (rest and not _IDENT.match(rest[0])):
            raise ValueError(f"parameter {part!r} of {text!r}: expected `type [indexed] [name]`")
        params.append(Param(rest[0] if rest else f"arg{position}", kind, indexed))
    names = [p.name for p in params]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"parameter names repeat in {text!r}: {', '.join(duplicates)}")
    if sum(p.indexed for p in params) > 3:
        raise ValueError(f"{text!r} has more than 3 indexed parameters")
    return Signature(name, tuple(params))


def _compiles(text: str) -> str:
    try:
        compile_expression(text)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return text


Expr = Annotated[str, AfterValidator(_compiles)]
"""An expression in a rule's parameters, compiled when the plan is validated."""


def check_template(template: str, known: Iterable[str]) -> None:
    """Fields of a ``title`` template must be plain names from ``known``: no attribute or
    index access, which ``str.format`` would otherwise allow on any value.

    Raises:
        ValueError: an unknown or compound field, or a malformed template.
    """
    allowed = set(known)
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as exc:
        raise ValueError(f"title {template!r}: {exc}") from None
    for field in fields:
        if field not in allowed:
            known_names = ", ".join(sorted(allowed))
            raise ValueError(f"title {template!r}: unknown field {{{field}}}; known: {known_names}")


def render(template: str, values: Mapping[str, Any]) -> str:
    """``template`` formatted with ``values`` (fields already checked by
    :func:`check_template`)."""
    out: list[str] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        value = values[field]
        if conversion == "r":
            value = repr(value)
        elif conversion in ("s", "a"):
            value = str(value) if conversion == "s" else ascii(value)
        out.append(format(value, spec or ""))
    return "".join(out)


def plain(value: Any) -> Any:
    """A decoded ABI value as expressions and findings see it: bytes as ``0x`` hex,
    addresses lowercase."""
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return value.lower()
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def contract_env(targets: Iterable[Target]) -> dict[str, str]:
    """The rule's contracts by plan name, for names usable in expressions."""
    return {t.name: t.address for t in targets if _IDENT.match(t.name)}


def block_env(block: BlockAdded) -> dict[str, int]:
    return {"number": block.number, "timestamp": block.header.timestamp}


def log_env(
    contracts: dict[str, Any], block: BlockAdded, log: DecodedLog, args: dict[str, Any]
) -> dict[str, Any]:
    """What an event rule's ``where`` reads: the contracts by plan name, ``log``, ``tx``,
    ``block`` and the event's arguments (already :func:`plain`)."""
    return {
        **contracts,
        "log": {"address": log.address, "index": log.log_index},
        "tx": {"hash": log.tx_hash},
        "block": block_env(block),
        **args,
    }


def compile_where(setup: RuleSetup, text: str, names: Iterable[str]) -> Expression:
    """``text`` (compiled once already, when the params were validated) as an expression
    that reads only ``names`` and the rule's contracts.

    Raises:
        PlanError: names the rule, the unknown names and the known ones.
    """
    expression = compile_expression(text)
    known = {*names, *contract_env(setup.targets)}
    unknown = expression.names - known
    if unknown:
        raise PlanError(
            f"rule {setup.rule_id}: unknown name {', '.join(sorted(unknown))} in {text!r}; "
            f"known: {', '.join(sorted(known))}"
        )
    return expression


_CODECS: dict[bytes, LogCodec] = {}


def event_codec(signature: Signature) -> LogCodec:
    """One codec per event signature, so rules on the same event decode a log once."""
    entry = signature.abi_event()
    key = orjson.dumps(entry, option=orjson.OPT_SORT_KEYS)
    codec = _CODECS.get(key)
    if codec is None:
        codec = _CODECS[key] = LogCodec.from_abi([entry], name=signature.name)
    return codec
