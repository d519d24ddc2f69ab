"""``run_demo``: the whole story, from deployment to post-mortem, in one function call.

See :mod:`breakglass.demo` for what happens; :class:`DemoResult` is what it found and wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from breakglass.demo.aftermath import (
    Aftermath,
    analyse,
    publish,
    recover,
    write_postmortem_files,
)
from breakglass.demo.attack import CHUNK, Attacker
from breakglass.demo.live import LiveOutcome, run_live
from breakglass.demo.plan import GUARDIAN_ENV, plan_yaml
from breakglass.demo.protocol import UNIT, Protocol, deploy_protocol
from breakglass.demo.webhook import Webhook
from breakglass.devchain import Anvil
from breakglass.errors import BreakglassError
from breakglass.outputs import output_dir
from breakglass.plan import load_plan
from breakglass.plan.checks.base import CheckSeverity
from breakglass.plan.checks.report import check_plan
from breakglass.plan.loader import LoadedPlan
from breakglass.runtime.database import open_database
from breakglass.scenario.vault import calldata

__all__ = ["GENESIS_TIMESTAMP", "DemoResult", "run_demo"]

GENESIS_TIMESTAMP = 1_767_225_600
"""2026-01-01T00:00:00Z: the fixed time of the demo chain's genesis block."""

_DECIMALS = 18
"""dUSD's decimals (the demo's stable token)."""
_OUTPUTS = ("breakglass.db", "status", "postmortem", "distribution", "abis")
_OUTPUT_FILES = ("notifications.jsonl", "summary.json", "breakglass.yaml")

Say = Callable[[str], None]


@dataclass(slots=True)
class DemoResult:
    """What the demo did and where it wrote it (amounts in dUSD base units, 18 decimals)."""

    directory: Path
    plan_check_passed: bool
    plan_check_summary: str
    attack_block: int
    alert_block: int | None
    pause_block: int | None
    attack_txs: list[tuple[str, int, bool]]
    unsent: int
    at_risk: int
    lost: int
    saved: int
    floor: int
    """The demo promises to save at least this much: the pool less two drains."""
    incident_id: int | None
    merkle_root: str | None
    merkle_total: int
    losers: int = 0
    """Users the analysis found with a loss."""
    cluster: list[str] = field(default_factory=list)
    """The attacker cluster's addresses."""
    paths: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def figures(self) -> dict[str, object]:
        """The run's blocks and amounts: equal on every run. Each amount is exact in dUSD
        base units, with ``<amount>_dusd`` beside it in dUSD (``token`` names the unit)."""
        amounts = {
            "at_risk": self.at_risk,
            "lost": self.lost,
            "saved": self.saved,
            "floor": self.floor,
        }
        figures: dict[str, object] = {
            "attack_block": self.attack_block,
            "alert_block": self.alert_block,
            "pause_block": self.pause_block,
            "attack_txs": [[h, b, ok] for h, b, ok in self.attack_txs],
            "unsent": self.unsent,
            "token": {"symbol": "dUSD", "decimals": _DECIMALS},
        }
        for name, amount in amounts.items():
            figures[name], figures[f"{name}_dusd"] = str(amount), _in_dusd(amount)
        figures |= {
            "merkle_root": self.merkle_root,
            "merkle_total": str(self.merkle_total),
            "merkle_total_dusd": _in_dusd(self.merkle_total),
            "losers": self.losers,
            "cluster": list(self.cluster),
        }
        return figures


def _in_dusd(amount: int) -> str:
    """``amount`` base units as an exact decimal string in dUSD ("110000", "0.5")."""
    return f"{Decimal(amount).scaleb(-_DECIMALS).normalize():f}"


def _fresh(directory: Path) -> None:
    output_dir(directory)
    for name in _OUTPUTS:
        target = directory / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
    for name in _OUTPUT_FILES:
        (directory / name).unlink(missing_ok=True)
    for suffix in ("-wal", "-shm", "-journal"):
        (directory / f"breakglass.db{suffix}").unlink(missing_ok=True)


