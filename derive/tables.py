"""Tables, written one way: plain text for the terminal, Markdown, and LaTeX (booktabs).

Every table derive prints goes through here: a header, rows of already formatted cells, and
which columns are numbers (right-aligned). Only the standard library: ``derive count``
prints tables.
"""

from __future__ import annotations


def text(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    """Columns padded to their widest cell, numbers right-aligned, no trailing spaces."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    return [line(header), *[line(r) for r in rows]]


def _md_cell(cell: str) -> str:
    return cell.replace("|", "\\|").replace("\n", " ")


def markdown(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    """A GitHub/MkDocs pipe table; a '|' inside a cell is escaped."""
    rule = ["---:" if i in right else "---" for i in range(len(header))]
    return ["| " + " | ".join(_md_cell(c) for c in r) + " |"
            for r in [header, tuple(rule), *rows]]


def latex(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int], *,
          caption: str, label: str, placement: str = "ht") -> list[str]:
    """A booktabs table in a float. Cells are LaTeX already (escape text with
    :func:`tex_text`)."""
    spec = "".join("r" if i in right else "l" for i in range(len(header)))
    return [f"\\begin{{table}}[{placement}]", r"  \centering", f"  \\caption{{{caption}}}",
            f"  \\label{{{label}}}", f"  \\begin{{tabular}}{{{spec}}}", r"    \toprule",
            "    " + " & ".join(header) + r" \\", r"    \midrule",
            *["    " + " & ".join(r) + r" \\" for r in rows],
            r"    \bottomrule", r"  \end{tabular}", r"\end{table}"]


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
        "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
        "×": r"$\times$", "≈": r"$\approx$", "→": r"$\to$", "−": "-", "·": r"$\cdot$"}


def tex_text(s: str) -> str:
    """Plain text made safe for LaTeX (special characters escaped, × and ≈ as math)."""
    return "".join(_TEX.get(c, c) for c in s)
