"""Fixtures for the doctor: the containment tests' OpenZeppelin token and Safe on anvil, a
keystore for the guardian, the notification tests' HTTP receiver, and a plan where every
check passes that each test breaks in one way."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
import yaml
from eth_account import Account

from breakglass.devchain import Anvil


def _conftest(package: str) -> ModuleType:
    name = f"breakglass_tests_{package}_conftest"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / package / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_respond = _conftest("respond")
_notify = _conftest("notify")
safe_chain = _respond.safe_chain
token = _respond.token
pausing_safe = _respond.pausing_safe
fresh_chain = _respond.fresh_chain
receiver = _notify.receiver
Receiver = _notify.Receiver

ROOT = Path(__file__).parents[2]
GUARDIAN, INTRUDER = _respond.GUARDIAN, _respond.INTRUDER
SAFE_OWNERS = _respond.SAFE_OWNERS
PASSWORD = "correct horse battery staple"
HOOK_TOKEN = "tok-4c1d2e3f4a5b"
HOOK_KEY = "whsec-00112233445566778899"


def write_keystore(path: Path, key: str, password: str = PASSWORD) -> Path:
    """An eth-account keystore of ``key`` (cheap KDF: these are test keys)."""
    path.write_text(json.dumps(Account.encrypt(key, password, kdf="pbkdf2", iterations=2)))
    return path


@dataclass
class Setup:
    """A plan every doctor check passes, as a dict to break, and the environment it needs."""

    anvil: Anvil
    token: str
    safe: str
    receiver: Any
    dir: Path

    def plan(self) -> dict[str, Any]:
        anvil = self.anvil
        hook = self.receiver.url("/hook/${HOOK_TOKEN}")
        return {
            "version": 1,
            "protocol": "Doctor Test",
            "people": {
                "alice": {"name": "Alice", "page": self.receiver.url("/page/alice/${HOOK_TOKEN}")},
                "bob": {"name": "Bob", "page": self.receiver.url("/page/bob/${HOOK_TOKEN}")},
                "carol": {"name": "Carol"},
            },
            "roles": {
                "incident_lead": ["alice"],
                "pauser": {"members": ["bob"], "handles": ["pause"]},
                "scribe": {"members": ["carol"]},
            },
            "chains": {
                "local": {
                    "chain_id": anvil.chain_id,
                    "block_time": 1,
                    "rpc": [{"url": "${RPC_URL}", "ws": "${RPC_WS}"}],
                    "gas": {"max_fee_gwei": 100},
                }
            },
            "contracts": {
                "token": {
                    "chain": "local",
                    "address": self.token,
                    "pause": {"function": "pause()", "check": "paused()"},
                }
            },
            "signers": {
                "guardian": {
                    "type": "keystore",
                    "path": "guardian.json",
                    "password": "${GUARDIAN_PASSWORD}",
                    "address": anvil.accounts[GUARDIAN],
                },
                "owner_a": {"type": "env", "key": "${OWNER_A_KEY}"},
                "ops_safe": {
                    "type": "safe",
                    "chain": "local",
                    "address": self.safe,
                    "threshold": 2,
                    "owners": [anvil.accounts[i] for i in SAFE_OWNERS],
                    "local_owners": ["owner_a"],
                },
            },
            "playbooks": [
                {
                    "id": "contain",
                    "steps": [
                        {"action": "pause", "contract": "token", "signer": "guardian"},
                        {"action": "page", "role": "pauser"},
                    ],
                },
                {
                    "id": "safe-pause",
                    "steps": [{"action": "safe-proposal", "safe": "ops_safe", "contract": "token"}],
                },
            ],
            "channels": {"war-room": {"url": hook, "signing_key": "${HOOK_KEY}"}},
        }

    def environ(self) -> dict[str, str]:
        return {
            "RPC_URL": self.anvil.http_url,
            "RPC_WS": self.anvil.ws_url,
            "GUARDIAN_PASSWORD": PASSWORD,
            "OWNER_A_KEY": self.anvil.private_keys[SAFE_OWNERS[0]],
            "HOOK_TOKEN": HOOK_TOKEN,
            "HOOK_KEY": HOOK_KEY,
        }

    def write(self, plan: dict[str, Any], name: str = "breakglass.yaml") -> Path:
        path = self.dir / name
        path.write_text(yaml.safe_dump(plan, sort_keys=False))
        return path


@pytest.fixture
def setup(anvil: Anvil, token: Any, pausing_safe: str, receiver: Any, tmp_path: Path) -> Setup:
    write_keystore(tmp_path / "guardian.json", anvil.private_keys[GUARDIAN])
    return Setup(anvil, token.address, pausing_safe, receiver, tmp_path)


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        loaded: dict[str, Any] = orjson.loads(self.stdout)
        return loaded

    def failing(self) -> set[str]:
        return {r["id"] for r in self.json()["results"] if r["status"] == "fail"}


DoctorCli = Callable[..., Run]


@pytest.fixture
def doctor_cli(tmp_path: Path) -> DoctorCli:
    """``python -m breakglass doctor`` in a clean environment plus ``environ``."""

    def run(*args: str | Path, environ: dict[str, str]) -> Run:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BREAKGLASS_") and k not in environ
        }
        env |= {
            "COLUMNS": "250",
            "NO_COLOR": "1",
            "BREAKGLASS_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
            **environ,
        }
        result = subprocess.run(
            [sys.executable, "-m", "breakglass", "doctor", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        output = result.stdout + result.stderr
        assert "Traceback" not in output, output
        return Run(result.returncode, result.stdout, result.stderr)

    return run


def broken(plan: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A deep copy of ``plan`` with ``change`` applied."""
    copied = copy.deepcopy(plan)
    change(copied)
    return copied
