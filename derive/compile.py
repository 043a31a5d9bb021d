"""A cell → its compiled form: everything ``count`` needs, as plain JSON-able data.

This is the one place that runs the whole derivation (parse → shapes → conventions →
formula). Its output is cached on disk by :mod:`derive.cache`, so that ``derive count``
evaluates exact polynomials without importing SymPy or the parser.
"""

from __future__ import annotations

from typing import Any

from derive import closedform as formula
from derive import costs
from derive.conventions import TensorSpec, tensor_specs
from derive.errors import CellSyntaxError
from derive.infer import infer
from derive.model import Cell
from derive.poly import Poly

FORMAT = 2
RESERVED = {formula.LAYERS, formula.DIRECTIONS}


def _shape_data(shape: tuple[Poly, ...] | None) -> list[Any] | None:
    return None if shape is None else [p.to_data() for p in shape]


def _per_layer(specs: tuple[TensorSpec, ...], bias: bool) -> Poly:
    total = Poly()
    for spec in specs:
        shape = spec.shape if bias else spec.shape_no_bias
        if shape is None:
            continue
        total = total + Poly.product(shape)
    return total


def check_sizes(cell: Cell) -> None:
    declared = {s.symbol for s in cell.sizes}
    for s in cell.sizes:
        if s.symbol in RESERVED:
            raise CellSyntaxError(f"the size symbol {s.symbol} is reserved for the number of "
                                  f"{'layers' if s.symbol == 'L' else 'directions'}", s.loc)
    seen: set[str] = set()
    for s in cell.sizes:
        if s.keyword in seen:
            raise CellSyntaxError(f"two sizes are set by {s.keyword}", s.loc)
        seen.add(s.keyword)
    for d in cell.decls:
        if d.size is None:
            continue
        for sym in sorted(d.size.symbols - declared):
            raise CellSyntaxError(f"the size symbol {sym} is not declared; add a line "
                                  f"'size {sym} = KEYWORD \"meaning\"'", d.loc)


def compile_cell(cell: Cell) -> dict[str, Any]:
    check_sizes(cell)
    base = infer(cell)
    output = next(v.size for v in base.variables if v.name == f"{cell.output}_t")
    conventions: dict[str, Any] = {}
    entries: list[tuple[str, Any]] = [("equations", None)] + [(c.name, c) for c in
                                                               cell.conventions]
    for name, conv in entries:
        derivation = base if conv is None or conv.equations is None else infer(cell, name)
        specs = tensor_specs(cell, conv, derivation)
        stackable = conv.stackable if conv else True
        forms = {}
        per_layer = {}
        for bias in (True, False):
            key = "bias" if bias else "no_bias"
            poly = _per_layer(specs, bias)
            per_layer[key] = poly.to_data()
            forms[key] = {
                "layer": formula.strings(formula.layer_formula(poly, cell.input_symbol,
                                                               Poly.symbol(cell.input_symbol))),
                "upper": formula.strings(formula.layer_formula(
                    poly, cell.input_symbol, Poly.symbol(formula.DIRECTIONS) * output)),
                "total": formula.strings(formula.closed_form(poly, cell.input_symbol, output,
                                                             stackable)),
            }
        conventions[name] = {
            "title": conv.title if conv else "The cell's own equations",
            "names": list(conv.names) if conv else ["{t}"],
            "names_bidirectional": list(conv.names_bidirectional) if conv else ["{t}", "{t}"],
            "direction_axis": conv.direction_axis if conv else False,
            "stackable": stackable,
            "requires": [{"left": r.left.to_data(), "op": r.op, "right": r.right.to_data(),
                          "message": r.message} for r in (conv.requires if conv else ())],
            "note": conv.note if conv else "",
            "tensors": [{"name": s.name, "parts": list(s.parts), "roles": list(s.roles),
                         "shape": _shape_data(s.shape),
                         "shape_no_bias": _shape_data(s.shape_no_bias)} for s in specs],
            "per_layer": per_layer,
            "formula": forms,
            "ops": [op.to_data() for op in costs.operations(derivation)],
            "kept": [k.to_data() for k in costs.kept(derivation)],
            "states": [{"name": n, "size": s.to_data()} for n, s in costs.states(derivation)],
        }
    return {
        "format": FORMAT,
        "cell": cell.name,
        "title": cell.title,
        "family": cell.family,
        "digest": cell.digest,
        "sizes": [{"symbol": s.symbol, "keyword": s.keyword, "description": s.description}
                  for s in cell.sizes],
        "input_symbol": cell.input_symbol,
        "output": cell.output,
        "output_size": output.to_data(),
        "variants": [{"option": v.option, "value": v.value, "target": v.target}
                     for v in cell.variants],
        "conventions": conventions,
    }
