"""The ``drills.schedule`` check: every scenario drilled on schedule.

A drill's last run is the later of the plan's ``last_run`` and, when the caller set
:data:`drill_dates_provider`, the date of the latest stored drill of that scenario. The check
context has no database, so the CLI installs the provider (e.g.
``breakglass.drills.report.stored_dates_provider(sessions)``) before running the checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import date

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import Drill
from breakglass.plan.models.base import format_duration

DrillDatesProvider = Callable[[], Mapping[str, date]]
"""Returns the date of the latest stored drill of each scenario name."""

drill_dates_provider: DrillDatesProvider | None = None
"""Set by the CLI to make the check use stored drill dates; ``None`` (default): plan only."""


def _last_runs() -> Mapping[str, date]:
    provider = drill_dates_provider
    return provider() if provider is not None else {}


class DrillSchedule(PlanCheck):
    id = "drills.schedule"
    title = "Every scenario is drilled on schedule, likelier ones more often"
    severity = CheckSeverity.WARNING
    explanation = (
        "Dry runs find the gaps before an attacker does and build muscle memory. Each "
        "scenario needs a drill interval, likelier scenarios shorter intervals, no drill "
        "should be overdue, and a report template records what to improve after each run."
    )
    fix = (
        "Add `drills: {report_template: <file>, schedule: [{scenario: <name>, interval: 90d, "
        "last_run: YYYY-MM-DD}]}` and run `breakglass drill run` for overdue scenarios."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        drills = plan.drills
        if drills is None:
            yield Finding("the plan has no drill schedule")
            return
        if drills.report_template is None:
            yield Finding("no drill report template", ("drills",))
        elif not (ctx.loaded.base_dir / drills.report_template).is_file():
            yield Finding(
                f"drill report template {drills.report_template} does not exist",
                ("drills", "report_template"),
            )
        scheduled: dict[str, tuple[int, Drill]] = {}
        for index, drill in enumerate(drills.schedule):
            if drill.scenario in scheduled:
                yield Finding(
                    f"scenario '{drill.scenario}' is scheduled twice; keep one entry",
                    ("drills", "schedule", index, "scenario"),
                )
                continue
            scheduled[drill.scenario] = (index, drill)
        for name in plan.scenarios:
            if name not in scheduled:
                yield Finding(f"scenario '{name}' is never drilled", ("scenarios", name))
        stored = _last_runs()
        for index, planned in scheduled.values():
            path = ("drills", "schedule", index)
            drill = planned
            ran = stored.get(planned.scenario)
            if ran is not None and (planned.last_run is None or ran > planned.last_run):
                drill = planned.model_copy(update={"last_run": ran})
            if drill.last_run is None:
                yield Finding(f"the '{drill.scenario}' drill has never been run", path)
            elif drill.last_run > ctx.today:
                yield Finding(
                    f"the '{drill.scenario}' drill's last run is in the future "
                    f"({drill.last_run.isoformat()})",
                    (*path, "last_run"),
                )
            elif drill.last_run + drill.interval < ctx.today:
                due = drill.last_run + drill.interval
                yield Finding(
                    f"the '{drill.scenario}' drill is overdue since {due.isoformat()}",
                    (*path, "last_run"),
                )
        yield from self._ordering(ctx, scheduled)

    @staticmethod
    def _ordering(ctx: CheckContext, scheduled: dict[str, tuple[int, Drill]]) -> Iterator[Finding]:
        plan = ctx.plan
        drilled = [
            (plan.scenarios[name].likelihood, index, drill)
            for name, (index, drill) in scheduled.items()
            if name in plan.scenarios
        ]
        for likelihood, index, drill in drilled:
            rarer = next(
                (
                    (other, other_drill)
                    for other, _, other_drill in drilled
                    if likelihood.rank > other.rank and drill.interval > other_drill.interval
                ),
                None,
            )
            if rarer is not None:
                other, other_drill = rarer
                yield Finding(
                    f"'{drill.scenario}' ({likelihood.value} likelihood) is drilled every "
                    f"{format_duration(drill.interval)}, less often than "
                    f"'{other_drill.scenario}' ({other.value} likelihood)",
                    ("drills", "schedule", index, "interval"),
                )
