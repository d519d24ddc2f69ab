"""An endpoint whose URL refers to an unset variable is left out with a warning; only a chain
left with no endpoint stops the monitor, and the message names the unset variables."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs

from breakglass import store
from breakglass.chain.endpoints import NoUsableEndpoint, plan_endpoints
from breakglass.detect.monitor import run_monitor
from breakglass.devchain import Anvil
from breakglass.plan import load_plan
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.env import chain_urls

ROOT = Path(__file__).parents[2]
SECRET = "infura-secret-4f1c"
UNSET = ("BG_TEST_ALCHEMY_KEY", "BG_TEST_INFURA_KEY")


def write_plan(tmp_path: Path, local_url: str, local_ws: str | None = None) -> Path:
    ws = f', ws: "{local_ws}"' if local_ws else ""
    path = tmp_path / "plan.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        protocol: T
        chains:
          local:
            chain_id: 31337
            rpc:
              - url: "https://eth.example/v2/${{BG_TEST_ALCHEMY_KEY}}"
                ws: "wss://eth.example/v2/${{BG_TEST_ALCHEMY_KEY}}"
              - "https://rpc.example/${{BG_TEST_INFURA_KEY}}"
              - {{url: "{local_url}"{ws}, priority: 1}}
        contracts:
          token: {{chain: local, address: "0x{"11" * 20}"}}
        rules:
          - {{id: token-paused, rule: paused, contracts: [token], severity: critical}}
        """),
        encoding="utf-8",
    )
    return path


def plan(tmp_path: Path, url: str = "http://127.0.0.1:1") -> LoadedPlan:
    return load_plan(write_plan(tmp_path, url))


@pytest.fixture
def unset_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in UNSET:
        monkeypatch.delenv(name, raising=False)


def test_an_endpoint_with_an_unset_variable_is_dropped_with_a_warning(tmp_path: Path) -> None:
    chain = plan(tmp_path).plan.chains["local"]
    environ = {"BG_TEST_INFURA_KEY": SECRET}

    with capture_logs() as logs:
        members = plan_endpoints(chain, environ, name="local")
        urls = chain_urls(chain, environ, name="local")

    assert [m.url for m in members] == [f"https://rpc.example/{SECRET}", "http://127.0.0.1:1"]
    assert urls == [f"https://rpc.example/{SECRET}", "http://127.0.0.1:1"]
    dropped = [e for e in logs if e["event"] == "chain.endpoint_dropped"]
    assert dropped and all(e["log_level"] == "warning" for e in dropped)
    assert {(e["chain"], e["endpoint"], tuple(e["unset"])) for e in dropped} == {
        ("local", "1 of 3", ("BG_TEST_ALCHEMY_KEY",))
    }
    assert SECRET not in repr(logs)


def test_no_endpoint_left_names_every_unset_variable(tmp_path: Path) -> None:
    loaded = load_plan(write_plan(tmp_path, "https://third.example/${BG_TEST_INFURA_KEY}"))

    with pytest.raises(NoUsableEndpoint) as raised:
        plan_endpoints(loaded.plan.chains["local"], {}, name="local")

    message = str(raised.value)
    assert "chain 'local'" in message
    assert "BG_TEST_ALCHEMY_KEY (endpoint 1)" in message
    assert "BG_TEST_INFURA_KEY (endpoints 2, 3)" in message


@pytest.fixture
def sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{(tmp_path / 'db' / 'breakglass.db').as_posix()}"
    store.upgrade(url)
    return store.session_factory(store.make_engine(url))


@pytest.mark.chain
@pytest.mark.usefixtures("unset_keys")
def test_the_monitor_watches_through_the_endpoints_left(
    anvil: Anvil, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    loaded = load_plan(write_plan(tmp_path, anvil.http_url, anvil.ws_url))
    height = int(anvil.rpc("eth_blockNumber", []), 16)

    async def watch() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_monitor(
                loaded_plan=loaded,
                chain="local",
                sessions=sessions,
                stop_event=stop,
                poll_interval=0.05,
            )
        )
        deadline = time.monotonic() + 15
        while True:
            if task.done():
                task.result()
                raise AssertionError("the monitor stopped")
            with sessions() as session:
                row = store.get_checkpoint(session, chain="local")
            if row is not None and row.block_number > height:
                break
            assert time.monotonic() < deadline, "the monitor took no new block"
            anvil.rpc("evm_mine", [])
            await asyncio.sleep(0.1)
        stop.set()
        await task

    with capture_logs() as logs:
        asyncio.run(watch())
    assert any(
        e["event"] == "chain.endpoint_dropped" and e["endpoint"] == "1 of 3" for e in logs
    ), logs


def run_cli(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BREAKGLASS_HOME": str(home), "COLUMNS": "400", "NO_COLOR": "1"}
    env.pop("BREAKGLASS_DATABASE_URL", None)
    for name in UNSET:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.e2e
def test_cli_monitor_refuses_when_no_endpoint_is_left(tmp_path: Path) -> None:
    path = write_plan(tmp_path, "https://third.example/${BG_TEST_INFURA_KEY}")

    result = run_cli("monitor", str(path), home=tmp_path / "home")

    assert result.returncode == 2, result.stderr
    message = " ".join(result.stderr.split())
    assert "no RPC endpoint is usable" in message
    assert "BG_TEST_ALCHEMY_KEY (endpoint 1)" in message
    assert "BG_TEST_INFURA_KEY (endpoints 2, 3)" in message
    assert "Traceback" not in result.stderr


@pytest.mark.e2e
@pytest.mark.chain
def test_cli_backfill_uses_the_endpoints_left(anvil: Anvil, tmp_path: Path) -> None:
    path = write_plan(tmp_path, anvil.http_url)
    args = ("--plan", str(path), "--chain", "local", "--from", "0", "--to", "latest")

    result = run_cli("backfill", *args, home=tmp_path / "home")

    assert result.returncode == 0, result.stderr
    assert "backfilled blocks 0.." in result.stdout
    assert "endpoint_dropped" in result.stderr and "BG_TEST_ALCHEMY_KEY" in result.stderr
