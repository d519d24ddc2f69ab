"""The fix-verification report: what was replayed, what changed, and the verdict.

The verdict is ``passed`` (every exploit transaction stopped, every upgrade safe, honest
transactions unchanged), ``needs-review`` (the same, but some honest transactions behave
differently: a person judges each) or ``failed`` (with the reasons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "FIX_EVENT",
    "ExploitReplay",
    "FixReport",
    "Outcome",
    "Regression",
    "UpgradeCheck",
    "fix_markdown",
]

FIX_EVENT = "fix-verification"
"""``data["kind"]`` of the timeline event that stores a report."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A replayed transaction: whether it succeeded and each party's change per asset."""

    success: bool
    changes: dict[str, dict[str, int]]

    def to_json(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "changes": {p: {a: str(v) for a, v in d.items()} for p, d in self.changes.items()},
        }


@dataclass(frozen=True, slots=True)
class ExploitReplay:
    tx_hash: str
    without_fix: Outcome
    with_fix: Outcome
    taken_without_fix: dict[str, int]
    taken_with_fix: dict[str, int]

    @property
    def stopped(self) -> bool:
        return not self.taken_with_fix


@dataclass(frozen=True, slots=True)
class Regression:
    tx_hash: str
    without_fix: Outcome
    with_fix: Outcome

    @property
    def same(self) -> bool:
        return self.without_fix == self.with_fix


@dataclass(slots=True)
class UpgradeCheck:
    """Storage safety of one proxy upgrade."""

    proxy: str
    implementation: str
    layout_compared: bool = False
    layout_problems: list[str] = field(default_factory=list)
    views: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    invariants: list[tuple[str, bool | None, bool | None]] = field(default_factory=list)
    slots: list[tuple[str, str, str]] = field(default_factory=list)

    def problems(self) -> list[str]:
        found = list(self.layout_problems)
        found += [
            f"view {v} read {b} before the upgrade and {a} after"
            for v, b, a in self.views
            if b != a
        ]
        found += [
            f"invariant {name} held before the upgrade and "
            f"{'does not' if a is False else 'cannot be read'} after"
            for name, b, a in self.invariants
            if b is True and a is not True
        ]
        found += [f"slot {s} changed from {b} to {a}" for s, b, a in self.slots if b != a]
        if not (self.layout_compared or self.views or self.invariants or self.slots):
            found.append(
                "nothing to judge the upgrade's storage by: give the artifacts' "
                "storage layouts (previous_artifact), `checks` or `slots`"
            )
        return [f"{self.proxy}: {p}" for p in found]


