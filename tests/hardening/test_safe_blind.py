"""Safe proposals are never signed blind (finding 12 of the hardening issue): a delegatecall
is refused unless the plan allows its target, and ``safe import|list|sign`` show the
target by the plan's name, the decoded call and the operation before anyone signs."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from breakglass import store
from breakglass.cli.app import app
from breakglass.devchain import Anvil
from breakglass.respond.safes import SafeProposalError, save_proposal
from breakglass.respond.signers.safe import SafeTxData, to_service_json
from breakglass.store.models import SafeProposal, SafeSignature

pytestmark = pytest.mark.chain

# The containment tests own the token, the Safe and the plan writer.
_spec = importlib.util.spec_from_file_location(
    "respond_fixtures_safe_blind", Path(__file__).parents[1] / "respond" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures
_spec.loader.exec_module(_fixtures)
token = _fixtures.token
fresh_chain = _fixtures.fresh_chain
sessions = _fixtures.sessions
write_plan = _fixtures.write_plan
pausing_safe = _fixtures.pausing_safe
ZERO = "0x" + "00" * 20
DRAINER = "0x" + "de" * 20  # any contract: as a delegatecall it runs as the Safe

SAFE_PLAN = """
signers:
  owner_a: {{type: env, key: "${{OWNER_A_KEY}}"}}
  ops_safe:
    type: safe
    chain: local
    address: "{safe}"
    threshold: 2
    local_owners: [owner_a]
    delegatecall_allowed: [{allowed}]
"""


def _tx(safe: str, to: str, data: bytes, operation: int, nonce: int = 0) -> SafeTxData:
    return SafeTxData(31337, safe, to, 0, data, operation, 0, 0, 0, ZERO, ZERO, nonce)


def _cli(monkeypatch: pytest.MonkeyPatch, anvil: Anvil, tmp_path: Path, *args: str) -> Any:
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)  # short commands never create the schema
    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", url)
    monkeypatch.setenv("OWNER_A_KEY", anvil.private_keys[3])
    monkeypatch.chdir(tmp_path)
    return CliRunner().invoke(app, list(args))


def _export(tmp_path: Path, tx: SafeTxData) -> Path:
    file = tmp_path / "proposal.json"
    file.write_text(json.dumps(to_service_json(tx, {}, sender=tx.safe)))
    return file


def test_import_refuses_a_delegatecall_the_plan_does_not_allow(
    fresh_chain: Anvil,
    pausing_safe: str,
    write_plan: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_plan(SAFE_PLAN, safe=pausing_safe, allowed="")
    file = _export(tmp_path, _tx(pausing_safe, DRAINER, b"\x12\x34\x56\x78", 1))

    result = _cli(
        monkeypatch, fresh_chain, tmp_path, "safe", "import", str(file), "--safe", "ops_safe"
    )

    # main() turns a BreakglassError into its message and exit code 2.
    assert isinstance(result.exception, SafeProposalError)
    assert "refused: a DELEGATECALL" in str(result.exception)
    assert "signers.ops_safe.delegatecall_allowed" in str(result.exception)
    with sessions() as session:
        assert session.scalars(select(SafeProposal)).all() == []


def test_an_allowed_delegatecall_imports_and_is_shown_as_one(
    fresh_chain: Anvil,
    pausing_safe: str,
    write_plan: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_plan(SAFE_PLAN, safe=pausing_safe, allowed=f'"{DRAINER}"')
    file = _export(tmp_path, _tx(pausing_safe, DRAINER, b"\x12\x34\x56\x78", 1))

    result = _cli(
        monkeypatch, fresh_chain, tmp_path, "safe", "import", str(file), "--safe", "ops_safe"
    )

    assert result.exit_code == 0, result.output
    assert "DELEGATECALL" in result.output
    assert "unknown function 0x12345678" in result.output


def test_list_and_sign_show_the_target_and_decoded_call(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "Token.json").write_text(json.dumps({"abi": token.abi}))
    contracts = f'token_abi: {{chain: local, address: "{token.address}", abi: Token.json}}\n'
    write_plan(SAFE_PLAN, contracts=contracts, safe=pausing_safe, allowed="")
    pause = function_signature_to_4byte_selector("pause()")
    transfer = function_signature_to_4byte_selector("transfer(address,uint256)") + encode(
        ["address", "uint256"], [DRAINER, 5 * 10**18]
    )
    for nonce, data in enumerate((pause, transfer)):
        file = _export(tmp_path, _tx(pausing_safe, token.address, data, 0, nonce))
        result = _cli(
            monkeypatch, fresh_chain, tmp_path, "safe", "import", str(file), "--safe", "ops_safe"
        )
        assert result.exit_code == 0, result.output

    result = _cli(monkeypatch, fresh_chain, tmp_path, "safe", "list", "--format", "json")
    assert result.exit_code == 0, result.output
    listed = {row["id"]: row for row in json.loads(result.output)}
    assert listed[1]["to_name"] == "token" and listed[1]["call"] == "pause()"
    assert listed[1]["operation"] == "call"
    assert listed[2]["call"] == f"transfer({DRAINER}, {5 * 10**18})"

    result = _cli(monkeypatch, fresh_chain, tmp_path, "safe", "sign", "2", "--signer", "owner_a")
    assert result.exit_code == 0, result.output
    shown = " ".join(result.output.split())
    assert f"CALL token ({token.address}): transfer({DRAINER}, {5 * 10**18})" in shown
    assert shown.index("transfer(") < shown.index("signatures")  # shown before signing


def test_sign_refuses_a_stored_delegatecall(
    fresh_chain: Anvil,
    pausing_safe: str,
    write_plan: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_plan(SAFE_PLAN, safe=pausing_safe, allowed="")
    # As an older breakglass, or another machine's database, could have stored it.
    proposal = save_proposal(
        sessions,
        chain="local",
        tx=_tx(pausing_safe, DRAINER, b"\x12\x34\x56\x78", 1),
        threshold=2,
        signatures={},
        meta={"imported": True},
    )

    result = _cli(
        monkeypatch, fresh_chain, tmp_path, "safe", "sign", str(proposal), "--signer", "owner_a"
    )

    assert "DELEGATECALL" in result.output  # what it would do is shown first
    assert isinstance(result.exception, SafeProposalError)
    assert "refused: a DELEGATECALL" in str(result.exception)
    with sessions() as session:
        assert session.scalars(select(SafeSignature)).all() == []