def plan_check(path: Path) -> tuple[bool, str]:
    """``breakglass plan check`` on ``path``: (passed at --fail-on error, one-line summary)."""
    from breakglass.detect import plancheck  # noqa: F401, PLC0415 - importing registers it
    from breakglass.respond import plancheck as _respond  # noqa: F401, PLC0415

    report = check_plan(load_plan(path), today=date.today())
    counts: dict[str, int] = {}
    for result in report.results:
        counts[str(result.status)] = counts.get(str(result.status), 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return not report.failed(CheckSeverity.ERROR), summary


def _cash(anvil: Anvil, protocol: Protocol, block: int) -> int:
    call = {"to": protocol.usd, "data": calldata("balanceOf(address)", protocol.pool)}
    return int(anvil.rpc("eth_call", [call, hex(block)]), 16)


def _whole(amount: int) -> str:
    return f"{amount / UNIT:,.2f}"


def _write_plan(directory: Path, anvil: Anvil, protocol: Protocol, webhook: Webhook) -> LoadedPlan:
    abis = directory / "abis"
    abis.mkdir(parents=True, exist_ok=True)
    (abis / "DemoLendingPool.json").write_text(json.dumps(protocol.pool_abi, indent=1))
    (abis / "ERC20PresetMinterPauser.json").write_text(json.dumps(protocol.token_abi, indent=1))
    path = directory / "breakglass.yaml"
    text = plan_yaml(
        protocol,
        http_url=anvil.http_url,
        ws_url=anvil.ws_url,
        webhook_url=webhook.url,
        today=date.today(),
    )
    path.write_text(text, encoding="utf-8")
    return load_plan(path)


def run_demo(directory: Path, *, say: Say = print) -> DemoResult:
    """Run the demo in ``directory`` (its outputs are replaced) and return what happened.

    Raises:
        BreakglassError: anvil, node packages or a stage failed.
    """
    return asyncio.run(_demo(directory.resolve(), say))


async def _demo(directory: Path, say: Say) -> DemoResult:
    started = time.monotonic()
    _fresh(directory)
    webhook = Webhook(directory / "notifications.jsonl")
    await webhook.start()
    anvil = Anvil.start(extra_args=["--timestamp", str(GENESIS_TIMESTAMP)])
    try:
        say("1. deploying Demo Lending on a local anvil (OpenZeppelin, Uniswap V2, Safe 1.4.1)")
        protocol = deploy_protocol(anvil)
        attacker = Attacker(anvil, protocol)
        attacker.prepare()
        attacker.sign()
        # Set-up blocks carry fixed times from the genesis on; the incident's blocks carry
        # the wall clock, so its timeline (block times vs. detection) reads true.
        anvil.rpc("evm_setTime", [max(int(time.time()), GENESIS_TIMESTAMP + 3600)])
        loaded = _write_plan(directory, anvil, protocol, webhook)
        passed, summary = plan_check(loaded.file)
        verdict = "passed" if passed else "FAILED"
        say(f"2. plan written; breakglass plan check: {verdict} ({summary})")
        os.environ[GUARDIAN_ENV] = protocol.guardian_key  # this process only, never on disk
        url = f"sqlite:///{(directory / 'breakglass.db').as_posix()}"
        with open_database(url, migrate=True) as sessions:
            say("3. monitor running; the attacker starts draining the pool")
            live = await run_live(anvil, loaded, sessions, attacker, say)
            result = _result(directory, anvil, protocol, live, passed, summary)
            await _aftermath(loaded, sessions, protocol, live, result, say)
    finally:
        anvil.stop()
        await webhook.stop()
    result.paths["plan"] = loaded.file
    result.paths["database"] = directory / "breakglass.db"
    result.paths["notifications"] = webhook.path
    result.seconds = time.monotonic() - started
    summary_path = directory / "summary.json"
    summary_path.write_text(json.dumps(result.figures(), indent=2) + "\n", encoding="utf-8")
    result.paths["summary"] = summary_path
    return result


def _result(
    directory: Path,
    anvil: Anvil,
    protocol: Protocol,
    live: LiveOutcome,
    passed: bool,
    summary: str,
) -> DemoResult:
    if not live.attack_txs:
        raise BreakglassError("the attacker sent no transaction")
    first = live.attack_txs[0][1]
    end = live.pause_block if live.pause_block is not None else live.attack_txs[-1][1]
    at_risk = _cash(anvil, protocol, first - 1)
    saved = _cash(anvil, protocol, end)
    return DemoResult(
        directory=directory,
        plan_check_passed=passed,
        plan_check_summary=summary,
        attack_block=first,
        alert_block=live.alert_block,
        pause_block=live.pause_block,
        attack_txs=live.attack_txs,
        unsent=live.unsent,
        at_risk=at_risk,
        lost=at_risk - saved,
        saved=saved,
        floor=max(0, at_risk - 2 * CHUNK),
        incident_id=live.incident_id,
        merkle_root=None,
        merkle_total=0,
    )


async def _aftermath(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    protocol: Protocol,
    live: LiveOutcome,
    result: DemoResult,
    say: Say,
) -> None:
    incident = live.incident_id
    if incident is None or live.pause_block is None:
        result.notes.append("no incident or no pause: analysis, recovery and reports skipped")
        return
    after = Aftermath()
    hashes = [h for h, _block, _ok in live.attack_txs]
    say("4. analysing the attacker's transactions (containment at the pause block)")
    after.analysis = await analyse(loaded, sessions, incident, hashes, live.pause_block)
    say("5. compensation Merkle root, status page and post-mortem")
    recover(loaded, sessions, incident, protocol.usd, result.directory / "distribution", after)
    result.merkle_root, result.merkle_total = after.merkle_root, after.merkle_total
    figures = {
        "lost": _whole(result.lost),
        "saved": _whole(result.saved),
        "pause_block": str(live.pause_block),
        "root": str(after.merkle_root),
    }
    publish(loaded, sessions, incident, figures, result.directory / "status", after)
    await write_postmortem_files(
        loaded, sessions, incident, hashes[0], result.directory / "postmortem", after
    )
    analysis = after.analysis
    result.losers = len({loss.address for loss in analysis.losses if loss.amount > 0})
    result.cluster = sorted(analysis.cluster.addresses)
    if after.tree_path is not None and after.claims_path is not None:
        result.paths["merkle_tree"] = after.tree_path
        result.paths["merkle_claims"] = after.claims_path
    for path in after.status_paths:
        result.paths[f"status_{path.suffix.lstrip('.')}"] = path
    for path in after.postmortem_paths:
        result.paths[f"postmortem_{path.suffix.lstrip('.')}"] = path
    result.notes.extend(after.notes)
