"""The plan linter: every check has a fixture plan that fails it and one that passes it.

Fixtures live in ``tests/fixtures/plans/checks/<check-id>/``:

* ``pass*.yaml`` passes that check (it may fail others);
* ``fail*.yaml`` carries one marker comment per finding the check must report, on the line
  the finding points at: ``# <- expected warn: <part of the message>`` (or ``fail``). The
  check must report exactly those findings and nothing else.

Every plan is checked as of 2026-11-23 unless a test says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

import breakglass.detect.plancheck
import breakglass.notify.plancheck
import breakglass.respond.plancheck  # noqa: F401 - registers the playbooks.steps check
from breakglass.plan import LoadedPlan, load_plan
from breakglass.plan.checks import (
    CheckResult,
    CheckSeverity,
    CheckStatus,
    PlanCheck,
    PlanReport,
    check_plan,
    registered_checks,
    render_checks_markdown,
)
from breakglass.plan.checks import base as checks_base
from breakglass.plan.checks.base import CHECKLIST_ORDER

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "plans"
FIXTURES = ROOT / "tests" / "fixtures" / "plans" / "checks"
CHECKS_DOC = ROOT / "docs" / "plan-checks.md"
TODAY = date(2026, 11, 23)

_MARKER = re.compile(r"#\s*<-\s*expected\s+(?P<status>fail|warn)\s*:\s*(?P<text>.+?)\s*$")


# Fixtures that describe a real gap the check does not find yet (see the reasons).
@dataclass(frozen=True)
class Expected:
    status: CheckStatus
    line: int
    text: str


def expected_findings(fixture: Path) -> list[Expected]:
    """The ``# <- expected`` markers of a fixture, with the line each stands on."""
    found = []
    for number, line in enumerate(fixture.read_text(encoding="utf-8").splitlines(), start=1):
        if match := _MARKER.search(line):
            found.append(Expected(CheckStatus(match["status"]), number, match["text"]))
    return found


def line_of(result: CheckResult, fixture: Path) -> int | None:
    """The line a result points at, after checking it points into ``fixture``."""
    file, _, rest = result.location.partition(f"{fixture}:")
    if file or not rest:
        return None
    line, _, _column = rest.partition(":")
    return int(line)


def results_of(check_id: str, loaded: LoadedPlan, today: date = TODAY) -> list[CheckResult]:
    return [r for r in check_plan(loaded, today=today).results if r.check_id == check_id]


def describe(results: list[CheckResult]) -> str:
    return "\n".join(f"  {r.status.value} {r.location}: {r.message}" for r in results)


def _fixture_params(kind: str) -> list[object]:
    params = []
    for fixture in sorted(FIXTURES.glob(f"*/{kind}*.yaml")):
        name = f"{fixture.parent.name}/{fixture.name}"
        marks = []
        params.append(pytest.param(fixture, id=name, marks=marks))
    return params


# -- every check has fixtures -------------------------------------------------------------


def test_checks_are_registered_in_checklist_order() -> None:
    ids = [check.id for check in registered_checks()]
    assert ids[: len(CHECKLIST_ORDER)] == list(CHECKLIST_ORDER)
    assert set(ids[len(CHECKLIST_ORDER) :]) >= {
        "chains.quorum",
        "chains.gas-caps",
        "chains.distinct",
        "plan.placeholders",
        "secrets.literal",
        "people.timezones",
        "roles.pageable",
        "playbooks.targets",
        "channels.schemes",
        "rules.params",
        "playbooks.steps",
    }


@pytest.mark.parametrize("check", registered_checks(), ids=lambda check: check.id)
def test_every_check_has_fixture_plans(check: type[PlanCheck]) -> None:
    folder = FIXTURES / check.id
    assert folder.is_dir(), f"check {check.id} has no fixture directory {folder}"
    assert (folder / "pass.yaml").is_file(), f"{folder} has no pass.yaml"
    assert list(folder.glob("fail*.yaml")), f"{folder} has no fail*.yaml"


def test_every_fixture_directory_is_a_registered_check() -> None:
    folders = {path.name for path in FIXTURES.iterdir() if path.is_dir()}
    assert folders == {check.id for check in registered_checks()}


