"""The response commands as a user runs them: a real ``breakglass`` process against a real
OpenZeppelin pausable token on anvil, its own database file, exit codes and messages."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.store.models import PlaybookRun, SafeProposal, StepRun

pytestmark = pytest.mark.chain


def _respond_conftest() -> ModuleType:
    """The containment tests' fixtures: the token on anvil, snapshots, the plan writer."""
    name = "breakglass_tests_respond_conftest"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "respond" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_fixtures = _respond_conftest()
token = _fixtures.token
fresh_chain = _fixtures.fresh_chain
pausing_safe = _fixtures.pausing_safe
write_plan = _fixtures.write_plan

GUARDIAN = 1

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}", address: "{guardian}"}}
  owner_a: {{type: env, key: "${{OWNER_A_KEY}}"}}
  ops_safe:
    type: safe
    chain: local
    address: "{safe}"
    threshold: 2
    local_owners: [owner_a]
playbooks:
  - id: contain
    steps:
      - {{action: pause, contract: token, signer: guardian, verify: "paused()"}}
      - {{action: page, role: incident_lead, message: "Token paused."}}
  - id: approved-pause
    steps:
      - {{action: pause, contract: token, signer: guardian, mode: approval, verify: "paused()"}}
  - id: safe-pause
    steps:
      - {{action: safe-proposal, safe: ops_safe, contract: token, verify: "paused()"}}
"""


class Cli:
    """``python -m breakglass`` in ``cwd`` with its own database and the plan's keys."""

    def __init__(self, cwd: Path, plan: Path, keys: dict[str, str]) -> None:
        self.cwd = cwd
        self.plan = plan
        self.database = f"sqlite:///{cwd / 'cli.db'}"
        self.keys = keys

    def __call__(self, *args: str, keys: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BREAKGLASS_") and not k.endswith("_KEY")
        }
        env |= {"COLUMNS": "200", "NO_COLOR": "1", "BREAKGLASS_DATABASE_URL": self.database}
        if keys:
            env |= self.keys
        return subprocess.run(
            [sys.executable, "-m", "breakglass", *args],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def concurrently(
        self, commands: list[tuple[str, ...]]
    ) -> list[subprocess.CompletedProcess[str]]:
        """Run the commands at the same time, as people on different machines would."""
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(lambda args: self(*args), commands))

    def steps(self) -> list[StepRun]:
        engine = store.make_engine(self.database)
        try:
            with store.session_factory(engine)() as session:
                return list(session.scalars(select(StepRun).order_by(StepRun.id)).all())
        finally:
            engine.dispose()


@pytest.fixture
def cli(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Any,
    tmp_path: Path,
) -> Cli:
    write_plan(BODY, guardian=fresh_chain.accounts[GUARDIAN], safe=pausing_safe)
    keys = {
        "GUARDIAN_KEY": fresh_chain.private_keys[GUARDIAN],
        "OWNER_A_KEY": fresh_chain.private_keys[3],
    }
    return Cli(tmp_path, tmp_path / "breakglass.yaml", keys)


def _ok(result: subprocess.CompletedProcess[str], code: int = 0) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output
    return output


def _step_ids(text: str, status: str) -> list[int]:
    """Ids of the table rows (``step id | action | mode | status``) in ``status``."""
    return [
        int(m.group(1))
        for m in re.finditer(rf"^\W*(\d+)\s*│[^\n]*│\s*{re.escape(status)}\s*│", text, re.M)
    ]


def test_pause_pauses_the_token_and_a_second_pause_sends_nothing(
    cli: Cli,
    token: Any,
    fresh_chain: Anvil,
) -> None:
    guardian = fresh_chain.accounts[GUARDIAN]
    before = token.nonce(guardian)
    first = cli("pause", "token", "--plan", str(cli.plan))
    _ok(first)
    assert token.paused()
    assert token.nonce(guardian) == before + 1
    assert "playbook break-glass: succeeded" in first.stdout
    assert re.search(r"pause token.*│\s*done\s*│.*tx 0x[0-9a-f]{64}", first.stdout), first.stdout

    second = cli("pause", "token", "--plan", str(cli.plan), "-v")
    _ok(second)
    assert re.search(r"│\s*skipped\s*│", second.stdout), second.stdout
    assert "already" in second.stdout
    assert token.nonce(guardian) == before + 1  # nothing was sent
    assert "broadcast" not in second.stderr  # -v prints every phase; there was none
    assert "precheck" in second.stderr
    assert [s.status for s in cli.steps()] == ["done", "skipped"]


def test_unknown_contract_is_one_clear_line(cli: Cli, token: Any) -> None:
    result = cli("pause", "tokne", "--plan", str(cli.plan))
    _ok(result, 2)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == ["error the plan has no contract 'tokne' (contracts: token)"], result.stderr
    assert result.stdout == ""
    assert not token.paused()


def test_dry_run_on_a_fork_needs_no_key_and_leaves_the_chain_alone(
    cli: Cli,
    token: Any,
    fresh_chain: Anvil,
) -> None:
    guardian = fresh_chain.accounts[GUARDIAN]
    before = token.nonce(guardian)
    result = cli("playbook", "run", "contain", "--plan", str(cli.plan), "--dry-run", keys=False)
    _ok(result)
    assert "dry run of contain on a fork" in result.stderr
    assert "playbook contain (dry run on a fork, nothing sent): succeeded" in result.stdout
    assert re.search(r"pause token.*│\s*done\s*│.*tx 0x[0-9a-f]{64}", result.stdout)
    assert not token.paused()  # the real chain
    assert token.nonce(guardian) == before

    runs = cli("playbook", "runs")
    _ok(runs)
    assert "run 1: contain (dry run), succeeded, trigger dry run" in runs.stdout
    ids = [s.id for s in cli.steps()]
    assert len(ids) == 2
    assert sorted(_step_ids(runs.stdout, "done")) == sorted(ids)


