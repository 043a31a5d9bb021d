"""A model's configurations as a table: derive's exact counts beside the paper's numbers.

The rows are the paper's own (``[[paper.row]]`` of a model file), or configurations a user
gives; each gets the exact count, the count rounded as the paper prints it, and whether
that reproduces the paper. Written through :mod:`derive.tables` as text, Markdown or
booktabs LaTeX (the closed form in the caption, the paper cited), or as JSON. Also the
model's count as a labelled LaTeX equation. Only the standard library: no SymPy.
"""

from __future__ import annotations

from derive import assemble, reported, tables
from derive.errors import ConfigError
from derive.network import Row
from derive.records import TYPE_CHECKING, record

if TYPE_CHECKING:
    from typing import Any

FORMATS = ("text", "markdown", "latex", "json")


@record
class Line:
    row: Row
    total: int
    rounded: str  # the count as the paper would print it ("" without a printed value)
    matches: bool | None  # None: nothing printed to compare with
    rounding: str


def evaluate(model: assemble.Model, rows: list[Row]) -> list[Line]:
    out = []
    for row in rows:
        try:
            result = assemble.count(model, row.config)
        except ConfigError as exc:
            where = row.label or ", ".join(f"{k}={v}" for k, v in row.config.items())
            raise ConfigError(f"row {where}: {exc.message}", exc.loc, exc.detail) from None
        total = result.total
        row = row._replace(config={k: result.config[k] for k in row.config})
        if row.printed:
            printed = reported.read(row.printed)
            value = reported.round_like(total, printed)
            out.append(Line(row, total, reported.show(value, printed), value == printed.value,
                            printed.rounding))
        else:
            out.append(Line(row, total, "", None, ""))
    return out


def _config(model: assemble.Model, row: Row) -> str:
    return ", ".join(f"{s}={row.config[s]:,}" for s in model.order if s in row.config)


def _symbols(model: assemble.Model, lines: list[Line]) -> list[str]:
    """The symbols the rows vary (the columns), in the model's order."""
    return [s for s in model.order if any(s in ln.row.config for ln in lines)]


def render(model: assemble.Model, lines: list[Line], fmt: str) -> str:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format '{fmt}'; formats are {', '.join(FORMATS)}")
    if fmt == "json":
        import json

        return json.dumps(to_json(model, lines), ensure_ascii=False)
    syms = _symbols(model, lines)
    paper = any(ln.row.printed for ln in lines)
    labels = any(ln.row.label for ln in lines)
    head = (*(("model",) if labels else ()), *syms, "derive (exact)",
            *(("derive, rounded", "paper", "reproduced") if paper else ()))
    right = set(range(int(labels), int(labels) + len(syms) + 1)) | (
        {len(head) - 3, len(head) - 2} if paper else set())
    latex = fmt == "latex"

    def cells(ln: Line) -> tuple[str, ...]:
        label = (tables.tex_text(ln.row.label) if latex else ln.row.label,) if labels else ()
        values = tuple(f"{ln.row.config[s]:,}".replace(",", "{,}" if latex else ",")
                       if s in ln.row.config else "" for s in syms)
        total = f"{ln.total:,}".replace(",", "{,}") if latex else f"{ln.total:,}"
        extra: tuple[str, ...] = ()
        if paper:
            mark = {True: "yes", False: "no", None: ""}[ln.matches]
            extra = ((tex_printed(ln.rounded), tex_printed(ln.row.printed), mark)
                     if latex else (ln.rounded, ln.row.printed, mark))
        return (*label, *values, total, *extra)

    rows = [cells(ln) for ln in lines]
    forms = model.forms()
    if fmt == "markdown":
        return "\n".join(tables.markdown(head, rows, right))
    if fmt == "text":
        out = [f"{model.net.name}: {model.net.title}"]
        if model.net.citation:
            out.append(f"source: {model.net.citation}")
        out += ["", *tables.text(head, rows, right), "",
                f"N = {forms['layers']['text']}", f"  = {forms['total']['text']}"]
        out += _notes(model, lines)
        return "\n".join(out)
    header = tuple(f"${tex_symbol(s)}$" for s in syms)
    head = (*(("Model",) if labels else ()), *header, "derive",
            *(("rounded", "paper", "reproduced") if paper else ()))
    cite = f" Paper values from \\cite{{{model.net.cite}}}" if model.net.cite and paper else ""
    rounding = sorted({ln.rounding for ln in lines if ln.rounding})
    caption = (f"Parameters of {tables.tex_text(model.net.title)}, "
               f"$N = {forms['total']['latex']}$ (exact, derived by derive)."
               + (f"{cite}; derive's count rounded as printed ({', '.join(rounding)})."
                  if paper else ""))
    return "\n".join(tables.latex(head, rows, right, caption=caption,
                                  label=f"tab:model:{model.net.name}"))


