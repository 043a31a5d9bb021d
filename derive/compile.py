"""A cell → its compiled form: everything ``count`` needs, as plain JSON-able data.

This is the one place that runs the whole derivation (parse → shapes → conventions →
formula). Its output is cached on disk by :mod:`derive.cache`, so that ``derive count``
evaluates exact polynomials without importing SymPy or the parser.
"""

from __future__ import annotations

from typing import Any

from derive import costs, printing
from derive.conventions import TensorSpec, tensor_specs
from derive.counting import DIRECTIONS, LAYERS
from derive.errors import CellSyntaxError
from derive.infer import Derivation, infer
from derive.model import Cell
from derive.poly import Poly

FORMAT = 4
RESERVED = {LAYERS, DIRECTIONS}


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
        if d.shape is None:
            continue
        for sym in sorted(set().union(*(p.symbols for p in d.shape)) - declared):
            raise CellSyntaxError(f"the size symbol {sym} is not declared; add a line "
                                  f"'size {sym} = KEYWORD \"meaning\"'", d.loc)


def _requirements(derivation: Derivation) -> list[dict[str, Any]]:
    return [{"left": r.left.to_data(), "op": r.op, "right": r.right.to_data(),
             "message": r.message, "detail": r.detail, "symbol": r.symbol}
            for r in derivation.requirements]


def _forced_by(r: dict[str, Any], base: Derivation) -> bool:
    """Whether the cell's own equations force the same equality (then it is the cell's)."""
    return any(b.op == "==" and b.left.to_data() == r["left"] and b.right.to_data() == r["right"]
               for b in base.requirements)


def _sizes(cell: Cell, base: Derivation, needed: set[str]) -> list[dict[str, Any]]:
    """The sizes a user sets, by keyword; a kernel size is one symbol per spatial axis."""
    out: list[dict[str, Any]] = []
    for s in cell.sizes:
        if s.kernel:
            for k in range(base.kernel_axes):
                sym = f"{s.symbol}_{k + 1}"
                out.append({"symbol": sym, "keyword": s.keyword, "description": s.description,
                            "axis": k + 1, "axes": base.kernel_axes, "needed": sym in needed})
            continue
        out.append({"symbol": s.symbol, "keyword": s.keyword, "description": s.description,
                    "needed": s.symbol in needed})
    return out


def compile_cell(cell: Cell) -> dict[str, Any]:
    check_sizes(cell)
    base = infer(cell)
    output = next(v.features for v in base.variables if v.name == f"{cell.output}_t")
    order = [s["symbol"] for s in _sizes(cell, base, set())]
    names = {s: s for s in [*order, LAYERS, DIRECTIONS]}
    conventions: dict[str, Any] = {}
    entries: list[tuple[str, Any]] = [("equations", None)] + [(c.name, c) for c in
                                                               cell.conventions]
    for name, conv in entries:
        derivation = base if conv is None or conv.equations is None else infer(cell, name)
        specs = tensor_specs(cell, conv, derivation)
        stackable = conv.stackable if conv else True
        separate = conv is not None and conv.separate_directions
        above = output if separate else Poly.symbol(DIRECTIONS) * output
        forms = {}
        per_layer = {}
        for bias in (True, False):
            key = "bias" if bias else "no_bias"
            poly = _per_layer(specs, bias)
            per_layer[key] = poly.to_data()
            forms[key] = {  # printed by derive's one printer: the term order derive latex uses
                "layer": printing.forms(printing.poly_tree(poly, order), names),
                "upper": printing.forms(printing.upper_tree(poly, cell.input_symbol, above,
                                                            order), names),
                "total": printing.forms(printing.closed_form_tree(
                    poly, cell.input_symbol, above, order, stackable), names),
            }
        conventions[name] = {
            "title": conv.title if conv else "The cell's own equations",
            "names": list(conv.names) if conv else ["{t}"],
            "names_bidirectional": list(conv.names_bidirectional) if conv else ["{t}", "{t}"],
            "names_stacked": list(conv.names_stacked or conv.names) if conv else ["{t}"],
            "names_stacked_bidirectional": list(conv.names_stacked_bidirectional
                                                or conv.names_bidirectional)
            if conv else ["{t}", "{t}"],
            "above": above.to_data(),
            "separate_directions": separate,
            "bias_optional": conv.bias_optional if conv else True,
            "direction_axis": conv.direction_axis if conv else False,
            "stackable": stackable,
            "requires": [{"left": r.left.to_data(), "op": r.op, "right": r.right.to_data(),
                          "message": r.message} for r in (conv.requires if conv else ())]
            + [r for r in _requirements(derivation)
               if r["op"] != "==" or (conv is not None and conv.equations is not None
                                      and not _forced_by(r, base))],
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
    needed = {cell.input_symbol} | output.symbols
    for conv_data in conventions.values():
        for key in ("bias", "no_bias"):
            needed |= Poly.from_data(conv_data["per_layer"][key]).symbols
        for r in conv_data["requires"]:
            needed |= Poly.from_data(r["left"]).symbols | Poly.from_data(r["right"]).symbols
    derived = [r for r in _requirements(base) if r["op"] == "=="]
    for r in derived:
        needed |= Poly.from_data(r["right"]).symbols
    return {
        "format": FORMAT,
        "cell": cell.name,
        "title": cell.title,
        "family": cell.family,
        "digest": cell.digest,
        "sizes": _sizes(cell, base, needed),
        "derived": derived,
        "input_symbol": cell.input_symbol,
        "output": cell.output,
        "output_size": output.to_data(),
        "variants": [{"option": v.option, "value": v.value, "target": v.target}
                     for v in cell.variants],
        "conventions": conventions,
    }
