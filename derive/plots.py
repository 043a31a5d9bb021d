"""Exports: plots drawn at build time to SVG, byte-for-byte deterministic.

Every point is an exact count from :mod:`derive.counting` / :mod:`derive.costing`; the
plot only draws them. Text is drawn as paths (no font is needed to view the SVG), the
SVG's ids are salted with a constant and the date is left out, so two builds give the same
bytes.
"""

from __future__ import annotations

import io
from typing import Any

HIDDEN = [2 ** k for k in range(4, 13)]  # 16 … 4096
INPUT = 512


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.hashsalt": "derive", "svg.fonttype": "path",
                                "font.size": 9, "path.simplify": False})
    fig, ax = plt.subplots(figsize=(7.0, 4.2), dpi=100)
    return plt, (fig, ax)


def _svg(plt: Any, fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": "derive"},
                bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _framework(data: dict[str, Any]) -> str:
    return "pytorch" if "pytorch" in data["conventions"] else "equations"


def series(cells: list[dict[str, Any]], what: str) -> list[tuple[str, list[int]]]:
    """(label, values over HIDDEN) per cell; ``what`` is ``params`` or a compute convention."""
    from derive.costing import flops
    from derive.counting import count

    out = []
    for data in cells:
        sizes = {s["keyword"] for s in data["sizes"]}
        if not sizes <= {"input_size", "hidden_size"} or data.get("derived"):
            continue  # cells with other sizes (lstmp's p) or forced ones have no such curve
        fw = _framework(data)
        values = []
        for h in HIDDEN:
            if what == "params":
                values.append(count(data["path"], fw, input_size=INPUT, hidden_size=h).total)
            else:
                values.append(flops(data["path"], fw, what, input_size=INPUT,
                                    hidden_size=h).total)
        out.append((f"{data['cell']} ({fw})", values))
    return out


def line_plot(lines: list[tuple[str, list[int]]], ylabel: str, title: str) -> str:
    plt, (fig, ax) = _figure()
    markers = "os^vD<>ph*"
    for i, (label, values) in enumerate(lines):
        ax.plot(HIDDEN, [float(v) for v in values], marker=markers[i % len(markers)],
                markersize=3.5, linewidth=1.2, label=label)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(HIDDEN, [str(h) for h in HIDDEN])
    ax.set_xlabel(f"hidden_size h (input_size d = {INPUT}, one layer, one direction)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=8, frameon=False)
    return _svg(plt, fig)
