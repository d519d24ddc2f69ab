"""``breakglass demo``: a lending protocol is attacked on a local chain and breakglass responds.

:func:`run_demo` starts anvil (fixed mnemonic and genesis time), deploys a lending pool built
on real third-party contracts (OpenZeppelin 4.9.6 tokens and access control, a Uniswap V2
pair as its price oracle, a Safe 1.4.1 2-of-3 as admin), lets ten honest users supply and
borrow, writes the protocol's plan and checks it, runs the monitor with the responder, the
incident desk and the notifier in-process, and has an attacker drain the pool with a
flash-swap price manipulation, one transaction per block. breakglass detects the first
drain, pauses the pool with the guardian key, opens the incident, analyses the attack,
computes the compensation Merkle root and writes the status page and the post-mortem.
Blocks are mined explicitly, so every run gives the same blocks and amounts.
"""

from __future__ import annotations

from breakglass.demo.run import DemoResult, run_demo
from breakglass.demo.summary import format_summary

__all__ = ["DemoResult", "format_summary", "run_demo"]
