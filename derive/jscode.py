"""Exports: the calculator's formulas as JavaScript over BigInt.

Each closed form is printed straight from its exact polynomial: every integer a BigInt
literal (``4n``), every power ``**``, so counts stay exact past 2^53 in the browser.
Sizes are read from an object ``s`` (``s["h"]``). Nothing here is hand-written per cell:
the expressions are the same closed forms the CLI prints. (SymPy's JavaScript printer did
this before; printing the polynomial directly is what made the site build fast.)
"""

from __future__ import annotations

import json
from typing import Any

from derive import costing
from derive.counting import above, example_sizes, stack_poly
from derive.poly import Poly

_SUB = dict(zip("0123456789+-−()aehijklmnoprstuvx", "₀₁₂₃₄₅₆₇₈₉₊₋₋₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓ",
                strict=True))


def unicode_subscripts(text: str) -> str:
    """``1 − z_t`` → ``1 − zₜ``, ``h_{t-1}`` → ``hₜ₋₁`` for text the calculator shows as plain
    text (no markup); a subscript with a letter Unicode lacks stays as written.

    >>> unicode_subscripts("not 1 − z_t, nor h_{t-1}")
    'not 1 − zₜ, nor hₜ₋₁'
    """
    import re

    def one(m: re.Match[str]) -> str:
        sub = m[1] or m[2]
        return m[0] if any(c not in _SUB for c in sub) else "".join(_SUB[c] for c in sub)

    return re.sub(r"(?<=[^\W_])_(?:\{([^{}]+)\}|([^\W_]+))", one, text)


def poly_js(poly: Poly) -> str:
    """A polynomial as one BigInt expression, printed straight from its exact terms (no
    SymPy: this is most of what a site build prints). Negative powers (blocks: h²/n) go
    over one common denominator, so the division is exact whenever the count is."""
    below: dict[str, int] = {}
    for _c, m in poly.terms:
        for s, e in m:
            if e < 0:
                below[s] = max(below.get(s, 0), -e)
    den = Poly.const(1)
    for s, e in sorted(below.items()):
        for _ in range(e):
            den = den * Poly.symbol(s)
    num = poly * den if below else poly
    text = _sum_js(num)
    return text if not below else f"({text}) / ({_sum_js(den)})"


def _sum_js(poly: Poly) -> str:
    if poly.is_zero:
        return "0n"
    out = ""
    for i, (c, m) in enumerate(poly.terms):
        factors = [f"s[{json.dumps(s)}]" if e == 1 else f"(s[{json.dumps(s)}] ** {e}n)"
                   for s, e in m]
        if abs(c) != 1 or not factors:
            factors.insert(0, f"{abs(c)}n")
        term = " * ".join(factors)
        out += (("-" if c < 0 else "") if i == 0 else (" - " if c < 0 else " + ")) + term
    return out


def poly_fn(poly: Poly) -> str:
    return f"(s) => {poly_js(poly)}"


def stack_fn(per_layer: Poly, data: dict[str, Any], conv: dict[str, Any], *factors: str) -> str:
    """factors·D·(P(d) + (L − 1)·P(a)) as a JS function (unfactored: SymPy's factor was
    most of a site build)."""
    poly = per_layer
    if conv["stackable"]:
        poly = stack_poly(per_layer, data["input_symbol"], above(conv), Poly.symbol("L"),
                          Poly.symbol("D"))
    for f in factors:
        poly = poly * Poly.symbol(f)
    return poly_fn(poly)


