"""Attack-contract simulation: call a new contract's functions on a fork and see who loses.

An attack contract is deployed, often a block or more, before the transaction that uses it.
Between the two, its code is on chain and can be run: :class:`AttackContractScreen` forks
the state of the block that created it and calls each function its dispatcher exposes, as
its deployer, with plausible arguments (nothing; the watched contracts' addresses; the
deployer; a small amount, each watched balance in full) and value (the deployer's balance).
When no call drains anything, it calls them again after funding the contract with the
deployer's balance, as the deployer would before the attack. A call that makes a watched
contract lose an asset beyond its threshold is a :class:`Drain`.

Simulating costs a fork and up to ``max_selectors`` times about a dozen calls, so a creation
is simulated only when it is suspect: its deployer is fresh (few transactions), or its
code refers to a watched contract (its address as a constant, an immutable or a
constructor argument) or to a watched contract's functions (their selectors, read from
the watched contracts' own dispatchers, plus any the plan names). Other creations are
counted as screened out, never simulated.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction

from breakglass.analysis.assets import decode_symbol
from breakglass.respond.preexec.attack_contract_calls import candidate_calls, trace_summary
from breakglass.respond.preexec.bytecode import (
    COMMON_SELECTORS,
    code_references,
    dispatcher_selectors,
    selector_scan,
)
from breakglass.respond.preexec.fork_evm import NATIVE, Fork, ForkEVM, Holding, Outcome

__all__ = [
    "AssetWatch",
    "AttackContractScreen",
    "Creation",
    "Drain",
    "ForkFactory",
    "Loss",
    "ScreenCounts",
    "Verdict",
]

_ETHER = 10**18
_DECIMALS = bytes.fromhex("313ce567")
_SYMBOL = bytes.fromhex("95d89b41")


@dataclass(frozen=True, slots=True)
class Creation:
    """A contract created in a block: by a transaction without a recipient, or by a
    ``CREATE``/``CREATE2`` inside one. ``deployer`` is the transaction's sender; ``creator``
    the contract that ran the ``CREATE`` (a factory), if any. ``init_code`` is what the
    creation ran: constructor arguments naming a target are in it."""

    address: str
    deployer: str
    tx_hash: str
    deployer_nonce: int | None
    init_code: bytes
    block_number: int
    block_hash: str
    timestamp: int
    creator: str | None = None
    pending: bool = False
    """Not mined yet: the block is the head the pending deployment would follow, and the
    contract is deployed on the fork before it is judged."""
    value: int = 0


@dataclass(frozen=True, slots=True)
class AssetWatch:
    """An asset whose loss from a watched contract counts: the ERC-20 at ``asset``, or
    :data:`~breakglass.respond.preexec.fork_evm.NATIVE`.

    A loss counts when it reaches ``threshold`` (whole units), or when its value at ``usd``
    per whole unit reaches the screen's ``threshold_usd``. A token's ``decimals`` and
    ``symbol``, when not given, are read from it on the first fork.
    """

    asset: str
    threshold: Decimal | None = None
    usd: Decimal | None = None
    decimals: int | None = None
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class Loss:
    """What one watched contract lost of one asset in the draining call."""

    holder: str
    holder_name: str
    asset: str
    amount: int
    decimals: int | None
    symbol: str | None
    usd: Fraction | None


@dataclass(frozen=True, slots=True)
class Drain:
    """The call that drains, what it takes, and what it did (one line per step)."""

    outcome: Outcome
    losses: tuple[Loss, ...]
    funded: bool
    trace: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the screen made of one creation."""

    creation: Creation
    simulated: bool
    reasons: tuple[str, ...] = ()
    drain: Drain | None = None
    calls: int = 0
    seconds: float = 0.0
    backend: str = ForkEVM.backend
    error: str | None = None


@dataclass
class ScreenCounts:
    """Counters since the screen was made: creations seen, simulated, screened out (not
    suspect), flagged (a drain found) and failed (the fork could not be read)."""

    seen: int = 0
    simulated: int = 0
    screened_out: int = 0
    flagged: int = 0
    failed: int = 0

    def add(self, verdict: Verdict) -> None:
        """Count a verdict reached elsewhere (the simulator's process)."""
        self.seen += 1
        if verdict.error is not None:
            self.failed += 1
        elif not verdict.simulated:
            self.screened_out += 1
        else:
            self.simulated += 1
            self.flagged += verdict.drain is not None


ForkFactory = Callable[[Creation], Fork]
"""Makes the fork a creation is simulated on: the state after its block."""


