"""The reference site: derive every cell, render the Jinja2 templates, run MkDocs.

``build()`` reads as the pipeline: derive (engine) → render (templates only lay out) →
mkdocs build --strict → swap into place. The build is atomic (a failure leaves the
previous site untouched) and deterministic (no timestamps; SOURCE_DATE_EPOCH is fixed).
"""

from __future__ import annotations

import html
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from derive import cache, catalog, costing, jscode, plots
from derive.conventions import gate_order
from derive.counting import above, above_text, count, example_sizes
from derive.diagram import diagram_svg
from derive.errors import DeriveError
from derive.export import equation_latex, mathml, name_latex, poly_latex, shape_latex
from derive.infer import infer
from derive.model import Cell
from derive.paper import bib, forms, latex
from derive.parse import parse_cell
from derive.poly import Poly
from derive.printing import poly_tree, to_latex, upper_tree

REPO = Path(__file__).resolve().parent.parent
FIXED_EPOCH = "315532800"  # 1980-01-01: pages carry no build date
EXAMPLES = [  # (input_size, hidden_size, num_layers, bidirectional)
    (512, 256, 1, False), (512, 256, 1, True), (512, 256, 2, True), (1024, 1024, 4, True)]


def templates_dir() -> Path:
    """Templates ship inside the wheel as derive/templates; in a checkout they are top-level."""
    packaged = Path(__file__).resolve().parent / "templates"
    return packaged if packaged.is_dir() else REPO / "templates"


# ------------------------------------------------------------------ derive


def _math(latex: str, display: bool = False) -> dict[str, str]:
    return {"latex": latex, "mathml": mathml(latex, display)}


def _poly_latex(poly: Poly, order: list[str]) -> str:
    """A difference of counts, factored and ordered as `derive latex` prints counts."""
    return to_latex(poly_tree(poly, order), {})


def _example_counts(name: str, framework: str, stackable: bool) -> list[dict[str, Any]]:
    rows = []
    base = example_sizes(cache.compiled(catalog.resolve(name)))
    for d, h, layers, bidir in EXAMPLES:
        if not stackable and (layers > 1 or bidir):
            continue  # a single-cell API: one layer, one direction
        sizes: dict[str, int] = dict(base)
        if "input_size" in sizes:
            sizes["input_size"] = d
        if "hidden_size" in sizes:
            sizes["hidden_size"] = h
        if "proj_size" in sizes:
            sizes["proj_size"] = h // 4
        try:
            r = count(name, framework, num_layers=layers, bidirectional=bidir, **sizes)
        except DeriveError:
            continue  # e.g. a stack the cell's own requirements rule out
        rows.append({"config": ", ".join(f"{k}={v}" for k, v in sizes.items())
                     + f", num_layers={layers}, bidirectional={bidir}",
                     "sizes": ", ".join(f"{k}={v}" for k, v in sizes.items()),
                     "layers": layers, "bidirectional": bidir,
                     "total": r.total, "total_text": f"{r.total:,}"})
    return rows


def _anchor(kind: str, name: str) -> str:
    """An HTML id for a parameter or convention: ``derivation-W_hi``; names with Greek
    letters or accents stay readable (ids may hold any character but spaces)."""
    import unicodedata

    text = unicodedata.normalize("NFC", f"{kind}-{name}")
    return "".join(ch if ch.isalnum() or ch in "-_" else f"-{ord(ch):x}" for ch in text)


def _stored_at_example(path: str, framework: str) -> dict[str, Any] | None:
    """The stored tensors of one layer and direction at the page's example sizes."""
    data = cache.compiled(Path(path))
    sizes = example_sizes(data)
    keyword = {s["symbol"]: s["keyword"] for s in data["sizes"]}
    for req in data["conventions"][framework]["requires"]:  # d == h under this convention
        left, right = Poly.from_data(req["left"]), Poly.from_data(req["right"])
        if req["op"] == "==" and len(left.symbols) == 1 and len(right.symbols) == 1 \
                and len(left.terms) == len(right.terms) == 1:
            sizes[keyword[next(iter(left.symbols))]] = sizes[keyword[next(iter(right.symbols))]]
    try:
        r = count(path, framework, **sizes)
    except DeriveError:
        return None  # sizes this convention does not allow (e.g. input = hidden required)
    return {"sizes": ", ".join(f"{k}={v}" for k, v in sizes.items()), "total": f"{r.total:,}",
            "tensors": [{"name": t.name, "shape": t.shape_text, "count": f"{t.count:,}"}
                        for t in r.tensors]}


