"""Time the whole site build, cold (empty derive cache, fresh process) and warm.

    .venv/bin/python benchmarks/site_build.py

Target (issue 3): under 15 s cold on a 2-core machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    exe = Path(sys.executable).parent / "derive"
    work = Path(tempfile.mkdtemp(prefix="derive-bench-site-"))
    env = {**os.environ, "DERIVE_CACHE_DIR": str(work / "cache")}
    times = {}
    for label in ("cold", "warm"):
        start = time.perf_counter()
        subprocess.run([str(exe), "site", "--out", str(work / "site")], env=env, check=True,
                       capture_output=True)
        times[label] = time.perf_counter() - start
    pages = len(list((work / "site").rglob("*.html")))
    size = sum(p.stat().st_size for p in (work / "site").rglob("*") if p.is_file())
    shutil.rmtree(work, ignore_errors=True)
    print(f"{os.cpu_count()} cores; {pages} pages, {size / 1e6:.1f} MB")
    print(f"cold build {times['cold']:.2f} s (target < 15 s), warm build {times['warm']:.2f} s")
    print("target met" if times["cold"] < 15 else "target missed")
    scaling(exe)


def scaling(exe: Path) -> None:
    """The cold build against the number of cells: the catalog plus 0, 10 and 20 user cells
    (copies of the LSTM under other names), each with an empty cache."""
    base = len(list((Path(__file__).resolve().parent.parent / "derive" / "cells")
                    .glob("*.cell")))
    lstm = (Path(__file__).resolve().parent.parent / "derive" / "cells" / "lstm.cell"
            ).read_text(encoding="utf-8")
    print("cells  cold build  per cell")
    for extra in (0, 10, 20):
        work = Path(tempfile.mkdtemp(prefix="derive-bench-scale-"))
        cells = work / "cells"
        cells.mkdir()
        for i in range(extra):
            (cells / f"copy{i}.cell").write_text(
                lstm.replace("cell lstm\n", f"cell copy{i}\n"), encoding="utf-8")
        args = [str(exe), "site", "--out", str(work / "site")]
        if extra:
            args += ["--cells", str(cells)]
        start = time.perf_counter()
        subprocess.run(args, env={**os.environ, "DERIVE_CACHE_DIR": str(work / "cache")},
                       check=True, capture_output=True)
        took = time.perf_counter() - start
        print(f"{base + extra:5d}  {took:8.2f} s  {took / (base + extra):6.3f} s")
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
