"""Cold derivation cost against the number of equations: synthetic cells of 4 → 2048 gates.

    .venv/bin/python benchmarks/derivation_cost.py

Each cell has n gates ``g_i = σ(W_i x_t + U_i h_{t-1} + b_i)`` and a state that multiplies
them all elementwise (one Hadamard chain of n factors). For each n it times, in this process,
the whole derivation a cold ``derive count`` runs (parse → shapes → conventions → compiled
form with closed forms), best of three, and reading every parameter's trace (the chains are
built lazily, so this is reported apart). Target (issues 9 and 13): no worse than linear —
the time per gate stays flat as n grows.
"""

from __future__ import annotations

import time

from derive.compile import compile_cell
from derive.infer import infer
from derive.parse import parse_cell


def synthetic(n: int) -> str:
    gates = "\n".join(f"  g{i}_t = σ(W_{i} x_t + U_{i} h_{{t-1}} + b_{i})" for i in range(n))
    chain = " ⊙ ".join(f"g{i}_t" for i in range(n))
    return ("cell synthetic\nsize d = input_size\nsize h = hidden_size\ninput x_t ∈ ℝ^d\n"
            f"state h_t ∈ ℝ^h\n\nequations\n{gates}\n  h_t = tanh({chain})\n")


def best(fn: object, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print(f"{'gates':>6} {'derive (s)':>11} {'µs/gate':>9} {'traces (s)':>11} {'µs/gate':>9}")
    first = None
    for n in (4, 16, 64, 256, 1024, 2048):
        text = synthetic(n)
        t = best(lambda text=text: compile_cell(parse_cell(text, "synthetic.cell")))
        der = infer(parse_cell(text, "synthetic.cell"))
        start = time.perf_counter()
        steps = sum(len(tr.steps) for p in der.parameters for tr in p.traces)
        traces = time.perf_counter() - start
        per = t / n * 1e6
        first = first or per
        print(f"{n:>6} {t:>11.3f} {per:>9.0f} {traces:>11.3f} {traces / n * 1e6:>9.0f}"
              f"   ({steps} trace steps; per gate ×{per / first:.2f} of n=4)")


if __name__ == "__main__":
    main()