def cell_module(data: dict[str, Any]) -> str:
    """``DERIVE_CALC[cell] = {...}``: everything the calculator evaluates, for one cell."""
    convs = []
    for name, conv in data["conventions"].items():
        stackable = conv["stackable"]
        fields = [f"title: {json.dumps(conv['title'], ensure_ascii=False)}",
                  f"stackable: {json.dumps(stackable)}",
                  f"directionAxis: {json.dumps(conv['direction_axis'])}",
                  f"biasOptional: {json.dumps(conv['bias_optional'])}",
                  f"names: {json.dumps(conv['names'])}",
                  f"namesBidirectional: {json.dumps(conv['names_bidirectional'])}",
                  f"namesStacked: {json.dumps(conv['names_stacked'])}",
                  f"namesStackedBidirectional: {json.dumps(conv['names_stacked_bidirectional'])}",
                  f"above: {poly_fn(above(conv))}"]
        req = [f"{{left: {poly_fn(Poly.from_data(r['left']))}, op: {json.dumps(r['op'])}, "
               f"right: {poly_fn(Poly.from_data(r['right']))}, "
               f"message: {json.dumps(r['message'], ensure_ascii=False)}}}"
               for r in conv["requires"]]
        fields.append(f"requires: [{', '.join(req)}]")
        for key, bias in (("bias", True), ("noBias", False)):
            per_layer = Poly.from_data(conv["per_layer"]["bias" if bias else "no_bias"])
            tensors = []
            for t in conv["tensors"]:
                shape = t["shape"] if bias else t["shape_no_bias"]
                if shape is None:
                    continue
                dims = ", ".join(poly_fn(Poly.from_data(dim)) for dim in shape)
                tensors.append(f"{{name: {json.dumps(t['name'])}, dims: [{dims}]}}")
            flops, printed = [], []
            for cname in costing.conventions():
                compute = costing.compute_convention(cname)
                step = costing.step_poly(conv["ops"], compute, bias)
                flops.append(f"{json.dumps(cname)}: {stack_fn(step, data, conv, 'B', 'T')}")
                bug = costing.bug_poly(conv["ops"], compute, bias)
                # ptflops divides by the input's dimension 0: T in the default layout
                per_dim0 = any(b.get("divide") == "dim0" for b in compute.get("bug", []))
                if not bug.is_zero or per_dim0:  # what the tool prints, its bugs included
                    scale = ("B",) if per_dim0 else ("B", "T")
                    printed.append(f"{json.dumps(cname)}: "
                                   f"{stack_fn(step + bug, data, conv, *scale)}")
            fields.append(f"{key}: {{total: {stack_fn(per_layer, data, conv)}, "
                          f"tensors: [{', '.join(tensors)}], flops: {{{', '.join(flops)}}}, "
                          f"printed: {{{', '.join(printed)}}}}}")
        state = sum((Poly.from_data(s["size"]) for s in conv["states"]), Poly())
        kept = sum((Poly.from_data(k["size"]) for k in conv["kept"]), Poly())
        fields.append(f"state: {stack_fn(state, data, conv, 'B')}")
        fields.append(f"kept: {stack_fn(kept, data, conv, 'B', 'T')}")
        convs.append(f"{json.dumps(name)}: {{{', '.join(fields)}}}")
    examples = example_sizes(data)
    derived = {r["symbol"] for r in data.get("derived", ())}
    sizes = json.dumps([{"symbol": s["symbol"], "keyword": s["keyword"],
                         "description": s["description"],
                         "example": str(examples.get(s["keyword"], 16))}
                        for s in data["sizes"] if s["symbol"] not in derived],
                       ensure_ascii=False)
    forced = ", ".join(f"{json.dumps(r['symbol'])}: {poly_fn(Poly.from_data(r['right']))}"
                       for r in data.get("derived", ()))
    return (f"DERIVE_CALC[{json.dumps(data['cell'])}] = {{sizes: {sizes}, "
            f"forced: {{{forced}}}, "
            f"input: {json.dumps(data['input_symbol'])}, "
            f"conventions: {{{', '.join(convs)}}}}};\n")


def module(datas: list[dict[str, Any]], models: tuple[Any, ...] = ()) -> str:
    compute = {name: {"title": c.get("title", name),
                      "summary": unicode_subscripts(c.get("summary", ""))}
               for name, c in costing.conventions().items()}
    head = ("// Generated by derive from the cells' closed forms (SymPy's JavaScript printer,\n"
            "// BigInt literals). Do not edit.\n"
            "var DERIVE_CALC = {};\n"
            "var DERIVE_MODELS = {};\n"
            f"var DERIVE_COMPUTE = {json.dumps(compute, ensure_ascii=False)};\n"
            f"var DERIVE_DTYPES = {json.dumps(costing.DTYPES)};\n")
    return head + "".join(cell_module(d) for d in datas) + "".join(
        model_module(m) for m in models)


def model_module(model: Any) -> str:
    """``DERIVE_MODELS[name] = {...}``: a model's symbols, its requirements and every layer's
    count as BigInt functions of the model's symbols (from :mod:`derive.assemble`)."""
    first = model.net.rows[0].config if model.net.rows else {}
    used = set(model.total.symbols)
    for r in model.requires:
        used |= r.left.symbols | r.right.symbols
    symbols = [{"name": s.name, "label": unicode_subscripts(s.name),
                "description": unicode_subscripts(s.description),
                "value": str(s.value if s.value is not None else first.get(s.name, 16)),
                "fixed": s.value is not None}
               for s in model.net.symbols if s.name in used]
    layers = ", ".join(
        f"{{name: {json.dumps(a.layer.name)}, "
        f"summary: {json.dumps(unicode_subscripts(a.summary), ensure_ascii=False)}, "
        f"count: {poly_fn(a.count)}}}" for a in model.layers)
    requires = ", ".join(
        f"{{left: {poly_fn(r.left)}, op: {json.dumps(r.op)}, right: {poly_fn(r.right)}, "
        f"text: {json.dumps(unicode_subscripts(r.text), ensure_ascii=False)}}}"
        for r in model.requires)
    return (f"DERIVE_MODELS[{json.dumps(model.net.name)}] = {{symbols: "
            f"{json.dumps(symbols, ensure_ascii=False)}, layers: [{layers}], "
            f"requires: [{requires}], total: {poly_fn(model.total)}}};\n")
