"""Token units kept in the database once read.

An incident outlives the endpoints that served it: the demo's anvil stops when the demo ends,
a devnet is reset, an RPC provider is down mid-incident. The symbol and decimals read while
the chain answered are kept (``asset_units``), so ``incident show``, the post-mortem and the
status words still say ``110,000 dUSD`` afterwards instead of 24-digit base units of an
address, and do not wait on a dead endpoint to learn it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from breakglass.analysis.assets import AssetInfo, read_plan_assets, remember_asset
from breakglass.store.models import AssetUnit

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from breakglass.plan.models import Plan

__all__ = ["keep_units", "known_units", "stored_units"]

Key = tuple[str, str]


def stored_units(session: Session, wanted: Iterable[Key]) -> dict[Key, AssetInfo]:
    """The kept units of ``(chain, address)`` pairs, keyed by (chain, lower-case address);
    pairs never read are left out. Each is remembered for the process as well."""
    keys = {(chain, address.lower()) for chain, address in wanted}
    if not keys:
        return {}
    found: dict[Key, AssetInfo] = {}
    query = select(AssetUnit).where(AssetUnit.address.in_({a for _c, a in keys}))
    for row in session.scalars(query):
        key = (row.chain, row.address)
        if key in keys:
            found[key] = AssetInfo(row.symbol, row.decimals)
            remember_asset(chain=row.chain, address=row.address, info=found[key])
    return found


def keep_units(
    session: Session, units: Mapping[Key, AssetInfo], *, now: datetime | None = None
) -> None:
    """Keep what tokens said of themselves; a token that said nothing is not kept (it is
    asked again next time), and a newer read replaces an older one."""
    when = now or datetime.now(UTC)
    for (chain, address), info in units.items():
        if info.symbol is None and info.decimals is None:
            continue
        row = session.get(AssetUnit, (chain, address.lower()))
        if row is None:
            row = AssetUnit(chain=chain, address=address.lower(), read_at=when)
            session.add(row)
        row.symbol, row.decimals, row.read_at = info.symbol, info.decimals, when
    session.flush()


def known_units(
    session: Session, plan: Plan | None, wanted: Iterable[Key]
) -> tuple[dict[Key, AssetInfo], list[str]]:
    """The units of ``wanted``: the kept ones, and the others read through the plan's
    endpoints (and kept). Blocks: for commands, never from a running event loop.

    Returns:
        Units by (chain, lower-case address), and one note per chain that could not be read
        for the tokens not kept (their amounts stay in base units; the caller says so).
    """
    pairs = {(chain, address.lower()) for chain, address in wanted}
    found = stored_units(session, pairs)
    missing = {(c, a) for c, a in pairs - found.keys() if a.startswith("0x") and len(a) == 42}
    if not missing or plan is None:
        return found, []
    read, notes = asyncio.run(read_plan_assets(plan=plan, wanted=missing))
    keep_units(session, read)
    return found | read, notes
