"""``breakglass cluster status`` against a running replica: its leadership, lease age and
lag from real NATS, PostgreSQL and anvil; a NATS that does not answer is said in its place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from breakglass.devchain import Anvil

kit = sys.modules["cluster_kit"]  # loaded by conftest.py
harness = sys.modules["cluster_harness"]

pytestmark = [pytest.mark.chain, pytest.mark.postgres]


def _status(plan: Path, db: str, nats: str, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": db, "BREAKGLASS_NATS_URL": nats}
    return subprocess.run(
        [sys.executable, "-m", "breakglass", "cluster", "status", "--plan", str(plan), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_status_names_the_leader_its_age_and_the_lag(
    tmp_path: Path, chain: tuple[Anvil, Any], nats_url: str, db: str
) -> None:
    anvil, _ = chain
    plan = kit.write_plan(tmp_path / "plan.yaml", {"local": chain}, respond=True)
    env = {"GUARDIAN_KEY": anvil.private_keys[kit.GUARDIAN]}
    replica = harness.Replica(
        "one", plan=plan, db=db, nats=nats_url, env=env, ttl=2.0, log=tmp_path / "one.log"
    )
    try:
        harness.wait_for(lambda: len(replica.blocks) >= 2, 60, "the replica following")
        time.sleep(1.0)
        done = _status(plan, db, nats_url, "--format", "json")
        table = _status(plan, db, nats_url)
    finally:
        replica.stop()

    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert (body["nats"], body["postgres"], body["healthy"]) == ("ok", "ok", True)
    (local,) = body["chains"]
    assert local["leader"]["owner"].endswith(f":{replica.process.pid}")
    assert local["leader"]["held_for"] >= 1.0
    assert local["head"] >= local["checkpoint"] and local["lag"] <= 2
    (guardian,) = body["signers"]
    assert guardian["owner"] == local["leader"]["owner"]
    assert table.returncode == 0, table.stderr
    assert "local" in table.stdout and str(replica.process.pid) in table.stdout


def test_status_says_nats_does_not_answer_without_a_traceback(
    tmp_path: Path, chain: tuple[Anvil, Any], db: str
) -> None:
    plan = kit.write_plan(tmp_path / "plan.yaml", {"local": chain}, respond=False)
    done = _status(plan, db, "nats://127.0.0.1:9", "--format", "json")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    body = json.loads(done.stdout)
    assert "cannot reach NATS at nats://127.0.0.1:9" in body["nats"]
    assert body["postgres"] == "ok" and body["chains"][0]["leader"]["owner"] is None


def test_scale_out_mode_refuses_sqlite_with_a_message(
    tmp_path: Path, chain: tuple[Anvil, Any], nats_url: str
) -> None:
    plan = kit.write_plan(tmp_path / "plan.yaml", {"local": chain}, respond=False)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    environ |= {"BREAKGLASS_HOME": str(tmp_path / "home"), "BREAKGLASS_NATS_URL": nats_url}
    done = subprocess.run(
        [sys.executable, "-m", "breakglass", "monitor", str(plan)],
        capture_output=True, text=True, env=environ, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "needs a PostgreSQL database" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
