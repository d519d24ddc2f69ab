"""RPC URLs that can never connect are load errors, and the error does not repeat a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakglass.plan import PlanLoadError, load_plan

PLAN = """\
protocol: Test
chains:
  main:
    chain_id: 1
    rpc: [RPC]
"""


def _load(tmp_path: Path, rpc: str) -> list[str]:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.replace("RPC", rpc), encoding="utf-8")
    try:
        load_plan(path)
    except PlanLoadError as exc:
        return [str(issue) for issue in exc.issues]
    return []


@pytest.mark.parametrize(
    "rpc",
    [
        '"https://rpc.example/${KEY}"',
        '{url: "https://rpc.example", ws: "wss://rpc.example/ws"}',
        '"${RPC_URL}"',
    ],
)
def test_usable_rpc_urls_load(tmp_path: Path, rpc: str) -> None:
    assert _load(tmp_path, rpc) == []


@pytest.mark.parametrize(
    ("rpc", "says"),
    [
        ('"htps//rpc.example"', "an RPC URL starts with http(s):// or ws(s)://"),
        ('{url: "https://rpc.example", ws: "https://rpc.example/ws"}', "starts with ws(s)://"),
        ('"ftp://rpc.example"', "not ftp://"),
    ],
)
def test_unusable_rpc_urls_are_load_errors(tmp_path: Path, rpc: str, says: str) -> None:
    [issue] = _load(tmp_path, rpc)
    assert "chains.main.rpc[0]" in issue and says in issue


def test_the_error_does_not_repeat_a_key(tmp_path: Path) -> None:
    key = "Ab3dEfGhIjKlMnOpQrStUvWxYz012345"
    [issue] = _load(tmp_path, f'{{url: "https://rpc.example/v2/{key}", ws: "https://x/{key}"}}')
    assert "starts with ws(s)://" in issue
    assert key not in issue
