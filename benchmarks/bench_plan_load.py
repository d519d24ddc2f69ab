"""Plan loading cost against the plainest possible loader, in the same run.

The baseline is ``yaml.load`` with libyaml plus ``Plan.model_validate``: no positions, no
duplicate-key or reference checks, no ABI files. breakglass's loader does all of those; this
shows what they cost. Run: ``.venv/bin/python benchmarks/bench_plan_load.py [--smoke]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from breakglass.plan import load_plan
from breakglass.plan.models import Plan

PLAN = Path(__file__).parents[1] / "examples" / "plans" / "full.yaml"
ROUNDS = 200


def _baseline() -> None:
    # The bare loader reads `on:` as True; rename it so validation succeeds.
    text = PLAN.read_text().replace("    on: [", "    'on': [")
    Plan.model_validate(yaml.load(text, Loader=yaml.CSafeLoader))


def _breakglass() -> None:
    load_plan(PLAN)


def _median_ms(func: Callable[[], None], rounds: int = ROUNDS) -> float:
    func()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        func()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="5 rounds, for CI")
    rounds = 5 if parser.parse_args().smoke else ROUNDS
    baseline = _median_ms(_baseline, rounds)
    ours = _median_ms(_breakglass, rounds)
    print(f"plan: {PLAN.name} ({PLAN.stat().st_size} bytes), {rounds} rounds, median")
    print(f"baseline (libyaml + model_validate): {baseline:.2f} ms")
    print(f"breakglass load_plan:               {ours:.2f} ms")
    print(f"ratio: {ours / baseline:.2f}x the baseline")


if __name__ == "__main__":
    main()
