"""Whole-process start-up of the fast commands, as a ratio to a bare ``python -c pass``.

    .venv/bin/python benchmarks/startup.py [RUNS]

A regular install is emulated by a fresh virtual environment (no pip) whose site-packages
holds a copy of the package with its templates: the editable install's import finder
slows neither the baseline nor the commands, and the fast commands need nothing else
(lark and SymPy are only imported when a cell must be derived, which the warm-up does
with the project's own environment). Each command runs once to fill the derive cache (in
a temporary folder), then RUNS times (default 15); the median wall time is printed beside
the ratio. The target
(issue 13): `derive count` within 3× bare Python. These machines are shared and noisy:
read the ratios, not the milliseconds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ["--input-size", "512", "--hidden-size", "256"]
COMMANDS = {
    "count": ["count", "lstm", "-f", "pytorch", *SEED, "--bidirectional"],
    "count --json": ["count", "gru", "-f", "keras", *SEED, "--json"],
    "flops": ["flops", "lstm", "-f", "pytorch", *SEED, "-c", "all"],
    "memory": ["memory", "lstm", "-f", "pytorch", *SEED, "--optimizer", "adam"],
    "solve": ["solve", "lstm", "-f", "pytorch", "--budget", "1M", "--input-size", "512"],
    "match": ["match", "lstm", "-f", "pytorch", "--to", "gru,rnn", *SEED],
}


def median_time(argv: list[str], env: dict[str, str], runs: int) -> float:
    for _ in range(3):  # untimed: the files' first reads
        subprocess.run(argv, env=env, check=True, capture_output=True)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    work = Path(tempfile.mkdtemp(prefix="derive-bench-startup-"))
    try:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(work / "venv")],
                       check=True)
        (site,) = (work / "venv" / "lib").glob("python*/site-packages")
        shutil.copytree(ROOT / "derive", site / "derive",
                        ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(ROOT / "templates", site / "derive" / "templates")
        # pip compiles the bytecode at install time; so does this emulation
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(site / "derive")],
                       check=True)
        env = {**os.environ, "DERIVE_CACHE_DIR": str(work / "cache")}
        env.pop("PYTHONPATH", None)
        py = [str(work / "venv" / "bin" / "python")]
        bare = median_time([*py, "-c", "pass"], env, runs)
        print(f"python -c pass            {bare * 1000:7.1f} ms   1.00×")
        for name, args in COMMANDS.items():
            # as the `derive` console script a regular install writes runs it
            argv = [*py, "-c", "import sys; from derive.cli import main; sys.exit(main())",
                    *args]
            # fill the cache with the project's environment (it has lark and SymPy)
            subprocess.run([sys.executable, "-m", "derive.cli", *args], check=True,
                           capture_output=True, env={**env, "PYTHONPATH": str(site)})
            t = median_time(argv, env, runs)
            print(f"derive {name:<18} {t * 1000:7.1f} ms  {t / bare:5.2f}×")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
