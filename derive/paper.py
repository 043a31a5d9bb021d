"""Formulas into papers: labelled LaTeX, BibTeX, and the count in a paper's notation.

``latex()`` assembles the parts an author pastes: the equations in ``align`` with one
stable ``\\label{eq:CELL:VAR}`` per line, a booktabs shape table, the closed-form count (one
layer; L layers and D directions) in the chosen notation, and the citation; with
``standalone`` a complete document that embeds its ``.bib`` (filecontents) and compiles
with pdflatex + bibtex.
"""

from __future__ import annotations

import json
import re
from typing import Any

from derive import cache, catalog, tables
from derive.counting import above, convention
from derive.errors import ConfigError
from derive.export import equation_latex, mathml
from derive.infer import infer
from derive.parse import load_cell
from derive.poly import Poly
from derive.printing import closed_form_tree, poly_tree, to_json, to_latex, to_text
from derive.printing import notation as make_notation
from derive.tables import tex_text

PARTS = ("equations", "shapes", "count", "bib")


def bib_keys(bibtex: str) -> list[str]:
    return re.findall(r"@\w+\s*\{\s*([^,\s]+)\s*,", bibtex)


def forms(ref: str, framework: str = "equations", notation: str | None = None,
          symbols: dict[str, str] | None = None, bias: bool = True) -> dict[str, Any]:
    """The count formulas of a cell as trees, with the notation that prints them."""
    path = catalog.resolve(ref)
    data = cache.compiled(path)
    conv = convention(data, framework)
    order = [s["symbol"] for s in data["sizes"]]
    per_layer = Poly.from_data(conv["per_layer"]["bias" if bias else "no_bias"])
    names = make_notation(notation, data["sizes"], symbols)
    return {
        "data": data, "conv": conv, "names": names,
        "layer": poly_tree(per_layer, order),
        "total": closed_form_tree(per_layer, data["input_symbol"], above(conv), order,
                                  conv["stackable"]),
    }


def latex(ref: str, framework: str = "equations", notation: str | None = None,
          symbols: dict[str, str] | None = None, parts: tuple[str, ...] = PARTS,
          standalone: bool = False, fmt: str = "latex") -> str:
    for part in parts:
        if part not in PARTS:
            raise ConfigError(f"unknown part '{part}'; parts are {', '.join(PARTS)}")
    f = forms(ref, framework, notation, symbols)
    names, data, conv = f["names"], f["data"], f["conv"]
    if fmt == "json":
        return json.dumps({
            "cell": data["cell"], "framework": framework, "notation": names,
            **{k: {"tree": to_json(f[k], names), "text": to_text(f[k], names),
                   "latex": to_latex(f[k], names)} for k in ("layer", "total")}},
            ensure_ascii=False, indent=2)
    if fmt == "mathml":
        return "\n".join(mathml(to_latex(f[k], names), display=True) for k in ("layer", "total"))
    cell = load_cell(ref)
    d = infer(cell, framework)
    order = [s.symbol for s in cell.sizes]
    name = cell.name
    if fmt == "text":
        out = []
        if "equations" in parts:
            out += [f"({e.number}) {e.source.split(chr(34))[0].strip()}" for e in d.equations]
        if "shapes" in parts:
            out += [f"{p.name} ∈ ℝ^" + "×".join(to_text(poly_tree(s, order), names)
                                               for s in p.shape) for p in d.parameters]
        if "count" in parts:
            out.append("one layer, one direction: " + to_text(f["layer"], names))
            if conv["stackable"]:
                out.append("L layers, D directions: " + to_text(f["total"], names))
        if "bib" in parts:
            out.append("source: " + ", ".join(bib_keys(cell.bibtex)))
        return "\n".join(out) + "\n"
    if fmt != "latex":
        raise ConfigError(f"unknown format '{fmt}'; formats are latex, text, mathml, json")
    body: list[str] = []
    if "equations" in parts:
        lines = []
        for i, e in enumerate(d.equations):
            tex = equation_latex(e, d).replace(" = ", " &= ", 1)
            end = r" \\" if i < len(d.equations) - 1 else ""
            lines.append(f"  {tex} \\label{{eq:{name}:{e.key}}}{end}")
        body += [r"\begin{align}", *lines, r"\end{align}", ""]
    if "shapes" in parts:
        rows = []
        for p in d.parameters:
            shape = r" \times ".join(to_latex(poly_tree(s, order), names) for s in p.shape)
            rows.append((f"${equation_param(p.name)}$", f"$\\mathbb{{R}}^{{{shape}}}$", p.role,
                         f"${to_latex(poly_tree(p.count, order), names)}$"))
        body += [*tables.latex(
            ("Parameter", "Shape", "Role", "Count"), rows, set(),
            caption=f"Parameters of \\texttt{{{tex_text(name)}}} ({tex_text(conv['title'])}), "
                    "shapes inferred from the equations.", label=f"tab:{name}:shapes"), ""]
    if "count" in parts:
        meaning = "; ".join(f"${to_latex(('sym', s.symbol), names)}$: "
                            f"\\texttt{{{tex_text(s.keyword)}}}" for s in cell.sizes)
        body += [f"Parameters of \\texttt{{{tex_text(name)}}} as "
                 f"{tex_text(conv['title'])} stores it ({meaning}), for one layer and "
                 f"direction, Eq.~\\eqref{{eq:{name}:count-layer}}"
                 + (f", and for $L$ layers and $D$ directions, "
                    f"Eq.~\\eqref{{eq:{name}:count}}" if conv["stackable"] else "") + ":",
                 r"\begin{equation}",
                 f"  N_{{\\mathrm{{layer}}}} = {to_latex(f['layer'], names)} "
                 f"\\label{{eq:{name}:count-layer}}", r"\end{equation}"]
        if conv["stackable"]:
            body += [r"\begin{equation}", f"  N = {to_latex(f['total'], names)} "
                     f"\\label{{eq:{name}:count}}", r"\end{equation}"]
        body.append("")
    if "bib" in parts and cell.bibtex:
        body += [f"The cell follows \\cite{{{','.join(bib_keys(cell.bibtex))}}}.", ""]
    if not standalone:
        return "\n".join(body)
    bibname = f"derive-{name}"
    head = [r"\begin{filecontents*}[overwrite]{" + bibname + ".bib}", cell.bibtex,
            r"\end{filecontents*}", r"\documentclass{article}", r"\usepackage{amsmath}",
            r"\usepackage{amssymb}", r"\usepackage{booktabs}", r"\begin{document}",
            f"\\section*{{{tex_text(cell.title)}}}", ""]
    tail = [r"\bibliographystyle{plain}", f"\\bibliography{{{bibname}}}", r"\end{document}"]
    return "\n".join(head + body + (tail if "bib" in parts else [r"\end{document}"])) + "\n"


def equation_param(name: str) -> str:
    from derive.export import name_latex

    return name_latex(name, bold=True)


def bib(ref: str | None, everything: bool = False) -> str:
    if everything:
        seen: dict[str, str] = {}
        for n in catalog.builtin_names():
            text = load_cell(n).bibtex
            for entry in re.split(r"\n(?=@)", text.strip()):
                keys = bib_keys(entry)
                if keys and keys[0] not in seen:
                    seen[keys[0]] = entry.strip()
        return "\n\n".join(seen[k] for k in sorted(seen)) + "\n"
    if ref is None:
        raise ConfigError("derive bib takes a cell, or --all")
    return load_cell(ref).bibtex.strip() + "\n"
