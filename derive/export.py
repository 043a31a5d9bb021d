"""Exports of the model: LaTeX of equations and size expressions, MathML from LaTeX.

Equations are printed from the cell's own AST (term order as the cell writes it); count
formulas come from SymPy's LaTeX printer (:mod:`derive.closedform`). MathML is produced at
build time by latex2mathml, so pages need no math JavaScript and no network.
"""

from __future__ import annotations

from derive.infer import Derivation
from derive.model import (
    Call,
    Concat,
    Conv,
    Div,
    Equation,
    Hadamard,
    MatMul,
    Node,
    Norm,
    Num,
    Power,
    SizeRef,
    Sum,
    Transpose,
    Var,
)
from derive.poly import Poly

FUNCS = {"σ": r"\sigma", "tanh": r"\tanh", "exp": r"\exp", "log": r"\log",
         "relu": r"\operatorname{relu}", "softplus": r"\operatorname{softplus}",
         "max": r"\max", "min": r"\min", "gelu": r"\operatorname{GELU}",
         "silu": r"\operatorname{SiLU}"}
NORMS = {"LN": r"\operatorname{LN}", "RMSNorm": r"\operatorname{RMSNorm}",
         "GN": r"\operatorname{GN}"}
_PREC = {Sum: 1, Hadamard: 2, Div: 2, Conv: 3, MatMul: 3, Power: 4, Transpose: 4}
GREEK = {"σ": r"\sigma", "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "δ": r"\delta",
         "ε": r"\epsilon", "ζ": r"\zeta", "η": r"\eta", "θ": r"\theta", "κ": r"\kappa",
         "λ": r"\lambda", "μ": r"\mu", "ν": r"\nu", "ξ": r"\xi", "π": r"\pi", "ρ": r"\rho",
         "τ": r"\tau", "υ": r"\upsilon", "φ": r"\phi", "χ": r"\chi", "ψ": r"\psi",
         "ω": r"\omega", "Γ": r"\Gamma", "Δ": r"\Delta", "Θ": r"\Theta", "Λ": r"\Lambda",
         "Ξ": r"\Xi", "Π": r"\Pi", "Σ": r"\Sigma", "Φ": r"\Phi", "Ψ": r"\Psi",
         "Ω": r"\Omega"}


ACCENTS = {"\u0303": r"\tilde", "\u0302": r"\hat", "\u0304": r"\bar", "\u0307": r"\dot",
           "\u0308": r"\ddot", "\u0306": r"\breve", "\u030c": r"\check"}


def _tex_text(text: str) -> str:
    """Letters as LaTeX reads them: Greek → commands, a combining accent → its command
    (``c̃`` → ``\\tilde{c}``, ``ĩ`` → ``\\tilde{i}``); pdflatex reads neither raw."""
    import unicodedata

    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if ch in ACCENTS and out:
            out[-1] = f"{ACCENTS[ch]}{{{out[-1]}}}"
        elif ch in GREEK:
            out.append(GREEK[ch])
        else:
            out.append(ch)
    return "".join(p if not (p.startswith("\\") and p[1:].isalpha() and i + 1 < len(out)
                             and out[i + 1][:1].isalpha()) else p + " "
                   for i, p in enumerate(out))


def name_latex(name: str, bold: bool = False) -> str:
    """``W_ii`` → ``\\mathbf{W}_{ii}`` (bold) or ``W_{ii}``; Greek letters → commands."""
    base, _, sub = name.partition("_")
    base, sub = _tex_text(base), _tex_text(sub)
    if len(base) > 1 and not base.startswith("\\") and base.isalpha() and not bold:
        base = rf"\mathit{{{base}}}"  # Wb_i, Rb_i: one name, not a product
    head = rf"\mathbf{{{base}}}" if bold else base
    return f"{head}_{{{sub}}}" if sub else head


def var_latex(v: Var, params: set[str]) -> str:
    if v.time is None:
        return name_latex(v.name, bold=v.name in params)
    base = name_latex(v.name)
    time = v.time if v.window is None else f"t-{v.window}+1:t"
    return f"{base}_{{{time}}}" if "_" not in v.name else f"{base}^{{({time})}}"


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
    if isinstance(node, SizeRef):
        return name_latex(node.name)
    if isinstance(node, Call):
        if node.func == "abs":
            return rf"\left|{node_latex(node.operands[0], params)}\right|"
        if node.func == "sqrt":
            return rf"\sqrt{{{node_latex(node.operands[0], params)}}}"
        args = ", ".join(node_latex(a, params) for a in node.operands)
        func = FUNCS.get(node.func, node.func if node.func.startswith("\\")
                         else name_latex(node.func) if len(node.func) == 1
                         else rf"\operatorname{{{node.func}}}")
        return rf"{func}\left({args}\right)"
    if isinstance(node, Norm):
        assert node.arg is not None
        inner = node_latex(node.arg, params)
        if node.groups is not None:
            inner += ", " + name_latex(node.groups)
        names = ", ".join(name_latex(p.name, bold=True) for p in node.params)
        return rf"{NORMS.get(node.func, node.func)}\left({inner}; {names}\right)"
    if isinstance(node, Conv):
        assert node.left is not None and node.right is not None
        return rf"{wrap(node.left, 3)} \ast {wrap(node.right, 2)}"
    if isinstance(node, Div):
        assert node.left is not None and node.right is not None
        return rf"\frac{{{node_latex(node.left, params)}}}{{{node_latex(node.right, params)}}}"
    if isinstance(node, Power):
        assert node.base is not None and node.exponent is not None
        return rf"{wrap(node.base, 4)}^{{{node_latex(node.exponent, params)}}}"
    if isinstance(node, Transpose):
        assert node.arg is not None
        return rf"{wrap(node.arg, 4)}^{{\top}}"
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
    if eq.stacked:
        rows = r" \\ ".join(var_latex(t, params) for t in eq.targets)
        lhs = rf"\begin{{bmatrix}} {rows} \end{{bmatrix}}"
    else:
        lhs = var_latex(eq.target, params)
    return f"{lhs} = {node_latex(eq.rhs, params)}"


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
    if not shape:
        return r"\mathbb{R}"
    dims = [poly_latex(d) if len(d.terms) == 1 else rf"\left({poly_latex(d)}\right)"
            for d in shape]
    return r"\mathbb{R}^{" + r" \times ".join(dims) + "}"


def mathml(latex: str, display: bool = False) -> str:
    """LaTeX → one line of MathML (no JavaScript, no network)."""
    import latex2mathml.converter

    out: str = latex2mathml.converter.convert(latex, display="block" if display else "inline")
    return out.replace("\n", "")
