"""Chains, their RPC endpoints, watched contracts, signers and off-chain dependencies."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from breakglass.plan.models.base import (
    Address,
    Duration,
    Flag,
    Name,
    PlanModel,
    Secret,
    SecretRef,
    UrlModel,
)

__all__ = [
    "Chain",
    "ChainHealth",
    "Contract",
    "Dependency",
    "DependencyKind",
    "EnvSigner",
    "ExternalSigner",
    "GasCaps",
    "Heartbeat",
    "KeystoreSigner",
    "Mempool",
    "Ordering",
    "PauseMethod",
    "RpcEndpoint",
    "SafeSigner",
    "Signer",
]


_HTTP = frozenset({"http", "https", "ws", "wss"})
_WS = frozenset({"ws", "wss"})


class RpcEndpoint(UrlModel):
    """A JSON-RPC endpoint. A bare string is shorthand for ``{url: ...}``."""

    ws: Secret | None = None
    priority: int = Field(default=0, ge=0, description="Lower is tried first.")
    weight: int = Field(default=1, ge=1)
    provider: str | None = None
    status_page: str | None = None

    @model_validator(mode="after")
    def _json_rpc_scheme(self) -> RpcEndpoint:
        # A template that starts with ${VAR} gets its scheme from the environment; the
        # chain's endpoint resolver is the check then.
        for url, schemes in ((self.url, _HTTP), (self.ws, _WS)):
            if url is None or url.template.startswith("${"):
                continue
            scheme = url.template.split("://", 1)[0].lower() if "://" in url.template else ""
            if scheme not in schemes:
                wanted = "ws(s)://" if schemes is _WS else "http(s):// or ws(s)://"
                raise ValueError(f"an RPC URL starts with {wanted}, not {scheme or '?'}://")
        return self


class GasCaps(PlanModel):
    """The most breakglass bids for its own transactions on a chain, in gwei."""

    max_fee_gwei: Decimal | None = Field(default=None, gt=0)
    max_priority_fee_gwei: Decimal | None = Field(default=None, gt=0)


class Heartbeat(UrlModel):
    """An outside dead-man's switch the monitor pings while it is watching the chain.

    ``url`` is a plain ``https://`` URL (fetched with GET, as healthchecks.io, Better Stack
    and Uptime Kuma push monitors expect) or any Apprise URL.
    """

    every: Duration = Field(default=timedelta(seconds=60), description="Time between pings.")


class ChainHealth(PlanModel):
    """When the monitor's own trouble becomes a ``breakglass.health`` alert on this chain."""

    no_head_after: Duration | None = Field(
        default=None,
        description="No new head for this long is a condition (default: 3 block times, "
        "at least 30s).",
    )
    grace: Duration = Field(
        default=timedelta(seconds=60),
        description="How long a condition must last before it alerts and pages.",
    )
    check_every: Duration = Field(
        default=timedelta(seconds=15), description="Time between health checks."
    )
    guardian_min_txs: int = Field(
        default=3,
        ge=1,
        description="Emergency transactions each auto-step key must be able to pay for.",
    )


class Ordering(StrEnum):
    """How the chain orders the transactions of a block: what decides whether a pause sent
    after a pending exploit was seen can still land before it."""

    PRIORITY_FEE = "priority-fee"
    """Builders order by fee (Ethereum, most L1s; anvil by max fee): a higher bid wins."""
    FIFO = "fifo"
    """A first-come sequencer (OP Stack, Arbitrum): what arrived first goes first."""
    PRIVATE_ORDERFLOW = "private-orderflow"
    """Transactions reach the builder privately: a pending exploit is never seen."""


class Mempool(PlanModel):
    """Pre-execution from the public mempool: each pending transaction that touches a watched
    contract is simulated, the plan's rules judge what it would do, and when a critical rule
    fires the pause is sent at once with a bid that outranks the pending exploit."""

    enabled: Flag = Field(
        default=False, description="Follow the chain's pending transactions and pre-execute."
    )
    max_fee_gwei: Decimal | None = Field(
        default=None,
        gt=0,
        description="The most an outbidding pause may offer as max fee per gas (default: the "
        "chain's gas.max_fee_gwei). A pending exploit bidding more wins the ordering.",
    )
    max_priority_fee_gwei: Decimal | None = Field(
        default=None,
        gt=0,
        description="The most an outbidding pause may tip (default: the chain's "
        "gas.max_priority_fee_gwei).",
    )
    route: Literal["public", "private"] = Field(
        default="public",
        description="Where the outbidding pause is sent: the chain's own RPC (seen by everyone, "
        "so it can be griefed) or private_rpc (seen only by the builder).",
    )
    private_rpc: Secret | None = Field(
        default=None,
        description="A private-transaction RPC (e.g. Flashbots Protect) for route: private; "
        "may hold ${VAR} references.",
    )
    confirm: Literal["before", "alongside", "off"] = Field(
        default="alongside",
        description="Simulate [pause, exploit] to confirm the pause stops it: before sending "
        "(costs a round trip), alongside the send (recorded, never delays it), or not at all.",
    )

    @model_validator(mode="after")
    def _route_has_url(self) -> Mempool:
        if self.route == "private" and self.private_rpc is None:
            raise ValueError("route: private needs private_rpc")
        return self


