"""What a rule reports: a typed finding, never a dict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from breakglass.plan.models import Severity

__all__ = ["Confidence", "Finding", "Severity"]


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True, slots=True)
class Finding:
    """One abnormal thing a rule saw, placed precisely on the chain.

    ``rule`` is the plan's id for the configured rule (``pool-drain``), ``kind`` the rule
    type (``large-outflow``). ``addresses`` are the accounts involved, lowercase.
    """

    rule: str
    kind: str
    chain: str
    block_number: int
    block_hash: str
    severity: Severity
    confidence: Confidence
    title: str
    description: str
    tx_hash: str | None = None
    log_index: int | None = None
    addresses: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def dedupe_key(self) -> str:
        """Same rule, same chain event: the same alert, however often it is evaluated."""
        where = self.tx_hash or self.block_hash
        suffix = "" if self.log_index is None else f":{self.log_index}"
        return f"{self.rule}:{self.chain}:{where}{suffix}"