def cell_context(cell: Cell, path: Path) -> dict[str, Any]:
    """Everything a cell page shows, derived; the template only lays it out."""
    data = cache.compiled(path)
    base = infer(cell)
    sizes = {s.symbol: s for s in cell.sizes}
    equations = [{"number": e.number, "label": e.label, "source": e.source.split('"')[0].strip(),
                  **_math(equation_latex(e, base), display=True)} for e in base.equations]
    variables = [{"name": v.name, "kind": v.kind, "description": v.description,
                  "size": _math(shape_latex(v.shape).removeprefix(r"\mathbb{R}^{")[:-1]
                                if len(v.shape) > 1 else poly_latex(v.size)),
                  "sym": _math(name_latex(v.name))} for v in base.variables]
    parameters = []
    for p in base.parameters:
        parameters.append({
            "name": p.name, "role": p.role, "multiplies": p.multiplies,
            "anchor": _anchor("derivation", p.name),
            "shape": _math(shape_latex(p.shape)), "count": _math(poly_latex(p.count)),
            "dims": [{"axis": t.axis, "value": str(t.value),
                      "steps": [{"left": s.left, "right": s.right, "reason": s.reason}
                                for s in t.steps]} for t in p.traces]})
    conventions = []
    order = [s.symbol for s in cell.sizes]
    eq_layer = Poly.from_data(data["conventions"]["equations"]["per_layer"]["bias"])
    for name, conv in data["conventions"].items():
        deriv = base if name == "equations" else infer(cell, name)
        spec = cell.convention(name)
        per_layer = Poly.from_data(conv["per_layer"]["bias"])
        diff = per_layer - eq_layer
        tensors = []
        for t in conv["tensors"]:
            shape = tuple(Poly.from_data(s) for s in t["shape"])
            if conv["direction_axis"]:
                shape = (Poly.symbol("D"), *shape)
            n = Poly.product(shape)
            gates = gate_order(deriv, list(t["parts"])) if len(t["parts"]) > 1 else []
            tensors.append({"name": t["name"], "parts": ", ".join(t["parts"]),
                            "shape": _math(shape_latex(shape)), "count": _math(poly_latex(n)),
                            "gates": ", ".join(gates)})
        f = forms(str(path), name)
        upper = upper_tree(per_layer, data["input_symbol"], above(conv), order)
        no_bias = forms(str(path), name, bias=False)["layer"]
        texts = {"layer": to_latex(f["layer"], f["names"]), "total": to_latex(f["total"],
                 f["names"]), "upper": to_latex(upper, f["names"]),
                 "no_bias": to_latex(no_bias, f["names"])}
        conventions.append({
            "name": name, "title": conv["title"], "note": conv["note"],
            "anchor": _anchor("convention", name),
            "equations": [] if spec is None or spec.equations is None else [
                {"number": e.number, **_math(equation_latex(e, deriv), display=True)}
                for e in deriv.equations],
            "tensors": tensors,
            "layer": _math(texts["layer"], display=True),
            "upper": _math(texts["upper"], display=True),
            "above_text": above_text(conv),
            "total": _math(texts["total"], display=True),
            "no_bias": _math(texts["no_bias"], display=True),
            "stackable": conv["stackable"],
            "diff": None if name == "equations" or diff.is_zero
            else _math(_poly_latex(diff, order)),
            "diff_sign": "more" if diff.is_zero or diff.terms[0][0] > 0 else "fewer",
            "examples": _example_counts(str(path), name, conv["stackable"]),
            "stored": _stored_at_example(str(path), name),
        })
    layers = {c["name"]: Poly.from_data(data["conventions"][c["name"]]["per_layer"]["bias"])
              for c in conventions if c["stackable"]}
    names = list(layers)
    differences = [{"a": a, "b": b, **_math(_poly_latex(layers[a] - layers[b], order))}
                   for i, a in enumerate(names) for b in names[i + 1:]
                   if not (layers[a] - layers[b]).is_zero]
    return {
        "name": cell.name, "title": cell.title, "description": cell.description,
        "family": cell.family, "differences": differences,
        "diagram": diagram_svg(cell, base),
        "path": str(path),
        "paper_framework": "pytorch" if cell.convention("pytorch") else "equations",
        "bibtex": cell.bibtex,
        "sizes": [{"symbol": s.symbol, "keyword": s.keyword, "description": s.description,
                   "sym": _math(poly_latex(Poly.symbol(s.symbol)))} for s in sizes.values()],
        "equations": equations, "variables": variables, "parameters": parameters,
        "align": latex(str(path), parts=("equations",)).strip().splitlines(),
        "conventions": conventions,
        "output": cell.output,
        "source": catalog.read(path),
    }


