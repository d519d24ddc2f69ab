"""Playbooks that act on what the alert found, on anvil with OpenZeppelin 4.9.6 bytecode:
the monitor revokes the role a ``role-granted`` finding names (AccessControl, through
ERC20PresetMinterPauser) and cancels the operation a ``timelock-scheduled`` finding names
(TimelockController), the cancel approved by a person and rebuilt from the stored alert
fields."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from breakglass_tests_kit import running_monitor  # type: ignore[import-not-found]
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file
from breakglass.respond import service
from breakglass.respond.approval_view import approval_view
from breakglass.respond.env import LiveEnv
from breakglass.respond.responder import Responder
from breakglass.store.models import StepRun

pytestmark = pytest.mark.chain

OZ = "node_modules/@openzeppelin/contracts/build/contracts"
MINTER_ROLE = keccak(text="MINTER_ROLE")
CANCELLER_ROLE = keccak(text="CANCELLER_ROLE")
ADMIN, GUARDIAN, INTRUDER = 0, 1, 7

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
rules:
  - {{id: granted, rule: role-granted, contracts: [roles], severity: critical}}
  - {{id: scheduled, rule: timelock-scheduled, contracts: [timelock], severity: high}}
playbooks:
  - id: take-back
    on: [granted]
    steps:
      - {{action: revoke-role, contract: roles, signer: guardian,
         role: "${{finding.role}}", account: "${{finding.account}}"}}
  - id: veto
    on: [scheduled]
    steps:
      - {{action: call, contract: timelock, signer: guardian, mode: approval, approver: pauser,
         function: "cancel(bytes32)", args: ["${{finding.operation_id}}"],
         verify: "!isOperationPending(bytes32)", verify_args: ["${{finding.operation_id}}"]}}
"""


def _artifact(name: str) -> dict[str, Any]:
    path = find_node_file(f"{OZ}/{name}.json")
    assert path is not None, "run npm install"
    built: dict[str, Any] = json.loads(path.read_text())
    return built


class Deployed:
    """AccessControl (ERC20PresetMinterPauser, the guardian an admin) and a
    TimelockController (a one-hour delay, the guardian a canceller)."""

    def __init__(self, anvil: Anvil, deploy: Callable[..., str], send: Callable[..., Any]):
        self.w3 = Web3(Web3.HTTPProvider(anvil.http_url))
        self.anvil, self.send = anvil, send
        admin, guardian = anvil.accounts[ADMIN], anvil.accounts[GUARDIAN]
        key = anvil.private_keys[ADMIN]
        token = _artifact("ERC20PresetMinterPauser")
        timelock = _artifact("TimelockController")
        self.roles = self.w3.eth.contract(
            address=deploy(self.w3, key, token, "Risk", "RSK"), abi=token["abi"]
        )
        self.timelock = self.w3.eth.contract(
            address=deploy(self.w3, key, timelock, 3600, [admin], [admin], admin),
            abi=timelock["abi"],
        )
        self.call(self.roles, "grantRole", bytes(32), guardian)
        self.call(self.timelock, "grantRole", CANCELLER_ROLE, guardian)

    def call(self, contract: Any, function: str, *args: Any) -> Any:
        data = contract.encode_abi(function, list(args))
        key = self.anvil.private_keys[ADMIN]
        return self.send(self.w3, key, {"to": contract.address, "data": data})

    def schedule(self) -> bytes:
        """The admin schedules an upgrade-like call; the operation's id."""
        args = (self.roles.address, 0, b"\x12\x34\x56\x78", bytes(32), b"\x01" * 32)
        self.call(self.timelock, "schedule", *args, 3600)
        operation: bytes = self.timelock.functions.hashOperation(*args).call()
        return operation


@pytest.fixture(scope="module")
def deployed(anvil: Anvil) -> Deployed:
    from breakglass_tests_safe_chain import (  # type: ignore[import-not-found]  # noqa: PLC0415
        deploy_artifact,
        send,
    )

    return Deployed(anvil, deploy_artifact, send)


def test_the_monitor_revokes_the_granted_role_and_cancels_the_scheduled_operation(
    fresh_chain: Anvil,
    deployed: Deployed,
    write_plan: Any,
    sessions: sessionmaker[Session],
) -> None:
    loaded = write_plan(
        BODY,
        contracts=f'roles: {{chain: local, address: "{deployed.roles.address}"}}\n'
        f'timelock: {{chain: local, address: "{deployed.timelock.address}"}}\n',
    )
    intruder = fresh_chain.accounts[INTRUDER]
    environ = {"GUARDIAN_KEY": fresh_chain.private_keys[GUARDIAN]}
    roles, timelock = deployed.roles.functions, deployed.timelock.functions

    async def scenario() -> bytes:
        env = LiveEnv(loaded, sessions, environ=environ, receipt_timeout=30)
        responder = Responder(loaded, chain="local", sessions=sessions, env=env)
        async with running_monitor(loaded, sessions, responder):
            grant = (deployed.roles, "grantRole", MINTER_ROLE, intruder)
            await asyncio.to_thread(deployed.call, *grant)
            assert roles.hasRole(MINTER_ROLE, intruder).call()
            operation = await asyncio.to_thread(deployed.schedule)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                revoked = not roles.hasRole(MINTER_ROLE, intruder).call()
                if revoked and _awaiting(sessions):
                    break
                await asyncio.sleep(0.1)
        await responder.aclose()
        return operation

    operation = asyncio.run(scenario())

    assert not roles.hasRole(MINTER_ROLE, intruder).call(), "the granted role was not revoked"
    assert timelock.isOperationPending(operation).call()  # the cancel waits for a person
    (step_id,) = _awaiting(sessions)
    # The approver is shown the cancel of this operation, rebuilt from the stored alert.
    view = approval_view(loaded, sessions, step_id=step_id)
    assert view is not None and view.problem is None, view
    assert view.action is not None and view.action.hash == view.requested
    assert view.built is not None and operation in view.built.data  # type: ignore[attr-defined]
    env = LiveEnv(loaded, sessions, environ=environ, receipt_timeout=30)
    result = service.approve_step(loaded, sessions, step_id, "bob", env=env)
    assert result.status == "succeeded", result
    assert not timelock.isOperationPending(operation).call(), "the operation was not cancelled"


def _awaiting(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(
            session.scalars(select(StepRun.id).where(StepRun.status == "awaiting-approval"))
        )
