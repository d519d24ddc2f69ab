"""From the plan's rules to rule instances; the rule reference stays generated."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from breakglass.detect import Detector, RuleSetupError, build_rules, registered_rules, rule_problems
from breakglass.detect.docs import render_rules_markdown
from breakglass.detect.rule import Rule
from breakglass.plan import load_plan

ROOT = Path(__file__).parents[2]

PLAN = """\
protocol: T
chains:
  local: {chain_id: 31337, rpc: ["http://127.0.0.1:8545", "http://127.0.0.1:8546"]}
  other: {chain_id: 10, rpc: ["http://127.0.0.1:9545"]}
contracts:
  vault: {chain: local, address: "0x1111111111111111111111111111111111111111"}
  token: {chain: local, address: "0x2222222222222222222222222222222222222222"}
  bridge: {chain: other, address: "0x3333333333333333333333333333333333333333"}
rules:
  - {id: drain, rule: large-outflow, contracts: [vault],
     params: {token: "0x2222222222222222222222222222222222222222", threshold: 1000}}
  - {id: paused, rule: paused, contracts: [vault, token], severity: critical}
  - {id: bridge-paused, rule: paused, contracts: [bridge]}
  - {id: off, rule: paused, contracts: [vault], enabled: false}
"""


def plan_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_rules_of_one_chain(tmp_path: Path) -> None:
    loaded = load_plan(plan_file(tmp_path, PLAN))
    rules = build_rules(loaded, chain="local")
    assert [r.rule_id for r in rules] == ["drain", "paused"]
    assert [t.name for t in rules[1].setup.targets] == ["vault", "token"]
    assert rules[1].setup.severity == "critical"
    assert [r.rule_id for r in build_rules(loaded, chain="other")] == ["bridge-paused"]
    spec = Detector("local", rules).fetch_spec()
    assert spec.logs and not spec.traces
    assert "0x2222222222222222222222222222222222222222" in spec.addresses


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "rule: large-outflow,",
            "rule: large-outfow,",
            "unknown rule type 'large-outfow'; did you mean 'large-outflow'?",
        ),
        ("threshold: 1000}", "threshold: -5}", "rules[0].params.threshold"),
        ("threshold: 1000}", "threshold: 1000, treshold: 3}", "rules[0].params.treshold"),
        ('token: "0x2222222222222222222222222222222222222222", ', "", "params.token"),
        ("contracts: [vault, token]", "contracts: [vault, bridge]", "on several chains"),
    ],
)
def test_bad_rule_configuration_is_located(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in PLAN
    loaded = load_plan(plan_file(tmp_path, PLAN.replace(old, new, 1)))
    problems = rule_problems(loaded)
    assert any(message in p.located(loaded) for p in problems), problems
    located = problems[0].located(loaded)
    assert located.startswith(f"{tmp_path / 'plan.yaml'}:1")  # file:line:col first
    with pytest.raises(RuleSetupError, match="rules\\[") as caught:
        build_rules(loaded, chain="local")
    assert caught.value.problems


def test_rule_metadata_is_checked_when_defined() -> None:
    with pytest.raises(TypeError, match="must define recommendation"):

        class Incomplete(Rule):
            id = "incomplete"
            title = "t"
            category = "c"
            severity = registered_rules()["paused"].severity
            confidence = registered_rules()["paused"].confidence
            description = "d"

    with pytest.raises(TypeError, match="duplicate rule id 'paused'"):

        class Again(registered_rules()["paused"]):  # type: ignore[misc]
            pass


def test_rules_doc_is_up_to_date() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text()
    assert committed == render_rules_markdown(), (
        "docs/rules.md is stale: run `breakglass rules doc > docs/rules.md`"
    )


def test_the_rules_doc_lists_each_rules_finding_fields() -> None:
    """What ``${finding.*}`` may name is in the reference: the standard fields once, and
    each rule's declared ones in its own section (role-granted's account, the timelock's
    operation id)."""
    from breakglass.respond.templates import STANDARD_FIELDS  # noqa: PLC0415

    doc = render_rules_markdown()
    head, _, body = doc.partition("\n## ")
    assert all(f"| `{name}` | {kind} |" in head for name, kind in STANDARD_FIELDS.items())
    sections = {s.split("`")[1]: s for s in body.split("\n## ")}
    declared = {
        rid: dict(getattr(cls, "finding_fields", {})) for rid, cls in registered_rules().items()
    }
    assert declared["role-granted"]["account"] == "address"
    assert "operation_id" in declared["timelock-scheduled"]
    for rid, fields in declared.items():
        for name, kind in fields.items():
            assert f"| `{name}` | {kind} |" in sections[rid], (rid, name)