@dataclass(slots=True)
class FixReport:
    incident_id: int
    fix_name: str
    fix_digest: str
    chain: str
    fork_block: int
    first_exploit_block: int
    steps: list[str] = field(default_factory=list)
    implementations: dict[str, dict[str, Any]] = field(default_factory=dict)
    exploits: list[ExploitReplay] = field(default_factory=list)
    regressions: list[Regression] = field(default_factory=list)
    upgrades: list[UpgradeCheck] = field(default_factory=list)
    apply_error: str | None = None
    verdict: str = "failed"
    reasons: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    def judge(self) -> FixReport:
        reasons: list[str] = []
        if self.apply_error is not None:
            reasons.append(f"the fix could not be applied: {self.apply_error}")
        for replay in self.exploits:
            if not replay.taken_without_fix:
                reasons.append(
                    f"{replay.tx_hash} takes nothing even without the fix: the "
                    "replay does not reproduce the exploit, so it proves nothing"
                )
            if replay.taken_with_fix:
                taken = ", ".join(f"{v} of {a}" for a, v in replay.taken_with_fix.items())
                reasons.append(f"{replay.tx_hash} still takes {taken} with the fix")
        for check in self.upgrades:
            reasons += check.problems()
        differences = [r for r in self.regressions if not r.same]
        if reasons:
            self.verdict = "failed"
        elif differences:
            self.verdict = "needs-review"
            reasons = [f"{r.tx_hash} behaves differently with the fix" for r in differences]
        else:
            self.verdict = "passed"
        self.reasons = reasons
        return self

    def to_json(self) -> dict[str, Any]:
        def amounts(values: dict[str, int]) -> dict[str, str]:
            return {a: str(v) for a, v in values.items()}

        return {
            "incident": self.incident_id,
            "fix": {"name": self.fix_name, "sha256": self.fix_digest},
            "chain": self.chain,
            "fork_block": self.fork_block,
            "first_exploit_block": self.first_exploit_block,
            "verdict": self.verdict,
            "reasons": self.reasons,
            "steps": self.steps,
            "apply_error": self.apply_error,
            "implementations": self.implementations,
            "exploits": [
                {
                    "tx": e.tx_hash,
                    "stopped": e.stopped,
                    "taken_without_fix": amounts(e.taken_without_fix),
                    "taken_with_fix": amounts(e.taken_with_fix),
                    "without_fix": e.without_fix.to_json(),
                    "with_fix": e.with_fix.to_json(),
                }
                for e in self.exploits
            ],
            "regressions": [
                {
                    "tx": r.tx_hash,
                    "same": r.same,
                    "without_fix": r.without_fix.to_json(),
                    "with_fix": r.with_fix.to_json(),
                }
                for r in self.regressions
            ],
            "upgrades": [
                {
                    "proxy": u.proxy,
                    "implementation": u.implementation,
                    "layout_compared": u.layout_compared,
                    "problems": u.problems(),
                    "views": [{"view": v, "before": b, "after": a} for v, b, a in u.views],
                    "invariants": [
                        {"invariant": n, "before": b, "after": a} for n, b, a in u.invariants
                    ],
                    "slots": [{"slot": s, "before": b, "after": a} for s, b, a in u.slots],
                }
                for u in self.upgrades
            ],
        }


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def fix_markdown(report: dict[str, Any]) -> str:
    """The report (its JSON form, as stored) in Markdown."""
    lines = [
        f"# Fix verification: {_cell(report['fix']['name'])} — {report['verdict'].upper()}",
        "",
        f"Incident #{report['incident']} on {_cell(report['chain'])}; fork at block "
        f"{report['fork_block']}, first exploit in block {report['first_exploit_block']}; "
        f"fix sha256 `{report['fix']['sha256'][:16]}`.",
        "",
    ]
    if report["reasons"]:
        lines += ["## Reasons", "", *(f"- {_cell(r)}" for r in report["reasons"]), ""]
    if report["steps"]:
        lines += [
            "## Fix applied on the fork",
            "",
            *(f"1. {_cell(s)}" for s in report["steps"]),
            "",
        ]
    if report["exploits"]:
        lines += [
            "## Exploit replayed",
            "",
            "| transaction | taken without the fix | taken with the fix | stopped |",
            "|---|---|---|---|",
        ]
        for e in report["exploits"]:
            before = ", ".join(f"{v} {a}" for a, v in e["taken_without_fix"].items()) or "nothing"
            after = ", ".join(f"{v} {a}" for a, v in e["taken_with_fix"].items()) or "nothing"
            ok = "yes" if e["stopped"] else "**no**"
            lines.append(f"| `{e['tx']}` | {before} | {after} | {ok} |")
        lines.append("")
    regressions = report["regressions"]
    differences = [r for r in regressions if not r["same"]]
    lines += [
        "## Honest transactions replayed",
        "",
        f"{len(regressions)} replayed, {len(differences)} behave differently.",
        "",
    ]
    for r in differences:
        lines.append(f"- `{r['tx']}`: without the fix {r['without_fix']}, with it {r['with_fix']}")
    for u in report["upgrades"]:
        lines += [
            "",
            f"## Upgrade of `{u['proxy']}`",
            "",
            f"Storage layouts compared: {'yes' if u['layout_compared'] else 'no'}.",
        ]
        lines += [f"- {_cell(p)}" for p in u["problems"]]
    return "\n".join(lines).rstrip() + "\n"
