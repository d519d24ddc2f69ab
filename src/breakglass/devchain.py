"""A local anvil chain for tests, the demo and drills.

``Anvil.start()`` spawns the native anvil binary installed by npm on a free loopback port and
returns once it answers JSON-RPC; ``stop()`` (or leaving the ``with`` block) ends that one
process. Every chain still running when the interpreter exits is stopped by an ``atexit`` hook.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
import orjson
from eth_account import Account
from eth_typing import ChecksumAddress

from breakglass.errors import DevchainError
from breakglass.forkrelay import ForkRelay
from breakglass.nodepkgs import find_node_file
from breakglass.settings import Settings

__all__ = ["DEFAULT_MNEMONIC", "Anvil", "find_anvil"]

DEFAULT_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's default mnemonic; passed explicitly so the dev accounts never change."""

_HOST = "127.0.0.1"
_PORT_ATTEMPTS = 5
_LOG_TAIL_LINES = 20
_POLL_INTERVAL = 0.05
_PORT_TAKEN = "Address already in use"

# (sys.platform, platform.machine()) -> suffix of the npm package holding the native binary.
_PLATFORM_PACKAGES = {
    ("linux", "x86_64"): "linux-amd64",
    ("linux", "amd64"): "linux-amd64",
    ("linux", "aarch64"): "linux-arm64",
    ("linux", "arm64"): "linux-arm64",
    ("darwin", "x86_64"): "darwin-amd64",
    ("darwin", "arm64"): "darwin-arm64",
    ("darwin", "aarch64"): "darwin-arm64",
}


def _binary_relpath() -> Path:
    key = (sys.platform, platform.machine().lower())
    suffix = _PLATFORM_PACKAGES.get(key)
    if suffix is None:
        raise DevchainError(
            f"no anvil package for platform {key[0]}/{key[1]}; "
            "install anvil yourself and set BREAKGLASS_ANVIL_PATH to its path"
        )
    return Path("node_modules", "@foundry-rs", f"anvil-{suffix}", "bin", "anvil")


def _checked(path: Path, origin: str) -> Path:
    if not path.is_file():
        raise DevchainError(f"anvil binary from {origin} not found: {path}")
    return path


def find_anvil(explicit: Path | None = None) -> Path:
    """Locate the native anvil binary.

    Tries ``explicit``, then ``BREAKGLASS_ANVIL_PATH``, then ``node_modules`` in the current
    directory, the package's own location, and their parents.

    Raises:
        DevchainError: no binary was found.
    """
    if explicit is not None:
        return _checked(Path(explicit), "the explicit path")
    configured = Settings().anvil_path
    if configured is not None:
        return _checked(configured, "BREAKGLASS_ANVIL_PATH")

    relpath = _binary_relpath()
    found = find_node_file(relpath)
    if found is not None:
        return found
    raise DevchainError(
        f"anvil not found: no {relpath.as_posix()} above {Path.cwd()} or the breakglass "
        "package; run `npm install` in the project root, or set BREAKGLASS_ANVIL_PATH"
    )


@functools.lru_cache(maxsize=8)
def _dev_accounts(count: int) -> tuple[tuple[ChecksumAddress, str], ...]:
    """(address, private key) of the first ``count`` accounts of the default mnemonic."""
    Account.enable_unaudited_hdwallet_features()
    pairs: list[tuple[ChecksumAddress, str]] = []
    for index in range(count):
        account = Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
        pairs.append((account.address, "0x" + account.key.hex().removeprefix("0x")))
    return tuple(pairs)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _read_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 8192))
            text = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


class _PortTakenError(DevchainError):
    """anvil lost the race for its port; start again on another one."""


_live: set[Anvil] = set()
_live_lock = threading.Lock()


@atexit.register
def _stop_all() -> None:
    with _live_lock:
        chains = list(_live)
    for chain in chains:
        with contextlib.suppress(Exception):
            chain.stop(timeout=2.0)


