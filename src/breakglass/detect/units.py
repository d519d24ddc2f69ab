"""The units of the tokens the rules watch, read by the running monitor itself.

A rule does no I/O of its own, so an alert title can only say ``110,000 dUSD`` if the
token's symbol and decimals were read before the alert: by the plan's ``symbol`` parameter,
or here. When the monitor starts, :func:`read_units_soon` reads ``symbol()`` and
``decimals()`` of every token a rule names (``params.token``), once per chain and address,
into the process's cache (:mod:`breakglass.analysis.assets`). It runs as its own task, off
the reaction path: the first block is not held up by it, and a token that cannot be read
leaves its titles in base units with the word for them, never a failed monitor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

import structlog

from breakglass.analysis.assets import AssetInfo, cached_asset, read_asset

if TYPE_CHECKING:
    from breakglass.chain.pool import EndpointPool
    from breakglass.detect.rule import Rule

__all__ = ["read_rule_units", "read_units_soon", "rule_tokens"]

_log = structlog.get_logger("breakglass.detect")
_TASKS: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks
_FIELDS = ("token", "asset")


def _is_address(value: object) -> bool:
    return isinstance(value, str) and value.startswith("0x") and len(value) == 42


def rule_tokens(rules: Iterable[Rule]) -> list[str]:
    """The lower-case token addresses the rules' parameters name, each once, in order."""
    found: dict[str, None] = {}
    for rule in rules:
        params = rule.setup.params
        for name in _FIELDS:
            value = getattr(params, name, None)
            if _is_address(value):
                found[str(value).lower()] = None
    return list(found)


async def read_rule_units(
    rules: Iterable[Rule], *, pool: EndpointPool, chain: str
) -> dict[str, AssetInfo]:
    """Read (or take from the cache) the unit of every token the rules name on ``chain``.

    Returns:
        Lower-case address → what the token said of itself; a token whose reads failed is
        left out (and tried again at the next start).
    """
    units: dict[str, AssetInfo] = {}
    for address in rule_tokens(rules):
        info = cached_asset(chain=chain, address=address) or await read_asset(
            pool=pool, chain=chain, address=address
        )
        if info.symbol is None and info.decimals is None:
            _log.info("detect.token_unit_unknown", chain=chain, asset=address)  # "token" is masked
            continue
        units[address] = info
    if units:
        shown = {a: i.symbol for a, i in units.items()}
        _log.info("detect.token_units", chain=chain, symbols=shown)
    return units


def read_units_soon(
    rules: Iterable[Rule], *, pool: EndpointPool, chain: str, stop: asyncio.Event
) -> asyncio.Task[None]:
    """Start :func:`read_rule_units` as a task of its own; it ends when the reads are done or
    when ``stop`` is set, whichever comes first, so it never outlives the monitor."""
    rules = list(rules)

    async def read() -> None:
        reads = asyncio.ensure_future(read_rule_units(rules, pool=pool, chain=chain))
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({reads, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for job in (reads, stopped):
                job.cancel()
            await asyncio.gather(reads, stopped, return_exceptions=True)
        if reads.done() and not reads.cancelled() and (error := reads.exception()) is not None:
            _log.warning("detect.token_units_failed", chain=chain, error=str(error)[:200])

    task = asyncio.get_running_loop().create_task(read(), name=f"units:{chain}")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task
