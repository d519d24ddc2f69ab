"""What every action shares: its outcome, its failure and what it needs from the runner."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import BreakglassError
from breakglass.respond.signers.local import LocalSigner

if TYPE_CHECKING:  # safe-eth-py takes a second to import; only Safe steps need it
    from breakglass.notify import Notifier
    from breakglass.respond.signers.safe import SafeAccount

__all__ = [
    "Action",
    "ActionEnv",
    "Outcome",
    "Record",
    "Rpc",
    "StepFailed",
    "Transactor",
]


class Rpc(Protocol):
    """The JSON-RPC surface actions use (an :class:`~breakglass.chain.pool.EndpointPool`)."""

    async def request(self, method: str, params: Sequence[Any] = ...) -> Any: ...

    async def batch(self, calls: Sequence[tuple[str, Sequence[Any]]]) -> list[Any]: ...


class Transactor(Protocol):
    """Sends transactions as one account: a local key, or an impersonated one on a fork."""

    @property
    def address(self) -> str: ...

    async def arm(self, to: str, data: bytes) -> None:
        """Prepare and pre-sign ``to``/``data`` so a later :meth:`send` is one round trip."""

    async def send(self, to: str, data: bytes) -> str:
        """Broadcast; return the transaction hash."""

    async def wait(self, tx_hash: str, *, timeout: float) -> dict[str, Any]:
        """The receipt of ``tx_hash`` (or of its fee-bumped replacement).

        Raises:
            ChainError: not mined in time, or reverted.
        """


class Record(Protocol):
    """Records one phase of the running step (see :class:`~breakglass.respond.journal.Journal`)."""

    def __call__(self, phase: str, **detail: Any) -> object: ...

    async def step_id(self) -> int | None:
        """The stored step's id, once its row is written."""


class ActionEnv(Protocol):
    """What the runner provides to actions."""

    dry_run: bool
    receipt_timeout: float

    def rpc(self, chain: str) -> Rpc: ...

    def transactor(self, chain: str, signer: str) -> Transactor: ...

    def local_signer(self, name: str) -> LocalSigner: ...

    def safe_account(self, chain: str, address: str) -> SafeAccount: ...

    def impersonated(self, chain: str, address: str) -> Transactor:
        """Dry runs only: act as ``address`` on the throwaway fork."""

    def proposals(self) -> sessionmaker[Session]:
        """Where Safe proposals are kept."""

    def notifier(self) -> Notifier:
        """Delivers notify and page steps (queued in the database, retried until sent)."""


@dataclass(frozen=True)
class Outcome:
    """How a step ended when it did not fail.

    ``done``: it acted and the post-condition holds; ``skipped``: it was already done;
    ``waiting``: it waits for people (signatures, a checklist tick).
    """

    status: Literal["done", "skipped", "waiting"]
    note: str = ""
    tx_hash: str | None = None


class StepFailed(BreakglassError):
    """A step failed in ``phase``; the runner then runs the step's fallback."""

    def __init__(self, phase: str, reason: str) -> None:
        self.phase = phase
        self.reason = reason
        super().__init__(f"{phase}: {reason}")


class Action(ABC):
    """One step made concrete: addresses resolved, calldata encoded, checks parsed."""

    kind: str  # the plan's step action: pause, call, safe-proposal, …
    summary: str  # one line for people: "pause pool as guardian"
    chain: str | None
    mitigation: str | None  # what a role must handle to approve it (``roles.*.handles``)

    @abstractmethod
    async def run(self, env: ActionEnv, record: Record) -> Outcome:
        """Carry the action out.

        Raises:
            StepFailed: any phase failed; the message says which and why.
        """

    async def arm(self, env: ActionEnv) -> None:  # noqa: B027 - most actions have nothing to pre-sign
        """Prepare ahead of need (pre-sign a pause); a no-op for most actions."""
