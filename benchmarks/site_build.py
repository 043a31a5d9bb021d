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


if __name__ == "__main__":
    main()
