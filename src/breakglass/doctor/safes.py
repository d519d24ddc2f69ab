"""Each Safe's owners and threshold on chain are the plan's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from breakglass.doctor.base import DoctorCheck, Finding, NotChecked
from breakglass.doctor.context import DoctorContext
from breakglass.errors import ChainError
from breakglass.plan.issues import Path
from breakglass.plan.models.chain import SafeSigner

__all__ = ["SafeConfigCheck"]


class SafeConfigCheck(DoctorCheck):
    id = "safes.config"
    title = "Each Safe's owners and threshold on chain match the plan"
    needs = (
        "An HTTP endpoint of the Safe's chain (read with safe-eth-py); the addresses of its "
        "`local_owners` (their keys, or the plan's `address`)."
    )
    fix = (
        "Update the plan's `threshold` and `owners` to the Safe's (after checking the change "
        "on chain was meant: an unexpected owner is an incident), or correct its `address`."
    )

    async def findings(self, ctx: DoctorContext) -> AsyncIterator[Finding]:
        for name, config in ctx.plan.signers.items():
            if not isinstance(config, SafeSigner) or not ctx.in_scope(config.chain):
                continue
            path: Path = ("signers", name)
            try:
                url = await ctx.rpc_url(config.chain)
            except NotChecked as exc:
                yield Finding.not_checked(name, exc, path)
                continue
            try:
                threshold, owners = await asyncio.to_thread(_read, config.address, url)
            except ChainError as exc:
                yield Finding.fail(
                    name, f"cannot read a Safe at {config.address} on {config.chain}: {exc}", path
                )
                continue
            problems = _compare(ctx, config, threshold, owners)
            if problems:
                for problem, where in problems:
                    yield Finding.fail(name, problem, (*path, where))
            else:
                yield Finding.ok(
                    name, f"{threshold} of {len(owners)} owners, as the plan says", path
                )


def _read(address: str, url: str) -> tuple[int, list[str]]:
    # safe-eth-py takes a second to import; only plans with Safes pay for it.
    from breakglass.respond.signers.safe import SafeAccount  # noqa: PLC0415

    account = SafeAccount(address, url)
    return account.threshold(), account.owners()


def _compare(
    ctx: DoctorContext, config: SafeSigner, threshold: int, owners: list[str]
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if threshold != config.threshold:
        problems.append(
            (f"threshold on chain is {threshold}, the plan says {config.threshold}", "threshold")
        )
    on_chain = {o.lower() for o in owners}
    if config.owners:
        listed = {o.lower() for o in config.owners}
        missing = [o for o in config.owners if o.lower() not in on_chain]
        extra = [o for o in owners if o.lower() not in listed]
        if missing:
            problems.append((f"not owners on chain: {', '.join(missing)}", "owners"))
        if extra:
            unlisted = ", ".join(extra)
            problems.append((f"owners on chain the plan does not list: {unlisted}", "owners"))
    for signer in config.local_owners:
        try:
            address = ctx.signer_address(signer)
        except NotChecked:
            continue  # signers.keys reports the key that does not load
        if address.lower() not in on_chain:
            problems.append(
                (f"local owner {signer} ({address}) is not an owner on chain", "local_owners")
            )
    return problems
