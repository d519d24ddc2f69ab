"""How to measure an incident's damage: how users' positions are valued, and known labels."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, field_validator

from breakglass.plan.models.base import Address, Name, PlanModel

__all__ = ["Analysis", "Label", "LabelKind", "Position"]

_ADDRESS_VIEW = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*\(address\)$")
_NO_ARG_VIEW = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*\(\)$")


class Position(PlanModel):
    """One kind of user position: ``view(user)`` on ``contract``, optionally scaled.

    The value in base units of ``asset`` is ``view(user) * scale() // 10**scale_decimals``
    (exact integer math), or ``view(user)`` when there is no ``scale``.
    """

    contract: Name = Field(description="A contract named in the plan's `contracts`.")
    view: str = Field(default="balanceOf(address)", description="A view taking the user.")
    scale: str | None = Field(default=None, description="A view without arguments, e.g. a price.")
    scale_decimals: int = Field(default=18, ge=0, le=77)
    asset: Address = Field(description="The token the value is an amount of.")

    @field_validator("view")
    @classmethod
    def _address_view(cls, value: str) -> str:
        if not _ADDRESS_VIEW.match(value):
            raise ValueError("a view signature taking one address, e.g. balanceOf(address)")
        return value

    @field_validator("scale")
    @classmethod
    def _scale_view(cls, value: str | None) -> str | None:
        if value is not None and not _NO_ARG_VIEW.match(value):
            raise ValueError("a view signature without arguments, e.g. pricePerShare()")
        return value


class LabelKind(StrEnum):
    """What an address that received funds is."""

    exchange = "exchange"
    bridge = "bridge"
    mixer = "mixer"
    unknown = "unknown"


class Label(PlanModel):
    """A known address: funds moved there are reported with its kind and name."""

    address: Address
    kind: LabelKind
    name: str | None = None


class Analysis(PlanModel):
    """How breakglass measures losses after an incident."""

    positions: list[Position] = Field(default_factory=list)
    labels: list[Label] = Field(default_factory=list)
    from_block: int = Field(
        default=0, ge=0, description="First block searched for depositors (e.g. deployment)."
    )

    def label(self, address: str) -> Label | None:
        """The label of ``address`` (any case), if the plan names it."""
        wanted = address.lower()
        return next((x for x in self.labels if x.address.lower() == wanted), None)
