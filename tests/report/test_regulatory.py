"""Regulatory clocks on a fixed clock: weekends, public holidays, DST, caps and chains."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from breakglass import store
from breakglass.errors import BreakglassError
from breakglass.plan import load_plan
from breakglass.plan.models.policy import Regulatory
from breakglass.report.regulatory import (
    Status,
    deadlines,
    get_regime,
    incident_clocks,
    load_regimes,
    parse_regime,
    reminders_due,
)
from breakglass.store.models import Incident, TimelineEvent

ROOT = Path(__file__).parents[2]
ET = ZoneInfo("America/New_York")
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday


def due(regime: str, name: str, events: dict[str, datetime]) -> datetime:
    clocks = {d.name: d for d in deadlines(get_regime(regime), events, now=T0)}
    value = clocks[name].due
    assert value is not None
    assert value.tzinfo is UTC
    return value


# --- the shipped data -------------------------------------------------------------------


def test_every_shipped_regime_loads_and_cites_its_law() -> None:
    regimes = load_regimes()
    assert {"dora", "nis2", "gdpr", "sec-8k", "fincen-sar", "nydfs-500", "mas-psn05"} <= set(
        regimes
    )
    folder = files("breakglass.report").joinpath("regimes")
    stems = {e.name.removesuffix(".yaml") for e in folder.iterdir() if e.name.endswith(".yaml")}
    assert stems == set(regimes)  # one file per regime, named by its id
    for regime in regimes.values():
        assert any(m in regime.reference for m in ("Art.", "CFR", "NYCRR", "Notice", "Item"))
        assert regime.recipient and regime.applies_when and regime.jurisdiction
    assert "Art. 19" in regimes["dora"].reference
    assert "Art. 23" in regimes["nis2"].reference
    assert "Art. 33" in regimes["gdpr"].reference
    assert "Item 1.05" in regimes["sec-8k"].reference
    assert "1022.320" in regimes["fincen-sar"].reference
    assert "500.17" in regimes["nydfs-500"].reference
    assert "PSN05" in regimes["mas-psn05"].reference


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"start": "breakfast"}, "start is one of"),
        ({"start": "previous:nothing"}, "names no earlier deadline"),
        ({"unit": "business-days"}, "business days need a calendar"),
        ({"unit": "fortnights"}, "unit"),
        ({"offset": 0}, "greater than 0"),
        ({"end_of_day": True}, "end_of_day and cutoff"),
    ],
)
def test_bad_regimes_are_refused(patch: dict[str, object], message: str) -> None:
    deadline = {"name": "report", "start": "awareness", "offset": 1, "unit": "hours", **patch}
    data = {
        "id": "x",
        "name": "X",
        "jurisdiction": "Y",
        "reference": "Art. 1",
        "applies_when": "always",
        "recipient": "Z",
        "deadlines": [deadline],
    }
    with pytest.raises(ValidationError, match=message):
        parse_regime(json.dumps(data))


def test_unknown_calendar_and_zone_are_refused() -> None:
    base = (
        "{id: x, name: X, jurisdiction: Y, reference: Art. 1, applies_when: a, recipient: Z, "
        "deadlines: [{name: r, start: awareness, offset: 1, unit: business-days}], "
    )
    with pytest.raises(ValidationError):
        parse_regime(base + "calendar: {country: XX}}")
    with pytest.raises(ValidationError, match="time zone"):
        parse_regime(base + "calendar: {market: NYSE}, timezone: Mars/Olympus}")
    assert parse_regime(base + "calendar: {market: NYSE}}").calendar is not None


def test_unknown_regime_names_the_known_ones() -> None:
    with pytest.raises(BreakglassError, match=r"known: .*dora"):
        get_regime("mica")


# --- SEC: business days in the US federal calendar -------------------------------------


@pytest.mark.parametrize(
    ("determined", "expected_day"),
    [
        (datetime(2026, 11, 19, 15, 0, tzinfo=ET), datetime(2026, 11, 25)),  # Thu: Fri Mon Tue Wed
        (datetime(2026, 11, 23, 15, 0, tzinfo=ET), datetime(2026, 11, 30)),  # skips Thanksgiving
        (datetime(2026, 11, 25, 15, 0, tzinfo=ET), datetime(2026, 12, 2)),  # and the weekend
        (datetime(2026, 12, 18, 15, 0, tzinfo=ET), datetime(2026, 12, 24)),  # Fri before Xmas
        (datetime(2026, 12, 21, 15, 0, tzinfo=ET), datetime(2026, 12, 28)),  # skips Christmas
        (datetime(2026, 4, 2, 15, 0, tzinfo=ET), datetime(2026, 4, 8)),  # Good Friday counts
        # Sunday 21:00 in New York is Monday in UTC: the count starts on Monday, ET.
        (datetime(2026, 11, 23, 2, 0, tzinfo=UTC), datetime(2026, 11, 27)),
    ],
)
def test_sec_four_business_days(determined: datetime, expected_day: datetime) -> None:
    got = due("sec-8k", "form-8k", {"materiality-determination": determined})
    # EDGAR's 5:30 p.m. Eastern cutoff on the fourth business day.
    assert got == expected_day.replace(hour=17, minute=30, tzinfo=ET).astimezone(UTC)


def test_sec_waits_for_the_materiality_determination() -> None:
    [clock] = deadlines(get_regime("sec-8k"), {"awareness": T0}, now=T0)
    assert clock.status is Status.NOT_STARTED
    assert clock.due is None
    assert clock.time_left is None


# --- DORA: cap and chain ----------------------------------------------------------------


def test_dora_initial_is_four_hours_from_classification() -> None:
    events = {"awareness": T0, "classification-major": T0 + timedelta(hours=2)}
    [initial, *_] = deadlines(get_regime("dora"), events, now=T0)
    assert initial.due == T0 + timedelta(hours=6)
    assert initial.capped_by is None


def test_dora_late_classification_hits_the_24_hour_bound() -> None:
    events = {"awareness": T0, "classification-major": T0 + timedelta(hours=22)}
    [initial, *_] = deadlines(get_regime("dora"), events, now=T0 + timedelta(hours=23))
    assert initial.due == T0 + timedelta(hours=24)  # not 26 h
    assert initial.capped_by == "24 hours from awareness"
    assert initial.time_left == timedelta(hours=1)
    late = {"awareness": T0, "classification-major": T0 + timedelta(hours=30)}
    [initial, *_] = deadlines(get_regime("dora"), late, now=T0 + timedelta(hours=30))
    assert initial.status is Status.OVERDUE  # classified after the cap: overdue at once


def test_dora_chain_initial_intermediate_final() -> None:
    events = {"awareness": T0, "classification-major": T0 + timedelta(hours=1)}
    regime = get_regime("dora")
    initial, intermediate, final = deadlines(regime, events, now=T0)
    assert (intermediate.status, final.status) == (Status.NOT_STARTED, Status.NOT_STARTED)
    assert intermediate.start_event == "previous:initial"
    sent = T0 + timedelta(hours=3)
    initial, intermediate, final = deadlines(regime, events, now=sent, filings={"initial": sent})
    assert initial.status is Status.FILED and not initial.late
    assert intermediate.due == sent + timedelta(hours=72)
    assert final.status is Status.NOT_STARTED
    end_of_january = datetime(2027, 1, 31, 10, 0, tzinfo=UTC)
    filings = {"initial": sent, "intermediate": end_of_january}
    *_, final = deadlines(regime, events, now=end_of_january, filings=filings)
    assert final.due == datetime(2027, 2, 28, 10, 0, tzinfo=UTC)  # one month, clamped


# --- NIS2, GDPR, NYDFS, MAS, FinCEN -----------------------------------------------------


def test_nis2_early_warning_notification_and_final() -> None:
    regime = get_regime("nis2")
    warning, notification, final = deadlines(regime, {"awareness": T0}, now=T0)
    assert warning.due == T0 + timedelta(hours=24)
    assert notification.due == T0 + timedelta(hours=72)
    assert final.status is Status.NOT_STARTED  # one month from the notification's submission
    notified = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    *_, final = deadlines(regime, {"awareness": T0}, now=T0, filings={"notification": notified})
    assert final.due == datetime(2026, 12, 25, 8, 0, tzinfo=UTC)


def test_gdpr_72_hours_across_a_dst_change_is_utc_arithmetic() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    aware = datetime(2026, 10, 24, 12, 0, tzinfo=berlin)  # CEST; clocks go back on Oct 25
    got = due("gdpr", "notification", {"awareness": aware})
    assert got == datetime(2026, 10, 27, 10, 0, tzinfo=UTC)
    assert got - aware == timedelta(hours=72)
    assert got.astimezone(berlin).hour == 11  # 72 real hours, 73 on the wall clock


def test_nydfs_72_hours_and_a_regime_specific_determination() -> None:
    assert due("nydfs-500", "notice", {"awareness": T0}) == T0 + timedelta(hours=72)


def test_mas_one_hour_and_fourteen_days() -> None:
    assert due("mas-psn05", "notification", {"awareness": T0}) == T0 + timedelta(hours=1)
    assert due("mas-psn05", "root-cause-report", {"awareness": T0}) == T0 + timedelta(days=14)


def test_fincen_30_calendar_days_to_the_end_of_the_day() -> None:
    got = due("fincen-sar", "sar", {"awareness": T0})  # Mon Nov 23, 04:00 in New York
    assert got == datetime(2026, 12, 24, 0, 0, tzinfo=ET).astimezone(UTC)  # end of Dec 23
    autumn = datetime(2026, 10, 20, 14, 0, tzinfo=UTC)  # 30 days later is past the DST change
    assert due("fincen-sar", "sar", {"awareness": autumn}) == datetime(
        2026, 11, 20, 5, 0, tzinfo=UTC
    )


# --- statuses and reminders -------------------------------------------------------------


def test_statuses_due_overdue_filed_late() -> None:
    regime, events = get_regime("gdpr"), {"awareness": T0}
    [clock] = deadlines(regime, events, now=T0 + timedelta(hours=10))
    assert (clock.status, clock.time_left) == (Status.DUE, timedelta(hours=62))
    [clock] = deadlines(regime, events, now=T0 + timedelta(hours=73))
    assert (clock.status, clock.time_left) == (Status.OVERDUE, timedelta(hours=-1))
    filed = {"notification": T0 + timedelta(hours=80)}
    [clock] = deadlines(regime, events, now=T0 + timedelta(hours=90), filings=filed)
    assert clock.status is Status.FILED and clock.late and clock.time_left is None
    [clock] = deadlines(regime, {}, now=T0)
    assert clock.status is Status.NOT_STARTED


def test_reminders_in_the_last_quarter_or_overdue() -> None:
    events = {"awareness": T0}
    clocks = deadlines(get_regime("nis2"), events, now=T0 + timedelta(hours=17))
    assert reminders_due(clocks, now=T0 + timedelta(hours=17)) == []
    at = T0 + timedelta(hours=18)  # the early warning enters its last 6 h
    assert [
        c.name for c in reminders_due(deadlines(get_regime("nis2"), events, now=at), now=at)
    ] == ["early-warning"]
    at = T0 + timedelta(hours=60)
    clocks = deadlines(get_regime("nis2"), events, now=at)
    assert [c.name for c in reminders_due(clocks, now=at)] == ["early-warning", "notification"]
    filed = deadlines(get_regime("nis2"), events, now=at, filings={"early-warning": T0})
    assert [c.name for c in reminders_due(filed, now=at)] == ["notification"]


# --- the plan ---------------------------------------------------------------------------


def plan_with(tmp_path: Path, regulatory: str) -> Path:
    path = tmp_path / "plan.yaml"
    text = (ROOT / "examples" / "plans" / "minimal.yaml").read_text()
    path.write_text(text + f"regulatory: {regulatory}\n")
    return path


def test_incident_clocks_for_the_plan_regimes(tmp_path: Path) -> None:
    plan = load_plan(plan_with(tmp_path, "{regimes: [gdpr, sec-8k]}")).plan
    filings = {("gdpr", "notification"): T0 + timedelta(hours=5)}
    clocks = incident_clocks(plan, {"awareness": T0}, filings, T0 + timedelta(hours=6))
    assert [(c.regime, c.name, c.status) for c in clocks] == [
        ("gdpr", "notification", Status.FILED),
        ("sec-8k", "form-8k", Status.NOT_STARTED),
    ]
    determined = {"sec-8k": {"materiality-determination": T0}}
    clocks = incident_clocks(plan, {"awareness": T0}, {}, T0, regime_events=determined)
    assert clocks[1].status is Status.DUE
    none = load_plan(plan_with(tmp_path, "{applies: false, reason: no users}")).plan
    assert incident_clocks(none, {"awareness": T0}, {}, T0) == []


def test_plan_regimes_field() -> None:
    assert Regulatory(regimes=["dora"]).regimes == ["dora"]
    assert Regulatory().regimes == []
    with pytest.raises(ValidationError, match="contradicts"):
        Regulatory(applies=False, reason="none", regimes=["dora"])
    with pytest.raises(ValidationError, match="twice"):
        Regulatory(regimes=["dora", "dora"])


def test_unknown_plan_regime_is_an_error(tmp_path: Path) -> None:
    plan = load_plan(plan_with(tmp_path, "{regimes: [mica]}")).plan
    with pytest.raises(BreakglassError, match="unknown regime 'mica'"):
        incident_clocks(plan, {"awareness": T0}, {}, T0)


# --- the CLI, as a user runs it ---------------------------------------------------------

# Until `app.add_typer(regulatory.app, name="regulatory")` is in cli/app.py, mount it here;
# the script then runs the real entry point with its error handling.
CLI = """
import sys
from breakglass.cli import app as cli, regulatory
if not any(g.name == "regulatory" for g in cli.app.registered_groups):
    cli.app.add_typer(regulatory.app, name="regulatory")
