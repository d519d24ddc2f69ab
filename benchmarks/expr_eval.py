"""Expression evaluation speed against Python's own ``eval``, in the same run.

The ceiling is ``eval`` of the same text pre-compiled to a code object, with the same values
as globals (mappings as ``SimpleNamespace`` so ``args.value`` works): what the unsafe
shortcut would cost. breakglass evaluates its closure tree with
the same values (views in a mapping keyed as ``ViewCall.key`` says; for ``eval`` they are
zero-argument lambdas). Run: ``.venv/bin/python benchmarks/expr_eval.py [--smoke]``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from breakglass.detect.expr import compile_expression

POOL = "0x" + "ab" * 20
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("simple comparison", "value > 1000 * 10**6", {"value": 5_000 * 10**6}, {}),
    (
        "event filter",
        "args.value > 1000 * 10**6 and args.to != pool",
        {"args": {"value": 5_000 * 10**6, "to": "0x" + "cd" * 20}, "pool": POOL},
        {},
    ),
    (
        "solvency invariant",
        "totalAssets() >= totalSupply() * pricePerShare() / 1e18",
        {},
        {"totalAssets": 10**24, "totalSupply": 10**24 - 7, "pricePerShare": 10**18 + 3},
    ),
]
ROUNDS = 5
SECONDS = 0.3


def _rate(func: Callable[[], Any], rounds: int = ROUNDS, seconds: float = SECONDS) -> float:
    best = 0.0
    for _ in range(rounds):
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            for _ in range(1000):
                func()
            count += 1000
        best = max(best, count / elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one short round, for CI")
    rounds, seconds = (1, 0.02) if parser.parse_args().smoke else (ROUNDS, SECONDS)
    print(f"{'expression':<20} {'breakglass/s':>14} {'eval/s':>14} {'ratio':>7}")
    for label, text, env, view_values in CASES:
        expression = compile_expression(text)
        views = {(name, ()): value for name, value in view_values.items()}
        python_globals: dict[str, Any] = {"__builtins__": {}}
        python_globals.update(
            {k: SimpleNamespace(**v) if isinstance(v, dict) else v for k, v in env.items()}
        )
        python_globals.update({name: (lambda v=v: v) for name, v in view_values.items()})
        code = compile(text, "<bench>", "eval")
        exact, floating = expression.evaluate(env, views), eval(code, python_globals)
        if exact != floating:  # the invariant case: float division rounds, Fractions do not
            print(f"  note: {text!r} is {exact} exactly but {floating} under eval's floats")

        ours = _rate(
            lambda e=expression, env=env, views=views: e.evaluate(env, views), rounds, seconds
        )
        ceiling = _rate(lambda code=code, g=python_globals: eval(code, g), rounds, seconds)
        print(f"{label:<20} {ours:>14,.0f} {ceiling:>14,.0f} {ours / ceiling:>6.0%}")


if __name__ == "__main__":
    main()
