"""``monitor`` says a chain is being monitored only once its endpoint answered: with every
endpoint dead it never claims "monitoring; Ctrl-C to stop" while it retries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PLAN = """\
version: 1
protocol: Acme Lending
people: {alice: {name: Alice}}
roles: {incident_lead: [alice]}
chains:
  local: {chain_id: 31337, rpc: ["http://127.0.0.1:9"]}
rules: []
"""


def test_no_monitoring_line_before_the_endpoint_answers(tmp_path: Path) -> None:
    plan = tmp_path / "breakglass.yaml"
    plan.write_text(PLAN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= {"BREAKGLASS_HOME": str(tmp_path / "home"), "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "breakglass", "monitor", str(plan), "--watch-only"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            seen.append(line)
            if "chain_failed" in line:  # the first attempt failed: it retries from here
                break
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    stderr = "".join(seen) + rest
    assert "chain_failed" in stderr, stderr
    assert "monitoring" not in stderr, stderr
