"""``breakglass drill run vault-drain --with-fix FIX.yaml``: the drill's contained exploit is
replayed on a fork with the fix; a fix that stops it passes, one that does not fails the run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from eth_utils.crypto import keccak
from typer.testing import CliRunner

from breakglass.cli.drill import app

pytestmark = pytest.mark.chain

# anvil's first two accounts of its default mnemonic: the drill's admin and guardian.
ADMIN = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
GUARDIAN = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _fix(path: Path, step: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump({"name": path.stem, "regression_blocks": 0,
                                    "steps": [{"call": step}]}))  # fmt: skip
    return path


def test_a_drill_rehearses_the_fix_against_its_own_exploit(tmp_path: Path) -> None:
    # The drill's vault (DrainableVault) cannot be upgraded: the rehearsed fix keeps it paused.
    keep_paused = _fix(tmp_path / "keep-paused.yaml",
                       {"to": "vault", "function": "pause()", "from": GUARDIAN})  # fmt: skip
    pauser_role = "0x" + keccak(text="PAUSER_ROLE").hex()
    beside_the_point = _fix(
        tmp_path / "grant-a-role.yaml",
        {"to": "vault", "function": "grantRole(bytes32,address)",
         "args": [pauser_role, "0x" + "11" * 20], "from": ADMIN},
    )  # fmt: skip
    db = f"sqlite:///{(tmp_path / 'drills.db').as_posix()}"

    def run(fix: Path) -> tuple[int, str]:
        args = ["run", "vault-drain", "--with-fix", str(fix), "--database-url", db,
                "--output", str(tmp_path / f"{fix.stem}.md")]  # fmt: skip
        result = CliRunner().invoke(app, args)
        return result.exit_code, result.output

    code, output = run(keep_paused)
    assert code == 0, output
    assert "fix keep-paused: passed" in output

    code, output = run(beside_the_point)
    assert code == 1
    assert "fix grant-a-role: failed" in output and "still takes" in output
