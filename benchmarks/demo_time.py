"""How long ``breakglass demo`` takes, against its floor measured in the same run.

The demo starts anvil, compiles and deploys a lending protocol on OpenZeppelin, Uniswap V2 and
Safe bytecode, runs the attack while the real monitor watches, and writes the incident, the
losses, the Merkle root, the status page and the post-mortem. Measured one after the other:

  (a) floor      - ``python -m breakglass version`` (process start) plus an anvil started and
                   stopped: what any run of the demo pays before it does anything;
  (b) in process - ``breakglass.demo.run_demo`` called from this process;
  (c) as typed   - ``python -m breakglass demo --dir DIR`` in a fresh process.

Budget (README, ``make demo``): (b) and (c) under 60 s each; (c) - (b) is what a fresh
process adds (imports, migrations). This replaces the wall-clock assertion
tests/demo/test_demo.py used to make.

    .venv/bin/python benchmarks/demo_time.py [--runs 2] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from breakglass.demo import run_demo
from breakglass.devchain import Anvil
from breakglass.logs import configure_logging

BUDGET_S = 60.0
REPO = Path(__file__).resolve().parents[1]


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=REPO, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def floor() -> float:
    started = time.perf_counter()
    with Anvil.start():
        pass
    return time.perf_counter() - started + _timed([sys.executable, "-m", "breakglass", "version"])


def in_process(directory: Path) -> float:
    started = time.perf_counter()
    result = run_demo(directory, say=lambda _line: None)
    if result.pause_block is None:
        sys.exit("the demo's pause did not land")
    return time.perf_counter() - started


def as_typed(directory: Path) -> float:
    return _timed([sys.executable, "-m", "breakglass", "demo", "--dir", str(directory)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each (default 2)")
    parser.add_argument("--smoke", action="store_true", help="1 run, no budget asserted")
    args = parser.parse_args()
    configure_logging("CRITICAL", "console")  # as `breakglass demo` does: the figures only
    runs = 1 if args.smoke else args.runs
    floors, called, typed = [], [], []
    with tempfile.TemporaryDirectory(prefix="breakglass-demo-bench-") as tmp:
        for run in range(runs):
            floors.append(floor())
            called.append(in_process(Path(tmp) / f"call-{run}"))
            typed.append(as_typed(Path(tmp) / f"typed-{run}"))
    print(f"breakglass demo, {runs} run(s) each, seconds (median, max)")
    for label, values in (
        ("(a) floor: process start + anvil", floors),
        ("(b) run_demo in process", called),
        ("(c) python -m breakglass demo", typed),
    ):
        print(f"{label:<36} {statistics.median(values):6.1f} {max(values):6.1f}")
    cli_cost = statistics.median(typed) - statistics.median(called)
    print(f"{'(c) - (b), the CLI itself':<36} {cli_cost:6.1f}")
    if args.smoke:
        return
    worst = max(*called, *typed)
    if worst >= BUDGET_S:
        sys.exit(f"FAIL: a demo run took {worst:.1f} s >= {BUDGET_S:.0f} s")
    print(f"OK: every run under {BUDGET_S:.0f} s (slowest {worst:.1f} s)")


if __name__ == "__main__":
    main()
