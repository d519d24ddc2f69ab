"""Assets in human terms: a token's symbol and decimals, amounts with their unit, plan names for
known addresses and explorer links.

The symbol and decimals are read from the token once per (chain, address) and kept for the
process. Formatting works from base-unit integers with exact decimal arithmetic, so a shown
figure is the stored one rounded, never a float's approximation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Literal

from eth_abi.abi import default_codec
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak
from sqlalchemy import select

from breakglass.errors import ChainError, ConfigError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.chain.pool import EndpointPool
    from breakglass.plan.models import Plan

__all__ = [
    "AssetInfo",
    "cached_asset",
    "decode_symbol",
    "explorer_link",
    "format_amount",
    "incident_assets",
    "name_address",
    "plan_names",
    "read_asset",
    "read_assets",
    "read_plan_assets",
    "read_units_now",
    "remember_asset",
    "short_address",
]

_CACHE: dict[tuple[str, str], AssetInfo] = {}
_MISSED: dict[tuple[str, str], float] = {}  # when a read last failed (time.monotonic)
_RETRY = 60.0
_MAX_SYMBOL = 32


@dataclass(frozen=True, slots=True)
class AssetInfo:
    """What a token says of itself; ``None`` where it does not say (or says nonsense)."""

    symbol: str | None
    decimals: int | None


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


def decode_symbol(raw: bytes) -> str | None:
    """A ``symbol()`` return value as text: an ABI string, or a bytes32 as MKR and SAI
    return it; ``None`` when it is neither or holds no printable text."""
    text: str | None = None
    if len(raw) >= 64:
        try:
            text = default_codec.decode(("string",), raw)[0]
        except (DecodingError, UnicodeDecodeError, OverflowError):
            text = None
    if text is None and len(raw) == 32:
        text = raw.rstrip(b"\0").decode("utf-8", errors="ignore")
    if text is None:
        return None
    # A symbol goes into titles, tables and HTML: control characters and overlong text are
    # a token author's choice, not something to reproduce.
    text = "".join(c for c in text if c.isprintable()).strip()[:_MAX_SYMBOL]
    return text or None


def _decimals(raw: bytes) -> int | None:
    if len(raw) != 32:
        return None
    value = int.from_bytes(raw, "big")
    return value if value <= 77 else None


async def _call(pool: EndpointPool, address: str, signature: str) -> bytes | None:
    try:
        result = await pool.request(
            "eth_call", [{"to": address, "data": _selector(signature)}, "latest"]
        )
    except ChainError:
        # A revert (no such function) and an unreachable node both leave the unit unknown;
        # the amount is still shown, in base units.
        return None
    if not isinstance(result, str):
        return None
    try:
        return bytes.fromhex(result.removeprefix("0x"))
    except ValueError:
        return None


async def read_asset(*, pool: EndpointPool, chain: str, address: str) -> AssetInfo:
    """The token's ``symbol()`` and ``decimals()``, read once per chain and address.

    Args:
        pool: endpoints of ``chain``.
        chain: the plan's chain name (the cache key with the address).
        address: the token.

    Returns:
        The symbol and decimals; either is ``None`` when the token has no such view. A
        failed read is not cached, so the next call tries again.
    """
    key = (chain, address.lower())
    known = _CACHE.get(key)
    if known is not None:
        return known
    raw_symbol = await _call(pool, key[1], "symbol()")
    raw_decimals = await _call(pool, key[1], "decimals()")
    info = AssetInfo(
        decode_symbol(raw_symbol) if raw_symbol else None,
        _decimals(raw_decimals) if raw_decimals else None,
    )
    if raw_symbol is not None or raw_decimals is not None:
        _CACHE[key] = info
    return info


async def read_assets(
    *, pool: EndpointPool, chain: str, addresses: Iterable[str]
) -> dict[tuple[str, str], AssetInfo]:
    """:func:`read_asset` of each token address (native ``ETH`` and other non-addresses are
    skipped), keyed as the report modules take them: (chain, lower-case address)."""
    found: dict[tuple[str, str], AssetInfo] = {}
    for address in sorted({a.lower() for a in addresses}):
        if address.startswith("0x") and len(address) == 42:
            found[chain, address] = await read_asset(pool=pool, chain=chain, address=address)
    return found


async def read_plan_assets(
    *, plan: Plan, wanted: Iterable[tuple[str, str]]
) -> tuple[dict[tuple[str, str], AssetInfo], list[str]]:
    """:func:`read_assets` of ``(chain, address)`` pairs through the plan's endpoints.

    Returns:
        The units found, and one note per chain that could not be read (not in the plan,
        no usable endpoint): its amounts stay in base units, and the caller says so.
    """
    from breakglass.chain.endpoints import plan_endpoints  # noqa: PLC0415
    from breakglass.chain.pool import EndpointPool  # noqa: PLC0415

    by_chain: dict[str, set[str]] = {}
    for chain, address in wanted:
        by_chain.setdefault(chain, set()).add(address)
    found: dict[tuple[str, str], AssetInfo] = {}
    notes: list[str] = []
    for chain, addresses in sorted(by_chain.items()):
        config = plan.chains.get(chain)
        if config is None:
            notes.append(f"amounts on {chain} stay in base units: the plan has no such chain")
            continue
        try:
            pool = EndpointPool(plan_endpoints(config, prefer_ws=False, name=chain), chain=chain)
        except ConfigError as exc:
            notes.append(f"amounts on {chain} stay in base units: {exc}")
            continue
        try:
            found |= await read_assets(pool=pool, chain=chain, addresses=addresses)
        finally:
            await pool.aclose()
    return found, notes


def read_units_now(
    plan: Plan, wanted: Iterable[tuple[str, str]], *, timeout: float = 3.0
) -> dict[tuple[str, str], AssetInfo]:
    """The units of ``(chain, address)`` pairs: the cached ones at once, the others read
    through the plan's endpoints within ``timeout`` seconds. For a page or an API answer:
    a token that could not be read is not tried again for a minute, so a node that is down
    costs one slow answer a minute, not every answer. Blocks: call it from a worker thread,
    never from a running event loop.

    Returns:
        Units by (chain, lower-case address); unknown tokens are left out.
    """
    found: dict[tuple[str, str], AssetInfo] = {}
    missing: list[tuple[str, str]] = []
    now = time.monotonic()
    for chain, address in wanted:
        key = (chain, address.lower())
        known = _CACHE.get(key)
        if known is not None:
            found[key] = known
        elif _is_address(key[1]) and _MISSED.get(key, -_RETRY) + _RETRY <= now:
            missing.append(key)
    if not missing:
        return found
    try:
        read, _notes = asyncio.run(
            asyncio.wait_for(read_plan_assets(plan=plan, wanted=missing), timeout)
        )
    except TimeoutError:
        read = {}
    for key in missing:
        if key in read and read[key] != AssetInfo(None, None):
            found[key] = read[key]
        else:
            _MISSED[key] = now
    return found


def incident_assets(session: Session, incident_id: int) -> set[tuple[str, str]]:
    """The ``(chain, token)`` pairs an incident's figures are in: its user losses, fund
    movements and funds at risk."""
    from breakglass.incidents.errors import IncidentNotFound  # noqa: PLC0415
    from breakglass.incidents.evidence import fund_movements  # noqa: PLC0415
    from breakglass.incidents.service import get_incident  # noqa: PLC0415
    from breakglass.store.models import UserLoss  # noqa: PLC0415

    pairs = {
        (row.chain, row.asset.lower())
        for row in session.scalars(select(UserLoss).where(UserLoss.incident_id == incident_id))
    }
    pairs |= {(m.chain, m.asset.lower()) for m in fund_movements(session, incident_id)}
    try:
        stored = getattr(get_incident(session, incident_id), "funds_at_risk", None)
    except IncidentNotFound:
        stored = None
    for item in stored if isinstance(stored, list) else []:
        if isinstance(item, dict) and item.get("chain") and item.get("asset"):
            pairs.add((str(item["chain"]), str(item["asset"]).lower()))
    return {p for p in pairs if _is_address(p[1])}


def _is_address(value: str) -> bool:
    return value.startswith("0x") and len(value) == 42


def cached_asset(*, chain: str, address: str) -> AssetInfo | None:
    """What :func:`read_asset` or :func:`remember_asset` learnt of a token, without I/O."""
    return _CACHE.get((chain, address.lower()))


def remember_asset(*, chain: str, address: str, info: AssetInfo) -> None:
    """Record a token's unit known otherwise (e.g. from the plan), so no read is needed."""
    _CACHE[(chain, address.lower())] = info


