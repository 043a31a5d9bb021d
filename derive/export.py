"""Exports of the model: LaTeX of equations and size expressions, MathML from LaTeX.

Equations are printed from the cell's own AST (term order as the cell writes it); count
formulas come from SymPy's LaTeX printer (:mod:`derive.closedform`). MathML is produced at
build time by latex2mathml, so pages need no math JavaScript and no network.
"""

from __future__ import annotations

from derive.infer import Derivation
from derive.model import Call, Concat, Equation, Hadamard, MatMul, Node, Num, Sum, Var
from derive.poly import Poly

FUNCS = {"σ": r"\sigma", "tanh": r"\tanh", "exp": r"\exp", "relu": r"\operatorname{relu}",
         "softplus": r"\operatorname{softplus}"}
_PREC = {Sum: 1, Hadamard: 2, MatMul: 3}


def name_latex(name: str, bold: bool = False) -> str:
    """``W_ii`` → ``\\mathbf{W}_{ii}`` (bold) or ``W_{ii}``; Greek letters → commands."""
    base, _, sub = name.partition("_")
    base = {"σ": r"\sigma", "α": r"\alpha", "β": r"\beta", "γ": r"\gamma"}.get(base, base)
    head = rf"\mathbf{{{base}}}" if bold else base
    return f"{head}_{{{sub}}}" if sub else head


def var_latex(v: Var, params: set[str]) -> str:
    if v.time is None:
        return name_latex(v.name, bold=v.name in params)
    base = name_latex(v.name)
    return f"{base}_{{{v.time}}}" if "_" not in v.name else f"{base}^{{({v.time})}}"


def node_latex(node: Node, params: set[str]) -> str:
    def wrap(child: Node, parent_prec: int) -> str:
        text = node_latex(child, params)
        prec = _PREC.get(type(child), 9)
        return rf"\left({text}\right)" if prec <= parent_prec else text

    if isinstance(node, Var):
        return var_latex(node, params)
    if isinstance(node, Num):
        if node.denominator == 1:
            return str(node.numerator)
        digits = len(str(node.denominator)) - 1
        whole, frac = divmod(node.numerator, node.denominator)
        return f"{whole}.{frac:0{digits}d}"
    if isinstance(node, Call):
        assert node.arg is not None
        return rf"{FUNCS.get(node.func, node.func)}\left({node_latex(node.arg, params)}\right)"
    if isinstance(node, MatMul):
        assert node.left is not None and node.right is not None
        return f"{wrap(node.left, 3)} {wrap(node.right, 2)}"
    if isinstance(node, Hadamard):
        assert node.left is not None and node.right is not None
        return rf"{wrap(node.left, 1)} \odot {wrap(node.right, 2)}"
    if isinstance(node, Sum):
        out = ""
        for i, (term, sign) in enumerate(zip(node.terms, node.signs, strict=False)):
            text = wrap(term, 1)
            out += (("-" if sign < 0 else "") if i == 0 else (" - " if sign < 0 else " + ")) + text
        return out
    if isinstance(node, Concat):
        rows = r" \\ ".join(node_latex(i, params) for i in node.items)
        return rf"\begin{{bmatrix}} {rows} \end{{bmatrix}}"
    raise AssertionError(node)  # pragma: no cover


def equation_latex(eq: Equation, derivation: Derivation) -> str:
    params = {p.name for p in derivation.parameters}
    return f"{var_latex(eq.target, params)} = {node_latex(eq.rhs, params)}"


def poly_latex(p: Poly) -> str:
    """``4*d*h + 4*h^2`` → ``4 d h + 4 h^{2}``."""
    if p.is_zero:
        return "0"
    out = ""
    for i, (c, m) in enumerate(p.terms):
        mag = abs(c)
        factors = [name_latex(s) if e == 1 else f"{name_latex(s)}^{{{e}}}" for s, e in m]
        body = " ".join(([str(mag)] if mag != 1 or not factors else []) + factors)
        out += ("-" if c < 0 else "") + body if i == 0 else (" - " if c < 0 else " + ") + body
    return out


def shape_latex(shape: tuple[Poly, ...]) -> str:
    dims = [poly_latex(d) if len(d.terms) == 1 else rf"\left({poly_latex(d)}\right)"
            for d in shape]
    return r"\mathbb{R}^{" + r" \times ".join(dims) + "}"


def mathml(latex: str, display: bool = False) -> str:
    """LaTeX → one line of MathML (no JavaScript, no network)."""
    import latex2mathml.converter

    out: str = latex2mathml.converter.convert(latex, display="block" if display else "inline")
    return out.replace("\n", "")