# -- the fixtures -------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", _fixture_params("fail"))
def test_fail_fixture_reports_its_findings(fixture: Path) -> None:
    check_id = fixture.parent.name
    expected = expected_findings(fixture)
    assert expected, f"{fixture} has no '# <- expected fail|warn: ...' marker"
    results = results_of(check_id, load_plan(fixture))
    unmatched = [r for r in results if r.status is not CheckStatus.PASS]
    for want in expected:
        match = next(
            (
                r
                for r in unmatched
                if r.status is want.status
                and want.text in r.message
                and line_of(r, fixture) == want.line
            ),
            None,
        )
        assert match is not None, (
            f"{check_id} should report {want.status.value} '{want.text}' at line {want.line} "
            f"of {fixture.name}; it reported:\n{describe(results)}"
        )
        unmatched.remove(match)
    assert not unmatched, f"{check_id} reported more than {fixture.name} expects:\n" + describe(
        unmatched
    )
    assert all(r.status is not CheckStatus.PASS for r in results)


@pytest.mark.parametrize("fixture", _fixture_params("pass"))
def test_pass_fixture_passes_its_check(fixture: Path) -> None:
    check_id = fixture.parent.name
    assert not expected_findings(fixture), f"{fixture} is a pass fixture with a marker"
    results = results_of(check_id, load_plan(fixture))
    assert [r.status for r in results] == [CheckStatus.PASS], describe(results)
    assert results[0].location == str(fixture)


# -- dates: both sides of the 90-day boundary ----------------------------------------------


@pytest.mark.parametrize(
    ("days", "status"),
    [(89, CheckStatus.PASS), (90, CheckStatus.PASS), (91, CheckStatus.WARN)],
    ids=["89-days", "90-days", "91-days"],
)
def test_contact_review_age_boundary(days: int, status: CheckStatus) -> None:
    loaded = load_plan(FIXTURES / "contacts.freshness" / "fail.yaml")
    reviewed = loaded.plan.people["sam"].contacts[0].reviewed_on
    results = results_of("contacts.freshness", loaded, today=reviewed + timedelta(days=days))
    assert [r.status for r in results] == [status], describe(results)
    if status is CheckStatus.WARN:
        assert f"last reviewed {days} days ago ({reviewed.isoformat()})" in results[0].message


@pytest.mark.parametrize(
    ("days", "status"),
    [(-1, CheckStatus.WARN), (0, CheckStatus.PASS)],
    ids=["day-before-review", "day-of-review"],
)
def test_contact_review_date_in_the_future(days: int, status: CheckStatus) -> None:
    loaded = load_plan(FIXTURES / "contacts.freshness" / "fail-future.yaml")
    reviewed = loaded.plan.people["sam"].contacts[0].reviewed_on
    results = results_of("contacts.freshness", loaded, today=reviewed + timedelta(days=days))
    assert [r.status for r in results] == [status], describe(results)


def test_contacts_fixtures_sit_on_the_boundary_on_the_reference_day() -> None:
    fresh = load_plan(FIXTURES / "contacts.freshness" / "pass.yaml").plan
    stale = load_plan(FIXTURES / "contacts.freshness" / "fail.yaml").plan
    assert (TODAY - fresh.people["sam"].contacts[0].reviewed_on).days == 90
    assert (TODAY - stale.people["sam"].contacts[0].reviewed_on).days == 91


@pytest.mark.parametrize(
    ("days", "status"),
    [(89, CheckStatus.PASS), (90, CheckStatus.PASS), (91, CheckStatus.WARN)],
    ids=["89-days", "90-days", "91-days"],
)
def test_drill_overdue_boundary(days: int, status: CheckStatus) -> None:
    loaded = load_plan(FIXTURES / "drills.schedule" / "fail.yaml")
    assert loaded.plan.drills is not None
    drill = loaded.plan.drills.schedule[0]
    assert drill.last_run is not None
    assert drill.interval == timedelta(days=90)
    results = results_of("drills.schedule", loaded, today=drill.last_run + timedelta(days=days))
    assert [r.status for r in results] == [status], describe(results)
    if status is CheckStatus.WARN:
        due = drill.last_run + drill.interval
        assert results[0].message == f"the 'drain' drill is overdue since {due.isoformat()}"


