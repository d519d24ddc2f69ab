"""The plan's ``restore`` section: its Safe and roles are checked when the plan loads, with
every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakglass.plan.issues import PlanLoadError
from breakglass.plan.loader import load_plan

PLAN = """\
protocol: Acme
people: {alice: {name: Alice}}
roles: {incident_lead: [alice]}
chains: {local: {chain_id: 31337, rpc: ["http://127.0.0.1:8545"]}}
signers:
  guardian: {type: env, key: "${GUARDIAN_KEY}"}
  admin_safe: {type: safe, chain: local, address: "0x1111111111111111111111111111111111111111",
               threshold: 2}
restore: {safe: SAFE, approvals: [APPROVERS]}
"""


def _load(tmp_path: Path, safe: str, approvers: str) -> None:
    path = tmp_path / "breakglass.yaml"
    path.write_text(PLAN.replace("SAFE", safe).replace("APPROVERS", approvers))
    load_plan(path)


def test_a_restore_section_naming_a_safe_and_roles_loads(tmp_path: Path) -> None:
    _load(tmp_path, "admin_safe", "incident_lead")


def test_a_key_signer_and_an_unknown_role_are_both_reported(tmp_path: Path) -> None:
    with pytest.raises(PlanLoadError) as caught:
        _load(tmp_path, "guardian", "incident_lead, treasurer")

    text = "\n".join(str(issue) for issue in caught.value.issues)
    assert "restore.safe" in text and "is a key signer, not a Safe" in text
    assert "restore.approvals[1]" in text and "treasurer" in text
