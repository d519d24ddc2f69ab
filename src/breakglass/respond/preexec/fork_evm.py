"""An in-process EVM on a fork of a chain's state, for simulating calls before they happen.

Simulation has to be fast enough to run between two blocks: an attack contract may be used
in the very next one. :class:`ForkEVM` runs calls in `pyrevm <https://pypi.org/project/pyrevm/>`_
(revm, in process) against the state of one block, which it reads from the node lazily, one
account or storage slot at a time, and keeps: the first call that touches a contract pays the
round trips, every later call on the same fork is pure computation (about 50 µs per call on a
local anvil, measured here; a few ms for the first).

Every call runs on the forked state as it was, and is rolled back after (``keep=True`` keeps
its effects, for a sequence of transactions). Balances named in ``watch`` are read before and
after, so an :class:`Outcome` carries what each holder gained or lost per asset, in base units.

Usage::

    fork = ForkEVM(url, at=block_hash, next_block=NextBlock(number + 1, timestamp + 12))
    fork.set_balance(deployer, 10**20)
    outcome = fork.call(
        Call(deployer, contract, selector),
        watch=[Holding(vault, NATIVE), Holding(vault, token)],
    )
    outcome.success, outcome.gas_used, outcome.logs, outcome.losses()

A ``ForkEVM`` is not thread-safe: one thread uses one fork. The base fee is 0 on the fork, so
calls pay no gas and a caller needs a balance only for the value it sends.

pyrevm reads the node while holding the interpreter's lock: every thread of the process
waits for each read, and a node that never answers stops them all. Keep a fork of a remote
node out of a process that must stay responsive (the monitor runs its forks in a child
process, :mod:`~breakglass.respond.preexec.attack_contract_worker`).

Errors: a call that reverts or halts is an :class:`Outcome` with ``success`` false and the
reason; a node that cannot be read is a :class:`SimulationError`, whose message never holds
the node's URL (it may carry an API key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeVar

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError

from breakglass.errors import ChainError

if TYPE_CHECKING:
    import pyrevm

__all__ = [
    "NATIVE",
    "Call",
    "Fork",
    "ForkEVM",
    "Holding",
    "NextBlock",
    "Outcome",
    "SimLog",
    "SimulationError",
    "revert_reason",
]

NATIVE = "native"
"""The asset name of the chain's own currency in :class:`Holding` and deltas."""

_READER = "0x000000000000000000000000000000000000b1a5"
"""Caller of balance reads: not a party to any simulated call, so reading moves no nonce
that the simulated calls depend on."""
_BALANCE_OF = bytes.fromhex("70a08231")
_ERROR = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")
_OUTPUT = re.compile(r"output: 0x([0-9a-fA-F]*)")
_GAS_USED = re.compile(r"gas_used: (\d+)")
_T = TypeVar("_T")
_URL_PARTS = re.compile(r"url: Url \{.*?\}(, )?|https?://\S+|wss?://\S+")


class SimulationError(ChainError):
    """The fork could not be made or read (the node is unreachable or refused a read)."""


@dataclass(frozen=True, slots=True)
class NextBlock:
    """The block the simulated calls run in: usually the one after the forked state's."""

    number: int
    timestamp: int
    coinbase: str = "0x" + "00" * 20
    gas_limit: int = 30_000_000


@dataclass(frozen=True, slots=True)
class Call:
    """One message call: ``caller`` sends ``data`` and ``value`` wei to ``to``."""

    caller: str
    to: str
    data: bytes = b""
    value: int = 0
    gas: int = 10_000_000


@dataclass(frozen=True, slots=True)
class Holding:
    """A balance to watch: ``holder``'s :data:`NATIVE` currency, or its balance of the
    ERC-20 token at address ``asset``."""

    holder: str
    asset: str