# -- the example plans --------------------------------------------------------------------


def test_full_example_passes_every_check() -> None:
    report = check_plan(load_plan(EXAMPLES / "full.yaml"), today=TODAY)
    assert {r.check_id for r in report.results} == {c.id for c in registered_checks()}
    failing = [r for r in report.results if r.status is not CheckStatus.PASS]
    assert not failing, describe(failing)
    assert not report.failed(CheckSeverity.WARNING)


def test_full_example_coverage_matrix() -> None:
    report = check_plan(load_plan(EXAMPLES / "full.yaml"), today=TODAY)
    rows = {
        row.scenario: (row.likelihood, row.detected_by, row.mitigated_by, row.drill_interval)
        for row in report.coverage
    }
    assert rows == {
        "vault-drain": ("high", ("pool-drain",), ("exploit",), "30d"),
        "infinite-mint": ("medium", ("receipt-mint-spike",), ("exploit",), "90d"),
        "admin-key-compromise": (
            "low",
            ("pool-upgraded",),
            ("upgrade-review", "safe-pause"),
            "180d",
        ),
        "oracle-failure": ("medium", ("oracle-stale",), ("dependency-failure",), "90d"),
        "stablecoin-depeg": ("low", ("usdc-depeg",), ("dependency-failure",), "180d"),
        "rpc-outage": ("medium", ("oracle-stale",), ("dependency-failure",), "90d"),
    }
    assert all(row.covered for row in report.coverage)
    assert [row["scenario"] for row in report.as_dict()["coverage"]] == list(rows)


def test_minimal_example_fails_mitigation_owners_and_scenario_coverage() -> None:
    report = check_plan(load_plan(EXAMPLES / "minimal.yaml"), today=TODAY)
    failing = [r for r in report.results if r.status is CheckStatus.FAIL]
    assert {r.check_id for r in failing} == {"roles.mitigation-owners", "scenarios.coverage"}
    owners = " / ".join(r.message for r in failing if r.check_id == "roles.mitigation-owners")
    assert "'frontend'" in owners
    assert "'comms'" in owners
    assert report.failed(CheckSeverity.ERROR)
    assert report.coverage == ()


def test_minimal_example_says_why_it_fails_the_check() -> None:
    """A new user who runs ``plan check`` on the minimal example and gets exit 1 reads in
    its header (and the README) that this is on purpose, and which checks fail."""
    report = check_plan(load_plan(EXAMPLES / "minimal.yaml"), today=TODAY)
    failing = [r for r in report.results if r.status is CheckStatus.FAIL]
    text = (EXAMPLES / "minimal.yaml").read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert "FAILS" in header and "(exit 1), on purpose" in header
    for result in failing:
        assert result.check_id in header, result.check_id
    readme = (EXAMPLES.parents[1] / "README.md").read_text()
    assert "fails\non it (exit 1) on purpose" in readme


# -- PlanReport.failed --------------------------------------------------------------------


def _report_with(*statuses: CheckStatus) -> PlanReport:
    loaded = load_plan(EXAMPLES / "minimal.yaml")
    results = tuple(
        CheckResult(
            check_id=f"test.check-{'abcdefgh'[i]}",
            title="t",
            status=s,
            message="m",
            location="x",
        )
        for i, s in enumerate(statuses)
    )
    return PlanReport(loaded=loaded, results=results, coverage=())


@pytest.mark.parametrize(
    ("statuses", "fails_on_error", "fails_on_warning"),
    [
        ((), False, False),
        ((CheckStatus.PASS, CheckStatus.PASS), False, False),
        ((CheckStatus.PASS, CheckStatus.WARN), False, True),
        ((CheckStatus.FAIL,), True, True),
        ((CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.PASS), True, True),
    ],
    ids=["nothing", "all-pass", "a-warning", "a-failure", "mixed"],
)
def test_report_failed_thresholds(
    statuses: tuple[CheckStatus, ...], fails_on_error: bool, fails_on_warning: bool
) -> None:
    report = _report_with(*statuses)
    assert report.failed(CheckSeverity.ERROR) is fails_on_error
    assert report.failed(CheckSeverity.WARNING) is fails_on_warning


