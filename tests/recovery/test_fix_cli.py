"""``breakglass fix verify`` as a user runs it: the report is written, stored on the
incident's timeline and shown in the post-mortem; a wrong fix exits non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.incidents import add_attacker_record, add_fund_movement
from breakglass.store.models import Incident

from .upgrade_scenario import (
    UNIT,
    UpgradeScenario,
    deploy,
    plan_data,
    run_incident,
    vault_builds,
    write_artifact,
)

pytestmark = [pytest.mark.e2e, pytest.mark.chain]


@pytest.fixture(scope="module")
def scenario(anvil: Anvil) -> Iterator[UpgradeScenario]:
    s = deploy(anvil)
    run_incident(s)
    yield s


@pytest.fixture
def workdir(anvil: Anvil, scenario: UpgradeScenario, tmp_path: Path) -> Path:
    (tmp_path / "breakglass.yaml").write_text(yaml.safe_dump(plan_data(anvil, scenario)))
    builds = vault_builds()
    write_artifact(builds["UpgradeableVault"], tmp_path / "V1.json")
    for name in ("UpgradeableVaultFixed", "UpgradeableVaultWrongFix"):
        write_artifact(builds[name], tmp_path / f"{name}.json")
        spec = {
            "name": name,
            "regression_blocks": 5,
            "steps": [
                {"deploy": {"name": "impl", "artifact": f"{name}.json"}},
                {"upgrade": {"proxy": "vault", "implementation": "@impl",
                             "previous_artifact": "V1.json"}},
            ],
        }  # fmt: skip
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    now = datetime.now(UTC)
    with store.session_factory(engine).begin() as session:
        incident = Incident(
            title="Vault drained", kind="exploit", severity="P1", status="contained",
            chains=["local"], contracts=["vault"], detected_at=now, updated_at=now,
        )  # fmt: skip
        session.add(incident)
        session.flush()
        add_fund_movement(
            session, incident.id, chain="local", origin=scenario.vault,
            tx_hash=scenario.exploit_tx, asset=scenario.token, amount=3_000 * UNIT,
            destination=scenario.attacker,
        )  # fmt: skip
        add_attacker_record(session, incident.id, "address", scenario.attacker)
    engine.dispose()
    (tmp_path / "db.url").write_text(url)
    return tmp_path


def _cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "BREAKGLASS_DATABASE_URL": (workdir / "db.url").read_text(),
    }
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True, text=True, cwd=workdir, env=env, timeout=300, check=False,
    )  # fmt: skip


def test_verify_stores_the_report_and_the_postmortem_shows_it(workdir: Path) -> None:
    result = _cli(workdir, "fix", "verify", "1", "--fix", "UpgradeableVaultFixed.yaml",
                  "--out", "out")  # fmt: skip

    assert result.returncode == 0, result.stderr + result.stdout
    assert "passed" in result.stdout
    report = json.loads((workdir / "out" / "fix-verify-1.json").read_text())
    assert report["verdict"] == "passed"
    assert report["exploits"][0]["taken_without_fix"] != {}
    markdown = (workdir / "out" / "fix-verify-1.md").read_text()
    assert "PASSED" in markdown and "| yes |" in markdown

    wrong = _cli(workdir, "fix", "verify", "1", "--fix", "UpgradeableVaultWrongFix.yaml",
                 "--out", "out")  # fmt: skip
    assert wrong.returncode == 1
    assert "failed" in wrong.stdout and "still takes" in wrong.stdout

    post = _cli(workdir, "postmortem", "1", "--out", "pm")
    assert post.returncode == 0, post.stderr
    text = (workdir / "pm" / "postmortem-1.md").read_text()
    assert "### Fix verification" in text
    assert "UpgradeableVaultFixed" in text and "1 of 1 stopped" in text
    assert "UpgradeableVaultWrongFix" in text and "0 of 1 stopped" in text


def test_a_bad_fix_file_is_a_message_not_a_traceback(workdir: Path) -> None:
    (workdir / "bad.yaml").write_text("steps:\n  - deploy: {name: impl}\n    call: {to: x}\n")

    result = _cli(workdir, "fix", "verify", "1", "--fix", "bad.yaml")

    assert result.returncode == 2
    assert "give exactly one of `artifact` or `bytecode`" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_incident_without_exploit_evidence_says_what_to_do(workdir: Path) -> None:
    url = (workdir / "db.url").read_text()
    engine = store.make_engine(url)
    now = datetime.now(UTC)
    with store.session_factory(engine).begin() as session:
        session.add(Incident(
            title="Other", kind="exploit", severity="P2", status="contained", chains=["local"],
            contracts=[], detected_at=now, updated_at=now,
        ))  # fmt: skip
    engine.dispose()

    result = _cli(workdir, "fix", "verify", "2", "--fix", "UpgradeableVaultFixed.yaml")

    assert result.returncode == 2
    assert "no exploit transaction" in result.stderr and "--tx" in result.stderr
