"""Forta in and out: alerts as the Forta API returns them (tests/importers/forta, written
for this test) become breakglass alerts with mapped severity and type, deduplicated on the
alert hash within a batch and across batches; stored alerts export as Forta findings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from breakglass import store
from breakglass.detect.forta import (
    FortaInputError,
    findings_from_forta,
    iter_stored,
    record_forta_alerts,
    to_forta_finding,
)
from breakglass.plan.models import Plan
from breakglass.store.models import AlertRecord

ALERTS = json.loads(Path(__file__).with_name("forta").joinpath("alerts.json").read_text())
PLAN = Plan.model_validate(
    {"protocol": "Acme", "chains": {"mainnet": {"chain_id": 1, "rpc": ["http://127.0.0.1:9"]}}}
)


def test_alerts_map_to_findings() -> None:
    batch = findings_from_forta(ALERTS, PLAN)
    by_id = {f.data["alert_id"]: f for f in batch.findings}
    assert set(by_id) == {"ACME-DRAIN-1", "ACME-ADMIN-CHANGE", "ACME-GAS-NOTE"}
    drain = by_id["ACME-DRAIN-1"]
    assert (drain.rule, drain.kind, drain.chain) == ("forta-acme-drain-1", "forta", "mainnet")
    assert (drain.severity, drain.confidence) == ("critical", "high")
    assert drain.tx_hash.endswith("0001") and drain.block_number == 19000001  # type: ignore[union-attr]
    assert drain.addresses == ("0x5555555555555555555555555555555555555555",)
    assert (by_id["ACME-ADMIN-CHANGE"].severity, by_id["ACME-ADMIN-CHANGE"].confidence) == (
        "medium",
        "medium",
    )
    assert (by_id["ACME-GAS-NOTE"].severity, by_id["ACME-GAS-NOTE"].confidence) == ("info", "low")
    assert batch.duplicates == 1
    assert batch.skipped == [
        "0xa1a1000000000000000000000000000000000000000000000000000000000003: "
        "chain id 137 is not in the plan"
    ]
    # the bare list and the inner object are read too
    assert len(findings_from_forta(ALERTS["data"]["alerts"]["alerts"], PLAN).findings) == 3
    with pytest.raises(FortaInputError):
        findings_from_forta({"data": {"alerts": "nope"}}, PLAN)


def test_alerts_are_stored_once_and_export_as_forta_findings(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    with sessions.begin() as session:
        batch, new = record_forta_alerts(session, PLAN, ALERTS, now=now)
    assert (len(batch.findings), new) == (3, 3)
    with sessions.begin() as session:  # the same alerts again, from a later poll
        again, new = record_forta_alerts(session, PLAN, ALERTS, now=now)
    assert (len(again.findings), new, again.duplicates) == (0, 0, 4)
    with sessions() as session:
        rows = session.scalars(select(AlertRecord)).all()
        assert len(rows) == 3
        exported = [to_forta_finding(a, protocol="Acme") for a in iter_stored(session)]
    drain = next(f for f in exported if f["alertId"] == "BREAKGLASS-FORTA-ACME-DRAIN-1")
    assert drain["severity"] == "CRITICAL" and drain["findingType"] == "EXPLOIT"
    assert drain["protocol"] == "Acme" and drain["labels"] == []
    assert drain["metadata"]["forta_hash"].endswith("0001")
    assert all(isinstance(v, str) for v in drain["metadata"].values())  # Forta metadata is text
    assert drain["source"]["transactionHash"].endswith("0001")
    assert {f["severity"] for f in exported} == {"CRITICAL", "MEDIUM", "INFO"}


@pytest.mark.e2e
def test_the_commands_ingest_and_export(tmp_path: Path) -> None:
    plan = tmp_path / "breakglass.yaml"
    plan.write_text(
        'protocol: Acme\nchains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:9"]}}\n'
    )
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)  # short commands never create the schema
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": url}
    alerts = Path(__file__).with_name("forta") / "alerts.json"
    run = [sys.executable, "-m", "breakglass", "forta"]
    ingest = subprocess.run(
        [*run, "ingest", str(alerts), "--plan", str(plan)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert ingest.returncode == 0, ingest.stderr
    assert "3 Forta alerts read, 3 new alerts, 1 duplicates" in ingest.stdout
    assert "chain id 137" in ingest.stderr
    exported = subprocess.run(
        [*run, "export", "--plan", str(plan)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    assert len(json.loads(exported.stdout)) == 3
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": {"alerts": 7}}')
    refused = subprocess.run(
        [*run, "ingest", str(bad), "--plan", str(plan)],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
