"""Pre-execution: acting before an exploit transaction runs.

Two screens share this package. Attack-contract simulation (``attack_contract*``) calls a
freshly created contract's functions on a fork of the chain and flags one that drains a
watched contract. Mempool screening (``screen``) judges pending transactions by their
simulation. Both simulate through :mod:`breakglass.respond.preexec.fork_evm` where an
in-process fork serves.

The namespace stays empty so that importing it loads no EVM: import the modules themselves.
"""

__all__: list[str] = []
