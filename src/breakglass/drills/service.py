"""The drill services the CLI calls: ``drill run`` and ``drill tabletop``.

Both write a report from the template, store a ``Drill`` row in the team's database and
return :class:`DrillResult`. ``drill run`` starts its own anvil (``block_time=1``), forking
the plan's chain when asked and an endpoint answers, else deploying on a fresh local chain.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy.orm import Session, sessionmaker

from breakglass.devchain import Anvil
from breakglass.drills.library import get_scenario
from breakglass.drills.report import (
    DrillReport,
    next_drill,
    participants_of,
    render_report,
    run_findings,
    save_drill,
)
from breakglass.drills.runner import run_drill
from breakglass.drills.tabletop import Ask, load_answers, run_tabletop, tabletop_findings
from breakglass.errors import BreakglassError
from breakglass.outputs import output_file, write_text
from breakglass.plan.loader import LoadedPlan, load_plan
from breakglass.settings import Settings

__all__ = ["DrillResult", "find_fork_url", "run_service", "tabletop_service"]

Say = Callable[[str], None]
_PROBE_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class DrillResult:
    """The stored drill's id, where its report went, and the report itself."""

    drill_id: int
    report_path: Path
    report: DrillReport


def _user_plan(path: Path | None) -> tuple[dict[str, Any] | None, LoadedPlan | None]:
    if path is None:
        return None, None
    loaded = load_plan(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return (raw if isinstance(raw, dict) else {}), loaded


def find_fork_url(loaded: LoadedPlan, say: Say) -> str | None:
    """The first HTTP endpoint of the plan's chains that answers ``eth_chainId``."""
    for name, chain in loaded.plan.chains.items():
        for endpoint in chain.rpc:
            try:
                url = endpoint.url.resolve(None)
                reply = httpx.post(
                    url,
                    json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    timeout=_PROBE_TIMEOUT,
                )
                reply.raise_for_status()
                if "result" in reply.json():
                    say(f"forking chain {name} from {url}")
                    return url
            except (BreakglassError, httpx.HTTPError, ValueError) as exc:
                say(f"chain {name}: endpoint unreachable ({type(exc).__name__}); not forking it")
    return None


def _output(output: Path | None, scenario: str, kind: str, started: datetime) -> Path:
    """The report's path, its directory created before the drill starts: a bad ``--output``
    fails in a second, not after the whole drill. A directory gets the default name."""
    name = f"{started.strftime('%Y%m%d-%H%M%S')}-{kind}-{scenario}.md"
    return output_file(output or Settings().home / "drills", default_name=name)


def _finish(
    report: DrillReport, sessions: sessionmaker[Session], template: Path | None, out: Path
) -> DrillResult:
    write_text(out, render_report(report, template))
    return DrillResult(save_drill(sessions, report, out), out, report)


def run_service(
    scenario_name: str,
    *,
    plan_path: Path | None = None,
    fork: bool = False,
    template: Path | None = None,
    output: Path | None = None,
    sessions: sessionmaker[Session],
    participants: Sequence[str] = (),
    record_as: str | None = None,
    fix: Path | None = None,
    say: Say = lambda _line: None,
) -> DrillResult:
    """Run the scripted drill ``scenario_name`` end to end; see the module doc. With ``fix``,
    the fix is verified against the drill's exploit too (docs/eradication.md)."""
    scenario = get_scenario(scenario_name)
    raw, loaded = _user_plan(plan_path)
    fork_url = None
    if fork:
        if loaded is None:
            say("--fork needs --plan; deploying on a fresh local chain")
        else:
            fork_url = find_fork_url(loaded, say)
            if fork_url is None:
                say("no endpoint of the plan answered; deploying on a fresh local chain")
    started = datetime.now(UTC)
    out = _output(output, record_as or scenario.name, "run", started)
    with (
        tempfile.TemporaryDirectory(prefix="breakglass-drill-") as tmp,
        Anvil.start(block_time=1, fork_url=fork_url) as anvil,
    ):
        outcome = asyncio.run(
            run_drill(scenario, anvil, Path(tmp), user_plan=raw, fix=fix, say=say)
        )
    finished = datetime.now(UTC)
    measurements = outcome.measurements()
    measurements["forked_from"] = fork_url
    findings, actions = run_findings(measurements, drain=scenario.drain)
    report = DrillReport(
        scenario=record_as or scenario.name,
        title=scenario.title,
        summary=scenario.summary,
        goals=list(scenario.goals),
        kind="run",
        started_at=started,
        finished_at=finished,
        participants=[*participants, *participants_of(raw)],
        plan_sha256=loaded.sha256 if loaded is not None else outcome.loaded.sha256,
        status="contained" if outcome.contained else "not-contained",
        next=next_drill(
            loaded.plan.drills if loaded else None, record_as or scenario.name, finished.date()
        ),
        measurements=measurements,
        findings=findings,
        corrective_actions=actions,
        attack=[asdict(record) for record in outcome.attack],
    )
    return _finish(report, sessions, template, out)


def tabletop_service(
    scenario_name: str,
    *,
    plan_path: Path | None = None,
    answers_path: Path | None = None,
    ask: Ask | None = None,
    show: Say = lambda _line: None,
    template: Path | None = None,
    output: Path | None = None,
    sessions: sessionmaker[Session],
    participants: Sequence[str] = (),
    record_as: str | None = None,
) -> DrillResult:
    """Walk the team through ``scenario_name`` phase by phase and record it."""
    scenario = get_scenario(scenario_name)
    raw, loaded = _user_plan(plan_path)
    answers = load_answers(answers_path) if answers_path is not None else {}
    started = datetime.now(UTC)
    out = _output(output, record_as or scenario.name, "tabletop", started)
    show(f"Tabletop: {scenario.title}\n{scenario.summary}")
    phases = run_tabletop(scenario, answers=answers, ask=ask, show=show)
    finished = datetime.now(UTC)
    findings, actions = tabletop_findings(phases)
    people = [*participants, *(str(p) for p in answers.get("participants") or [])]
    report = DrillReport(
        scenario=record_as or scenario.name,
        title=scenario.title,
        summary=scenario.summary,
        goals=list(scenario.goals),
        kind="tabletop",
        started_at=started,
        finished_at=finished,
        participants=[*people, *participants_of(raw)],
        plan_sha256=loaded.sha256 if loaded is not None else None,
        status="completed",
        next=next_drill(
            loaded.plan.drills if loaded else None, record_as or scenario.name, finished.date()
        ),
        measurements={"phases": len(phases), "seconds": sum(p["seconds"] for p in phases)},
        findings=findings,
        corrective_actions=actions,
        phases=phases,
    )
    return _finish(report, sessions, template, out)
