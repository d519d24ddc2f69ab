"""``breakglass import oz-monitor``: a configuration directory written for this test in
OpenZeppelin Monitor's format (tests/importers/oz_config: every condition kind, expression
operator, trigger type and secret kind) becomes a plan that loads, whose rules build, whose
secrets are references, and which reports every problem of a broken configuration at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from breakglass.detect.setup import rule_problems
from breakglass.importers.oz_monitor import import_oz_monitor
from breakglass.importers.report import ImportError_, write_result
from breakglass.plan.loader import load_plan

PLAIN_SECRETS = (
    "backup-key-do-not-leak",
    "plain-webhook-token",
    "plain-hmac-secret-value",
    "plainslacksecret",
    "plain-telegram-bot-token",
    "alerts@acme.invalid:",
)


def test_the_import_is_a_plan_whose_rules_build(tmp_path: Path, oz_config: Any) -> None:
    result = import_oz_monitor(oz_config(), protocol="Acme")
    plan_path = tmp_path / "plan" / "breakglass.yaml"
    written = write_result(result, plan_path)

    loaded = load_plan(plan_path)
    assert rule_problems(loaded) == []
    plan = loaded.plan
    assert set(plan.chains) == {"devnet"}  # the Stellar network is skipped, and said so
    assert any("Stellar network stellar_side skipped" in n for n in result.report.notes)
    devnet = plan.chains["devnet"]
    # weight 100 before weight 40
    assert [str(e.url) for e in devnet.rpc] == ["${DEVNET_RPC}", "${OZ_DEVNET_RPC_1}"]
    assert [e.priority for e in devnet.rpc] == [0, 1]
    assert devnet.confirmations == 0 and devnet.block_time == 1.0

    rules = {rule.id: rule for rule in plan.rules}
    assert rules["acme-token-moves-event-1"].params["where"] == (
        "(value > 1000 and (lower(to) == '0x90f79bf6eb2c4f870365e785982e1f101e93b906' "
        "or lower(from_) == '0x0000000000000000000000000000000000000000'))"
    )
    call = rules["acme-token-moves-call-1"].params
    assert call["function"] == "transfer(address to, uint256 amount)"
    assert "istarts_with(to, '0x90F7')" in call["where"] and "not call.reverted" in call["where"]
    assert rules["failed-token-calls-tx"].params["where"] == (
        "tx.status == 0 and (tx.value == 0 and tx.gas >= 21000)"
    )
    filtered = rules["big-moves-after-the-filter-event-1"]
    assert filtered.rule == "external-filter"
    assert (plan_path.parent / "filters" / "drop_small.py").is_file()

    channels = plan.channels
    assert set(channels) == {"ops-webhook", "ops-slack", "ops-discord", "ops-telegram", "ops-email"}
    assert channels["ops-webhook"].signature == "oz-monitor"
    assert str(channels["ops-webhook"].signing_key) == "${OZ_OPS_WEBHOOK_SECRET}"
    assert str(channels["ops-discord"].url) == "${ACME_DISCORD_HOOK}"
    assert str(channels["ops-telegram"].url) == "tgram://${OZ_OPS_TELEGRAM_TOKEN}/-100200300"
    assert "pass=${OZ_OPS_EMAIL_PASSWORD}" in str(channels["ops-email"].url)
    assert any("script notifications have no breakglass channel" in n for n in result.report.notes)
    [playbook] = [p for p in plan.playbooks if p.id == "notify-acme-token-moves"]
    assert playbook.on == ["acme-token-moves-event-1", "acme-token-moves-call-1"]
    assert len(playbook.steps) == 5

    secrets = {s.variable: s for s in result.report.secrets}
    assert set(secrets) == {
        "DEVNET_RPC", "OZ_DEVNET_RPC_1", "OZ_OPS_WEBHOOK_URL", "OZ_OPS_WEBHOOK_SECRET",
        "OZ_OPS_SLACK_URL", "ACME_DISCORD_HOOK", "OZ_OPS_TELEGRAM_TOKEN",
        "OZ_OPS_EMAIL_USERNAME", "OZ_OPS_EMAIL_PASSWORD",
    }  # fmt: skip
    assert "acme-smtp-password" in secrets["OZ_OPS_EMAIL_PASSWORD"].how  # a vault name, not a value
    everything = "\n".join(
        [*(p.read_text(errors="replace") for p in written), json.dumps(result.report.as_dict())]
    )
    for value in PLAIN_SECRETS:
        assert value not in everything, value


def _broken(oz_config: Any) -> Path:
    root = oz_config()
    monitor = json.loads((root / "monitors" / "token_moves.json").read_text())
    monitor["networks"].append("mainnet_that_is_not_here")
    monitor["triggers"].append("no_such_trigger")
    monitor["severity"] = "high"
    conditions = monitor["match_conditions"]
    conditions["events"].append({"signature": "Approval(address,address,uint256)"})
    conditions["functions"][0]["expression"] = "amount >= 500 AND (to == 'x'"
    (root / "monitors" / "token_moves.json").write_text(json.dumps(monitor))
    triggers = json.loads((root / "triggers" / "team.json").read_text())
    triggers["ops_slack"]["config"]["channel"] = "#ops"
    triggers["ops_email"]["config"]["password"] = {"type": "AwsKms", "value": "x"}
    (root / "triggers" / "team.json").write_text(json.dumps(triggers))
    return root


EXPECTED_PROBLEMS = [
    "monitors/token_moves.json: severity: unknown field",
    "monitors/token_moves.json: networks: mainnet_that_is_not_here: no EVM network with this slug",
    "monitors/token_moves.json: match_conditions.events[1].signature: "
    "Approval(address,address,uint256) is not in the ABI",
    "monitors/token_moves.json: match_conditions.functions[0].expression: expected ')'",
    "monitors/token_moves.json: triggers: no_such_trigger: no trigger with this id",
    "triggers/team.json: ops_slack.config.channel: unknown field",
    "triggers/team.json: ops_email.config.password.type: unknown secret type 'AwsKms'",
]


def test_every_problem_is_reported_at_once(oz_config: Any) -> None:
    with pytest.raises(ImportError_) as caught:
        import_oz_monitor(_broken(oz_config))
    problems = [str(p) for p in caught.value.report.problems]
    for expected in EXPECTED_PROBLEMS:
        assert any(p.startswith(expected) for p in problems), (expected, problems)
    assert len(problems) == len(EXPECTED_PROBLEMS), problems


@pytest.mark.e2e
def test_the_command_exits_2_listing_every_problem_and_writes_nothing(
    tmp_path: Path, oz_config: Any
) -> None:
    out = tmp_path / "out" / "breakglass.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "breakglass", "import", "oz-monitor", str(_broken(oz_config)),
         "--out", str(out)],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
        check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{len(EXPECTED_PROBLEMS)} problem(s)" in done.stderr
    assert "no_such_trigger" in done.stderr and "AwsKms" in done.stderr
    assert not out.exists()


@pytest.mark.e2e
def test_the_command_writes_the_plan_and_names_the_variables(
    tmp_path: Path, oz_config: Any
) -> None:
    out = tmp_path / "out" / "breakglass.yaml"
    args = [sys.executable, "-m", "breakglass", "import", "oz-monitor"]
    done = subprocess.run(
        [*args, str(oz_config()), "--out", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "OZ_OPS_TELEGRAM_TOKEN" in done.stdout
    assert yaml.safe_load(out.read_text())["rules"]
    again = subprocess.run(
        [*args, str(oz_config(into="again")), "--out", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.e2e
def test_an_import_into_a_team_plan_passes_plan_check(tmp_path: Path, oz_config: Any) -> None:
    """The source configuration holds no people, roles or scenarios; added to a plan that
    has them, the whole passes `breakglass plan check`."""
    team = tmp_path / "team"
    shutil.copytree(Path(__file__).parents[2] / "examples" / "plans", team)
    run = [sys.executable, "-m", "breakglass"]
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": f"sqlite:///{tmp_path / 'none.db'}"}
    imported = subprocess.run(
        [*run, "import", "oz-monitor", str(oz_config()), "--into", str(team / "full.yaml"),
         "--out", str(team / "merged.yaml")],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    merged = yaml.safe_load((team / "merged.yaml").read_text())
    assert "acme-token-moves-event-1" in [rule["id"] for rule in merged["rules"]]
    assert "pool-drain" in [rule["id"] for rule in merged["rules"]]  # the team's own rules stay
    checked = subprocess.run(
        [*run, "plan", "check", str(team / "merged.yaml")],
        capture_output=True, text=True, timeout=60, check=False, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    again = subprocess.run(
        [*run, "import", "oz-monitor", str(oz_config(into="again")), "--into",
         str(team / "merged.yaml"), "--out", str(team / "twice.yaml")],
        capture_output=True, text=True, timeout=60, check=False, env=env,
    )  # fmt: skip
    assert again.returncode == 2 and "taken by the plan and the import" in again.stderr
