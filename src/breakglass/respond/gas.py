"""Urgency-aware EIP-1559 fees: quotes from ``eth_feeHistory``, a per-head cache, bumps.

One batched round trip (``eth_feeHistory`` + the latest block) prices every urgency at once;
:meth:`GasStrategy.refresh` on each new head keeps :meth:`GasStrategy.cached` warm so the
emergency path never waits for the network. Caps always win over the market, and say so.

Where the plan sets no cap, defaults bound the bid: anyone can pay one transaction's huge tip
to lift the recent p99 the emergency tip follows, until the guardian cannot afford the pause
("insufficient funds" is checked against gas limit x max fee). The default tip cap is
:data:`DEFAULT_TIP_CAP_GWEI` (per chain id, else :data:`FALLBACK_TIP_CAP_GWEI`), and the default
max fee is :data:`DEFAULT_BASE_FEE_MULTIPLE` times the next base fee plus that tip cap.
"""

from __future__ import annotations

import enum
import statistics
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

import structlog

from breakglass.errors import ChainError
from breakglass.plan.models.chain import GasCaps as PlanGasCaps
from breakglass.respond.nonces import Rpc

__all__ = [
    "DEFAULT_BASE_FEE_MULTIPLE",
    "DEFAULT_TIP_CAP_GWEI",
    "FALLBACK_TIP_CAP_GWEI",
    "MIN_BUMP",
    "FeeQuote",
    "Fees",
    "GasCapError",
    "GasCaps",
    "GasStrategy",
    "Urgency",
    "affordable",
    "bump",
    "emergency_floor",
]

_log = structlog.get_logger("breakglass.respond")

GWEI = 10**9
MIN_BUMP = Fraction(9, 8)
"""Nodes accept a replacement only with both fee fields raised by at least 12.5%."""
_PERCENTILES = (50.0, 90.0, 99.0)
EMERGENCY_FLOOR = 5 * GWEI
FALLBACK_TIP_CAP_GWEI = 200
"""Tip cap of a chain the plan sets no ``gas.max_priority_fee_gwei`` for and that has no entry
in :data:`DEFAULT_TIP_CAP_GWEI`: far above what wins a block on a calm chain."""
DEFAULT_TIP_CAP_GWEI: dict[int, int] = {
    1: 200,  # Ethereum: tips of a few gwei win; 200 outbids all but MEV bundles
    10: 50,  # OP Mainnet: sequencer ordering, tips are tiny
    8453: 50,  # Base
    42161: 50,  # Arbitrum One ignores the tip; cap it low
    56: 50,  # BNB Chain
    137: 5_000,  # Polygon PoS: minimum tip 25-30 gwei, congested tips in the thousands
    43114: 500,  # Avalanche C-Chain
}
DEFAULT_BASE_FEE_MULTIPLE = 4
"""Default max fee: this many times the next base fee (it can rise 12.5% a block, so 4x
covers ~11 full blocks) plus the tip cap."""


emergency_floor: ContextVar[Fees | None] = ContextVar("emergency_floor", default=None)
"""Fees an emergency bid must reach, set by mempool pre-execution around a reaction to a
pending exploit it must outrank (already within the plan's caps); tasks started inside
inherit it, every other bid ignores it."""


class GasCapError(ChainError):
    """A gas cap stops a fee from reaching what the transaction needs (e.g. a valid bump)."""


class Urgency(enum.Enum):
    """How badly a transaction must land in the next block."""

    NORMAL = "normal"
    HIGH = "high"
    EMERGENCY = "emergency"


@dataclass(frozen=True)
class GasCaps:
    """Upper bounds in wei; ``None`` is no bound. A cap always wins over the market."""

    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None

    @classmethod
    def from_plan(cls, caps: PlanGasCaps) -> GasCaps:
        """A chain's ``gas:`` caps of the plan, from gwei to wei."""
        return cls(_wei(caps.max_fee_gwei), _wei(caps.max_priority_fee_gwei))


def _wei(gwei: Decimal | None) -> int | None:
    return None if gwei is None else int(gwei * GWEI)


