"""A transaction's ``callTracer`` trace as a decoded call tree.

Functions are decoded with the plan's ABIs first (the ABI of the called address, then any
plan ABI knowing the selector), then with the shipped signature table; a selector none of
them knows stays raw (``function`` is ``None``, ``selector`` and ``input`` hold the bytes).
Logs recorded by the tracer (``withLog``) are decoded the same way and numbered in execution
order; those of frames that did not revert are matched one to one with the receipt's logs,
which gives them their ``log_index``.

Every call and log gets ``seq``, its position in execution order; a call's subtree spans
``seq..end``. Flash-loan detection uses these to tell borrowing from repaying.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breakglass.analysis.signatures import Arg, Decoder

__all__ = [
    "Arg",
    "CallNode",
    "Decoder",
    "EventLog",
    "args_from_json",
    "args_to_json",
    "build_tree",
]

_CREATES = frozenset({"CREATE", "CREATE2"})
_CONTEXT_ONLY = frozenset({"DELEGATECALL", "CALLCODE", "STATICCALL"})


@dataclass(slots=True)
class EventLog:
    """One log emitted during the call; ``event``/``args`` are ``None`` when unknown."""

    address: str
    topics: list[str]
    data: str
    seq: int
    log_index: int | None = None
    event: str | None = None
    args: list[Arg] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (keys in :mod:`breakglass.analysis.render`)."""
        return {
            "address": self.address,
            "topics": self.topics,
            "data": self.data,
            "seq": self.seq,
            "log_index": self.log_index,
            "event": self.event,
            "args": args_to_json(self.args),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> EventLog:
        """Read back :meth:`to_dict`."""
        return cls(
            address=raw["address"],
            topics=list(raw["topics"]),
            data=raw["data"],
            seq=raw["seq"],
            log_index=raw["log_index"],
            event=raw["event"],
            args=args_from_json(raw["args"]),
        )


@dataclass(slots=True)
class CallNode:
    """One call frame, decoded. ``value`` is in wei; ``reverted`` covers reverted ancestors."""

    type: str
    from_: str
    to: str
    value: int
    input: str
    output: str
    gas_used: int
    seq: int
    depth: int
    end: int = 0
    error: str | None = None
    revert_reason: str | None = None
    reverted: bool = False
    selector: str = ""
    function: str | None = None
    args: list[Arg] | None = None
    outputs: list[Arg] | None = None
    logs: list[EventLog] = field(default_factory=list)
    calls: list[CallNode] = field(default_factory=list)

    @property
    def name(self) -> str | None:
        """The function name without argument types, when decoded."""
        return None if self.function is None else self.function.split("(", 1)[0]

    @property
    def moves_value(self) -> bool:
        """Whether this frame moved native currency (not delegate, static or callcode)."""
        return self.value > 0 and self.type not in _CONTEXT_ONLY and not self.reverted

    def walk(self) -> Iterator[CallNode]:
        """This call and every call below it, in execution order."""
        yield self
        for child in self.calls:
            yield from child.walk()

    def contains(self, seq: int) -> bool:
        """Whether the event numbered ``seq`` happened inside this call's subtree."""
        return self.seq <= seq <= self.end

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (keys in :mod:`breakglass.analysis.render`)."""
        return {
            "type": self.type,
            "from": self.from_,
            "to": self.to,
            "value": str(self.value),
            "input": self.input,
            "output": self.output,
            "gas_used": self.gas_used,
            "seq": self.seq,
            "end": self.end,
            "depth": self.depth,
            "error": self.error,
            "revert_reason": self.revert_reason,
            "reverted": self.reverted,
            "selector": self.selector,
            "function": self.function,
            "args": args_to_json(self.args),
            "outputs": args_to_json(self.outputs),
            "logs": [log.to_dict() for log in self.logs],
            "calls": [child.to_dict() for child in self.calls],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CallNode:
        """Read back :meth:`to_dict`."""
        return cls(
            type=raw["type"],
            from_=raw["from"],
            to=raw["to"],
            value=int(raw["value"]),
            input=raw["input"],
            output=raw["output"],
            gas_used=raw["gas_used"],
            seq=raw["seq"],
            end=raw["end"],
            depth=raw["depth"],
            error=raw["error"],
            revert_reason=raw["revert_reason"],
            reverted=raw["reverted"],
            selector=raw["selector"],
            function=raw["function"],
            args=args_from_json(raw["args"]),
            outputs=args_from_json(raw["outputs"]),
            logs=[EventLog.from_dict(g) for g in raw["logs"]],
            calls=[cls.from_dict(c) for c in raw["calls"]],
        )


def args_to_json(args: Sequence[Arg] | None) -> list[dict[str, Any]] | None:
    """Decoded arguments as ``[{name, type, value}]`` (``None`` stays ``None``)."""
    if args is None:
        return None
    return [{"name": a.name, "type": a.type, "value": a.value} for a in args]


def args_from_json(raw: Sequence[Mapping[str, Any]] | None) -> list[Arg] | None:
    """Read back :func:`args_to_json`."""
    return None if raw is None else [Arg(a["name"], a["type"], a["value"]) for a in raw]


def _hex_int(raw: Any) -> int:
    return int(str(raw), 16) if raw else 0


class _Builder:
    def __init__(self, decoder: Decoder) -> None:
        self.decoder = decoder
        self.seq = 0
        self.kept: list[EventLog] = []  # logs of frames that did not revert, in order

    def next(self) -> int:
        self.seq += 1
        return self.seq - 1

    def log(self, node: CallNode, raw: Mapping[str, Any]) -> None:
        entry = EventLog(
            address=str(raw.get("address") or "").lower(),
            topics=[str(t).lower() for t in raw.get("topics") or ()],
            data=str(raw.get("data") or "0x"),
            seq=self.next(),
        )
        decoded = self.decoder.log(entry.address, entry.topics, entry.data)
        if decoded is not None:
            entry.event, entry.args = decoded
        node.logs.append(entry)
        if not node.reverted:
            self.kept.append(entry)

    def frame(self, raw: Mapping[str, Any], depth: int, reverted: bool) -> CallNode:
        error = raw.get("error")
        node = CallNode(
            type=str(raw.get("type") or "CALL").upper(),
            from_=str(raw.get("from") or "").lower(),
            to=str(raw.get("to") or "").lower(),
            value=_hex_int(raw.get("value")),
            input=str(raw.get("input") or "0x"),
            output=str(raw.get("output") or "0x"),
            gas_used=_hex_int(raw.get("gasUsed")),
            seq=self.next(),
            depth=depth,
            error=str(error) if error else None,
            revert_reason=raw.get("revertReason"),
            reverted=reverted or bool(error),
        )
        if node.type not in _CREATES:
            node.selector = node.input[:10].lower() if len(node.input) >= 10 else ""
            found = self.decoder.call(node.to, node.input, node.output, failed=node.reverted)
            if found is not None:
                node.function, node.args, node.outputs = found[0].signature, found[1], found[2]
        logs = list(raw.get("logs") or ())
        logs.sort(key=lambda item: _hex_int(item.get("position")))
        pending = iter(logs)
        upcoming = next(pending, None)
        for index, child in enumerate(raw.get("calls") or ()):
            while upcoming is not None and _hex_int(upcoming.get("position")) <= index:
                self.log(node, upcoming)
                upcoming = next(pending, None)
            node.calls.append(self.frame(child, depth + 1, node.reverted))
        while upcoming is not None:
            self.log(node, upcoming)
            upcoming = next(pending, None)
        node.end = self.seq - 1
        return node


def build_tree(
    raw: Mapping[str, Any], decoder: Decoder, receipt_logs: Sequence[Mapping[str, Any]] = ()
) -> CallNode:
    """The decoded call tree of a ``callTracer`` result.

    Logs of frames that did not revert are given the ``logIndex`` of the receipt log at the
    same position, provided every one matches by address and topics (else all stay ``None``).
    """
    builder = _Builder(decoder)
    root = builder.frame(raw, 0, False)
    kept = builder.kept
    if len(kept) == len(receipt_logs) and all(
        log.address == str(r.get("address", "")).lower()
        and log.topics == [str(t).lower() for t in r.get("topics") or ()]
        for log, r in zip(kept, receipt_logs, strict=True)
    ):
        for log, r in zip(kept, receipt_logs, strict=True):
            log.log_index = _hex_int(r.get("logIndex"))
    return root