class Chain(PlanModel):
    chain_id: int = Field(gt=0)
    rpc: list[RpcEndpoint] = Field(min_length=1)
    confirmations: int = Field(default=0, ge=0)
    block_time: float | None = Field(default=None, gt=0, description="Seconds between blocks.")
    quorum: int | None = Field(
        default=None, ge=1, description="Endpoints that must agree on a new head's hash."
    )
    gas: GasCaps = Field(default_factory=GasCaps)
    heartbeat: Heartbeat | None = None
    health: ChainHealth = Field(default_factory=ChainHealth)
    ordering: Ordering = Field(
        default=Ordering.PRIORITY_FEE,
        description="How blocks order transactions: priority-fee, fifo (a first-come "
        "sequencer) or private-orderflow; says what mempool pre-execution can do here.",
    )
    mempool: Mempool = Field(default_factory=Mempool)
    explorer: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="Block explorer base URL (e.g. https://etherscan.io); links are "
        "{explorer}/tx/<hash>, /address/<address> and /block/<number>.",
    )

    def no_head_after(self) -> timedelta:
        """How long without a new head is trouble: the plan's ``health.no_head_after``, else
        three block times and at least 30 seconds."""
        if self.health.no_head_after is not None:
            return self.health.no_head_after
        return max(timedelta(seconds=3 * (self.block_time or 0)), timedelta(seconds=30))


class PauseMethod(PlanModel):
    """How a contract is paused and how to tell that it is."""

    function: str = Field(default="pause()", min_length=3)
    check: str | None = Field(default="paused()", description="View that is true when paused.")
    unpause: str | None = "unpause()"


class Contract(PlanModel):
    chain: Name
    address: Address
    abi: Path | None = Field(default=None, description="ABI JSON file, relative to the plan.")
    description: str | None = None
    owner: str | None = Field(default=None, description="Signer name or address that owns it.")
    admin: str | None = Field(default=None, description="Signer name or address of its admin.")
    pause: PauseMethod | None = None
    upgradeable: Flag = False


class KeystoreSigner(PlanModel):
    """An encrypted eth-account keystore file."""

    type: Literal["keystore"]
    path: Path
    password: SecretRef | None = Field(
        default=None, description="Keystore password; asked for at the prompt when omitted."
    )
    address: Address | None = None


class EnvSigner(PlanModel):
    """A raw private key from the environment; allowed, but loudly discouraged."""

    type: Literal["env"]
    key: SecretRef
    address: Address | None = None


class SafeSigner(PlanModel):
    """A Safe multisig; ``local_owners`` names signers whose keys this machine holds."""

    type: Literal["safe"]
    chain: Name
    address: Address
    threshold: int = Field(ge=1)
    owners: list[Address] = Field(default_factory=list)
    local_owners: list[Name] = Field(default_factory=list)
    delegatecall_allowed: list[Address] = Field(
        default_factory=list,
        description="Targets a proposal may DELEGATECALL (e.g. MultiSendCallOnly); any other "
        "delegatecall is refused, as it runs the target's code as the Safe.",
    )

    @model_validator(mode="after")
    def _threshold_fits(self) -> SafeSigner:
        if self.owners and self.threshold > len(self.owners):
            raise ValueError(
                f"threshold {self.threshold} is more than the {len(self.owners)} owners listed"
            )
        return self


class ExternalSigner(PlanModel):
    """A remote signer asked over JSON-RPC (Clef, Web3Signer, Frame): the key stays in its
    KMS or HSM and never enters breakglass."""

    type: Literal["external"]
    url: Secret = Field(description="The signer's JSON-RPC URL; may hold ${VAR} references.")
    address: Address = Field(description="The account the signer signs for.")
    method: Literal["eth_signTransaction", "account_signTransaction"] = Field(
        default="eth_signTransaction",
        description="account_signTransaction is Clef's own API; the rest speak eth_.",
    )
    headers: dict[str, Secret] = Field(
        default_factory=dict, description="HTTP headers, e.g. Authorization: Bearer ${TOKEN}."
    )
    timeout: Duration = Field(
        default=timedelta(seconds=5), description="Longest wait for one signature."
    )


Signer = Annotated[
    KeystoreSigner | EnvSigner | SafeSigner | ExternalSigner, Field(discriminator="type")
]


class DependencyKind(StrEnum):
    ORACLE = "oracle"
    BRIDGE = "bridge"
    UPSTREAM_PROTOCOL = "upstream-protocol"
    RPC_PROVIDER = "rpc-provider"
    STABLECOIN = "stablecoin"
    SEQUENCER = "sequencer"
    OFFCHAIN_SERVICE = "offchain-service"
    OTHER = "other"


class Dependency(PlanModel):
    """Something outside the protocol that it relies on, and where to learn it is down."""

    kind: DependencyKind
    description: str | None = None
    status_page: str | None = None
    contact: str | None = None