def test_a_warning_severity_check_only_warns() -> None:
    # Only a warning-severity check's findings: they block with --fail-on warning only.
    loaded = load_plan(FIXTURES / "contacts.freshness" / "fail.yaml")
    results = results_of("contacts.freshness", loaded)
    report = PlanReport(loaded=loaded, results=tuple(results), coverage=())
    assert not report.failed(CheckSeverity.ERROR)
    assert report.failed(CheckSeverity.WARNING)


# -- docs/plan-checks.md ------------------------------------------------------------------


def test_checks_doc_is_up_to_date() -> None:
    hint = "run `breakglass plan checks-doc > docs/plan-checks.md`"
    if not CHECKS_DOC.is_file():
        pytest.fail(f"{CHECKS_DOC} is missing; {hint}")
    if CHECKS_DOC.read_text(encoding="utf-8") != render_checks_markdown():
        pytest.fail(f"{CHECKS_DOC} is out of date; {hint}")


def test_checks_doc_lists_every_check() -> None:
    text = render_checks_markdown()
    for check in registered_checks():
        assert f"## `{check.id}`" in text
        assert f"| `{check.id}` | {check.severity.value} | {check.title} |" in text


# -- PlanCheck metadata validation --------------------------------------------------------


@contextmanager
def throwaway_checks() -> Iterator[None]:
    """Let a test define checks; whatever they register is removed afterwards."""
    saved = dict(checks_base._REGISTRY)
    try:
        yield
    finally:
        checks_base._REGISTRY.clear()
        checks_base._REGISTRY.update(saved)


_METADATA = {
    "id": "test.throwaway",
    "title": "A throwaway check",
    "severity": CheckSeverity.WARNING,
    "explanation": "Exists only inside a test.",
    "fix": "Nothing to fix.",
}


def _define(**overrides: object) -> type[PlanCheck]:
    attrs = {k: v for k, v in {**_METADATA, **overrides}.items() if v is not None}
    return type("Throwaway", (PlanCheck,), attrs)


def test_a_valid_check_registers_after_the_checklist() -> None:
    with throwaway_checks():
        check = _define()
        assert checks_base._REGISTRY["test.throwaway"] is check
        assert registered_checks()[-1] is check
    assert "test.throwaway" not in checks_base._REGISTRY


@pytest.mark.parametrize("missing", list(_METADATA))
def test_a_check_missing_metadata_is_rejected(missing: str) -> None:
    with throwaway_checks():
        with pytest.raises(TypeError, match=f"must define {missing}"):
            _define(**{missing: None})
        assert "test.throwaway" not in checks_base._REGISTRY


@pytest.mark.parametrize(
    "bad_id",
    ["throwaway", "Test.throwaway", "test.Throwaway", "test.throw_away", "test.a.b", "test.-x"],
)
def test_a_check_with_a_bad_id_is_rejected(bad_id: str) -> None:
    with throwaway_checks():
        with pytest.raises(TypeError, match=re.escape("must look like 'section.check-name'")):
            _define(id=bad_id)
        assert bad_id not in checks_base._REGISTRY


def test_a_check_with_a_plain_string_severity_is_rejected() -> None:
    with throwaway_checks(), pytest.raises(TypeError, match="must be a CheckSeverity"):
        _define(severity="warning")


def test_a_duplicate_check_id_is_rejected() -> None:
    original = checks_base._REGISTRY["comms.protocol"]
    with throwaway_checks():
        with pytest.raises(TypeError, match=re.escape("duplicate plan check id 'comms.protocol'")):
            _define(id="comms.protocol")
        assert checks_base._REGISTRY["comms.protocol"] is original
        first = _define()
        with pytest.raises(TypeError, match=re.escape("duplicate plan check id 'test.throwaway'")):
            _define()
        assert checks_base._REGISTRY["test.throwaway"] is first
    assert checks_base._REGISTRY["comms.protocol"] is original
    assert "test.throwaway" not in checks_base._REGISTRY
