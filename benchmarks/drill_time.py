"""How long each built-in drill takes, against the chain's own floor measured in the same run.

A drill (``breakglass drill run SCENARIO``) starts anvil with 1 s blocks, deploys the
scenario's contracts, attacks while the real monitor and playbooks watch, and writes and stores
the report. Per scenario, one after the other:

  (a) floor - an anvil with 1 s blocks started and stopped, plus one second per block from
              the first exploit block to the last block the drill needed (the pause or the
              last attack): the time the chain alone imposes once the attack starts;
  (b) drill - ``breakglass.drills.service.run_service`` from start to stored report.

Budget: (b) under 45 s per scenario. This replaces the wall-clock assertion
tests/drills/test_scenarios_anvil.py used to make.

    .venv/bin/python benchmarks/drill_time.py [SCENARIO ...] [--smoke]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.drills.library import scenario_names
from breakglass.drills.service import run_service
from breakglass.logs import configure_logging

BUDGET_S = 45.0


def anvil_start_stop() -> float:
    started = time.perf_counter()
    with Anvil.start(block_time=1):
        pass
    return time.perf_counter() - started


def drill(name: str, directory: Path) -> tuple[float, int, bool]:
    """Seconds, the blocks of the attack phase, and whether it was contained."""
    url = f"sqlite:///{(directory / f'{name}.db').as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    try:
        started = time.perf_counter()
        result = run_service(
            name, sessions=store.session_factory(engine), output=directory / f"{name}.md"
        )
        elapsed = time.perf_counter() - started
    finally:
        engine.dispose()
    m = result.report.measurements
    last = max(b for b in (m["pause_block"], m["last_attack_block"], 0) if b is not None)
    first = m["first_exploit_block"] if m["first_exploit_block"] is not None else last
    return elapsed, last - first + 1, bool(m["contained"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("scenarios", nargs="*", help="default: every built-in scenario")
    parser.add_argument("--smoke", action="store_true", help="one scenario, no budget asserted")
    args = parser.parse_args()
    configure_logging("CRITICAL", "console")
    names = args.scenarios or list(scenario_names())
    if args.smoke:
        names = names[:1]
    print(f"{'scenario':<24} {'(a) floor':>9} {'(b) drill':>9} {'(b)-(a)':>8}  contained")
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="breakglass-drill-bench-") as tmp:
        for name in names:
            chain = anvil_start_stop()
            seconds, blocks, contained = drill(name, Path(tmp))
            floor = chain + blocks
            worst = max(worst, seconds)
            print(f"{name:<24} {floor:9.1f} {seconds:9.1f} {seconds - floor:8.1f}  {contained}")
            if not contained:
                sys.exit(f"FAIL: {name} was not contained")
    if args.smoke:
        return
    if worst >= BUDGET_S:
        sys.exit(f"FAIL: a drill took {worst:.1f} s >= {BUDGET_S:.0f} s")
    print(f"OK: every drill under {BUDGET_S:.0f} s (slowest {worst:.1f} s)")


if __name__ == "__main__":
    main()