def _notes(model: assemble.Model, lines: list[Line]) -> list[str]:
    out = []
    fixed = [s for s in model.net.symbols if s.value is not None and s.name in model.total.symbols]
    if fixed:
        out.append("fixed: " + "; ".join(f"{s.name} = {s.value:,}, {s.description}"
                                          for s in fixed))
    rounding = sorted({ln.rounding for ln in lines if ln.rounding})
    if rounding:
        out.append(f"rounded: half up, {', '.join(rounding)}, as the paper prints")
    misses = [ln for ln in lines if ln.matches is False]
    if misses:
        out.append(f"not reproduced: {len(misses)} of {sum(ln.matches is not None for ln in lines)}"
                   " rows (derive's reading of the model is in 'derive models "
                   f"{model.net.name}')")
    return out


def tex_printed(text: str) -> str:
    """``≈ 169.1 × 10^3`` → ``$\\approx 169.1 \\times 10^{3}$``; others as text."""
    import re

    m = re.fullmatch(r"\s*(≈\s*)?([\d.,]+)\s*×\s*10\^\{?(\d+)\}?\s*", text)
    if m:
        approx = "\\approx " if m[1] else ""
        return f"${approx}{m[2]} \\times 10^{{{m[3]}}}$"
    return tables.tex_text(text).replace(",", "{,}")


def tex_symbol(name: str) -> str:
    from derive.printing import to_latex

    return to_latex(("sym", name), {})


def to_json(model: assemble.Model, lines: list[Line]) -> dict[str, Any]:
    forms = model.forms()
    return {"model": model.net.name, "title": model.net.title,
            "citation": model.net.citation, "cite": model.net.cite,
            "formulas": {k: forms[k] for k in ("layers", "total")},
            "rows": [{"label": ln.row.label, "config": ln.row.config, "total": ln.total,
                      **({"paper": ln.row.printed, "rounded": ln.rounded,
                          "reproduced": ln.matches, "rounding": ln.rounding,
                          "source": ln.row.source} if ln.row.printed else {})}
                     for ln in lines]}


def equation(model: assemble.Model) -> str:
    """The count as a labelled equation: by layer, then the total expanded."""
    forms = model.forms()
    name = model.net.name
    where = "; ".join(f"${tex_symbol(s.name)}$: {tables.tex_text(s.description)}"
                      for s in model.net.symbols if s.description)
    lines = [r"\begin{align}", f"  N &= {forms['layers']['latex']} "
             f"\\label{{eq:model:{name}}} \\\\", f"    &= {forms['total']['latex']} \\nonumber",
             r"\end{align}"]
    if where:
        lines.append(f"where {where}.")
    return "\n".join(lines)


def _bibtex(net: Any) -> str:
    """The model's own BibTeX, or the catalog's entry for its cite key."""
    if net.bibtex or not net.cite:
        return str(net.bibtex)
    from derive.paper import bib, bib_keys

    for entry in bib(None, everything=True).split("\n\n"):
        if bib_keys(entry)[:1] == [net.cite]:
            return entry
    from derive.network import builtin_names, read_model

    for name in builtin_names():  # a shipped model that carries the entry
        other = read_model(name)
        if other.bibtex and net.cite in bib_keys(other.bibtex):
            return str(other.bibtex).strip()
    raise ConfigError(f"model {net.name} cites '{net.cite}', which neither the model file's "
                      "bibtex nor the catalog has")


def latex_document(ref: str, standalone: bool) -> str:
    """The count as a labelled equation, the paper's rows as a table, and the citation; with
    ``standalone`` a document that compiles with pdflatex + bibtex."""
    model = assemble.assemble(ref)
    body = [equation(model), ""]
    if model.net.rows:
        body += [render(model, evaluate(model, list(model.net.rows)), "latex"), ""]
    if model.net.cite:
        body += [f"The model follows \\cite{{{model.net.cite}}}.", ""]
    if not standalone:
        return "\n".join(body)
    bibtex = _bibtex(model.net)
    name = f"derive-model-{model.net.name}"
    head = [r"\begin{filecontents*}[overwrite]{" + name + ".bib}", bibtex,
            r"\end{filecontents*}", r"\documentclass{article}", r"\usepackage{amsmath}",
            r"\usepackage{amssymb}", r"\usepackage{booktabs}", r"\begin{document}",
            f"\\section*{{{tables.tex_text(model.net.title)}}}", ""]
    tail = ([r"\bibliographystyle{plain}", f"\\bibliography{{{name}}}"] if bibtex else [])
    return "\n".join([*head, *body, *tail, r"\end{document}"]) + "\n"
