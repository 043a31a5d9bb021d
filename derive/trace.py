"""The derivation as text: every parameter's shape and the chain of reasons for it."""

from __future__ import annotations

from derive.infer import Derivation, infer
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


def render_text(ref: str, framework: str = "equations") -> str:
    cell = load_cell(ref)
    d = infer(cell, framework)
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
        what = {"weight": f"weight, multiplies {p.multiplies}", "bias": "bias, added",
                "diagonal": "diagonal, multiplies elementwise", "vector": "vector",
                "gain": "gain of a normalisation"}[p.role]
        if p.kind == "kernel":
            what = f"convolution kernel, convolves {p.multiplies}"
        if p.blocks is not None:
            what += f"; block-diagonal, {p.blocks} blocks"
        lines.append(f"  {p.name} ∈ {shape_text(p.shape)}  ({what}; first used in "
                     f"({p.equation}))  count {p.count}")
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
    lines.append("")
    lines.append(f"total: {d.count}")
    return "\n".join(lines)
