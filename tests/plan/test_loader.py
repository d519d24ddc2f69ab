"""The loader: valid plans load; every problem in a bad plan is reported with its place."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from breakglass.plan import PlanLoadError, load_plan
from breakglass.plan.models import KeystoreSigner, PauseStep, Secret
from breakglass.plan.source import MAX_PLAN_BYTES

EXAMPLES = Path(__file__).parents[2] / "examples" / "plans"


def write(tmp_path: Path, text: str, name: str = "plan.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def issues_of(path: Path) -> list[str]:
    with pytest.raises(PlanLoadError) as caught:
        load_plan(path)
    return [str(issue) for issue in caught.value.issues]


BASE = """\
protocol: Test
people:
  alice: {name: Alice, contacts: [{kind: email, value: a@x.example, reviewed_on: 2026-11-01}]}
roles:
  pauser: {members: [alice], handles: [pause]}
chains:
  main: {chain_id: 1, rpc: ["http://127.0.0.1:8545"]}
contracts:
  pool: {chain: main, address: "0x1111111111111111111111111111111111111111"}
signers:
  guardian: {type: keystore, path: k.json, password: "${PW}"}
rules:
  - {id: drain, rule: large-outflow, contracts: [pool]}
playbooks:
  - id: stop
    on: [drain]
    steps:
      - {action: pause, contract: pool, signer: guardian}
