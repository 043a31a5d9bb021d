"""Exports: plots drawn at build time to SVG, byte-for-byte deterministic.

Every point is an exact count from :mod:`derive.counting` / :mod:`derive.costing`; the
plot only draws them. Text is drawn as paths (no font is needed to view the SVG), the
SVG's ids are salted with a constant and the date is left out, so two builds give the same
bytes.
"""

from __future__ import annotations

import io
import textwrap
from typing import Any

HIDDEN = [2 ** k for k in range(4, 13)]  # 16 … 4096
INPUT = 512


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams.update({"svg.hashsalt": "derive", "svg.fonttype": "path",
                                "font.size": 9, "path.simplify": False})
    fig, ax = plt.subplots(figsize=(9.0, 4.6), dpi=100)
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
    """(label, values over HIDDEN), one line per distinct curve: cells whose counts are the
    same at every point share one line, labelled with all of them (see :func:`coinciding`).
    ``what`` is ``params`` or a compute convention."""
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
        out.append((data["cell"] if fw == "equations" else f"{data['cell']} ({fw})", values))
    grouped: dict[tuple[int, ...], list[str]] = {}
    for label, values in out:
        grouped.setdefault(tuple(values), []).append(label)
    return [(", ".join(labels), list(values)) for values, labels in grouped.items()]


def coinciding(lines: list[tuple[str, list[int]]]) -> list[str]:
    """The labels of lines that stand for several cells (their counts are equal)."""
    return [label for label, _ in lines if ", " in label]


def line_plot(lines: list[tuple[str, list[int]]], ylabel: str, title: str) -> str:
    plt, (fig, ax) = _figure()
    markers = "os^vD<>ph*"
    dashes = ["-", "--", ":", "-."]
    for i, (label, values) in enumerate(lines):  # marker and dash both vary: no two alike
        ax.plot(HIDDEN, [float(v) for v in values], marker=markers[i % len(markers)],
                linestyle=dashes[(i // len(markers)) % len(dashes)], markersize=3.5,
                linewidth=1.2, label=textwrap.fill(label, 34))
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(HIDDEN, [str(h) for h in HIDDEN])
    ax.set_xlabel(f"hidden_size h (input_size d = {INPUT}, one layer, one direction)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", linewidth=0.4, alpha=0.6)
    ax.legend(fontsize=6.5, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _svg(plt, fig)