FAMILIES = [("elman", "Elman RNNs"), ("lstm", "LSTM and its variants"),
            ("gru", "GRU and its variants"), ("convolutional", "Convolutional cells"),
            ("modern", "Modern cells: minimal, parallel and exponential-gated")]
BASES = ("rnn", "lstm", "gru")  # each family's table starts with the cell the others vary
# the conventions page: the cells readers look up first
READER_ORDER = ("lstm", "gru", "rnn", "lstmp", "gru-reset-before", "lstm-peephole",
                "lstmp-peephole", "convlstm2d", "convlstm1d", "convlstm3d")


def _example(conv: dict[str, Any], layers: int, bidirectional: bool) -> dict[str, Any] | None:
    return next((e for e in conv["examples"]
                 if (e["layers"], e["bidirectional"]) == (layers, bidirectional)), None)


def overview_context(cells: list[dict[str, Any]]) -> dict[str, Any]:
    rows = []
    for c in cells:
        by = {conv["name"]: conv for conv in c["conventions"]}
        own = _example(by["equations"], 1, False)
        convs = []
        for k, v in by.items():
            one, two = _example(v, 1, False), _example(v, 1, True)
            if one is not None:
                convs.append({"name": k, "layer": v["layer"], "one": one["total_text"],
                              "total": two["total_text"] if two else "— (one direction only)"})
        rows.append({"name": c["name"], "title": c["title"], "layer": by["equations"]["layer"],
                     "family": c["family"], "conventions": convs,
                     "sizes": own["sizes"] if own else "", "seed": own["total"] if own else 0})
    rows.sort(key=lambda r: (r["name"] not in BASES, r["seed"], r["name"]))
    families = [{"name": name, "title": title,
                 "rows": [r for r in rows if r["family"] == name]} for name, title in FAMILIES]
    other = [r for r in rows if r["family"] not in dict(FAMILIES)]
    if other:
        families.append({"name": "other", "title": "Other cells", "rows": other})
    return {"families": [f for f in families if f["rows"]], "config": EXAMPLES[1]}


# ------------------------------------------------------------------ render


def environment() -> Any:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["h"] = lambda s: html.escape(str(s), quote=True)
    env.filters["notation"] = notation_html
    env.filters["fenced"] = fenced
    # a long tensor name may wrap after '/' or '.', never inside a word
    env.filters["breakable"] = lambda s: html.escape(str(s)).replace("/", "/<wbr>").replace(
        ".", ".<wbr>")
    return env


def fenced(text: str, lang: str = "text") -> str:
    """A fenced code block that no run of backticks in ``text`` can close early (a cell's
    source or BibTeX is user text: it must stay code, never become HTML).

    >>> fenced("a ``` b", "text").splitlines()[0]
    '````text'
    """
    import re

    longest = max((len(m) for m in re.findall(r"`+", str(text))), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text}\n{fence}"


