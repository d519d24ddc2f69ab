"""Solidity contracts bundled with breakglass for tests, benchmarks and drills, and their compiler.

``compile_file("EventStorm.sol")`` compiles a bundled source with solcjs (cached on disk).
"""

from __future__ import annotations

from breakglass.contracts.solc import (
    CompiledContract,
    CompileError,
    compile_file,
    compile_sources,
    find_solcjs,
    load_source,
)

__all__ = [
    "CompileError",
    "CompiledContract",
    "compile_file",
    "compile_sources",
    "find_solcjs",
    "load_source",
]
