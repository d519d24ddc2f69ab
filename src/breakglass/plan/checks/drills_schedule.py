from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import Drill
from breakglass.plan.models.base import format_duration


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
        for index, drill in scheduled.values():
            path = ("drills", "schedule", index)
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
