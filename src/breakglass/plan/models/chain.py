"""Chains, their RPC endpoints, watched contracts, signers and off-chain dependencies."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from breakglass.plan.models.base import (
    Address,
    Flag,
    Name,
    PlanModel,
    Secret,
    SecretRef,
    UrlModel,
)

__all__ = [
    "Chain",
    "Contract",
    "Dependency",
    "DependencyKind",
    "EnvSigner",
    "GasCaps",
    "KeystoreSigner",
    "PauseMethod",
    "RpcEndpoint",
    "SafeSigner",
    "Signer",
]


class RpcEndpoint(UrlModel):
    """A JSON-RPC endpoint. A bare string is shorthand for ``{url: ...}``."""

    ws: Secret | None = None
    priority: int = Field(default=0, ge=0, description="Lower is tried first.")
    weight: int = Field(default=1, ge=1)
    provider: str | None = None
    status_page: str | None = None


class GasCaps(PlanModel):
    """The most breakglass bids for its own transactions on a chain, in gwei."""

    max_fee_gwei: Decimal | None = Field(default=None, gt=0)
    max_priority_fee_gwei: Decimal | None = Field(default=None, gt=0)


class Chain(PlanModel):
    chain_id: int = Field(gt=0)
    rpc: list[RpcEndpoint] = Field(min_length=1)
    confirmations: int = Field(default=0, ge=0)
    block_time: float | None = Field(default=None, gt=0, description="Seconds between blocks.")
    quorum: int | None = Field(
        default=None, ge=1, description="Endpoints that must agree on a new head's hash."
    )
    gas: GasCaps = Field(default_factory=GasCaps)


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

    @model_validator(mode="after")
    def _threshold_fits(self) -> SafeSigner:
        if self.owners and self.threshold > len(self.owners):
            raise ValueError(
                f"threshold {self.threshold} is more than the {len(self.owners)} owners listed"
            )
        return self


Signer = Annotated[KeystoreSigner | EnvSigner | SafeSigner, Field(discriminator="type")]


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