class Anvil:
    """A running local anvil chain. Create it with :meth:`start`."""

    def __init__(
        self,
        *,
        process: subprocess.Popen[bytes],
        binary: Path,
        port: int,
        chain_id: int,
        account_count: int,
        log_dir: Path,
        relay: ForkRelay | None = None,
    ) -> None:
        self._process = process
        self._relay = relay
        self._binary = binary
        self._port = port
        self._chain_id = chain_id
        self._account_count = account_count
        self._log_dir = log_dir
        self._client = httpx.Client()
        self._stopped = False
        self._request_id = 0

    @classmethod
    def start(
        cls,
        *,
        chain_id: int = 31337,
        block_time: float | None = None,
        steps_tracing: bool = False,
        accounts: int = 10,
        balance_eth: int = 10000,
        fork_url: str | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 15.0,
        binary: Path | None = None,
    ) -> Anvil:
        """Spawn anvil on a free loopback port and wait until it answers ``eth_chainId``.

        Args:
            block_time: seconds between blocks (fractions allowed); ``None`` mines per tx.
            steps_tracing: enable struct-log traces (``debug_traceTransaction`` without tracer).
            fork_url: the chain to fork (http or https). anvil is given a loopback relay
                instead, so the URL (often holding an API key) is neither on its command line
                nor in its log.
            extra_args: further anvil command-line arguments, passed as they are.
            binary: the anvil binary; found with :func:`find_anvil` when omitted.

        Raises:
            DevchainError: anvil is missing, exited early or did not answer in time.
        """
        path = find_anvil(binary)
        options = [
            "--chain-id", str(chain_id),
            "--accounts", str(accounts),
            "--balance", str(balance_eth),
            "--mnemonic", DEFAULT_MNEMONIC,
        ]  # fmt: skip
        if block_time is not None:
            options += ["--block-time", str(block_time)]
        if steps_tracing:
            options.append("--steps-tracing")
        relay = ForkRelay(fork_url) if fork_url is not None else None
        if relay is not None:
            options += ["--fork-url", relay.url]
        options += list(extra_args)

        try:
            # Another process can grab the port between our probe and anvil's bind; retry.
            for _ in range(_PORT_ATTEMPTS):
                try:
                    return cls._launch(
                        path,
                        _free_port(),
                        options,
                        chain_id=chain_id,
                        account_count=accounts,
                        timeout=startup_timeout,
                        relay=relay,
                    )
                except _PortTakenError:
                    continue
        except BaseException:
            if relay is not None:
                relay.close()
            raise
        if relay is not None:
            relay.close()
        raise DevchainError(f"anvil could not bind a free port in {_PORT_ATTEMPTS} attempts")

    @classmethod
    def _launch(
        cls,
        binary: Path,
        port: int,
        options: list[str],
        *,
        chain_id: int,
        account_count: int,
        timeout: float,
        relay: ForkRelay | None = None,
    ) -> Anvil:
        log_dir = Path(tempfile.mkdtemp(prefix="breakglass-anvil-"))
        log_path = log_dir / "anvil.log"
        argv = [str(binary), "--host", _HOST, "--port", str(port), *options]
        try:
            with log_path.open("wb") as log:
                # Own session: a Ctrl-C meant for the test runner does not hit anvil first.
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        except OSError as exc:
            shutil.rmtree(log_dir, ignore_errors=True)
            raise DevchainError(f"cannot run anvil at {binary}: {exc}") from exc

        chain = cls(
            process=process,
            binary=binary,
            port=port,
            chain_id=chain_id,
            account_count=account_count,
            log_dir=log_dir,
            relay=relay,
        )
        with _live_lock:
            _live.add(chain)
        try:
            chain._wait_ready(timeout)
        except BaseException:
            chain.stop(timeout=2.0, keep_relay=True)
            raise
        return chain

    def _wait_ready(self, timeout: float) -> None:
        # Ready means anvil logged that it listens on *our* port and answers there; an answer
        # alone could come from another process that won the race for the port.
        listening = f"Listening on {_HOST}:{self._port}"
        deadline = time.monotonic() + timeout
        seen_listening = False
        while True:
            code = self._process.poll()
            tail = self.log_tail()
            if code is not None:
                if _PORT_TAKEN in tail:
                    raise _PortTakenError(tail)
                raise DevchainError(
                    f"anvil ({self._binary}) exited with code {code} during startup:\n{tail}"
                )
            # Sticky: anvil logs each request, which can push the line out of the tail.
            seen_listening = seen_listening or listening in tail
            if seen_listening and self._answers(deadline):
                return
            if time.monotonic() >= deadline:
                raise DevchainError(
                    f"anvil did not answer on {self.http_url} within {timeout:g} s:\n{tail}"
                )
            time.sleep(_POLL_INTERVAL)

    def _answers(self, deadline: float) -> bool:
        # A short per-request timeout: a squatter on the port may accept and never reply.
        timeout = min(1.0, max(0.05, deadline - time.monotonic()))
        try:
            self._call("eth_chainId", (), timeout=timeout)
        except DevchainError:
            return False
        return True

    @property
    def pid(self) -> int:
        """Process id of the anvil binary."""
        return self._process.pid

    @property
    def port(self) -> int:
        """Loopback TCP port anvil listens on."""
        return self._port

    @property
    def http_url(self) -> str:
        """JSON-RPC over HTTP endpoint."""
        return f"http://{_HOST}:{self._port}"

    @property
    def ws_url(self) -> str:
        """JSON-RPC over WebSocket endpoint."""
        return f"ws://{_HOST}:{self._port}"

    @property
    def chain_id(self) -> int:
        """Chain id the chain was started with."""
        return self._chain_id

    @property
    def accounts(self) -> tuple[ChecksumAddress, ...]:
        """Checksummed addresses of the funded dev accounts."""
        return tuple(address for address, _ in _dev_accounts(self._account_count))

    @property
    def private_keys(self) -> tuple[str, ...]:
        """0x-prefixed private keys of :attr:`accounts`, in the same order."""
        return tuple(key for _, key in _dev_accounts(self._account_count))

    @property
    def running(self) -> bool:
        """Whether the anvil process is still alive."""
        return not self._stopped and self._process.poll() is None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines anvil wrote (empty once stopped)."""
        return _read_tail(self._log_dir / "anvil.log", lines)

    def rpc(self, method: str, params: Sequence[Any] = ()) -> Any:
        """Make one JSON-RPC call and return its ``result``.

        Raises:
            DevchainError: the chain is stopped, unreachable, or answered with an error.
        """
        if self._stopped:
            raise DevchainError(f"{method}: anvil on port {self._port} is stopped")
        return self._call(method, params)

    def _call(self, method: str, params: Sequence[Any], *, timeout: float = 10.0) -> Any:
        self._request_id += 1
        payload = {
            "jsonrpc": "2.0",
            "id": self._request_id,
            "method": method,
            "params": list(params),
        }
        try:
            response = self._client.post(
                self.http_url,
                content=orjson.dumps(payload),
                headers={"content-type": "application/json"},
                timeout=timeout,
            )
            envelope = orjson.loads(response.content)
        except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
            raise DevchainError(f"{method} on {self.http_url} failed: {exc}") from exc
        if not isinstance(envelope, dict) or "error" in envelope or "result" not in envelope:
            detail = envelope.get("error") if isinstance(envelope, dict) else envelope
            raise DevchainError(f"{method} on {self.http_url} returned an error: {detail}")
        return envelope["result"]

    def stop(self, timeout: float = 5.0, *, keep_relay: bool = False) -> None:
        """Terminate this anvil process (SIGTERM, then SIGKILL after ``timeout``). Idempotent.

        ``keep_relay`` leaves the fork relay open for another launch attempt.
        """
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._process.poll() is None:
                # Signal our own pid only: other anvils in this tree belong to someone else.
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGTERM)
                try:
                    self._process.wait(timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(self.pid, signal.SIGKILL)
                    self._process.wait()
        finally:
            self._client.close()
            if self._relay is not None and not keep_relay:
                self._relay.close()
            shutil.rmtree(self._log_dir, ignore_errors=True)
            with _live_lock:
                _live.discard(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Anvil pid={self.pid} {self.http_url} chain_id={self._chain_id} {state}>"
