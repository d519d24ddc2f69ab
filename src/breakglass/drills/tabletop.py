"""Tabletop exercises: walk the team through a scenario phase by phase.

The phases are :data:`~breakglass.drills.library.PHASES`: discovery, gathering people,
analysis, action and reflection. Each phase shows the scenario's prompts, asks the phase's
questions and records the answers with the phase's start and end times. Answers come from an
``ask`` function (``typer.prompt`` in the CLI) or, for a non-interactive run, from a YAML
file mapping each phase to its answers (a list in question order, or question id → answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from breakglass.drills.library import PHASES, DrillScenario
from breakglass.errors import BreakglassError

__all__ = [
    "QUESTIONS",
    "Question",
    "load_answers",
    "run_tabletop",
    "tabletop_findings",
]


@dataclass(frozen=True, slots=True)
class Question:
    """One question of a phase; ``id`` is its key in an answers file."""

    id: str
    text: str


QUESTIONS: dict[str, tuple[Question, ...]] = {
    "discovery": (
        Question("signal", "Which alert, person or post tells you first, and when?"),
        Question("first-steps", "What do you do in the first five minutes?"),
    ),
    "gathering": (
        Question("who", "Who do you call, in which order, on which channel?"),
        Question("backup", "Who steps in when the first person does not answer?"),
    ),
    "analysis": (
        Question("impact", "What is at risk, and how fast is it leaving?"),
        Question("evidence", "Which transactions and traces confirm it?"),
    ),
    "action": (
        Question("containment", "Which containment do you run, with which key or Safe?"),
        Question("communication", "What do you tell users, and where?"),
    ),
    "reflection": (
        Question("worked", "What worked?"),
        Question("improve", "What do you change in the plan, and who owns it?"),
    ),
}
"""The questions every tabletop asks, per phase."""

Ask = Callable[[str], str]
Show = Callable[[str], None]


def load_answers(path: Path) -> dict[str, Any]:
    """Read an answers file: ``{participants: [...], <phase>: [answers] | {id: answer}}``.

    Raises:
        BreakglassError: the file is not a mapping or names an unknown phase.
    """
    loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(loaded, dict):
        raise BreakglassError(f"{path}: the answers file must be a mapping of phase → answers")
    unknown = set(loaded) - {*PHASES, "participants"}
    if unknown:
        raise BreakglassError(f"{path}: unknown phase(s) {sorted(unknown)}; phases: {PHASES}")
    return loaded


def _given(answers: Mapping[str, Any], phase: str, index: int, question: Question) -> str | None:
    found = answers.get(phase)
    if isinstance(found, Mapping):
        value = found.get(question.id)
    elif isinstance(found, list) and index < len(found):
        value = found[index]
    else:
        value = None
    return None if value is None else str(value)


def run_tabletop(
    scenario: DrillScenario,
    *,
    answers: Mapping[str, Any] | None = None,
    ask: Ask | None = None,
    show: Show = lambda _line: None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[dict[str, Any]]:
    """Run every phase; per phase its prompts, answers, start, end and seconds.

    A question the answers do not cover goes to ``ask``; without ``ask`` it stays unanswered.
    """
    given = answers or {}
    phases: list[dict[str, Any]] = []
    for phase in PHASES:
        started, perf = clock(), time.perf_counter()
        prompts = list(scenario.tabletop.get(phase, ()))
        show(f"\n== {phase} ==")
        for prompt in prompts:
            show(f"  {prompt}")
        recorded = []
        for index, question in enumerate(QUESTIONS[phase]):
            answer = _given(given, phase, index, question)
            if answer is None and ask is not None:
                answer = ask(question.text)
            recorded.append({"id": question.id, "question": question.text, "answer": answer or ""})
        phases.append(
            {
                "phase": phase,
                "prompts": prompts,
                "answers": recorded,
                "started_at": started.isoformat(),
                "finished_at": clock().isoformat(),
                "seconds": round(time.perf_counter() - perf, 3),
            }
        )
    return phases


def tabletop_findings(phases: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Findings (unanswered questions, time per phase) and actions (from reflection)."""
    findings: list[str] = []
    actions: list[str] = []
    total = sum(float(p["seconds"]) for p in phases)
    findings.append(f"the team went through {len(phases)} phases in {total / 60:.1f} minutes")
    for phase in phases:
        missing = [a["id"] for a in phase["answers"] if not a["answer"]]
        if missing:
            findings.append(f"{phase['phase']}: no answer to {', '.join(missing)}")
            actions.append(f"settle {phase['phase']}: {', '.join(missing)} in the plan")
    reflection = next((p for p in phases if p["phase"] == "reflection"), None)
    if reflection is not None:
        actions += [
            a["answer"] for a in reflection["answers"] if a["id"] == "improve" and a["answer"]
        ]
    if not actions:
        actions.append("none recorded; review the answers with the team")
    return findings, actions