@dataclass
class AttackContractScreen:
    """Judges creations against the ``targets`` (plan name → lowercase address).

    Args:
        fork: makes the fork of a creation's block.
        assets: what counts as a loss, and from which threshold.
        threshold_usd: a loss worth this much in USD (assets with a price) counts too,
            summed over the assets of one call.
        functions: extra selectors that make code suspect (``0x`` + 8 hex).
        max_selectors: the most functions called per contract (dispatcher order).
        max_creator_nonce: a deployer below this nonce is fresh; 0 turns it off.
        trusted: deployers whose creations are never simulated (the team's own).
    """

    fork: ForkFactory
    targets: dict[str, str]
    assets: Sequence[AssetWatch]
    threshold_usd: Decimal | None = None
    functions: Sequence[str] = ()
    max_selectors: int = 16
    max_creator_nonce: int = 5
    trusted: frozenset[str] = frozenset()
    counts: ScreenCounts = field(default_factory=ScreenCounts)
    _watched_selectors: set[str] | None = field(default=None, init=False, repr=False)
    _units: dict[str, AssetWatch] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def prescreen(self, creation: Creation) -> Verdict | None:
        """The verdict on ``creation`` when it needs no fork, decided from its creation code
        alone (no I/O): a trusted deployer, or nothing suspect. ``None``: it needs
        :meth:`examine` (it is suspect, or the watched functions are not read yet)."""
        if creation.deployer in self.trusted:
            self._count(seen=1, screened_out=1)
            return Verdict(creation, False, ("trusted deployer",))
        selectors = self._watched_selectors
        if selectors is None or self._suspect(creation, selectors):
            return None
        self._count(seen=1, screened_out=1)
        return Verdict(creation, False)

    def examine(self, creation: Creation) -> Verdict:
        """Screen ``creation`` and simulate it if it is suspect.

        Never raises for the chain's trouble: a fork that cannot be read is a verdict with
        ``error`` set (and counted), so the caller reports it instead of going blind.
        """
        started = time.perf_counter()
        if creation.deployer in self.trusted:
            self._count(seen=1, screened_out=1)
            return Verdict(creation, False, ("trusted deployer",))
        self._count(seen=1)
        fork: Fork | None = None
        try:
            fork = self.fork(creation)
            reasons = self._suspect(creation, self._selectors(fork))
            if not reasons:
                self._count(screened_out=1)
                return Verdict(creation, False, seconds=time.perf_counter() - started)
            if creation.pending:
                made = fork.deploy(creation.deployer, creation.init_code, creation.value)
                if made is None:
                    self._count(screened_out=1)
                    reason = "its constructor fails on the latest state"
                    return Verdict(creation, False, (reason,), backend=type(fork).backend)
                creation = replace(creation, address=made)
            self._count(simulated=1)
            drain = self._simulate(creation, fork.code(creation.address), fork)
        except Exception as exc:  # any fork failure is reported, never fatal
            self._count(failed=1)
            return Verdict(
                creation,
                False,
                calls=fork.calls if fork is not None else 0,
                seconds=time.perf_counter() - started,
                error=f"{type(exc).__name__}: {str(exc)[:300]}",
            )
        if drain is not None:
            self._count(flagged=1)
        return Verdict(
            creation,
            True,
            tuple(reasons),
            drain,
            fork.calls,
            time.perf_counter() - started,
            type(fork).backend,
        )

    @property
    def watched_selectors(self) -> set[str] | None:
        """The watched contracts' functions once read (``None`` before the first fork)."""
        return self._watched_selectors

    def learn(self, selectors: set[str]) -> None:
        """Take the watched functions read elsewhere, so :meth:`prescreen` can decide."""
        self._watched_selectors = set(selectors)

    def _count(self, **added: int) -> None:
        """Counters are bumped by the monitor's thread (prescreen) and the worker's."""
        with self._lock:
            for name, value in added.items():
                setattr(self.counts, name, getattr(self.counts, name) + value)

    def _suspect(self, creation: Creation, selectors: set[str]) -> list[str]:
        """Why ``creation`` is worth simulating, from its creation code (the runtime code
        and the constructor's arguments are in it); empty when nothing is suspect."""
        reasons: list[str] = []
        nonce = creation.deployer_nonce
        if self.max_creator_nonce and nonce is not None and nonce < self.max_creator_nonce:
            reasons.append(f"fresh deployer (nonce {nonce})")
        code = creation.init_code
        names = {address: name for name, address in self.targets.items()}
        referred = code_references(code, list(names))
        if referred:
            reasons.append("refers to " + ", ".join(names[a] for a in referred))
        own, pushed = selector_scan(code)
        called = sorted((pushed & selectors) - set(own))
        if called:
            reasons.append("calls watched functions " + ", ".join(called[:5]))
        return reasons

    def _selectors(self, fork: Fork) -> set[str]:
        """The watched contracts' functions, read from their dispatchers once, less the
        ERC-20 and ERC-165 functions every token has (code calling those is no sign)."""
        if self._watched_selectors is None:
            found = {s.lower() for s in self.functions}
            for address in self.targets.values():
                found.update(
                    s for s in dispatcher_selectors(fork.code(address)) if s not in COMMON_SELECTORS
                )
            self._watched_selectors = found
        return self._watched_selectors

    def units(self, fork: Fork) -> dict[str, AssetWatch]:
        """Each asset with its decimals and symbol: given, else read from the token once
        (native currency has 18 decimals; a token that does not say is taken to have 18
        and named by its address)."""
        if self._units is None:
            resolved: dict[str, AssetWatch] = {}
            for watch in self.assets:
                decimals, symbol = watch.decimals, watch.symbol
                if watch.asset == NATIVE:
                    decimals, symbol = 18 if decimals is None else decimals, symbol or "ETH"
                else:
                    if decimals is None:
                        raw = fork.view(watch.asset, _DECIMALS)
                        decimals = int.from_bytes(raw[:32], "big") if raw else None
                        decimals = decimals if decimals is not None and decimals <= 77 else 18
                    if symbol is None:
                        raw = fork.view(watch.asset, _SYMBOL)
                        symbol = decode_symbol(raw) if raw else None
                resolved[watch.asset] = replace(watch, decimals=decimals, symbol=symbol)
            self._units = resolved
        return self._units

    def _holdings(self) -> list[Holding]:
        return [Holding(t, a.asset) for t in self.targets.values() for a in self.assets]

    def _simulate(self, creation: Creation, code: bytes, fork: Fork) -> Drain | None:
        selectors = dispatcher_selectors(code)[: self.max_selectors]
        holdings = self._holdings()
        balances = [b for h in holdings if (b := _read(fork, h))]
        # A factory's product often answers only to the factory: try it as the caller too.
        callers = list(dict.fromkeys(c for c in (creation.deployer, creation.creator) if c))
        wei = {caller: fork.balance(caller) for caller in callers}
        names = {a: n for n, a in self.targets.items()}
        names |= {creation.deployer: "deployer", creation.address: "contract"}
        if creation.creator and creation.creator != creation.deployer:
            names[creation.creator] = "factory"
        for funded in (False, True):
            if funded:
                funding = max(wei.values())
                if funding == 0:
                    break
                fork.set_balance(creation.address, fork.balance(creation.address) + funding)
            for caller in callers:
                for call in candidate_calls(
                    contract=creation.address,
                    caller=caller,
                    selectors=selectors,
                    addresses=list(self.targets.values()),
                    amounts=[_ETHER, *balances],
                    value=wei[caller],
                ):
                    outcome = fork.call(call, watch=holdings)
                    losses = self._losses(outcome, self.units(fork))
                    if losses is not None:
                        units = {a.asset: (a.decimals, a.symbol) for a in self.units(fork).values()}
                        trace = trace_summary(outcome, names, units)
                        return Drain(outcome, losses, funded, trace)
        return None

    def _losses(self, outcome: Outcome, by_asset: dict[str, AssetWatch]) -> tuple[Loss, ...] | None:
        """The losses of ``outcome`` when they reach a threshold, else ``None``."""
        lost = outcome.losses()
        if not outcome.success or not lost:
            return None
        names = {address: name for name, address in self.targets.items()}
        losses: list[Loss] = []
        over = False
        total_usd = Fraction(0)
        for holding, amount in lost.items():
            watch = by_asset[holding.asset]
            decimals = 18 if watch.decimals is None else watch.decimals
            units = Fraction(amount, 10**decimals)
            usd = None
            if watch.usd is not None:
                usd = units * Fraction(watch.usd)
                total_usd += usd
            if watch.threshold is not None and units >= Fraction(watch.threshold):
                over = True
            losses.append(
                Loss(
                    holding.holder,
                    names.get(holding.holder, holding.holder),
                    holding.asset,
                    amount,
                    watch.decimals,
                    watch.symbol,
                    usd,
                )
            )
        if (
            self.threshold_usd is not None
            and total_usd
            and total_usd >= Fraction(self.threshold_usd)
        ):
            over = True
        return tuple(losses) if over else None


def _read(fork: Fork, holding: Holding) -> int:
    if holding.asset == NATIVE:
        return fork.balance(holding.holder)
    return fork.token_balance(holding.asset, holding.holder) or 0
