"""What an import found: problems that stop it, meaning it could not keep, and the secrets
the user must now set.

Problems are collected, never raised one at a time, so one run lists every unknown field and
broken reference in the source configuration, as the source tools themselves do. A secret's
value never enters the report: only the variable to set and where the value was found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from breakglass.errors import OutputError, PlanError
from breakglass.plan.source import parse_document

__all__ = [
    "ImportError_",
    "ImportReport",
    "ImportResult",
    "Problem",
    "SecretToSet",
    "env_name",
    "merge_into",
    "write_result",
]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the source: its file, the path inside it, and what is wrong."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class SecretToSet:
    """An environment variable the imported plan refers to and the user must set."""

    variable: str
    where: str
    how: str  # what to put in it, never the value itself


@dataclass
class ImportReport:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    secrets: list[SecretToSet] = field(default_factory=list)

    def problem(self, file: str, path: str, message: str) -> None:
        self.problems.append(Problem(file, path, message))

    def secret(self, variable: str, where: str, how: str) -> None:
        if all(s.variable != variable for s in self.secrets):
            self.secrets.append(SecretToSet(variable, where, how))

    def as_dict(self) -> dict[str, Any]:
        return {
            "problems": [str(p) for p in self.problems],
            "notes": list(self.notes),
            "secrets": [s.__dict__ for s in self.secrets],
        }


class ImportError_(PlanError):
    """The source configuration has problems; ``report`` lists every one."""

    def __init__(self, report: ImportReport) -> None:
        self.report = report
        lines = "\n".join(f"  {p}" for p in report.problems)
        super().__init__(f"{len(report.problems)} problem(s) in the source configuration:\n{lines}")


@dataclass
class ImportResult:
    """The plan as a document, the files it refers to (ABIs, scripts), and the report."""

    plan: dict[str, Any]
    files: dict[str, bytes]
    report: ImportReport


_NOT_NAME = re.compile(r"[^A-Za-z0-9]+")


def env_name(*parts: str) -> str:
    """An environment variable name from parts: ``OZ_SLACK_ALERTS_URL``."""
    return "_".join(_NOT_NAME.sub("_", p).strip("_").upper() for p in parts if p)


class _PlainDumper(yaml.SafeDumper):
    """Writes shared lists out in full: a person reads the plan, not YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_result(result: ImportResult, plan_path: Path, *, force: bool = False) -> list[Path]:
    """Write the plan and its files next to it; returns what was written.

    Raises:
        OutputError: a file exists (without ``force``) or cannot be written.
    """
    base = plan_path.parent
    targets = [plan_path, *(base / name for name in result.files)]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise OutputError(f"not overwriting {', '.join(existing)} (use --force)")
    try:
        for name, content in result.files.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_bytes(content)
        text = yaml.dump(
            result.plan, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100
        )
        plan_path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename}: {exc.strerror}") from None
    return targets


_MERGED = ("chains", "contracts", "channels")


def merge_into(result: ImportResult, base: Path) -> ImportResult:
    """The import added to the plan at ``base`` (its people, roles, scenarios, ...): imported
    chains, contracts, channels, rules and playbooks join the plan's own.

    Raises:
        ImportError_: ``base`` cannot be read, or a name is taken in both.
    """
    report = result.report
    try:
        text = base.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        report.problem(str(base), "", f"cannot read the plan: {exc}")
        raise ImportError_(report) from None
    # The plan's own YAML reading: `on:` stays a key, not the boolean YAML 1.1 makes of it.
    parsed = parse_document(text, str(base))
    if isinstance(parsed, list):
        for issue in parsed:
            report.problem(str(base), issue.path, issue.message)
        raise ImportError_(report)
    document = parsed.data
    if not isinstance(document, dict):
        report.problem(str(base), "", "not a plan (expected a mapping)")
        raise ImportError_(report)
    merged = dict(document)
    for section in _MERGED:
        own = dict(document.get(section) or {})
        for name, value in (result.plan.get(section) or {}).items():
            if name in own and own[name] != value:
                report.problem(str(base), f"{section}.{name}", "taken by the plan and the import")
            own[name] = value
        if own:
            merged[section] = own
    for section in ("rules", "playbooks"):
        own_list = list(document.get(section) or [])
        ids = {item.get("id") for item in own_list if isinstance(item, dict)}
        for item in result.plan.get(section) or []:
            if item["id"] in ids:
                report.problem(
                    str(base), f"{section}: {item['id']}", "taken by the plan and the import"
                )
            own_list.append(item)
        if own_list:
            merged[section] = own_list
    if report.problems:
        raise ImportError_(report)
    return ImportResult(merged, result.files, report)