def test_dry_run_without_an_address_or_key_says_what_is_missing(
    cli: Cli,
    write_plan: Any,
) -> None:
    write_plan(
        """
        signers:
          guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
        playbooks:
          - id: contain
            steps:
              - {{action: pause, contract: token, signer: guardian}}
        """
    )
    result = cli("playbook", "run", "contain", "--plan", str(cli.plan), "--dry-run", keys=False)
    output = _ok(result, 1)
    assert "has no address in the plan" in output
    assert "GUARDIAN_KEY is not set" in output


def test_approval_waits_refuses_outsiders_and_pauses_when_a_pauser_approves(
    cli: Cli,
    token: Any,
) -> None:
    waiting = cli("playbook", "run", "approved-pause", "--plan", str(cli.plan))
    _ok(waiting)
    assert "playbook approved-pause: waiting" in waiting.stdout
    assert "awaiting-approval" in waiting.stdout
    assert not token.paused()
    (step,) = cli.steps()
    assert step.status == "awaiting-approval"
    assert re.search(rf"│\s*{step.id}\s*│\s*pause token", waiting.stdout), waiting.stdout

    runs = cli("playbook", "runs")
    assert _step_ids(runs.stdout, "awaiting-approval") == [step.id]

    refused = cli("approve", str(step.id), "--as", "alice", "--plan", str(cli.plan))
    _ok(refused, 2)
    assert "alice is not in role pauser" in refused.stderr
    assert not token.paused()

    stranger = cli("approve", str(step.id), "--as", "mallory", "--plan", str(cli.plan))
    _ok(stranger, 2)
    assert "no person 'mallory'" in stranger.stderr

    approved = cli("approve", str(step.id), "--as", "bob", "--plan", str(cli.plan))
    _ok(approved)
    assert token.paused()
    assert "playbook approved-pause: succeeded" in approved.stdout
    # The approval is kept on the waiting step; the resumed run records the execution
    # of the same position as a new step row of the same run.
    decided, executed = cli.steps()
    assert (decided.id, decided.status, decided.decided_by) == (step.id, "approved", "bob")
    assert (executed.run_id, executed.position) == (step.run_id, step.position)
    assert executed.status == "done"
    assert executed.tx_hash is not None
    assert executed.tx_hash in approved.stdout

    again = cli("approve", str(step.id), "--as", "bob", "--plan", str(cli.plan))
    _ok(again, 2)
    assert f"step {step.id} is approved, not awaiting-approval" in again.stderr


def test_two_approvals_at_once_pause_once(
    cli: Cli,
    token: Any,
    fresh_chain: Anvil,
) -> None:
    """Two approvals of one step at the same moment (bob clicking twice, or on two
    machines): one resumes the run, the other is told the step was decided."""
    _ok(cli("playbook", "run", "approved-pause", "--plan", str(cli.plan)))
    (step,) = cli.steps()
    guardian = fresh_chain.accounts[GUARDIAN]
    before = token.nonce(guardian)

    results = cli.concurrently(
        [
            ("approve", str(step.id), "--as", person, "--plan", str(cli.plan))
            for person in ("bob", "bob")
        ]
    )
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 2], [r.stdout + r.stderr for r in results]
    refused = next(r for r in results if r.returncode == 2)
    assert f"step {step.id}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert token.paused()
    assert token.nonce(guardian) == before + 1  # one pause sent, not two
    assert [s.status for s in cli.steps()] == ["approved", "done"]


def test_safe_proposal_is_listed_and_exported_as_transaction_service_json(
    cli: Cli,
    token: Any,
    pausing_safe: str,
) -> None:
    proposed = cli("playbook", "run", "safe-pause", "--plan", str(cli.plan))
    _ok(proposed)
    assert "1 of 2 signatures" in proposed.stdout
    assert not token.paused()
    engine = store.make_engine(cli.database)
    try:
        with store.session_factory(engine)() as session:
            proposal = session.scalars(select(SafeProposal)).one()
            run = session.scalars(select(PlaybookRun)).one()
    finally:
        engine.dispose()
    assert run.status == "waiting"

    listed = cli("safe", "list")
    _ok(listed)
    assert proposal.safe_tx_hash in listed.stdout
    assert "1/2" in listed.stdout

    exported = cli("safe", "export", str(proposal.id))
    _ok(exported)
    doc = json.loads(exported.stdout)
    assert doc["contractTransactionHash"] == proposal.safe_tx_hash
    assert doc["safe"].lower() == pausing_safe.lower()
    assert doc["to"].lower() == token.address.lower()

    missing = cli("safe", "export", "999")
    _ok(missing, 2)
    assert "999" in missing.stderr


def test_dry_run_with_the_chain_down_names_chain_and_endpoint(cli: Cli, fresh_chain: Anvil) -> None:
    """A fork that cannot start says which chain and endpoint (no key in its path) and what
    to do, not anvil's raw HTTP diagnostics."""
    text = cli.plan.read_text()
    cli.plan.write_text(text.replace(fresh_chain.http_url, "http://127.0.0.1:9/v2/KEY-s3cr3t"))
    result = cli("playbook", "run", "contain", "--plan", str(cli.plan), "--dry-run", keys=False)
    output = _ok(result, 2)
    assert "cannot fork chain local from http://127.0.0.1:9/…" in output, output
    assert "breakglass doctor" in output
    assert "s3cr3t" not in output and "BaseHTTP" not in output and "502" not in output
