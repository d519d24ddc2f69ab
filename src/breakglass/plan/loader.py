"""Loading a plan: read, parse, validate, resolve references; every problem reported at once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path as FsPath

from pydantic import ValidationError

from breakglass.plan.abifile import AbiFileError, read_abi_file
from breakglass.plan.issues import PlanIssue, PlanLoadError
from breakglass.plan.models import Plan
from breakglass.plan.refs import check_references
from breakglass.plan.schema_errors import translate_validation_error
from breakglass.plan.source import Document, parse_document, read_plan_text

__all__ = ["LoadedPlan", "load_plan", "load_plan_text"]


@dataclass(frozen=True)
class LoadedPlan:
    """A validated plan with what is needed to point back into its file."""

    plan: Plan
    file: FsPath
    sha256: str
    document: Document

    @property
    def base_dir(self) -> FsPath:
        """Directory that relative paths in the plan (ABIs, templates) are resolved against."""
        return self.file.parent

    def position(self, path: tuple[str | int, ...]) -> tuple[int, int] | None:
        return self.document.position(path)

    def location(self, path: tuple[str | int, ...]) -> str:
        """``file:line:col`` of a place in the plan, for messages."""
        position = self.position(path)
        if position is None:
            return str(self.file)
        return f"{self.file}:{position[0]}:{position[1]}"


def load_plan(path: FsPath | str) -> LoadedPlan:
    """Load and validate a plan file.

    Raises:
        PlanLoadError: with every problem found, each located by line, column and path.
    """
    file = FsPath(path)
    text = read_plan_text(file)
    if isinstance(text, PlanIssue):
        raise PlanLoadError([text])
    return load_plan_text(text, file=file)


def load_plan_text(text: str, *, file: FsPath) -> LoadedPlan:
    """Validate plan text that claims to come from ``file`` (for positions and relative paths).

    Raises:
        PlanLoadError: with every problem found.
    """
    name = str(file)
    doc = parse_document(text, name)
    if isinstance(doc, list):
        raise PlanLoadError(doc)
    if not isinstance(doc.data, dict):
        raise PlanLoadError(
            [
                PlanIssue(
                    file=name,
                    path="(top level)",
                    message="a plan is a mapping of sections such as 'protocol:', 'people:' "
                    "and 'playbooks:'",
                    line=1,
                    column=1,
                )
            ]
        )

    issues: list[PlanIssue] = []
    plan: Plan | None = None
    try:
        plan = Plan.model_validate(doc.data)
    except ValidationError as exc:
        issues.extend(translate_validation_error(exc, doc, name))
    except RecursionError:
        issues.append(PlanIssue(file=name, path="(file)", message="is nested too deeply"))

    references = [
        PlanIssue.at(
            name,
            problem.path,
            problem.message,
            doc.position(problem.path),
            expected=problem.expected,
            found=problem.found,
        )
        for problem in check_references(doc.data)
    ]
    # A misspelt name where an address is expected fails the schema too ("not an address");
    # the reference problem names the likely intent, so it is the one error said there.
    named = {issue.path for issue in references}
    issues = [issue for issue in issues if issue.path not in named]
    issues.extend(references)
    if plan is not None:
        issues.extend(_check_files(plan, doc, file))
    if issues or plan is None:
        raise PlanLoadError(issues)
    return LoadedPlan(
        plan=plan,
        file=file,
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        document=doc,
    )


def _check_files(plan: Plan, doc: Document, file: FsPath) -> list[PlanIssue]:
    """Files the plan names that must be readable now: contract ABIs."""
    issues = []
    for name, contract in plan.contracts.items():
        if contract.abi is None:
            continue
        abi_path = contract.abi if contract.abi.is_absolute() else file.parent / contract.abi
        try:
            read_abi_file(contract.abi, base_dir=file.parent)
        except AbiFileError as exc:
            path = ("contracts", name, "abi")
            issues.append(
                PlanIssue.at(
                    str(file),
                    path,
                    str(exc),
                    doc.position(path),
                    expected="a JSON ABI file (a list, or an artifact with an 'abi' list)",
                    found=str(abi_path),
                )
            )
    return issues
