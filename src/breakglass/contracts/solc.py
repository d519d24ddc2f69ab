"""Compile Solidity with solcjs (the npm ``solc`` package) through its standard-JSON interface.

There is no native solc here: :func:`compile_sources` runs ``node`` with a tiny script that
requires ``node_modules/solc`` and hands it the standard-JSON input on stdin. solcjs takes about
a second even for a small contract, so the output is cached on disk, keyed by the sha256 of the
exact standard-JSON input plus the solc version (``.breakglass/solc-cache/`` under the current
directory, or ``BREAKGLASS_SOLC_CACHE``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from breakglass.errors import BreakglassError
from breakglass.nodepkgs import find_node_file

__all__ = [
    "CompileError",
    "CompiledContract",
    "compile_file",
    "compile_sources",
    "find_solcjs",
    "load_source",
]

_CACHE_ENV = "BREAKGLASS_SOLC_CACHE"
_SOLC_RELPATH = Path("node_modules", "solc")
_SOURCES_DIR = Path(__file__).resolve().parent / "sources"
_TIMEOUT = 300.0

# Reads the standard-JSON input on stdin and writes solc's standard-JSON output on stdout.
_NODE_SCRIPT = """
const solc = require(process.argv[1]);
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  process.stdout.write(solc.compile(Buffer.concat(chunks).toString("utf8")));
});
"""

# The same, resolving imports such as ``@openzeppelin/contracts/...`` under ``argv[2]`` (a
# ``node_modules`` directory); a path that climbs out of it is refused.
_NODE_SCRIPT_IMPORTS = """
const solc = require(process.argv[1]);
const fs = require("fs");
const path = require("path");
const root = path.resolve(process.argv[2]);
function findImports(name) {
  const file = path.resolve(root, name);
  if (!file.startsWith(root + path.sep)) return { error: "import outside node_modules: " + name };
  try {
    return { contents: fs.readFileSync(file, "utf8") };
  } catch (e) {
    return { error: "not found in " + root + ": " + name };
  }
}
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  const input = Buffer.concat(chunks).toString("utf8");
  process.stdout.write(solc.compile(input, { import: findImports }));
});
"""


class CompileError(BreakglassError):
    """Solidity could not be compiled (solc's formatted messages are in the text)."""


@dataclass(frozen=True, slots=True)
class CompiledContract:
    """One compiled contract: its ABI and its creation bytecode (``0x``-prefixed hex)."""

    name: str
    source: str
    abi: list[dict[str, Any]]
    bytecode: str
    storage_layout: dict[str, Any] | None = None
    """solc's ``storageLayout`` (``storage`` and ``types``), when it was asked for."""


def find_solcjs() -> Path:
    """Locate ``node_modules/solc`` upward from the current directory and from this package.

    Raises:
        CompileError: solcjs is not installed anywhere above.
    """
    found = find_node_file(_SOLC_RELPATH / "package.json")
    if found is not None:
        return found.parent
    raise CompileError(
        f"solcjs not found: no {_SOLC_RELPATH.as_posix()} above {Path.cwd()} or the "
        "breakglass package; run `npm install` in the project root"
    )


def _solc_version(solc_dir: Path) -> str:
    try:
        meta = orjson.loads((solc_dir / "package.json").read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CompileError(f"cannot read {solc_dir / 'package.json'}: {exc}") from exc
    return str(meta.get("version", "unknown"))


def _cache_dir() -> Path:
    configured = os.environ.get(_CACHE_ENV)
    if configured:
        return Path(configured)
    return Path.cwd() / ".breakglass" / "solc-cache"


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _write_cache(path: Path, raw: bytes) -> None:
    # Write atomically: parallel test runs may compile the same input at once.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        Path(tmp).replace(path)
    except OSError:
        return  # A read-only tree only costs speed.


def _run_solcjs(solc_dir: Path, standard_input: bytes, imports: Path | None = None) -> bytes:
    node = shutil.which("node")
    if node is None:
        raise CompileError("node not found on PATH; solcjs needs Node.js")
    command = [node, "-e", _NODE_SCRIPT, str(solc_dir)]
    if imports is not None:
        command = [node, "-e", _NODE_SCRIPT_IMPORTS, str(solc_dir), str(imports)]
    try:
        result = subprocess.run(
            command,
            input=standard_input,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CompileError(f"solcjs failed to run: {exc}") from exc
    if result.returncode != 0:
        detail = result.stderr.decode("utf-8", errors="replace").strip()
        raise CompileError(f"solcjs exited with code {result.returncode}:\n{detail}")
    return result.stdout


def _standard_input(
    sources: Mapping[str, str], *, optimize: bool, runs: int, storage_layout: bool = False
) -> bytes:
    # Asked for only when wanted, so every other compile keeps its cache key.
    outputs = ["abi", "evm.bytecode.object", *(["storageLayout"] if storage_layout else [])]
    return orjson.dumps(
        {
            "language": "Solidity",
            "sources": {name: {"content": text} for name, text in sorted(sources.items())},
            "settings": {
                "optimizer": {"enabled": optimize, "runs": runs},
                "outputSelection": {"*": {"*": outputs}},
            },
        },
        option=orjson.OPT_SORT_KEYS,
    )


def _check_errors(output: Mapping[str, Any]) -> None:
    errors = [e for e in output.get("errors", ()) if e.get("severity") == "error"]
    if errors:
        text = "\n".join(
            str(e.get("formattedMessage") or e.get("message") or e).rstrip() for e in errors
        )
        raise CompileError(f"solc reported {len(errors)} error(s):\n{text}")


def compile_sources(
    sources: Mapping[str, str],
    *,
    optimize: bool = True,
    runs: int = 200,
    node_imports: bool = False,
    storage_layout: bool = False,
) -> dict[str, CompiledContract]:
    """Compile Solidity sources (file name → source text) and return contract name → result.

    When two files define a contract of the same name, the later file (by name) wins under
    the bare name; every contract is also available as ``"File.sol:Name"``. With
    ``node_imports``, imports such as ``@openzeppelin/contracts/...`` are read from the
    ``node_modules`` that holds solcjs (the cache key then includes that directory). With
    ``storage_layout``, each result carries solc's ``storageLayout``.

    Raises:
        CompileError: solcjs is missing or failed, or solc reported errors (its formatted
            messages are included).
    """
    if not sources:
        raise CompileError("no sources to compile")
    solc_dir = find_solcjs()
    standard_input = _standard_input(
        sources, optimize=optimize, runs=runs, storage_layout=storage_layout
    )
    imports = solc_dir.parent if node_imports else None
    digest = hashlib.sha256(_solc_version(solc_dir).encode() + b"\0" + standard_input)
    if imports is not None:
        digest.update(b"\0imports:" + str(imports.resolve()).encode())
    cache_path = _cache_dir() / f"{digest.hexdigest()}.json"

    output = _read_cache(cache_path)
    if output is None:
        raw = _run_solcjs(solc_dir, standard_input, imports)
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            head = raw[:500].decode("utf-8", errors="replace")
            raise CompileError(f"solcjs returned no JSON: {exc}: {head}") from exc
        if not isinstance(parsed, dict):
            raise CompileError(f"solcjs returned unexpected output: {parsed!r:.200}")
        output = parsed
        _check_errors(output)
        _write_cache(cache_path, raw)
    else:
        _check_errors(output)

    compiled: dict[str, CompiledContract] = {}
    for source_name, contracts in sorted(output.get("contracts", {}).items()):
        for contract_name, artefact in contracts.items():
            contract = CompiledContract(
                name=contract_name,
                source=source_name,
                abi=list(artefact.get("abi", [])),
                bytecode="0x" + str(artefact.get("evm", {}).get("bytecode", {}).get("object", "")),
                storage_layout=artefact.get("storageLayout"),
            )
            compiled[contract_name] = contract
            compiled[f"{source_name}:{contract_name}"] = contract
    return compiled


def load_source(name: str) -> str:
    """The text of a Solidity file bundled in ``breakglass/contracts/sources``.

    Raises:
        CompileError: there is no such bundled file.
    """
    path = _SOURCES_DIR / name
    if not path.is_file():
        raise CompileError(f"no bundled Solidity source {name!r} in {_SOURCES_DIR}")
    return path.read_text(encoding="utf-8")


def compile_file(
    name: str, *, optimize: bool = True, node_imports: bool = False, storage_layout: bool = False
) -> dict[str, CompiledContract]:
    """Compile one bundled source (e.g. ``"EventStorm.sol"``), see :func:`compile_sources`."""
    return compile_sources(
        {name: load_source(name)},
        optimize=optimize,
        node_imports=node_imports,
        storage_layout=storage_layout,
    )
