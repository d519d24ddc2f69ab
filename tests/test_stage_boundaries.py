"""Each stage owns its tables: no module reads another stage's store models, except the
composition root and the read models named below, each with its reason.

The walk is over the source (``ast``), so an import inside a function counts as much as one
at the top of a module. A stage talks to another through events or that stage's public
service functions; a new exception needs a line here saying why.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from breakglass import store

SRC = Path(__file__).parents[1] / "src" / "breakglass"

OWNER: dict[str, str] = {
    # detect: findings become alerts, correlated into candidates
    "AlertRecord": "detect",
    "IncidentCandidate": "detect",
    # ingest: the block stream's progress and the plan it watched with
    "Checkpoint": "ingest",
    "CanonicalBlock": "ingest",
    "PlanRevision": "ingest",
    # respond: runs, steps and their phases, Safe proposals
    "PlaybookRun": "respond",
    "StepRun": "respond",
    "StepEvent": "respond",
    "SafeProposal": "respond",
    "SafeSignature": "respond",
    # incidents: lifecycle, timeline, roles, tasks, evidence, public updates, what it heard
    "Incident": "incidents",
    "IncidentAlert": "incidents",
    "IncidentRun": "incidents",
    "TimelineEvent": "incidents",
    "Task": "incidents",
    "RoleAssignment": "incidents",
    "AffectedAddress": "incidents",
    "FundMovement": "incidents",
    "AttackerRecord": "incidents",
    "PublicUpdate": "incidents",
    "ResponseRecord": "incidents",
    # notify: the delivery log and pages
    "Delivery": "notify",
    "Page": "notify",
    # webcore (shared by the API and the dashboard): who may call them; web: its sign-ins
    "ApiToken": "webcore",
    "WebSession": "web",
    # analysis, recovery, drills, report
    "UserLoss": "analysis",
    "AssetUnit": "analysis",
    "Distribution": "recovery",
    "Drill": "drills",
    "Postmortem": "report",
    # events: the outbox and the consumers' marks
    "OutboxRecord": "events",
    "ConsumedEvent": "events",
    # cluster: side effects claimed once across replicas
    "SideEffect": "cluster",
}

COMPOSITION = {
    "runtime": "the composition root: wires every stage",
    "cli": "interfaces: each command composes the stages it runs (thin, one service call)",
    "demo": "builds a whole incident end to end on a local chain, every stage's rows",
    "drills": "scores a drill from what every stage recorded of it",
    "store": "the tables themselves, and detect's and ingest's service functions on them",
}

ALLOWED: dict[str, dict[str, str]] = {
    "web/data.py": {
        model: "the dashboard's read model: one page shows every stage's rows"
        for model in (
            "AlertRecord",
            "Distribution",
            "Drill",
            "PlaybookRun",
            "StepEvent",
            "StepRun",
            "UserLoss",
            "Incident",
            "IncidentRun",
            "PublicUpdate",
            "TimelineEvent",
        )
    },
    "recovery/service.py": {
        "UserLoss": "entitlements are computed from the analysed losses (analyze → recover)",
    },
    "recovery/fix_service.py": {
        "TimelineEvent": "names the type of the timeline row it returns (no query)",
    },
    "report/postmortem_chart.py": {
        m: "the post-mortem is a read model over the incident"
        for m in ("FundMovement", "Incident", "TimelineEvent")
    },
    "report/postmortem_impact.py": {
        m: "the post-mortem's impact section reads losses and the distribution"
        for m in ("Distribution", "UserLoss")
    },
    "report/postmortem_notes.py": {"Task": "the post-mortem lists the action items"},
    "report/postmortem_sections.py": {
        m: "the post-mortem is a read model over the incident"
        for m in ("Incident", "TimelineEvent")
    },
    "report/regulatory.py": {
        m: "regulatory clocks run from the incident's milestones and timeline"
        for m in ("Incident", "TimelineEvent")
    },
    "report/status.py": {
        m: "the public status page is a read model over incidents and their updates"
        for m in ("Incident", "PublicUpdate")
    },
    "report/wording.py": {
        m: "the post-mortem's plain-words title reads the incident and its alerts"
        for m in ("AlertRecord", "Incident", "IncidentAlert")
    },
}


def _stage(path: Path) -> str:
    relative = path.relative_to(SRC)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def _model_imports(path: Path) -> Iterator[str]:
    """Names imported from ``breakglass.store`` (and its models) anywhere in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "breakglass.store" or node.module.startswith("breakglass.store."):
                yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("breakglass.store.models") and alias.asname:
                    yield f"<module {alias.name} as {alias.asname}>"


