"""``breakglass doctor`` as a team runs it before going live: a real process against a real
OpenZeppelin pausable token and a real Safe 1.4.1 on anvil, a keystore, a webhook receiver.
One plan passes every check; each broken copy of it fails the check that names the fault."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.doctor import run_doctor
from breakglass.notify.signing import SIGNATURE_HEADER
from breakglass.plan import load_plan
from breakglass.plan.checks.base import CheckStatus

from .conftest import GUARDIAN, INTRUDER, DoctorCli, Setup, broken, safe_chain, write_keystore

pytestmark = pytest.mark.chain


def test_a_plan_that_can_act_passes_every_check(setup: Setup, doctor_cli: DoctorCli) -> None:
    run = doctor_cli(setup.write(setup.plan()), "--format", "json", environ=setup.environ())
    report = run.json()
    assert run.code == 0, run.stdout + run.stderr
    assert report["ok"] is True
    not_passed = [r for r in report["results"] if r["status"] != "pass"]
    assert not_passed == []
    checked = {r["id"] for r in report["results"]}
    assert checked == {
        "env.variables",
        "signers.keys",
        "endpoints.distinct",
        "endpoints.chain-id",
        "contracts.code",
        "pause.authority",
        "safes.config",
        "paging.reachable",
        "channels.delivery",
        "gas.funds",
    }


def _wrong_chain_id(plan: dict[str, Any]) -> None:
    plan["chains"]["local"]["chain_id"] = 1


def _duplicate_endpoint(plan: dict[str, Any]) -> None:
    plan["chains"]["local"]["rpc"].append("${RPC_BACKUP}")


def _wrong_threshold(plan: dict[str, Any]) -> None:
    plan["signers"]["ops_safe"]["threshold"] = 3


def _no_code(plan: dict[str, Any]) -> None:
    plan["contracts"]["vault"] = {
        "chain": "local",
        "address": "0x00000000000000000000000000000000deadbeef",
    }


def _no_role(plan: dict[str, Any]) -> None:
    plan["signers"]["guardian"]["path"] = "intruder.json"
    del plan["signers"]["guardian"]["address"]


def _drained(anvil: Anvil) -> None:
    # 0.001 ETH: a ~56k-gas pause at the plan's 100 gwei cap needs up to 0.0068 ETH.
    anvil.rpc("anvil_setBalance", [anvil.accounts[GUARDIAN], hex(10**15)])


def _unset(environ: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in environ.items() if k != "HOOK_KEY"}


def _backup(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "RPC_BACKUP": environ["RPC_URL"] + "/"}


def _wrong_password(environ: dict[str, str]) -> dict[str, str]:
    return {**environ, "GUARDIAN_PASSWORD": "not the password"}


def _same(plan: dict[str, Any]) -> None:
    return None


def _keep(environ: dict[str, str]) -> dict[str, str]:
    return environ


# fault → (plan change, environment change, checks that must fail, words the failure says)
CHAIN_CHANGES: dict[str, Callable[[Anvil], None]] = {"unpayable gas": _drained}
FAULTS: dict[str, tuple[Any, Callable[..., dict[str, str]], set[str], str]] = {
    "wrong chain id": (_wrong_chain_id, _keep, {"endpoints.chain-id"}, "is chain 31337"),
    "guardian without the role": (_no_role, _keep, {"pause.authority"}, "PAUSER_ROLE"),
    "wrong Safe threshold": (_wrong_threshold, _keep, {"safes.config"}, "threshold on chain is 2"),
    "unset variable": (
        _same,
        _unset,
        {"env.variables", "channels.delivery"},
        "HOOK_KEY",
    ),
    "duplicate endpoint": (
        _duplicate_endpoint,
        _backup,
        {"endpoints.distinct"},
        "same node",
    ),
    "no code at an address": (_no_code, _keep, {"contracts.code"}, "no code at"),
    "undecryptable keystore": (
        _same,
        _wrong_password,
        {"signers.keys"},
        "cannot decrypt",
    ),
    "unpayable gas": (_same, _keep, {"gas.funds"}, "holds 0.001 ETH"),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_fails_its_own_check(
    fault: str, setup: Setup, doctor_cli: DoctorCli, fresh_chain: Anvil
) -> None:
    change_plan, change_env, failing, words = FAULTS[fault]
    anvil = fresh_chain
    CHAIN_CHANGES.get(fault, lambda _: None)(anvil)
    write_keystore(setup.dir / "intruder.json", anvil.private_keys[INTRUDER])
    plan = setup.write(broken(setup.plan(), change_plan))
    run = doctor_cli(plan, "--format", "json", environ=change_env(setup.environ()))
    assert run.code == 1, run.stdout + run.stderr
    assert run.failing() == failing
    failures = [r for r in run.json()["results"] if r["status"] == "fail"]
    assert any(words in r["message"] for r in failures), failures
    for secret in (setup.environ()["HOOK_TOKEN"], setup.environ()["HOOK_KEY"], "correct horse"):
        assert secret not in run.stdout + run.stderr


def test_the_table_says_what_passed(setup: Setup, doctor_cli: DoctorCli) -> None:
    run = doctor_cli(setup.write(setup.plan()), "--chain", "local", environ=setup.environ())
    assert run.code == 0, run.stdout + run.stderr
    assert "0 failed, 0 warnings" in run.stdout
    assert "can pause token (simulated); it holds PAUSER_ROLE" in run.stdout


def test_a_plan_that_does_not_load_exits_2(setup: Setup, doctor_cli: DoctorCli) -> None:
    plan = broken(setup.plan(), lambda p: p["signers"]["guardian"].update(type="hardware"))
    path = setup.write(plan)
    run = doctor_cli(path, "--format", "json", environ=setup.environ())
    assert run.code == 2
    assert run.json()["errors"][0]["path"].startswith("signers.guardian")
    table = doctor_cli(path, environ=setup.environ())
    assert table.code == 2
    assert "signers.guardian" in table.stderr


def test_an_unknown_chain_exits_2(setup: Setup, doctor_cli: DoctorCli) -> None:
    run = doctor_cli(setup.write(setup.plan()), "--chain", "mainnet", environ=setup.environ())
    assert run.code == 2
    assert "the plan has no chain 'mainnet' (chains: local)" in run.stderr


def test_an_endpoint_that_does_not_answer_is_named_without_its_key(
    setup: Setup, doctor_cli: DoctorCli
) -> None:
    secret = "k3y-0f-the-backup-provider"
    plan = broken(setup.plan(), lambda p: p["chains"]["local"]["rpc"].append("${BACKUP_RPC}"))
    environ = {**setup.environ(), "BACKUP_RPC": f"http://127.0.0.1:9/v2/{secret}"}
    run = doctor_cli(setup.write(plan), "--format", "json", environ=environ)
    assert run.code == 1
    assert run.failing() == {"endpoints.chain-id"}
    (failure,) = [r for r in run.json()["results"] if r["status"] == "fail"]
    assert failure["subject"] == "local rpc[1]"
    assert "${BACKUP_RPC} (http://127.0.0.1:9/…) does not answer" in failure["message"]
    assert secret not in run.stdout + run.stderr
    # The other endpoint still answers, so everything else is checked through it.
    assert {r["status"] for r in run.json()["results"] if r["id"] == "pause.authority"} == {"pass"}


def test_deliver_test_sends_one_message_per_channel_directly(
    setup: Setup, doctor_cli: DoctorCli, tmp_path: Path
) -> None:
    run = doctor_cli(setup.write(setup.plan()), "--deliver-test", environ=setup.environ())
    assert run.code == 0, run.stdout + run.stderr
    assert setup.receiver.paths() == [f"/hook/{setup.environ()['HOOK_TOKEN']}"]
    (request,) = setup.receiver.requests
    assert request.json()["event"] == "doctor_test"
    assert SIGNATURE_HEADER.lower() in {h.lower() for h in request.headers}
    assert "received a test message" in run.stdout
    assert not (tmp_path / "never.db").exists()  # no delivery log, so no retry queue


def test_a_channel_that_refuses_the_test_fails_once_without_retry(
    setup: Setup, doctor_cli: DoctorCli
) -> None:
    setup.receiver.fail_first = -1
    run = doctor_cli(
        setup.write(setup.plan()), "--deliver-test", "--format", "json", environ=setup.environ()
    )
    assert run.code == 1
    assert run.failing() == {"channels.delivery"}
    assert setup.receiver.calls == 1
    (failure,) = [r for r in run.json()["results"] if r["status"] == "fail"]
    assert "HTTP 500" in failure["message"]
    assert setup.environ()["HOOK_TOKEN"] not in run.stdout


def test_an_already_paused_contract_is_judged_by_its_role(
    setup: Setup, doctor_cli: DoctorCli, fresh_chain: Anvil, token: Any
) -> None:
    token.set_paused(True)
    run = doctor_cli(setup.write(setup.plan()), "--format", "json", environ=setup.environ())
    assert run.code == 0, run.stdout + run.stderr
    pauses = [r for r in run.json()["results"] if r["id"] == "pause.authority"]
    assert {r["status"] for r in pauses} == {"pass"}
    assert all("already paused (paused())" in r["message"] for r in pauses)
    assert all("holds PAUSER_ROLE" in r["message"] for r in pauses)


def test_a_member_of_a_critical_role_without_a_page_url_fails(
    setup: Setup, doctor_cli: DoctorCli
) -> None:
    plan = broken(setup.plan(), lambda p: p["roles"]["pauser"]["members"].append("carol"))
    run = doctor_cli(setup.write(plan), "--format", "json", environ=setup.environ())
    assert run.code == 1
    assert run.failing() == {"paging.reachable"}
    (failure,) = [r for r in run.json()["results"] if r["status"] == "fail"]
    assert failure["subject"] == "pauser: carol"


def test_without_a_cap_the_emergency_fee_of_the_moment_is_used(setup: Setup) -> None:
    def uncapped(plan: dict[str, Any]) -> None:
        del plan["chains"]["local"]["gas"]
        plan["chains"]["other"] = {"chain_id": 5, "rpc": ["${OTHER_RPC}"]}

    loaded = load_plan(setup.write(broken(setup.plan(), uncapped)))
    # OTHER_RPC is unset: with --chain local the other chain's variable is not asked for.
    report = run_doctor(loaded=loaded, chain="local", environ=setup.environ())
    assert not report.failed, [r for r in report.results if r.status is not CheckStatus.PASS]
    gas = [r for r in report.results if r.check_id == "gas.funds"]
    assert {r.subject for r in gas} == {"guardian on local", "owner_a on local"}
    assert all("(emergency fee now, no cap)" in r.message for r in gas)
    everything = run_doctor(loaded=loaded, environ=setup.environ())
    assert everything.failing_checks() == ["env.variables"]
    (unset,) = [r for r in everything.results if r.status is CheckStatus.FAIL]
    assert unset.subject == "${OTHER_RPC}"
    assert unset.location.startswith(f"{loaded.file}:")


def test_an_ownable_pause_is_judged_by_its_owner(setup: Setup, anvil: Anvil) -> None:
    built = compile_file("LossyVault.sol", node_imports=True)["LossyVault"]
    w3 = Web3(Web3.HTTPProvider(anvil.http_url))
    artifact = {"abi": built.abi, "bytecode": built.bytecode}
    vault = safe_chain.deploy_artifact(w3, anvil.private_keys[0], artifact, setup.token)

    def ownable(plan: dict[str, Any]) -> None:
        plan["contracts"]["vault"] = {"chain": "local", "address": vault}
        plan["playbooks"][0]["steps"].append(
            {"action": "pause", "contract": "vault", "signer": "guardian"}
        )
        plan["signers"]["owner_key"] = {"type": "env", "key": "${OWNER_KEY}"}
        plan["playbooks"].append(
            {
                "id": "owner-pause",
                "steps": [{"action": "pause", "contract": "vault", "signer": "owner_key"}],
            }
        )

    loaded = load_plan(setup.write(broken(setup.plan(), ownable)))
    environ = {**setup.environ(), "OWNER_KEY": anvil.private_keys[0]}
    report = run_doctor(loaded=loaded, environ=environ)
    assert report.failing_checks() == ["pause.authority"]
    rows = {r.subject: r for r in report.results if r.check_id == "pause.authority"}
    guardian, owner = rows["vault by guardian"], rows["vault by owner_key"]
    assert guardian.status is CheckStatus.FAIL
    assert "Ownable: caller is not the owner" in guardian.message
    assert f"is not the owner() ({anvil.accounts[0].lower()})" in guardian.message.lower()
    assert owner.status is CheckStatus.PASS
    assert owner.message.endswith("it is the owner()")


def test_a_safe_whose_owners_changed_fails_with_each_difference(setup: Setup, anvil: Anvil) -> None:
    stranger = anvil.accounts[INTRUDER]

    def changed(plan: dict[str, Any]) -> None:
        safe = plan["signers"]["ops_safe"]
        safe["owners"] = [*safe["owners"][:2], stranger]
        safe["local_owners"] = ["guardian"]

    loaded = load_plan(setup.write(broken(setup.plan(), changed)))
    report = run_doctor(loaded=loaded, environ=setup.environ())
    assert report.failing_checks() == ["safes.config"]
    messages = [r.message for r in report.results if r.status is CheckStatus.FAIL]
    assert f"not owners on chain: {stranger}" in messages
    assert f"owners on chain the plan does not list: {anvil.accounts[5]}" in messages
    assert f"local owner guardian ({anvil.accounts[GUARDIAN]}) is not an owner on chain" in (
        messages
    )


def test_an_automatic_pause_key_needs_the_monitors_budget(setup: Setup, fresh_chain: Anvil) -> None:
    # 0.01 ETH pays for one ~68k-gas pause at 100 gwei, not for the monitor's 3 x 100k gas.
    fresh_chain.rpc("anvil_setBalance", [fresh_chain.accounts[GUARDIAN], hex(10**16)])
    plan = setup.plan()
    assert run_doctor(loaded=load_plan(setup.write(plan)), environ=setup.environ()).failed is False

    def automatic(plan: dict[str, Any]) -> None:
        plan["rules"] = [
            {"id": "paused", "rule": "paused", "contracts": ["token"], "severity": "high"}
        ]
        plan["playbooks"][0]["on"] = ["paused"]

    loaded = load_plan(setup.write(broken(plan, automatic)))
    report = run_doctor(loaded=loaded, environ=setup.environ())
    assert report.failing_checks() == ["gas.funds"]
    (failure,) = [r for r in report.results if r.status is CheckStatus.FAIL]
    assert failure.subject == "guardian on local"
    assert "monitor budget of 3 emergency transaction(s), 300,000 gas" in failure.message