def notation_html(text: str) -> str:
    """Escape, then set the cell language's subscripts as HTML: h_{t-1} → h<sub>t−1</sub>.

    >>> notation_html("W_hi multiplies h_{t-1} ∈ ℝ^h")
    'W<sub>hi</sub> multiplies h<sub>t−1</sub> ∈ ℝ<sup>h</sup>'
    >>> notation_html("i'_t and h̃_t")
    'i&#x27;<sub>t</sub> and h̃<sub>t</sub>'
    """
    import re

    out = html.escape(str(text), quote=True)
    # after a letter, a prime (escaped) or a combining accent (h̃_t)
    after = r"(?:(?<=[^\W_])|(?<=&#x27;)|(?<=[\u0300-\u036f]))"
    out = re.sub(after + r"_\{([^{}]+)\}",
                 lambda m: f"<sub>{m[1].replace('-', '−')}</sub>", out)
    out = re.sub(after + r"_([^\W_]+)", r"<sub>\1</sub>", out)
    out = re.sub(r"ℝ\^\{([^{}]+)\}|ℝ\^([^\W_]+)", lambda m: f"ℝ<sup>{m[1] or m[2]}</sup>", out)
    return out


# ------------------------------------------------------------------ build


@contextmanager
def _step(label: str, say: Callable[[str], None]) -> Iterator[None]:
    start = time.perf_counter()
    say(f"{label} ...")
    yield
    say(f"{label}: {time.perf_counter() - start:.2f} s")


def _load(paths: list[Path]) -> list[tuple[Cell, Path]]:
    out = []
    for path in paths:
        out.append((parse_cell(catalog.read(path), catalog.display(path)), path))
    return out


RECONCILE = [  # (title, cell, sizes): PyTorch modules the peer tests run
    ("nn.LSTM(10, 20)", "lstm", {"input_size": 10, "hidden_size": 20}),
    ("nn.LSTM(10, 20, proj_size=5)", "lstmp", {"input_size": 10, "hidden_size": 20,
                                              "proj_size": 5}),
    ("nn.GRU(10, 20)", "gru", {"input_size": 10, "hidden_size": 20}),
    ("nn.RNN(10, 20)", "rnn", {"input_size": 10, "hidden_size": 20}),
]


def _weights_text(conv: dict[str, Any]) -> str:
    parts = []
    for kind in costing.KINDS:
        w = conv.get(kind)
        if isinstance(w, dict):
            parts.append(f"{kind}: " + ", ".join(f"{k} ×{v}" for k, v in w.items()))
        elif w:
            parts.append(f"{kind} ×{w}")
    for term, w in conv.get("terms", {}).items():
        parts.append(f"the term {term} ×{w}")
    return "; ".join(parts)


COMPARISONS = [  # the cells readers put side by side, at the same sizes
    ("LSTM, GRU and the Elman RNN", ("lstm", "gru", "rnn")),
    ("The LSTM, Greff et al.'s vanilla LSTM and the coupled gates", ("lstm", "greff-v", "cifg")),
    ("Fewer gates: GRU, MGU and minGRU", ("gru", "mgu", "mingru")),
    ("Exponential gating: LSTM, sLSTM and mLSTM", ("lstm", "slstm", "mlstm")),
]
MATCH_BASE = ("lstm", {"input_size": 512, "hidden_size": 256})


def compare_context(contexts: list[dict[str, Any]]) -> dict[str, Any]:
    """Cells side by side at the same sizes, and every cell sized to the LSTM's count."""
    from derive.budget import match

    by_name = {c["name"]: c for c in contexts}
    groups = []
    for title, names in COMPARISONS:
        if not all(n in by_name for n in names):
            continue
        cols = []
        for n in names:
            c = by_name[n]
            sizes = {**example_sizes(cache.compiled(Path(c["path"]))), **MATCH_BASE[1]}
            sizes = {k: v for k, v in sizes.items()
                     if k in {s["keyword"] for s in c["sizes"]}}
            r = count(c["path"], **sizes)
            f = costing.flops(c["path"], "equations", "flops", **sizes)
            m = costing.memory(c["path"], "equations", **sizes)
            cols.append({"name": n, "title": c["title"], "equations": c["equations"],
                         "layer": next(v["layer"] for v in c["conventions"]
                                       if v["name"] == "equations"),
                         "sizes": ", ".join(f"{k}={v}" for k, v in sizes.items()),
                         "total": f"{r.total:,}", "flops": f"{f.per_step:,}",
                         "kept": f"{m.kept_per_step:,}"})
        groups.append({"title": title, "cells": cols})
    base, sizes = MATCH_BASE
    plain = [c["name"] for c in contexts if c["name"] != base
             and {s["keyword"] for s in c["sizes"]} <= {"input_size", "hidden_size"}
             and not cache.compiled(Path(c["path"])).get("derived")]
    target, matches = match(base, [by_name[n]["path"] for n in plain], **sizes)
    rows = sorted(({"name": by_name[m.cell]["name"], "h": m.value, "total": f"{m.total:,}",
                    "difference": f"{m.difference:+,}"} for m in matches),
                  key=lambda r: (-r["h"], r["name"]))
    return {"groups": groups, "base": base, "base_sizes": ", ".join(
        f"{k}={v}" for k, v in sizes.items()), "target": f"{target:,}", "matches": rows}