@dataclass(frozen=True)
class Fees:
    """EIP-1559 fee fields in wei."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int

    def at_least(self, other: Fees) -> Fees:
        """Field-wise maximum of both."""
        return Fees(
            max(self.max_fee_per_gas, other.max_fee_per_gas),
            max(self.max_priority_fee_per_gas, other.max_priority_fee_per_gas),
        )


@dataclass(frozen=True)
class FeeQuote:
    """Fees for every urgency, priced at one head."""

    block_number: int
    next_base_fee: int
    fees: dict[Urgency, Fees]
    at: float


def _ceil_mul(value: int, factor: Fraction) -> int:
    return -(-value * factor.numerator // factor.denominator)


def _cap(value: int, cap: int | None) -> int:
    return value if cap is None else min(value, cap)


def affordable(fees: Fees, *, balance: int, gas_limit: int, value: int = 0) -> Fees | None:
    """The highest fees within ``balance`` for ``gas_limit`` gas (the node checks
    ``value + gas_limit * max_fee_per_gas``), or ``None`` when nothing is left for gas."""
    most = (balance - value) // gas_limit if gas_limit > 0 else 0
    if most <= 0:
        return None
    max_fee = min(fees.max_fee_per_gas, most)
    return Fees(max_fee, min(fees.max_priority_fee_per_gas, max_fee))


def bump(fees: Fees, factor: float = 1.125, caps: GasCaps | None = None) -> Fees:
    """Raise both fields by ``factor`` (at least 12.5%, rounded up), within ``caps``.

    Raises:
        GasCapError: a cap keeps a field below the 12.5% a node needs to accept a replacement.
    """
    caps = caps or GasCaps()
    wanted = max(Fraction(factor), MIN_BUMP)
    tip = _ceil_mul(fees.max_priority_fee_per_gas, wanted)
    max_fee = _ceil_mul(fees.max_fee_per_gas, wanted)
    capped = Fees(_cap(max_fee, caps.max_fee_per_gas), _cap(tip, caps.max_priority_fee_per_gas))
    needed_tip = _ceil_mul(fees.max_priority_fee_per_gas, MIN_BUMP)
    needed_max = _ceil_mul(fees.max_fee_per_gas, MIN_BUMP)
    if capped.max_fee_per_gas < needed_max or capped.max_priority_fee_per_gas < needed_tip:
        raise GasCapError(
            f"gas caps {caps} block the 12.5% replacement bump of {fees} "
            f"(needs max_fee_per_gas>={needed_max}, max_priority_fee_per_gas>={needed_tip})"
        )
    if capped != Fees(max_fee, tip):
        _log.warning("respond.gas_capped", wanted_max_fee=max_fee, wanted_tip=tip, caps=caps)
    return Fees(
        capped.max_fee_per_gas, min(capped.max_priority_fee_per_gas, capped.max_fee_per_gas)
    )


def _tip(urgency: Urgency, p50: Sequence[int], p90: Sequence[int], p99: Sequence[int]) -> int:
    median = int(statistics.median(p50)) if p50 else 0
    if urgency is Urgency.NORMAL:
        return max(median, GWEI // 10)
    if urgency is Urgency.HIGH:
        return max(max(p90, default=0), median * 3 // 2, GWEI)
    # First in the next block, against an attacker who repeats the tips it used a block
    # ago (and a quote that may be a block old): well above every tip seen lately. A pause
    # costs ~50k gas; overpaying the tip is nothing next to the funds at stake.
    highest = max(p99, default=0)
    return max(2 * highest + 1, 4 * median, EMERGENCY_FLOOR)


class GasStrategy:
    """Prices transactions by urgency from recent blocks.

    Args:
        rpc: the chain (an ``EndpointPool`` or anything with ``request``/``batch``).
        caps: hard upper bounds; they win over the market.
        blocks: how many recent blocks ``eth_feeHistory`` looks at.
        max_age: seconds a cached quote stays usable.
        clock: seconds, monotonic.
        chain_id: picks the default tip cap where ``caps`` sets none.
    """

    def __init__(
        self,
        rpc: Rpc,
        caps: GasCaps | None = None,
        *,
        blocks: int = 5,
        max_age: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        chain_id: int | None = None,
    ) -> None:
        self._rpc = rpc
        self.caps = caps or GasCaps()
        default_tip = DEFAULT_TIP_CAP_GWEI.get(chain_id or 0, FALLBACK_TIP_CAP_GWEI) * GWEI
        self.tip_cap = self.caps.max_priority_fee_per_gas or default_tip
        self.blocks = blocks
        self.max_age = max_age
        self._clock = clock
        self._quote: FeeQuote | None = None

    async def refresh(self) -> FeeQuote:
        """Price every urgency in one round trip and cache the result (call on each new head)."""
        history, block = await self._rpc.batch(
            [
                ("eth_feeHistory", [hex(self.blocks), "latest", list(_PERCENTILES)]),
                ("eth_getBlockByNumber", ["latest", False]),
            ]
        )
        quote = self._price(history, block)
        self.prime(quote)
        return quote

    async def quote(self, urgency: Urgency) -> Fees:
        """Fresh fees for ``urgency`` (one round trip; refreshes the cache too)."""
        return (await self.refresh()).fees[urgency]

    def prime(self, quote: FeeQuote) -> None:
        """Install ``quote`` as the cached one."""
        self._quote = quote

    def cached(self, urgency: Urgency) -> Fees | None:
        """The cached fees for ``urgency``, or ``None`` when missing or older than ``max_age``."""
        quote = self._quote
        if quote is None or self._clock() - quote.at > self.max_age:
            return None
        return quote.fees[urgency]

    async def fees(self, urgency: Urgency) -> Fees:
        """Cached fees when fresh, else a quote; an emergency bid at least
        :data:`emergency_floor` when one is set."""
        fees = self.cached(urgency) or await self.quote(urgency)
        floor = emergency_floor.get()
        return fees if floor is None or urgency is not Urgency.EMERGENCY else fees.at_least(floor)

    def bump(self, fees: Fees, factor: float = 1.125) -> Fees:
        """:func:`bump` within this strategy's caps."""
        return bump(fees, factor, self.caps)

    def _price(self, history: object, block: object) -> FeeQuote:
        try:
            if not (isinstance(history, dict) and isinstance(block, dict)):
                raise TypeError("not objects")  # noqa: TRY301
            rewards = [[int(r, 16) for r in row] for row in history.get("reward") or []]
            next_base = int(history["baseFeePerGas"][-1], 16)
            latest_base = int(block.get("baseFeePerGas") or "0x0", 16)
            number = int(block["number"], 16)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            # The pool checks shapes; this covers any other Rpc handed in.
            raise ChainError("fee history or latest block has the wrong shape") from None
        columns = [[row[i] for row in rewards if len(row) > i] for i in range(len(_PERCENTILES))]
        fees = {u: self._fees(u, max(next_base, latest_base), *columns) for u in Urgency}
        _log.debug(
            "respond.gas_quoted",
            block=number,
            next_base_fee=next_base,
            **{u.value: (f.max_fee_per_gas, f.max_priority_fee_per_gas) for u, f in fees.items()},
        )
        return FeeQuote(number, next_base, fees, self._clock())

    def _fees(
        self, urgency: Urgency, base: int, p50: list[int], p90: list[int], p99: list[int]
    ) -> Fees:
        tip = _tip(urgency, p50, p90, p99)
        max_fee = 2 * base + tip
        if urgency is Urgency.EMERGENCY:
            # Only base fee + tip is paid; a high cap costs nothing and wins with block
            # builders that order by it (anvil does). Bid up to the plan's cap.
            max_fee = max(4 * base + tip, self.caps.max_fee_per_gas or 0)
        max_cap = self.caps.max_fee_per_gas or DEFAULT_BASE_FEE_MULTIPLE * base + self.tip_cap
        capped_max = min(max_fee, max_cap)
        capped_tip = min(tip, self.tip_cap, capped_max)
        if (capped_max, capped_tip) != (max_fee, tip):
            _log.warning(
                "respond.gas_capped",
                urgency=urgency.value,
                wanted_max_fee=max_fee,
                wanted_tip=tip,
                max_fee=capped_max,
                tip=capped_tip,
                next_base_fee=base,
            )
        return Fees(capped_max, capped_tip)
