"""The plan's alerting section becomes the alert book's policy."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from breakglass.detect import AlertPolicy
from breakglass.detect.alerts import GroupBy
from breakglass.plan import load_plan

ROOT = Path(__file__).parents[2]


def test_policy_from_the_full_example() -> None:
    policy = AlertPolicy.from_plan(load_plan(ROOT / "examples" / "plans" / "full.yaml").plan)
    assert policy.default.suppress_for == timedelta(minutes=10)
    assert policy.default.group_by is GroupBy.CONTRACT
    assert policy.correlate_within == timedelta(minutes=30)
    assert policy.grouping("pool-upgraded").suppress_for == timedelta(hours=1)
    assert policy.grouping("pool-drain") == policy.default


def test_defaults_without_a_section() -> None:
    plan = load_plan(ROOT / "examples" / "plans" / "minimal.yaml").plan
    policy = AlertPolicy.from_plan(plan)
    assert policy == AlertPolicy()