def compute_context() -> dict[str, Any]:
    """The compute conventions and each peer's number for a few PyTorch modules."""
    conventions = []
    for name in costing.conventions():
        c = costing.compute_convention(name)
        conventions.append({"name": name, "title": c.get("title", name),
                            "summary": c.get("summary", ""), "tool": c.get("tool", ""),
                            "bugs": [b["text"] for b in c.get("bug", [])],
                            "weights": _weights_text(c)})
    reconciliation = []
    for title, cell, sizes in RECONCILE:
        data = cache.compiled(catalog.resolve(cell))
        order = [s["symbol"] for s in data["sizes"]]
        macs = costing.flops(cell, "pytorch", "macs", **sizes).step
        ops = data["conventions"]["pytorch"]["ops"]
        rows = []
        for c in conventions:
            f = costing.flops(cell, "pytorch", c["name"], **sizes)
            diff = f.step - macs
            bug = costing.bug_poly(ops, costing.compute_convention(c["name"]), True)
            rows.append({"name": c["name"], "total": f"{f.total:,}",
                         "printed": f"{f.printed:,}" if f.printed != f.total else "",
                         "step": _math(_poly_latex(f.step, order)),
                         "diff": None if diff.is_zero else _math(_poly_latex(diff, order)),
                         "bug": None if bug.is_zero else _math(_poly_latex(bug, order))})
        reconciliation.append({"title": title, "rows": rows})
    seed = dict(RECONCILE[0][2])
    printed: dict[int, list[str]] = {}
    for c in conventions:
        if c["tool"]:
            printed.setdefault(costing.flops("lstm", "pytorch", c["name"], **seed).printed,
                               []).append(c["name"])
    shown = [f"{n:,} ({', '.join(names)})" for n, names in printed.items()]
    return {"conventions": conventions, "reconciliation": reconciliation,
            "lstm_macs": f"{costing.flops('lstm', 'pytorch', 'macs', **seed).total:,}",
            "lstm_printed": ", ".join(shown[:-1]) + " or " + shown[-1],
            "input_size": plots.INPUT, "params_svg": "assets/plots/params.svg",
            "flops_svg": "assets/plots/flops.svg"}