def format_amount(value: int, *, decimals: int | None, symbol: str | None, places: int = 2) -> str:
    """``18,333.33 dUSD`` from base units, rounded half-even to ``places`` with trailing zeros
    dropped (``110,000 dUSD``); a non-zero amount too small to show reads ``<0.01 dUSD``.

    Without decimals the amount stays in base units and says so.
    """
    if decimals is None:
        return f"{value:,} base units" + (f" of {symbol}" if symbol else "")
    unit = f" {symbol}" if symbol else ""
    with localcontext() as context:
        context.prec = 100  # 2**256 has 78 digits: never rounded before the quantize
        exact = Decimal(value).scaleb(-decimals)
        shown = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    if shown == 0 and value != 0:
        smallest = format(Decimal(1).scaleb(-places), "f")
        return f"{'-' if value < 0 else ''}<{smallest}{unit}"
    text = f"{shown:,.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + unit


def short_address(address: str) -> str:
    """``0x663f…3ad6``: enough to tell addresses apart by eye, short enough for a title."""
    if len(address) != 42 or not address.startswith("0x"):
        return address
    return f"{address[:6]}…{address[-4:]}"


def plan_names(plan: Plan) -> dict[str, str]:
    """Lower-case address → plan name, for contracts and for signers that have an address."""
    names: dict[str, str] = {}
    for name, signer in plan.signers.items():
        address = getattr(signer, "address", None)
        if isinstance(address, str):
            names[address.lower()] = name
    for name, contract in plan.contracts.items():
        names[contract.address.lower()] = name
    return names


def name_address(address: str, names: Mapping[str, str]) -> str:
    """The plan's name for ``address``, else its short form."""
    return names.get(address.lower()) or short_address(address)


def explorer_link(
    explorer: str | None, kind: Literal["tx", "address", "block", "token"], value: str | int
) -> str | None:
    """``{explorer}/tx/0x…`` and the like (the Etherscan path scheme that Blockscout and
    most explorers share); ``None`` when the chain has no explorer in the plan."""
    if not explorer:
        return None
    return f"{explorer.rstrip('/')}/{kind}/{value}"
