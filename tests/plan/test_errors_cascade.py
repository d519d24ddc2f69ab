"""A missing section is one root cause, not one error per name that points into it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from breakglass.plan import PlanLoadError, load_plan

FULL = Path(__file__).parents[2] / "examples" / "plans" / "full.yaml"


def _beside_examples_files(tmp_path: Path) -> Path:
    """Where a variant of the example goes, with the ABI files it names, so only the
    change can fail."""
    shutil.copytree(FULL.parent / "abis", tmp_path / "abis")
    return tmp_path / "plan.yaml"


def issues_without(tmp_path: Path, section: str, replacement: str = "") -> list[str]:
    text = FULL.read_text(encoding="utf-8")
    cut = re.sub(rf"(?ms)^{section}:\n.*?(?=^\S)", replacement, text, count=1)
    assert cut != text
    plan = _beside_examples_files(tmp_path)
    plan.write_text(cut, encoding="utf-8")
    with pytest.raises(PlanLoadError) as caught:
        load_plan(plan)
    return [str(issue) for issue in caught.value.issues]


def test_a_missing_contracts_section_is_one_problem(tmp_path: Path) -> None:
    [issue] = issues_without(tmp_path, "contracts")
    assert "rules[0].contracts[0]: the `contracts:` section is missing; " in issue
    assert re.search(r"; \d+ references depend on it", issue), issue
    assert "unknown contract" not in issue


def test_an_empty_roles_section_is_one_problem(tmp_path: Path) -> None:
    found = issues_without(tmp_path, "roles", "roles: {}\n")
    about_roles = [issue for issue in found if "role" in issue]
    assert len(about_roles) == 1, found
    count = int(re.findall(r"the `roles:` section is empty; (\d+) references", found[0])[0])
    assert count > 10


def test_a_present_section_still_names_each_unknown_name(tmp_path: Path) -> None:
    text = FULL.read_text(encoding="utf-8").replace(
        "contracts: [pool]\n", "contracts: [poool]\n", 1
    )
    plan = _beside_examples_files(tmp_path)
    plan.write_text(text, encoding="utf-8")
    with pytest.raises(PlanLoadError) as caught:
        load_plan(plan)
    [issue] = [str(i) for i in caught.value.issues]
    assert "unknown contract 'poool'; did you mean 'pool'?" in issue