"""


def test_example_plans_load() -> None:
    full = load_plan(EXAMPLES / "full.yaml").plan
    assert full.protocol == "Acme Lending"
    assert len(full.scenarios) == 6
    guardian = full.signers["guardian"]
    assert isinstance(guardian, KeystoreSigner)
    assert guardian.password == Secret("${GUARDIAN_PASSWORD}")
    step = full.playbooks[0].steps[0]
    assert isinstance(step, PauseStep)
    assert step.on_failure == "safe-pause"
    assert load_plan(EXAMPLES / "minimal.yaml").plan.protocol == "Tiny Vault"


def test_on_key_is_not_a_boolean(tmp_path: Path) -> None:
    # YAML 1.1 reads a bare `on:` key as True; plans use YAML 1.2 booleans.
    plan = load_plan(write(tmp_path, BASE)).plan
    assert plan.playbooks[0].on == ["drain"]


def test_addresses_are_checksummed(tmp_path: Path) -> None:
    plan = load_plan(write(tmp_path, BASE.replace("0x1111", "0xabcd"))).plan
    assert plan.contracts["pool"].address == "0xabCd111111111111111111111111111111111111"


def test_bad_checksum_is_reported(tmp_path: Path) -> None:
    bad = BASE.replace(
        "0x1111111111111111111111111111111111111111", "0xABcd111111111111111111111111111111111111"
    )
    (issue,) = issues_of(write(tmp_path, bad))
    assert "contracts.pool.address" in issue
    assert "EIP-55" in issue


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    bad = (
        BASE.replace("members: [alice]", "members: [alice, bobb]")
        .replace("chain_id: 1", "chain_id: one")
        .replace("signer: guardian}", "signer: guardain}")
        .replace("on: [drain]", "on: [drian]")
        .replace("handles: [pause]", "handle: [pause]")
    )
    issues = issues_of(write(tmp_path, bad))
    assert len(issues) == 5
    text = "\n".join(issues)
    assert (
        "plan.yaml:5:" in text
        and "roles.pauser.handle: unknown field 'handle'; did you mean 'handles'?" in text
    )
    assert "roles.pauser.members[1]: unknown person 'bobb'" in text
    assert "plan.yaml:7:" in text and "chains.main.chain_id: invalid value" in text
    assert "found 'one'" in text
    assert "playbooks[0].on[0]: unknown rule 'drian'; did you mean 'drain'?" in text
    assert (
        "playbooks[0].steps[0].signer: unknown signer 'guardain'; did you mean 'guardian'?" in text
    )


def test_issue_points_at_line_and_column(tmp_path: Path) -> None:
    bad = BASE.replace("signer: guardian}", "signer: nobody}")
    with pytest.raises(PlanLoadError) as caught:
        load_plan(write(tmp_path, bad))
    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (18, 49)
    assert issue.path == "playbooks[0].steps[0].signer"
    assert issue.expected == "one of: guardian"
    assert issue.found == "'nobody'"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "action: pause",
            "action: explode",
            "playbooks[0].steps[0].action: unknown action 'explode'",
        ),
        ("type: keystore", "type: keystor", "did you mean 'keystore'?"),
        ("reviewed_on: 2026-11-01", "reviewed_on: yesterday", "invalid date"),
        (
            "{action: pause, contract: pool, signer: guardian}",
            "{action: notify}",
            "missing required field 'channel'",
        ),
        (
            "rule: large-outflow,",
            "rule: large-outflow, severity: apocalyptic,",
            "rules[0].severity",
        ),
        (
            "contracts: [pool]}",
            "contracts: [pool]}\n  - {id: drain, rule: x}",
            "duplicate id 'drain'",
        ),
        ("chain: main,", "chain: mian,", "unknown chain 'mian'; did you mean 'main'?"),
        ("rule: large-outflow,", "rule: large-outflow, enabled: yes,", "expected true or false"),
        ("people:\n", "people:\n\t", "replace the tab"),
        (
            '"${PW}"}',
            '"${PW}"}\n  vault: {type: safe, chain: main, threshold: 1, '
            'address: "0x2222222222222222222222222222222222222222"}',
            None,
        ),
    ],
)
def test_specific_mistakes(tmp_path: Path, old: str, new: str, expected: str | None) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    if expected is None:  # a Safe named where a key signer belongs
        text = text.replace("signer: guardian}", "signer: vault}")
        expected = "playbooks[0].steps[0].signer: 'vault' is a Safe"
    issues = issues_of(write(tmp_path, text))
    assert any(expected in issue for issue in issues), issues


def test_literal_key_as_number_is_not_echoed(tmp_path: Path) -> None:
    key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    bad = BASE.replace(
        '{type: keystore, path: k.json, password: "${PW}"}', f"{{type: env, key: {key}}}"
    )
    issues = issues_of(write(tmp_path, bad))
    (issue,) = issues
    assert "signers.guardian.key" in issue
    assert "${MY_SECRET}" in issue
    assert str(int(key, 16))[:12] not in issue


def test_literal_secret_is_refused_and_not_echoed(tmp_path: Path) -> None:
    key = "0x" + "ab" * 32
    bad = BASE.replace(
        '{type: keystore, path: k.json, password: "${PW}"}', f'{{type: env, key: "{key}"}}'
    )
    issues = issues_of(write(tmp_path, bad))
    assert any("signers.guardian.key" in i and "environment reference" in i for i in issues)
    assert all(key not in i and "ab" * 32 not in i for i in issues)


def test_secret_reference_is_kept_not_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PW", "hunter2-secret")
    plan = load_plan(write(tmp_path, BASE)).plan
    guardian = plan.signers["guardian"]
    assert isinstance(guardian, KeystoreSigner)
    assert "hunter2" not in plan.model_dump_json()
    assert "hunter2" not in repr(plan)
    assert guardian.password.resolve() == "hunter2-secret"


def test_unknown_field_value_is_not_echoed(tmp_path: Path) -> None:
    key = "0x" + "cd" * 32
    bad = BASE.replace('password: "${PW}"}', f'password: "${{PW}}", private_key: "{key}"}}')
    issues = issues_of(write(tmp_path, bad))
    assert any("unknown field 'private_key'" in i for i in issues)
    assert all("cd" * 32 not in i for i in issues)


def test_duplicate_keys_are_errors(tmp_path: Path) -> None:
    issues = issues_of(write(tmp_path, BASE + "protocol: Again\n"))
    assert issues == [
        f"{tmp_path / 'plan.yaml'}:19:1: protocol: "
        "duplicate key 'protocol' (first defined on line 1)"
    ]


def test_missing_abi_file(tmp_path: Path) -> None:
    bad = BASE.replace(
        'address: "0x1111111111111111111111111111111111111111"}',
        'address: "0x1111111111111111111111111111111111111111", abi: abis/Pool.json}',
    )
    (issue,) = issues_of(write(tmp_path, bad))
    assert "contracts.pool.abi: ABI file not found" in issue
    (tmp_path / "abis").mkdir()
    (tmp_path / "abis" / "Pool.json").write_text('{"abi": [{"type": "function", "name": "pause"}]}')
    assert load_plan(tmp_path / "plan.yaml").plan.contracts["pool"].abi == Path("abis/Pool.json")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"protocol: [unclosed\n", "invalid YAML"),
        (b"- just\n- a list\n", "a plan is a mapping of sections"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        (b"protocol: caf\xe9\n", "not UTF-8"),
        (
            b"a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
            b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
            b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
            b"f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n",
            "through aliases",
        ),
        (b"protocol: " + b"[" * 50_000 + b"]" * 50_000, "levels deep"),
    ],
)
def test_unusable_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "plan.yaml"
    path.write_bytes(content)
    issues = issues_of(path)
    assert any(expected in i for i in issues), issues


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    with path.open("wb") as handle:
        handle.truncate(50 * 1024 * 1024)
    (issue,) = issues_of(path)
    assert "50.0 MiB" in issue
    assert str(MAX_PLAN_BYTES // 1_048_576) in issue


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert issues_of(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]
    assert "is a directory" in issues_of(tmp_path)[0]
