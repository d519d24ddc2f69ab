"""Finding 1: deeply nested JSON and huge bodies must not kill or bloat ``serve``, and no
reader of untrusted JSON may overflow the C stack once eth-account has been imported."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from breakglass.safejson import UnsafeJson, loads

_spec = importlib.util.spec_from_file_location(
    "api_fixtures_bombs", Path(__file__).parents[1] / "api" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures
_spec.loader.exec_module(_fixtures)
build_api = _fixtures.build_api

BOMB = b"[" * 200_000
# breakglass's CLI with eth-account loaded first, as after an approval decrypted a keystore
BOOT = (
    "import eth_account, runpy, sys; sys.argv[0] = 'breakglass'; "
    "runpy.run_module('breakglass', run_name='__main__')"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def test_eth_account_import_leaves_a_safe_recursion_limit() -> None:
    """py_ecc raises the limit to 100,000; with it, stdlib json segfaults on this input."""
    code = (
        "import json, sys, breakglass, eth_account\n"
        "assert 'py_ecc' in sys.modules\n"
        "try:\n    json.loads('[' * 200000)\nexcept RecursionError:\n    print('refused')\n"
        "print(sys.getrecursionlimit())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr)
    refused, limit = done.stdout.split()
    assert refused == "refused"
    assert int(limit) <= 10_000


def test_safe_loads_refuses_deep_and_large_documents() -> None:
    with pytest.raises(UnsafeJson, match="nested deeper"):
        loads(BOMB, what="the feed")
    with pytest.raises(UnsafeJson, match="nested deeper than 3"):
        loads("[[[[1]]]]", max_depth=3)
    with pytest.raises(UnsafeJson, match="at most 10"):
        loads(b"[" + b"1," * 20 + b"1]", max_bytes=10)
    assert loads('{"a": [[1]]}', max_depth=3) == {"a": [[1]]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, dict[str, str]]]:
    api = build_api(tmp_path_factory.mktemp("bombs"))
    port = _free_port()
    url = str(api.sessions.kw["bind"].url)
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": url, "NO_COLOR": "1"}
    args = ["serve", "--plan", str(api.loaded.file), "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-c", BOOT, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/status.json", timeout=2)
            break
        except httpx.TransportError:
            assert proc.poll() is None, f"serve exited with {proc.returncode}"
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            time.sleep(0.2)
    try:
        yield base, proc.pid, api.headers("responder")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.e2e
def test_nested_brackets_do_not_kill_serve(server: tuple[str, int, dict[str, str]]) -> None:
    base, _pid, auth = server
    json_type = {"Content-Type": "application/json"}
    anonymous = httpx.post(f"{base}/api/incidents", content=BOMB, headers=json_type, timeout=10)
    assert anonymous.status_code == 401
    signed_in = httpx.post(
        f"{base}/api/incidents", content=BOMB, headers={**json_type, **auth}, timeout=10
    )
    assert signed_in.status_code == 422
    assert "nested deeper" in signed_in.text
    assert httpx.get(f"{base}/status.json", timeout=5).status_code == 200


@pytest.mark.e2e
def test_huge_bodies_are_refused_before_they_are_read(
    server: tuple[str, int, dict[str, str]],
) -> None:
    base, pid, auth = server
    chunk = b"x" * (1 << 20)

    def body(megabytes: int) -> Iterator[bytes]:
        for _ in range(megabytes):
            yield chunk

    declared = httpx.post(
        f"{base}/api/incidents",
        content=body(300),
        headers={"Content-Length": str(300 << 20), "Content-Type": "application/json"},
        timeout=30,
    )
    assert declared.status_code == 401
    # A token holder streaming a chunked body is cut off at the cap, not after 300 MB.
    try:
        chunked = httpx.post(f"{base}/api/incidents", content=body(300), headers=auth, timeout=30)
        assert chunked.status_code == 413
    except httpx.TransportError:
        pass  # the server answered 413 and closed while the client was still sending
    web_form = httpx.post(
        f"{base}/login",
        content=body(300),
        headers={"Content-Length": str(300 << 20)},
        timeout=30,
    )
    assert web_form.status_code == 413
    assert _peak_rss_mb(pid) < 250
    assert httpx.get(f"{base}/status.json", timeout=5).status_code == 200


def test_hostile_osv_and_ghsa_feeds_are_refused_in_a_process_with_eth_account() -> None:
    """news fetch runs where eth-account may be loaded; a nested feed is a parse error."""
    code = (
        "import eth_account\n"
        "from breakglass.report.news_parse import NewsParseError, parse_ghsa, parse_osv\n"
        "for parse in (parse_osv, parse_ghsa):\n"
        "    try:\n        parse(b'[' * 200000)\n"
        "    except NewsParseError as exc:\n        print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, (done.returncode, done.stderr)
    assert done.stdout.count("nested deeper") == 2


@pytest.mark.e2e
def test_safe_import_of_a_nested_file_is_a_clear_error(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    bomb = tmp_path / "tx.json"
    bomb.write_bytes(BOMB)
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": str(api.sessions.kw["bind"].url)}
    args = ["safe", "import", str(bomb), "--safe", "ops", "--plan", str(api.loaded.file)]
    done = subprocess.run(
        [sys.executable, "-c", BOOT, *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "nested deeper" in done.stderr
    assert "Traceback" not in done.stderr


def test_plan_check_of_a_nested_abi_file_is_a_plan_error(tmp_path: Path) -> None:
    (tmp_path / "Pool.json").write_bytes(BOMB)
    (tmp_path / "breakglass.yaml").write_text(
        "protocol: Acme\n"
        "chains: {local: {chain_id: 31337, rpc: ['http://127.0.0.1:8545']}}\n"
        "contracts: {pool: {chain: local, address: '0x" + "11" * 20 + "', abi: Pool.json}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", BOOT, "plan", "check", str(tmp_path / "breakglass.yaml")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode not in (0, -11), done.returncode
    assert "ABI file is not readable JSON" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