def build(out: Path = Path("site"), cells_dir: Path | None = None, quiet: bool = False) -> None:
    """Build the site into ``out``; ``cells_dir`` adds the user's ``*.cell`` files."""
    say: Callable[[str], None] = (lambda _: None) if quiet else (
        lambda m: print(m, file=sys.stderr))
    out = Path(out).resolve()
    _check_out(out)
    paths = [catalog.resolve(n) for n in catalog.builtin_names()]
    if cells_dir is not None:
        user = sorted(Path(cells_dir).glob("*.cell"))
        if not user:
            raise DeriveError(f"no .cell files in {cells_dir}")
        paths += user
    env = environment()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".derive-site-", dir=out.parent))
    try:
        with _step(f"derive {len(paths)} cells", say):
            contexts = derive_cells(paths)
        docs = work / "docs"
        with _step("render pages", say):
            _render(env, docs, contexts)
        with _step("mkdocs build --strict", say):
            _mkdocs(docs, work / "site")
        (work / "site" / MARKER).write_text(MARKER_TEXT, encoding="utf-8")
        _check_out(out)  # again: nothing may have appeared there while the site was built
        _swap(work / "site", out)
        say(f"site written to {out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def model_context(name: str) -> dict[str, Any]:
    """A shipped model's page: its closed forms, layers, and the paper's rows beside derive's."""
    from derive import assemble, tabulate

    model = assemble.assemble(name)
    net = model.net
    forms = model.forms()
    lines = tabulate.evaluate(model, list(net.rows))
    columns = tabulate._symbols(model, lines)
    order = model.order

    def math(poly: Poly) -> dict[str, str]:
        return _math(to_latex(poly_tree(poly, order), {}))

    return {
        "name": net.name, "title": net.title, "citation": net.citation, "cite": net.cite,
        "description": " ".join(net.description.split()), "notes": " ".join(net.notes.split()),
        "paper_note": " ".join(net.paper_note.split()), "source": net.text.rstrip("\n"),
        "by_layer": _math("N = " + forms["layers"]["latex"], True),
        "total": _math("N = " + forms["total"]["latex"], True),
        "symbols": [{"name": sym.name, "math": _math(tabulate.tex_symbol(sym.name)),
                     "description": sym.description,
                     "value": f"{sym.value:,}" if sym.value is not None else ""}
                    for sym in net.symbols],
        "layers": [{"name": a.layer.name, "summary": a.summary, "reads": math(a.input),
                    "gives": math(a.output), "formula": _math(forms[a.layer.name]["latex"])}
                   for a in model.layers],
        "columns": [_math(tabulate.tex_symbol(c)) for c in columns],
        "labels": any(ln.row.label for ln in lines),
        "rows": [{"label": ln.row.label, "total": f"{ln.total:,}", "rounded": ln.rounded,
                  "paper": ln.row.printed,
                  "reproduced": {True: "yes", False: "**no**", None: ""}[ln.matches],
                  "cells": [f"{ln.row.config[c]:,}" if c in ln.row.config else ""
                             for c in columns]} for ln in lines],
        "rounding": ", ".join(sorted({ln.rounding for ln in lines if ln.rounding})) or "none",
        "misses": sum(ln.matches is False for ln in lines),
        "reproduced": sum(ln.matches is True for ln in lines),
        "requires": [r.text for r in model.requires],
        "model": model,
    }


def derive_cells(paths: list[Path]) -> list[dict[str, Any]]:
    cells = _load(paths)
    names = [c.name for c, _ in cells]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise DeriveError(f"two cells are named {', '.join(sorted(dup))}")
    return [cell_context(c, p) for c, p in cells]


def render_docs(env: Any, docs: Path, cells_dir: Path | None = None) -> None:
    """Only the Markdown (for golden tests and inspection): derive, then render into docs."""
    paths = [catalog.resolve(n) for n in catalog.builtin_names()]
    if cells_dir is not None:
        paths += sorted(Path(cells_dir).glob("*.cell"))
    _render(env, docs, derive_cells(paths))


def _render(env: Any, docs: Path, contexts: list[dict[str, Any]]) -> None:
    (docs / "cells").mkdir(parents=True)
    shutil.copytree(templates_dir() / "assets", docs / "assets")
    (docs / "downloads").mkdir()
    for ctx in contexts:
        (docs / "downloads" / f"{ctx['name']}.tex").write_text(
            latex(ctx["path"], ctx["paper_framework"], standalone=True), encoding="utf-8")
        (docs / "downloads" / f"{ctx['name']}.bib").write_text(bib(ctx["path"]),
                                                               encoding="utf-8")
        text = env.get_template("cell.md.j2").render(cell=ctx)
        (docs / "cells" / f"{ctx['name']}.md").write_text(text, encoding="utf-8")
    overview = overview_context(contexts)
    from derive.questions import questions_context

    questions = questions_context()
    pages = {"index.md": env.get_template("overview.md.j2").render(
        cells=contexts, seed=questions["seed"], **overview)}
    pages["questions.md"] = env.get_template("questions.md.j2").render(**questions)
    stored = [c for c in contexts if len(c["conventions"]) > 1]  # cells frameworks store
    first = {n: i for i, n in enumerate(READER_ORDER)}
    stored.sort(key=lambda c: (first.get(c["name"], len(first)),
                               [f for f, _ in FAMILIES].index(c["family"])
                               if c["family"] in dict(FAMILIES) else len(FAMILIES), c["name"]))
    pages["conventions.md"] = env.get_template("conventions.md.j2").render(cells=stored)
    pages["compare.md"] = env.get_template("compare.md.j2").render(**compare_context(contexts))
    from derive import network, tabulate

    models = [model_context(n) for n in network.builtin_names()]
    (docs / "models").mkdir()
    (docs / "downloads" / "models").mkdir()
    for mc in models:
        (docs / "models" / f"{mc['name']}.md").write_text(
            env.get_template("model.md.j2").render(model=mc), encoding="utf-8")
        (docs / "downloads" / "models" / f"{mc['name']}.tex").write_text(
            tabulate.latex_document(mc["name"], standalone=True), encoding="utf-8")
    (docs / "models" / "index.md").write_text(
        env.get_template("models.md.j2").render(models=models), encoding="utf-8")
    compiled = [dict(cache.compiled(Path(c["path"])), path=c["path"]) for c in contexts]
    (docs / "assets" / "calc-data.js").write_text(
        jscode.module(compiled, tuple(mc["model"] for mc in models)), encoding="utf-8")
    (docs / "assets" / "plots").mkdir()
    params, flops_lines = plots.series(compiled, "params"), plots.series(compiled, "flops")
    (docs / "assets" / "plots" / "params.svg").write_text(plots.line_plot(
        params, "parameters", "Parameters of one layer"), encoding="utf-8")
    (docs / "assets" / "plots" / "flops.svg").write_text(plots.line_plot(
        flops_lines, "FLOPs per step (convention flops)", "Compute of one step, one layer"),
        encoding="utf-8")
    pages["compute.md"] = env.get_template("compute.md.j2").render(
        **compute_context(), params_shared=plots.coinciding(params),
        flops_shared=plots.coinciding(flops_lines))
    for name, text in pages.items():
        (docs / name).write_text(text, encoding="utf-8")
    families = overview["families"]
    cells_nav = [{f["title"]: [f"cells/{r['name']}.md" for r in f["rows"]]} for f in families]
    nav = [{"Overview": "index.md"}, {"Questions": "questions.md"},
           {"Conventions": "conventions.md"}, {"Compare": "compare.md"},
           {"Compute": "compute.md"}, {"Cells": cells_nav},
           {"Models": ["models/index.md", *(f"models/{mc['name']}.md" for mc in models)]}]
    (docs / ".nav").write_text(json.dumps(nav, ensure_ascii=False), encoding="utf-8")


def _mkdocs(docs: Path, site_dir: Path) -> None:
    os.environ.setdefault("SOURCE_DATE_EPOCH", FIXED_EPOCH)
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    import logging

    from mkdocs.commands.build import build as mkdocs_build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    nav = json.loads((docs / ".nav").read_text(encoding="utf-8"))
    (docs / ".nav").unlink()
    config = load_config(config_file=str(templates_dir() / "mkdocs.yml"), docs_dir=str(docs),
                         site_dir=str(site_dir), strict=True, nav=nav)
    try:
        mkdocs_build(config)
    except (MkDocsException, SystemExit) as exc:
        raise DeriveError(f"mkdocs build failed: {exc}") from None


MARKER = ".derive-site"
MARKER_TEXT = "This folder was built by `derive site`; a rebuild replaces all of it.\n"


def _check_out(out: Path) -> None:
    """``derive site`` replaces its output folder whole, so it only ever replaces a folder
    it built (marked), or an empty one: never a user's files."""
    if not out.exists():
        return
    if not out.is_dir():
        raise DeriveError(f"{out} is a file; derive site writes a folder there")
    legacy = out / "assets" / "calc-data.js"  # a build of derive before the marker
    ours = (out / MARKER).is_file() or (
        legacy.is_file() and legacy.read_bytes().startswith(b"// Generated by derive"))
    if any(out.iterdir()) and not ours:
        raise DeriveError(f"{out} is not empty and was not built by derive site; it would be "
                          "replaced whole, so derive refuses (choose another --out, or empty "
                          "it yourself)")


def _swap(new: Path, out: Path) -> None:
    """Replace ``out`` by ``new`` with renames: readers never see a half-written site."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
    new.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
