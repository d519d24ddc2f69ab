"""The demo's closing summary: blocks, funds at risk, lost and saved, and every file written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from breakglass.demo.run import DemoResult

__all__ = ["format_summary"]

_UNIT = 10**18
_LABELS = {
    "plan": "plan",
    "database": "database",
    "status_html": "status page",
    "status_json": "status JSON",
    "status_atom": "status feed",
    "postmortem_html": "post-mortem (HTML)",
    "postmortem_pdf": "post-mortem (PDF)",
    "merkle_tree": "Merkle tree",
    "merkle_claims": "Merkle claims",
    "notifications": "notifications",
    "summary": "figures (JSON)",
}


def _dusd(amount: int) -> str:
    return f"{amount / _UNIT:>12,.2f} dUSD"


def _share(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "     -"


def _block(number: int | None) -> str:
    return "-" if number is None else str(number)


def _where(path: Path) -> str:
    """``path`` relative to the working directory when it is below it, else absolute."""
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def format_summary(result: DemoResult) -> list[str]:
    """The summary as plain lines."""
    failed = sum(1 for _h, _b, ok in result.attack_txs if not ok)
    lines = [
        "",
        "Summary",
        f"  attack began in block   {result.attack_block}",
        f"  alert raised in block   {_block(result.alert_block)}",
        f"  pool paused in block    {_block(result.pause_block)}",
        f"  drains: {len(result.attack_txs)} sent, {failed} reverted on the paused pool, "
        f"{result.unsent} never sent",
        f"  funds at risk  {_dusd(result.at_risk)}",
        f"  funds lost     {_dusd(result.lost)}  {_share(result.lost, result.at_risk)}",
        f"  funds saved    {_dusd(result.saved)}  {_share(result.saved, result.at_risk)}"
        f"   (the demo's bar: at least {_dusd(result.floor).strip()} saved,"
        " the pool less two drains)",
        f"  analysis       {result.losers} suppliers lost funds; attacker cluster: "
        f"{', '.join(result.cluster) or '-'}",
        f"  incident       #{result.incident_id if result.incident_id is not None else '-'}",
        f"  Merkle root    {result.merkle_root} ({_dusd(result.merkle_total).strip()})"
        if result.merkle_root
        else "  Merkle root    -",
        f"  plan check     {'passed' if result.plan_check_passed else 'FAILED'}"
        f" ({result.plan_check_summary})",
        "",
        "Files",
    ]
    for key, label in _LABELS.items():
        path = result.paths.get(key)
        if path is not None:
            lines.append(f"  {label:<20} {_where(path)}")
    lines.extend(f"  note: {note}" for note in result.notes)
    lines.append(f"\nfinished in {result.seconds:.1f} s")
    return lines
