"""Time `derive flops --convention all` against running the peer tools on nn.LSTM.

Both routes are fresh processes; derive prints every convention's number at once, each
peer (thop, ptflops, torchinfo) imports torch, builds the module, runs a forward pass
and prints one. The numbers must agree (they are the tool's convention in compute.toml).

    .venv/bin/python benchmarks/flops_vs_peers.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from count_vs_torch import run

D, H, L, T, B = 512, 256, 2, 50, 8
PEERS = {
    "thop": "import torch, thop; m = torch.nn.LSTM({D}, {H}, {L}, bidirectional=True); "
            "print(int(thop.profile(m, inputs=(torch.zeros({T}, {B}, {D}),), verbose=False)[0]))",
    "torchinfo": "import torch, torchinfo; m = torch.nn.LSTM({D}, {H}, {L}, bidirectional=True); "
                 "print(torchinfo.summary(m, input_data=torch.zeros({T}, {B}, {D}), "
                 "verbose=0).total_mult_adds)",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    exe = shutil.which("derive", path=str(Path(sys.executable).parent)) or "derive"
    env = {**os.environ, "DERIVE_CACHE_DIR": tempfile.mkdtemp(prefix="derive-bench-")}
    cmd = [exe, "flops", "lstm", "-f", "pytorch", "--input-size", str(D), "--hidden-size",
           str(H), "--num-layers", str(L), "--bidirectional", "--seq-len", str(T), "--batch",
           str(B), "--convention", "all", "--json"]
    run(cmd, env)  # fill the cache
    runs = [run(cmd, env) for _ in range(args.repeat)]
    wall = statistics.median(r[0] for r in runs)
    ours = {r["convention"]: r["total"] for r in json.loads(runs[0][2])}
    print(f"nn.LSTM({D}, {H}, num_layers={L}, bidirectional), T={T}, B={B}")
    print(f"derive flops (all {len(ours)} conventions): {wall:.3f} s, "
          f"peak {max(r[1] for r in runs):.1f} MB")
    for name, code in PEERS.items():
        peer = [run([sys.executable, "-c", code.format(D=D, H=H, L=L, T=T, B=B)], env)
                for _ in range(max(1, args.repeat // 2))]
        pwall = statistics.median(r[0] for r in peer)
        got = int(peer[0][2].splitlines()[-1])
        same = "equal" if got == ours[name] else f"DIFFERENT (derive {ours[name]:,})"
        print(f"{name}: {pwall:.3f} s, peak {max(r[1] for r in peer):.1f} MB, "
              f"{got:,} ({same}); ratio {pwall / wall:.1f}x")


if __name__ == "__main__":
    main()
