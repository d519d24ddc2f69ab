"""Command-line start-up: ``breakglass --help`` and ``breakglass version`` against the CLI
framework alone.

Each command runs as a new process, as a person's shell starts it, interleaved with the
baselines so a busy machine slows all of them alike:

  (a) ``python -c "import typer"``: the CLI framework's import, the bar of the issue;
  (b) a one-command Typer app that prints a line: the framework's import *and* its parsing
      (Typer imports pydantic to coerce even a ``--help`` flag), the floor for any Typer CLI;
  (c) ``breakglass --help`` and (d) ``breakglass version``.

Budget (DESIGN.md): (c) and (d) <= 0.3 s and within 2.5x of (a), at p50.

    .venv/bin/python benchmarks/cli_startup.py [--runs 30] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from pause_cli import breakglass_argv, p95

TARGET_SECONDS = 0.3
TARGET_RATIO = 2.5

TYPER_APP = """\
import typer
app = typer.Typer(add_completion=False)
@app.command()
def version() -> None:
    print("0")
app()
"""


def once(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="3 runs, no target asserted")
    args = parser.parse_args()
    runs = 3 if args.smoke else args.runs

    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1"}
    contenders = {
        "(a) python -c 'import typer'": [sys.executable, "-c", "import typer"],
        "(b) one-command Typer app": [sys.executable, "-c", TYPER_APP],
        "(c) breakglass --help": [*breakglass_argv(), "--help"],
        "(d) breakglass version": [*breakglass_argv(), "version"],
    }
    times: dict[str, list[float]] = {label: [] for label in contenders}
    for argv in contenders.values():  # warm the page cache; untimed
        once(argv, env)
    for _ in range(runs):
        for label, argv in contenders.items():
            times[label].append(once(argv, env))

    base = statistics.median(times["(a) python -c 'import typer'"])
    print(f"new process to exit, {runs} runs each")
    for label, values in times.items():
        p50 = statistics.median(values)
        print(
            f"{label:<32} p50 {p50 * 1000:6.0f} ms   p95 {p95(values) * 1000:6.0f} ms"
            f"   {p50 / base:4.2f}x (a)"
        )
    if args.smoke:
        return
    failures = []
    for label in ("(c) breakglass --help", "(d) breakglass version"):
        p50 = statistics.median(times[label])
        if p50 > TARGET_SECONDS or p50 / base > TARGET_RATIO:
            failures.append(f"{label}: {p50:.3f} s, {p50 / base:.2f}x")
    if failures:
        sys.exit("FAIL: " + "; ".join(failures))
    print(f"OK: --help and version <= {TARGET_SECONDS} s and <= {TARGET_RATIO}x (a) at p50")


if __name__ == "__main__":
    main()
