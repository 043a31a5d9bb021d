"""Time `derive count` as a whole process against counting by instantiating torch.nn.LSTM.

Both routes run as fresh processes in the same run, for the seed configuration and for a
large one; each prints its total, which must agree. Reported: median wall time, the ratio
torch/derive, and each process's peak resident memory (from wait4's rusage).

    .venv/bin/python benchmarks/count_vs_torch.py [--repeat N]

Targets (issue 2): derive at least 5x faster on the seed config and 100x on the large
one, derive's peak memory under 150 MB. The first derive run fills the cache (timed
separately as "cold").
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = {
    "seed (d=512, h=256, L=1, bidirectional)": (512, 256, 1),
    "large (d=h=4096, L=4, bidirectional)": (4096, 4096, 4),
}
TORCH = ("import torch; m = torch.nn.LSTM({d}, {h}, num_layers={L}, bidirectional=True); "
         "print(sum(p.numel() for p in m.parameters()))")


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB, stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout is not None and proc.stderr is not None
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024, out.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    exe = shutil.which("derive", path=str(Path(sys.executable).parent)) or "derive"
    cache = tempfile.mkdtemp(prefix="derive-bench-cache-")
    env = {**os.environ, "DERIVE_CACHE_DIR": cache}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; derive = {exe}")
    print(f"{'configuration':<42} {'route':<8} {'median s':>9} {'peak MB':>8} {'total':>12}")
    failures = []
    for label, (d, h, layers) in CONFIGS.items():
        derive_cmd = [exe, "count", "lstm", "-f", "pytorch", "--input-size", str(d),
                      "--hidden-size", str(h), "--num-layers", str(layers), "--bidirectional",
                      "--json"]
        cold, cold_mb, _ = run(derive_cmd, env)
        runs = [run(derive_cmd, env) for _ in range(args.repeat)]
        d_wall = statistics.median(r[0] for r in runs)
        d_mb = max(r[1] for r in runs)
        import json

        d_total = json.loads(runs[0][2])["total"]
        t_runs = [run([sys.executable, "-c", TORCH.format(d=d, h=h, L=layers)], env)
                  for _ in range(max(1, args.repeat // 2))]
        t_wall = statistics.median(r[0] for r in t_runs)
        t_mb = max(r[1] for r in t_runs)
        t_total = int(t_runs[0][2])
        print(f"{label:<42} {'derive':<8} {d_wall:>9.3f} {d_mb:>8.1f} {d_total:>12,}")
        print(f"{'':<42} {'(cold)':<8} {cold:>9.3f} {cold_mb:>8.1f}")
        print(f"{'':<42} {'torch':<8} {t_wall:>9.3f} {t_mb:>8.1f} {t_total:>12,}")
        ratio = t_wall / d_wall
        target = 5 if layers == 1 else 100
        print(f"{'':<42} ratio torch/derive = {ratio:.1f}x (target >= {target}x); "
              f"derive peak {d_mb:.0f} MB (target < 150 MB)")
        if d_total != t_total:
            failures.append(f"{label}: totals differ ({d_total} vs {t_total})")
        if ratio < target or d_mb >= 150:
            failures.append(f"{label}: target missed")
    shutil.rmtree(cache, ignore_errors=True)
    print("all targets met" if not failures else "\n".join(failures))


if __name__ == "__main__":
    main()