@dataclass(frozen=True, slots=True)
class SimLog:
    """A log the call emitted (lowercase address, ``0x`` topics)."""

    address: str
    topics: tuple[str, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one simulated call did.

    ``deltas`` holds, per watched :class:`Holding` that could be read both before and after,
    the balance after less the balance before, in base units (negative: it lost).
    ``logs`` are empty for a call that failed; ``error`` says why it failed.
    """

    call: Call
    success: bool
    output: bytes
    gas_used: int
    logs: tuple[SimLog, ...] = ()
    error: str | None = None
    deltas: Mapping[Holding, int] = field(default_factory=dict)

    def losses(self) -> dict[Holding, int]:
        """Each watched holding that lost, with the amount lost (positive)."""
        return {h: -d for h, d in self.deltas.items() if d < 0}


class Fork(Protocol):
    """What a simulation needs of a fork; :class:`ForkEVM` in process, or the node's own
    simulation (:class:`~breakglass.respond.preexec.fork_node.NodeFork`)."""

    backend: ClassVar[str]
    calls: int

    def balance(self, address: str) -> int: ...
    def set_balance(self, address: str, wei: int) -> None: ...
    def code(self, address: str) -> bytes: ...
    def nonce(self, address: str) -> int: ...
    def token_balance(self, token: str, holder: str) -> int | None: ...
    def view(self, to: str, data: bytes) -> bytes | None: ...
    def call(self, call: Call, *, watch: Iterable[Holding] = (), keep: bool = False) -> Outcome: ...
    def deploy(self, caller: str, init_code: bytes, value: int = 0) -> str | None: ...


def revert_reason(output: bytes) -> str:
    """A revert's return data in words: ``Error(string)``'s text, a ``Panic`` code, or the
    selector of a custom error."""
    if output[:4] == _ERROR:
        try:
            return str(decode(["string"], output[4:])[0])[:200]
        except (DecodingError, UnicodeDecodeError, OverflowError):
            return "reverted (undecodable reason)"
    if output[:4] == _PANIC and len(output) >= 36:
        return f"panic 0x{int.from_bytes(output[4:36], 'big'):02x}"
    if len(output) >= 4:
        return f"reverted with error 0x{output[:4].hex()}"
    return "reverted"


def _scrubbed(error: BaseException) -> str:
    """An error of the fork's node client in words, without the node's URL."""
    return _URL_PARTS.sub("", str(error))[:300]


def _addr(address: str) -> str:
    return address.lower()


class ForkEVM:
    """A pyrevm EVM on the state at block ``at`` (a hash, or a number) of the node at ``url``.

    Args:
        url: the node's HTTP JSON-RPC URL; reads are lazy and cached for the fork's life.
        at: the block whose post-state is forked; a hash pins it against reorgs.
        next_block: number and time the calls run at (``NUMBER``, ``TIMESTAMP``).
        chain_id: what ``CHAINID`` returns (the node's by default is not read: pass it).

    Raises:
        SimulationError: pyrevm is not installed.
    """

    backend: ClassVar[str] = "pyrevm"

    def __init__(
        self, url: str, *, at: str | int, next_block: NextBlock, chain_id: int = 1
    ) -> None:
        try:
            import pyrevm  # noqa: PLC0415 - a native module: loaded only where a fork is made
        except ImportError as exc:
            raise SimulationError(f"pyrevm is not installed: {exc}") from exc
        self._pyrevm = pyrevm
        block = at if isinstance(at, str) else hex(at)
        env = pyrevm.Env(
            cfg=pyrevm.CfgEnv(chain_id=chain_id),
            block=pyrevm.BlockEnv(
                number=next_block.number,
                timestamp=next_block.timestamp,
                coinbase=next_block.coinbase,
                gas_limit=next_block.gas_limit,
                basefee=0,
                prevrandao=bytes(32),
            ),
        )
        try:
            self._evm: pyrevm.EVM = pyrevm.EVM(env=env, fork_url=url, fork_block=block)
        except RuntimeError as exc:
            raise SimulationError(f"cannot fork block {block}: {_scrubbed(exc)}") from exc
        self.at = block
        self.next_block = next_block
        self.calls = 0
        """How many calls :meth:`call` simulated (balance reads and views not counted)."""

    # -- state ------------------------------------------------------------------------------

    def balance(self, address: str) -> int:
        """Native balance in wei."""
        return int(self._read(lambda: self._evm.get_balance(_addr(address))))

    def set_balance(self, address: str, wei: int) -> None:
        """Give ``address`` ``wei`` on the fork (funding a caller, as the deployer would)."""
        self._read(lambda: self._evm.set_balance(_addr(address), wei))

    def code(self, address: str) -> bytes:
        """Runtime code at ``address`` (empty for an account without code)."""
        return bytes(self._read(lambda: self._evm.get_code(_addr(address))) or b"")

    def nonce(self, address: str) -> int:
        return int(self._read(lambda: self._evm.basic(_addr(address)).nonce))

    def token_balance(self, token: str, holder: str) -> int | None:
        """``token.balanceOf(holder)``; ``None`` when the call fails or returns no number."""
        data = _BALANCE_OF + bytes(12) + bytes.fromhex(_addr(holder)[2:])
        outcome = self._run(Call(_READER, token, data, gas=200_000), keep=False)
        if not outcome.success or len(outcome.output) < 32:
            return None
        return int.from_bytes(outcome.output[:32], "big")

    def view(self, to: str, data: bytes) -> bytes | None:
        """The return data of a read-only call, or ``None`` when it fails."""
        outcome = self._run(Call(_READER, to, data, gas=1_000_000), keep=False)
        return outcome.output if outcome.success else None

    # -- calls ------------------------------------------------------------------------------

    def deploy(self, caller: str, init_code: bytes, value: int = 0) -> str | None:
        """Run a contract creation by ``caller`` and keep it (a pending deployment made real
        on the fork); the new contract's address, or ``None`` when its constructor fails.

        Raises:
            SimulationError: the node could not be read.
        """
        try:
            created = self._evm.deploy(_addr(caller), init_code, value=value)
        except RuntimeError as exc:
            if str(exc).startswith(("Revert", "Halt", "Transaction(")):
                return None
            raise SimulationError(f"deploying at block {self.at} failed: {_scrubbed(exc)}") from exc
        return str(created).lower()

    def call(self, call: Call, *, watch: Iterable[Holding] = (), keep: bool = False) -> Outcome:
        """Run ``call`` and measure the ``watch`` balances around it.

        Args:
            keep: keep a successful call's effects on the fork (a sequence of
                transactions); otherwise the fork is as before once this returns.

        Raises:
            SimulationError: the node could not be read.
        """
        holdings = tuple(dict.fromkeys(watch))
        self.calls += 1
        checkpoint = self._read(self._evm.snapshot)
        try:
            before = {h: self._holding(h) for h in holdings}
            with self._as_account(call.caller):
                outcome = self._run(call, keep=True)
            after = {h: self._holding(h) for h in holdings} if outcome.success else before
        except SimulationError:
            self._evm.revert(checkpoint)
            raise
        if not (keep and outcome.success):
            self._evm.revert(checkpoint)
        deltas = {
            h: a - b
            for h, b in before.items()
            if b is not None and (a := after.get(h)) is not None and a != b
        }
        return Outcome(
            call,
            outcome.success,
            outcome.output,
            outcome.gas_used,
            outcome.logs,
            outcome.error,
            deltas,
        )

    @contextmanager
    def _as_account(self, caller: str) -> Iterator[None]:
        """Let a contract be the caller (a factory calling what it made): revm refuses a
        transaction from an account with code (EIP-3607), so its code is set aside for the
        call and put back after. Calls back into it meanwhile find no code, and a change of
        its own balance by the call is not kept."""
        evm, address = self._evm, _addr(caller)
        info = self._read(lambda: evm.basic(address))
        if not info.code:
            yield
            return
        self._read(lambda: evm.insert_account_info(address, self._pyrevm.AccountInfo(info.nonce)))
        self._read(lambda: evm.set_balance(address, info.balance))
        try:
            yield
        finally:
            evm.insert_account_info(address, info)

    def _holding(self, holding: Holding) -> int | None:
        if holding.asset == NATIVE:
            return self.balance(holding.holder)
        return self.token_balance(holding.asset, holding.holder)

    def _run(self, call: Call, *, keep: bool) -> Outcome:
        """One message call; a revert or halt is an unsuccessful outcome."""
        evm = self._evm
        checkpoint = None if keep else self._read(evm.snapshot)
        try:
            output = bytes(
                evm.message_call(
                    _addr(call.caller),
                    _addr(call.to),
                    call.data,
                    value=call.value,
                    gas=call.gas,
                )
            )
        except RuntimeError as exc:
            return self._failed(call, exc, checkpoint)
        result = evm.result
        logs = tuple(
            SimLog(log.address.lower(), tuple(t.lower() for t in log.topics), bytes(log.data[1]))
            for log in (result.logs if result is not None else ())
        )
        gas = result.gas_used if result is not None else 0
        if checkpoint is not None:
            evm.revert(checkpoint)
        return Outcome(call, True, output, gas, logs)

    def _failed(
        self, call: Call, exc: RuntimeError, checkpoint: pyrevm.JournalCheckpoint | None
    ) -> Outcome:
        text = str(exc)
        if checkpoint is not None:
            self._evm.revert(checkpoint)
        if text.startswith("Transaction("):  # refused before running: a nonce, a balance
            reason = text.removeprefix("Transaction(").removesuffix(")")
            return Outcome(call, False, b"", 0, error=f"refused: {reason}"[:200])
        if not text.startswith(("Revert", "Halt")):
            raise SimulationError(
                f"simulation at block {self.at} failed: {_scrubbed(exc)}"
            ) from exc
        gas_match = _GAS_USED.search(text)
        gas = int(gas_match.group(1)) if gas_match else 0
        if text.startswith("Halt"):
            reason = text.split("reason:", 1)[-1].split(",", 1)[0].strip() or "halted"
            return Outcome(call, False, b"", gas, error=f"halted: {reason}"[:200])
        found = _OUTPUT.search(text)
        output = bytes.fromhex(found.group(1)) if found else b""
        return Outcome(call, False, output, gas, error=revert_reason(output))

    def _read(self, read: Callable[[], _T]) -> _T:
        try:
            return read()
        except RuntimeError as exc:
            raise SimulationError(f"reading block {self.at} failed: {_scrubbed(exc)}") from exc