sys.argv[0] = "breakglass"
cli.main()
"""


def run(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": url, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-c", CLI, "regulatory", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.e2e
def test_cli_records_and_shows_clocks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bg.sqlite'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    detected = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # Wednesday before Thanksgiving
    with store.session_factory(engine).begin() as session:
        incident = Incident(
            title="vault drained",
            kind="exploit",
            severity="P1",
            status="investigating",
            chains=["mainnet"],
            contracts=["vault"],
            detected_at=detected,
            updated_at=detected,
        )
        session.add(incident)
        session.flush()
        incident_id = str(incident.id)
    plan = plan_with(tmp_path, "{regimes: [dora, sec-8k]}")

    listed = run(url, "list")
    assert listed.returncode == 0, listed.stderr
    assert "sec-8k" in listed.stdout and "Art. 19" in listed.stdout

    steps = [
        ("event", incident_id, "classification-major", "--at", "2026-11-25T15:00:00Z"),
        ("event", incident_id, "materiality-determination", "--at", "2026-11-25T20:00:00Z"),
        ("file", incident_id, "dora", "initial", "--at", "2026-11-25T18:00:00Z", "--as", "sam"),
    ]
    for step in steps:
        result = run(url, *step)
        assert result.returncode == 0, result.stdout + result.stderr

    clocks = run(url, "clocks", incident_id, "--plan", str(plan), "--now", "2026-11-30T12:00Z")
    assert clocks.returncode == 0, clocks.stderr
    lines = {line.split("│")[2].strip(): line for line in clocks.stdout.splitlines() if "│" in line}
    assert "filed 2026-11-25 18:00 UTC" in lines["initial"]
    assert "2026-11-28 18:00 UTC" in lines["intermediate"] and "overdue" in lines["intermediate"]
    assert "not-started" in lines["final"]
    assert "2026-12-02 22:30 UTC" in lines["form-8k"] and "due" in lines["form-8k"]
    assert "2d 10h 30m" in lines["form-8k"]

    with store.session_factory(engine)() as session:
        rows = session.query(TimelineEvent).filter_by(kind="regulatory").all()
        assert {r.data["record"] for r in rows} == {"event", "filing"}
        filing = next(r for r in rows if r.data["record"] == "filing")
        assert filing.data == {"record": "filing", "regime": "dora", "deadline": "initial"}
        assert filing.actor == "sam"
    engine.dispose()

    bad = run(url, "file", incident_id, "dora", "preliminary")
    assert bad.returncode == 2 and "no deadline 'preliminary'" in bad.stderr
    missing = run(url, "event", "999", "awareness")
    assert missing.returncode == 2 and "no incident #999" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr
