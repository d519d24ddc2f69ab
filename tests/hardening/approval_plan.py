"""The plan the approval-binding tests share: one approval step on a real OpenZeppelin token,
sent by an env-key guardian, approved by members of ``pauser`` (bob and carol)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from breakglass.devchain import Anvil
from breakglass.plan.loader import LoadedPlan, load_plan

GUARDIAN = 1
PAUSE = "{action: pause, contract: token, signer: guardian, mode: approval}"
UNPAUSE = "{action: unpause, contract: token, signer: guardian, mode: approval}"


def write_plan(
    directory: Path, anvil: Anvil, token: Any, step: str, *, chain_id: int = 31337
) -> LoadedPlan:
    """``directory/breakglass.yaml`` whose playbook ``contain`` is the one ``step``."""
    text = f"""
    protocol: Test Protocol
    people:
      alice: {{name: Alice}}
      bob: {{name: Bob}}
      carol: {{name: Carol}}
    roles:
      incident_lead: [alice]
      pauser: {{members: [bob, carol], handles: [pause, unpause]}}
    chains:
      local: {{chain_id: {chain_id}, block_time: 1, rpc: ["{anvil.http_url}"]}}
    contracts:
      token:
        chain: local
        address: "{token.address}"
        pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
    signers:
      guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
    playbooks:
      - id: contain
        steps:
          - {step}
    """
    path = directory / "breakglass.yaml"
    path.write_text(textwrap.dedent(text))
    return load_plan(path)
