"""The derivation as text: every parameter's shape and the chain of reasons for it."""

from __future__ import annotations

from derive.infer import Derivation, infer
from derive.model import Cell
from derive.parse import load_cell
from derive.poly import Poly


def shape_text(shape: tuple[Poly, ...]) -> str:
    """``ℝ^{h×d}`` in plain text."""
    if not shape:
        return "ℝ"
    dims = [str(s) if len(s.terms) == 1 else f"({s})" for s in shape]
    return "ℝ^" + (dims[0] if len(dims) == 1 else "{" + "×".join(dims) + "}")


def derivation(ref: str, framework: str = "equations") -> Derivation:
    return infer(load_cell(ref), framework)


def _count(p: Poly, order: list[str], ascii: bool) -> str:
    from derive import printing

    names = {s: s for s in p.symbols}
    return printing.to_text(printing.poly_tree(p, order), names, ascii)


def render_text(ref: str, framework: str = "equations", only: tuple[str, ...] = (),
                ascii: bool = False) -> str:
    """The derivation as text; ``only``: the named parameters (and with a framework's
    convention, the stored tensors holding them)."""
    cell = load_cell(ref)
    d = infer(cell, framework)
    order = [s.symbol for s in cell.sizes]
    unknown = [n for n in only if d.parameter(n) is None]
    if unknown:
        from derive.errors import ConfigError

        raise ConfigError(f"cell {cell.name} has no parameter {unknown[0]} under {framework}; "
                          f"its parameters: {', '.join(p.name for p in d.parameters)}")
    lines = [f"{cell.name}: {cell.title}",
             f"equations ({'as the cell writes them' if framework == 'equations' else framework}):"]
    for eq in d.equations:
        label = f"    [{eq.label}]" if eq.label else ""
        lines.append(f"  ({eq.number}) {eq.source.split(chr(34))[0].strip()}{label}")
    lines.append("sizes: " + ", ".join(f"{s.symbol} = {s.keyword}" for s in cell.sizes))
    lines.append("")
    lines.append("variables:")
    for v in d.variables:
        lines.append(f"  {v.name} ∈ {shape_text(v.shape)}  {v.kind}"
                     + (f", {v.description}" if v.description else ""))
    lines.append("")
    lines.append("parameters:")
    for p in d.parameters:
        if only and p.name not in only:
            continue
        what = {"weight": f"weight, multiplies {p.multiplies}", "bias": "bias, added",
                "diagonal": "diagonal, multiplies elementwise", "vector": "vector",
                "gain": "gain of a normalisation"}[p.role]
        if p.kind == "kernel":
            what = f"convolution kernel, convolves {p.multiplies}"
        if p.blocks is not None:
            what += f"; block-diagonal, {p.blocks} blocks"
        lines.append(f"  {p.name} ∈ {shape_text(p.shape)}  ({what}; first used in "
                     f"({p.equation}))  count {_count(p.count, order, ascii)}")
        for t in p.traces:
            lines.append(f"    {t.axis} = {t.value}")
            for step in t.steps:
                lines.append(f"      {step.left} = {step.right}: {step.reason}")
    if d.requirements:
        lines.append("")
        lines.append("requirements found by inference:")
        for r in d.requirements:
            rel = "=" if r.op == "==" else "divides"
            lines.append(f"  {r.left} {rel} {r.right}: {r.message}")
            lines.extend("  " + line for line in r.detail.splitlines())
    if framework != "equations":
        lines += ["", *_stored(cell, d, framework, only, order, ascii)]
    lines.append("")
    lines.append(f"total: {_count(d.count, order, ascii)}")
    return "\n".join(lines)


def _stored(cell: Cell, d: Derivation, framework: str, only: tuple[str, ...],
            order: list[str], ascii: bool) -> list[str]:
    """The framework's stored tensors: what each packs, its fused shape, and why."""
    from derive.conventions import gate_order, tensor_specs

    conv = cell.convention(framework)
    assert conv is not None
    params = {p.name: p for p in d.parameters}
    lines = [f"stored tensors ({conv.title}), one layer and direction:"]
    for spec in tensor_specs(cell, conv, d):
        if only and not set(spec.parts) & set(only):
            continue
        decl = next(t for t in conv.tensors if t.name == spec.name)
        lines.append(f"  {spec.name} = {decl.block.loc.snippet}  {shape_text(spec.shape)}  "
                     f"count {_count(Poly.product(spec.shape), order, ascii)}")
        if len(spec.parts) > 1:
            gates = ", ".join(gate_order(d, list(spec.parts)))
            lines.append(f"    packs {', '.join(spec.parts)} (for {gates}), in this order")
        for name in spec.parts:
            p = params[name]
            lines.append(f"    {name} ∈ {shape_text(p.shape)}: "
                         + "; ".join(f"{t.axis} {t.value}" for t in p.traces))
    return lines
