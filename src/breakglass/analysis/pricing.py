"""USD values of amounts, from the price sources the plan's ``analysis.prices`` configures.

Each asset is priced by a static price (``{usd: ...}``), a Chainlink-style feed's
``latestRoundData()`` answer or a Uniswap V2 pair's reserves against a USD stablecoin, both
read at a block with detection's own price reader (:class:`~breakglass.detect.rules.oracle.
depeg.PriceSource` and :class:`~breakglass.detect.state.StateReader`). A value is
``amount / 10**decimals * price``, in :class:`~decimal.Decimal` without rounding to floats;
every figure names the source it used (``price_source``), e.g. ``"chainlink feed 0x… at block
123"``, ``"uniswap-v2 pair 0x… at block 123"``, ``"static"`` or :data:`NO_PRICE`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from breakglass.errors import ChainError
from breakglass.plan.models.analysis import AssetPrice, FeedPrice, PairPrice, StaticPrice

if TYPE_CHECKING:
    from breakglass.chain.pool import EndpointPool
    from breakglass.detect.rules.oracle.depeg import PriceSource
    from breakglass.plan.models import Plan

__all__ = [
    "NO_PRICE",
    "Price",
    "UsdFigure",
    "figure",
    "plan_prices",
    "read_prices",
    "to_decimal",
]

NO_PRICE = "no price configured"
"""The ``price_source`` of an amount whose asset has no entry in ``analysis.prices``."""

_PRECISION = 120  # digits: a 256-bit amount times a price stays exact


def to_decimal(value: Fraction) -> Decimal:
    """``value`` as a Decimal: exact when it has a finite decimal expansion, else to 120 digits."""
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        return (Decimal(value.numerator) / Decimal(value.denominator)).normalize()


def _plain(value: Decimal) -> str:
    """A decimal string without exponent (``1E+3`` → ``1000``)."""
    return format(value.normalize(), "f")


@dataclass(frozen=True, slots=True)
class Price:
    """The USD price of one whole unit of ``asset`` at a block (``None``: unreadable there)."""

    asset: str
    usd: Decimal | None
    decimals: int
    source: str

    def value(self, amount: int) -> Decimal | None:
        """``amount`` base units in USD, exact; ``None`` when the price is unreadable."""
        if self.usd is None:
            return None
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            return Decimal(amount).scaleb(-self.decimals) * self.usd


@dataclass(frozen=True, slots=True)
class UsdFigure:
    """An amount's USD value, the price per whole unit, the asset's decimals and the source.

    ``usd`` is ``None`` when the asset has no configured price (``source`` is
    :data:`NO_PRICE`) or its source could not be read at the block.
    """

    usd: Decimal | None
    price_usd: Decimal | None
    decimals: int | None
    source: str

    def to_dict(self) -> dict[str, Any]:
        """``usd_value`` and ``price_usd`` as decimal strings (or ``None``), ``decimals``
        and ``price_source``: the keys the recovery package reads from a loss's detail."""
        return {
            "usd_value": None if self.usd is None else _plain(self.usd),
            "price_usd": None if self.price_usd is None else _plain(self.price_usd),
            "decimals": self.decimals,
            "price_source": self.source,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> UsdFigure:
        """Read back :meth:`to_dict`."""
        usd, price = doc.get("usd_value"), doc.get("price_usd")
        decimals = doc.get("decimals")
        return cls(
            usd=None if usd is None else Decimal(str(usd)),
            price_usd=None if price is None else Decimal(str(price)),
            decimals=decimals if isinstance(decimals, int) else None,
            source=str(doc.get("price_source") or NO_PRICE),
        )

    def text(self) -> str:
        """For people: ``$1,234.56 (static)``, or why there is no USD value."""
        if self.usd is None:
            return self.source if self.source == NO_PRICE else f"unpriced ({self.source})"
        return f"${self.usd:,.2f} ({self.source})"


def figure(prices: Mapping[str, Price], asset: str, amount: int) -> UsdFigure:
    """The USD figure of ``amount`` base units of ``asset`` with ``prices`` (by lower-case
    asset); :data:`NO_PRICE` when the asset has none."""
    price = prices.get(asset.lower())
    if price is None:
        return UsdFigure(None, None, None, NO_PRICE)
    return UsdFigure(price.value(amount), price.usd, price.decimals, price.source)


def plan_prices(plan: Plan) -> dict[str, AssetPrice]:
    """The plan's ``analysis.prices`` by lower-case asset address (empty without any)."""
    if plan.analysis is None:
        return {}
    return {asset.lower(): price for asset, price in plan.analysis.prices.items()}


def _source(asset: str, config: AssetPrice) -> PriceSource | None:
    """Detection's reader of a feed or pair price (``None`` for a static price)."""
    from breakglass.detect.rules.oracle.depeg import PriceSource  # noqa: PLC0415 - heavy

    source = config.source
    if isinstance(source, FeedPrice):
        return PriceSource(feed=source.feed, feed_decimals=source.feed_decimals)
    if isinstance(source, PairPrice):
        return PriceSource(
            pair=source.pair,
            base=asset,
            quote=source.quote,
            base_decimals=config.decimals,
            quote_decimals=source.quote_decimals,
        )
    return None


def _label(config: AssetPrice, block: int) -> str:
    source = config.source
    if isinstance(source, FeedPrice):
        return f"chainlink feed {source.feed.lower()} at block {block}"
    if isinstance(source, PairPrice):
        return f"uniswap-v2 pair {source.pair.lower()} at block {block}"
    return "static"


async def read_prices(
    pool: EndpointPool,
    configs: Mapping[str, AssetPrice],
    assets: Iterable[str],
    block: int,
) -> dict[str, Price]:
    """The price of each of ``assets`` that ``configs`` (by lower-case address) prices, read
    at ``block`` in one batch; an unreadable feed or pair gives ``usd=None`` and says so in
    its source. Assets without a configuration are left out.

    Raises:
        ChainError: the endpoints failed or do not know the block.
    """
    from breakglass.detect.state import StateReader  # noqa: PLC0415 - heavy

    wanted = sorted({a.lower() for a in assets} & set(configs))
    readers = {a: _source(a, configs[a]) for a in wanted}
    state: dict[Any, Any] = {}
    calls = [r.call() for r in readers.values() if r is not None]
    if calls:
        header = await pool.request("eth_getBlockByNumber", [hex(block), False])
        if not isinstance(header, Mapping) or "hash" not in header:
            raise ChainError(f"block {block} is unknown to the endpoints")
        state = await StateReader(pool).read(str(header["hash"]), calls)
    prices: dict[str, Price] = {}
    for asset in wanted:
        config, reader = configs[asset], readers[asset]
        label = _label(config, block)
        if reader is None:
            assert isinstance(config.source, StaticPrice)
            usd: Decimal | None = config.source.usd
        else:
            fraction = reader.price(state.get(reader.call()))
            usd = None if fraction is None or fraction <= 0 else to_decimal(fraction)
            if usd is None:
                label += " (unreadable)"
        prices[asset] = Price(asset, usd, config.decimals, label)
    return prices
