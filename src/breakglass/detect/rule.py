"""The rule API: one small class per rule, its metadata as class constants.

A rule says which ``(chain, address, topic0)`` keys it listens on and turns each matching,
decoded log into :class:`Finding`s. Defining a subclass registers it under its ``id``;
missing metadata or a duplicate id fails at import time. Third-party rules register through
the ``breakglass.rules`` entry-point group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Flag, auto
from importlib.metadata import entry_points
from typing import Any, ClassVar

import orjson
from pydantic import ConfigDict

from breakglass.chain.codec import DecodedLog, LogCodec
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import PlanModel
from breakglass.plan.models.chain import Chain

__all__ = [
    "Needs",
    "Rule",
    "RuleParams",
    "RuleSetup",
    "Target",
    "load_plugins",
    "registered_rules",
]


class Needs(Flag):
    """The block data a rule reads; the stream fetches the union of what rules need."""

    LOGS = auto()
    TRANSACTIONS = auto()
    RECEIPTS = auto()
    TRACES = auto()
    STATE = auto()


class RuleParams(PlanModel):
    """Base of every rule's parameters: validated like the rest of the plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Target:
    """A watched contract: the plan's name for it and its lowercase address."""

    name: str
    address: str


@dataclass(frozen=True)
class RuleSetup:
    """One configured rule from the plan, with its contracts resolved."""

    rule_id: str
    chain: str
    targets: tuple[Target, ...]
    params: RuleParams
    severity: Severity | None = None
    chain_config: Chain | None = field(default=None, repr=False, compare=False)
    """The plan's chain, for a rule that reads the chain itself (attack-contract simulation
    forks it); ``None`` where a rule is built without a plan."""


_ID = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
_REGISTRY: dict[str, type[Rule]] = {}


class Rule:
    """Base of every detection rule."""

    id: ClassVar[str]
    title: ClassVar[str]
    category: ClassVar[str]
    severity: ClassVar[Severity]
    confidence: ClassVar[Confidence]
    description: ClassVar[str]
    recommendation: ClassVar[str]
    needs: Needs = Needs.LOGS  # an instance may need more, e.g. traces for some params
    events: ClassVar[tuple[Mapping[str, Any], ...]] = ()
    Params: ClassVar[type[RuleParams]] = RuleParams

    def __init_subclass__(cls, *, register: bool = True, **kwargs: object) -> None:
        """Check the metadata and register the rule; ``register=False`` keeps a rule out of
        the registry (tests, rules built at run time)."""
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        for name in (
            "id",
            "title",
            "category",
            "severity",
            "confidence",
            "description",
            "recommendation",
        ):
            if not getattr(cls, name, None):
                raise TypeError(f"rule {cls.__name__} must define {name}")
        if not _ID.match(cls.id):
            raise TypeError(f"rule {cls.__name__}.id {cls.id!r} must be lower-kebab-case")
        if not register:
            return
        if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
            raise TypeError(f"duplicate rule id {cls.id!r}")
        _REGISTRY[cls.id] = cls

    def __init__(self, setup: RuleSetup) -> None:
        self.setup = setup
        self.codec = _shared_codec(self.events)

    @property
    def rule_id(self) -> str:
        return self.setup.rule_id

    def log_keys(self) -> Iterator[tuple[str, str]]:
        """``(address, topic0)`` pairs to be called on; default: every event on every target."""
        for target in self.setup.targets:
            for topic0 in self.codec.events:
                yield target.address, topic0

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        """Findings for one decoded log this rule listens to."""
        return ()

    def tx_keys(self) -> Iterable[tuple[str | None, str | None]]:
        """``(to, selector)`` pairs of transactions to be called on; ``None`` matches any.

        ``(None, None)`` asks for every transaction: keep that for rules that must see all.
        """
        return ()

    def on_tx(
        self, block: BlockAdded, tx: Mapping[str, Any], receipt: Mapping[str, Any] | None
    ) -> Iterable[Finding]:
        """Findings for one transaction matching :meth:`tx_keys` (receipt if fetched)."""
        return ()

    def on_trace(
        self, block: BlockAdded, tx_hash: str, call: Mapping[str, Any]
    ) -> Iterable[Finding]:
        """Findings for one transaction's ``callTracer`` frame (rules that need traces)."""
        return ()

    def state_calls(self) -> Iterable[StateCall]:
        """View calls to read at every block, for :meth:`on_block`."""
        return ()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        """Findings from a whole block and the state read at it (``None`` where a call failed)."""
        return ()

    def finding(
        self,
        block: BlockAdded,
        log: DecodedLog | None,
        *,
        title: str,
        description: str,
        addresses: Iterable[str] = (),
        data: Mapping[str, Any] | None = None,
        severity: Severity | None = None,
        tx_hash: str | None = None,
    ) -> Finding:
        """A finding of this rule about ``log``, or about ``tx_hash`` or the whole block."""
        return Finding(
            rule=self.setup.rule_id,
            kind=self.id,
            chain=block.chain,
            block_number=block.number,
            block_hash=block.hash,
            severity=severity or self.setup.severity or self.severity,
            confidence=self.confidence,
            title=title,
            description=description,
            tx_hash=log.tx_hash if log else tx_hash,
            log_index=log.log_index if log else None,
            addresses=tuple(addresses),
            data=dict(data or {}),
        )

    def target_name(self, address: str) -> str:
        return next((t.name for t in self.setup.targets if t.address == address), address)


_CODECS: dict[bytes, LogCodec] = {}


def _shared_codec(events: tuple[Mapping[str, Any], ...]) -> LogCodec:
    """One codec per distinct event set, so rules listening to the same events decode a log
    once between them (the detector groups matches by codec)."""
    key = orjson.dumps(list(events), option=orjson.OPT_SORT_KEYS)
    codec = _CODECS.get(key)
    if codec is None:
        codec = _CODECS[key] = LogCodec.from_abi(events, name="+".join(e["name"] for e in events))
    return codec


def registered_rules() -> dict[str, type[Rule]]:
    """Every rule class by id: built-ins first, then plugins."""
    import breakglass.detect.rules  # noqa: F401, PLC0415 - importing registers the built-ins

    return dict(_REGISTRY)


def load_plugins() -> list[str]:
    """Import the rules other packages register under ``breakglass.rules``; returns ids."""
    before = set(_REGISTRY)
    for entry in entry_points(group="breakglass.rules"):
        entry.load()
    return sorted(set(_REGISTRY) - before)
