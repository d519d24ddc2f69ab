"""``run_doctor``: every preflight check against the live chain, in one report."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping

from breakglass.doctor.base import DoctorCheck
from breakglass.doctor.context import DoctorContext
from breakglass.doctor.contracts import CodeCheck, PauseAuthorityCheck
from breakglass.doctor.endpoints import ChainIdCheck, DistinctEndpointsCheck
from breakglass.doctor.gas import GasFundsCheck
from breakglass.doctor.people import ChannelsCheck, PagingCheck
from breakglass.doctor.report import DoctorReport, DoctorResult
from breakglass.doctor.safes import SafeConfigCheck
from breakglass.doctor.secrets import EnvVariablesCheck, SignerKeysCheck
from breakglass.plan.loader import LoadedPlan

__all__ = ["CHECKS", "run_doctor"]

CHECKS: tuple[type[DoctorCheck], ...] = (
    EnvVariablesCheck,
    SignerKeysCheck,
    DistinctEndpointsCheck,
    ChainIdCheck,
    CodeCheck,
    PauseAuthorityCheck,
    SafeConfigCheck,
    PagingCheck,
    ChannelsCheck,
    GasFundsCheck,
)
"""Every check, in the order a person fixes things: environment, keys, endpoints, chain
state, people, money."""


def run_doctor(
    *,
    loaded: LoadedPlan,
    chain: str | None = None,
    deliver_test: bool = False,
    environ: Mapping[str, str] | None = None,
    timeout: float = 5.0,
) -> DoctorReport:
    """Check ``loaded`` against the live chain and this environment.

    Args:
        chain: check only this chain's endpoints, contracts, Safes, steps and gas.
        deliver_test: send one test message to each channel, directly (never queued).
        environ: where ``${VAR}`` references resolve (default: the process environment).
        timeout: seconds each endpoint has to answer.

    Raises:
        PlanError: ``chain`` is not one of the plan's.
    """
    ctx = DoctorContext(
        loaded=loaded,
        environ=dict(os.environ if environ is None else environ),
        chain=chain,
        deliver_test=deliver_test,
        timeout=timeout,
    )
    report = DoctorReport(
        protocol=loaded.plan.protocol, file=loaded.file, chain=chain, deliver_test=deliver_test
    )
    report.results.extend(asyncio.run(_run(ctx)))
    return report


async def _run(ctx: DoctorContext) -> list[DoctorResult]:
    results: list[DoctorResult] = []
    try:
        # Every chain's endpoints at once: a dead one costs its timeout once, not per chain.
        await asyncio.gather(*(ctx.probe(chain) for chain in ctx.chains()))
        for check in CHECKS:
            results.extend(await check().run(ctx))
    finally:
        await ctx.aclose()
    return results
