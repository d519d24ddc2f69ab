"""compile_sources: solcjs through standard JSON, with an on-disk cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from breakglass.contracts import CompileError, compile_file, compile_sources, load_source
from breakglass.contracts import solc as solc_module
from breakglass.errors import BreakglassError

SIMPLE = """// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;
contract Simple {
    event Ping(uint256 indexed n);
    function ping(uint256 n) external { emit Ping(n); }
}
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "solc-cache"
    monkeypatch.setenv("BREAKGLASS_SOLC_CACHE", str(directory))
    return directory


def test_compile_and_cache(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = compile_sources({"Simple.sol": SIMPLE})
    simple = compiled["Simple"]
    assert compiled["Simple.sol:Simple"] is simple
    assert simple.source == "Simple.sol"
    assert simple.bytecode.startswith("0x60")
    assert {e["name"] for e in simple.abi} == {"Ping", "ping"}
    assert len(list(cache.glob("*.json"))) == 1

    def no_solcjs(*_args: object) -> bytes:
        raise AssertionError("solcjs must not run on a cache hit")

    monkeypatch.setattr(solc_module, "_run_solcjs", no_solcjs)
    assert compile_sources({"Simple.sol": SIMPLE}) == compiled
    # Another input (optimizer off) is another key.
    with pytest.raises(AssertionError, match="cache hit"):
        compile_sources({"Simple.sol": SIMPLE}, optimize=False)


def test_corrupt_cache_entry_recompiles(cache: Path) -> None:
    compile_sources({"Simple.sol": SIMPLE})
    (entry,) = cache.glob("*.json")
    entry.write_text("{not json")
    assert compile_sources({"Simple.sol": SIMPLE})["Simple"].bytecode.startswith("0x")


def test_syntax_error_has_formatted_message(cache: Path) -> None:
    broken = "pragma solidity ^0.8.20;\ncontract Broken { function f() external { uint x = ; } }\n"
    with pytest.raises(CompileError) as info:
        compile_sources({"Broken.sol": broken})
    assert isinstance(info.value, BreakglassError)
    text = str(info.value)
    assert "ParserError" in text
    assert "Broken.sol:2" in text
    assert not list(cache.glob("*.json")), "failed compilations are not cached"


def test_no_sources_and_unknown_bundled_file() -> None:
    with pytest.raises(CompileError, match="no sources"):
        compile_sources({})
    with pytest.raises(CompileError, match=r"Missing\.sol"):
        load_source("Missing.sol")


def test_eventstorm_bundled_source() -> None:
    storm = compile_file("EventStorm.sol")["EventStorm"]
    events = {e["name"] for e in storm.abi if e["type"] == "event"}
    assert events == {"Transfer", "Swap", "Note"}
    assert len(storm.bytecode) > 100


def test_solcjs_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(solc_module, "_SOLC_RELPATH", Path("node_modules", "no-such-solc"))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CompileError, match="solcjs not found"):
        compile_sources({"Simple.sol": SIMPLE})