def _violations() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        stage = _stage(path)
        if stage in COMPOSITION:
            continue
        module = path.relative_to(SRC).as_posix()
        for name in _model_imports(path):
            if name.startswith("<module"):
                found.setdefault(module, set()).add(name)
                continue
            owner = OWNER.get(name)
            if owner is None or owner == stage:
                continue
            if name in ALLOWED.get(module, {}):
                continue
            found.setdefault(module, set()).add(f"{name} (owned by {owner})")
    return found


def test_every_table_has_an_owning_stage() -> None:
    mapped = {mapper.class_.__name__ for mapper in store.Base.registry.mappers}
    assert mapped - set(OWNER) == set(), "give each new model its stage in OWNER"
    assert set(OWNER) - mapped == set(), "OWNER names a model that no longer exists"
    assert set(OWNER.values()) <= {p.name for p in SRC.iterdir() if p.is_dir()}


def test_no_stage_reads_another_stages_tables() -> None:
    assert _violations() == {}


def test_the_allow_list_has_no_stale_entries() -> None:
    """An exception that is no longer needed goes, so the list stays the list of debts."""
    stale: list[str] = []
    for module, models in ALLOWED.items():
        path = SRC / module
        imported = set(_model_imports(path)) if path.exists() else set()
        stale += [f"{module}: {m}" for m in models if m not in imported]
    assert stale == []


def test_the_walk_sees_function_level_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from breakglass.store.models import StepRun  # noqa\n    return StepRun\n"
    )
    assert list(_model_imports(module)) == ["StepRun"]


def test_incidents_reads_nothing_of_respond() -> None:
    """The issue's own example: the timeline is built from StepPhase/ActionExecuted."""
    respond = {m for m, owner in OWNER.items() if owner == "respond"}
    for path in (SRC / "incidents").rglob("*.py"):
        assert not respond & set(_model_imports(path)), path


def _breakglass_imports(path: Path) -> Iterator[str]:
    """Every ``breakglass.*`` module the file imports, at any level of the code."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("breakglass"):
                yield node.module
                yield from (f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("breakglass"))


def _imports_of(package: str) -> dict[str, set[str]]:
    return {
        path.relative_to(SRC).as_posix(): set(_breakglass_imports(path))
        for path in (SRC / package).rglob("*.py")
    }


def _within(names: set[str], package: str) -> set[str]:
    prefix = f"breakglass.{package}"
    return {n for n in names if n == prefix or n.startswith(prefix + ".")}


def test_api_and_web_meet_only_in_webcore() -> None:
    """The dashboard never imports the API and the API never imports the dashboard; what
    both need is in ``breakglass.webcore``, which imports neither, and
    ``breakglass.server`` composes them."""
    crossings = {module: _within(names, "web") for module, names in _imports_of("api").items()} | {
        module: _within(names, "api") for module, names in _imports_of("web").items()
    }
    assert {m: n for m, n in crossings.items() if n} == {}
    shared = {
        module: _within(names, "api") | _within(names, "web")
        for module, names in _imports_of("webcore").items()
    }
    assert {m: n for m, n in shared.items() if n} == {}
    composed = set(_breakglass_imports(SRC / "server.py"))
    assert _within(composed, "api") and _within(composed, "web")
