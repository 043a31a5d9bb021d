"""Count formulas as expression trees, printed with a controlled term order, in a notation.

SymPy's printers reorder terms; papers want the order a person writes: the factored form
``4h(d + h + 2)``, higher-degree terms first, variables in the order the cell declares
its sizes. The tree is built from the engine's exact polynomials; it prints to LaTeX,
plain Unicode text, MathML (through LaTeX) and JSON, and :func:`parse` reads the text and
LaTeX forms back (for round-trip tests) with a Lark grammar, never with eval.
"""

from __future__ import annotations

import re
from functools import lru_cache, reduce
from math import gcd

from derive.errors import ConfigError
from derive.poly import Poly
from derive.records import TYPE_CHECKING

if TYPE_CHECKING:  # typing and fractions cost a model's count more than the count
    from fractions import Fraction
    from typing import Any

SYMBOL_NAME = re.compile(r"[A-Za-z](_[A-Za-z0-9]+)?")  # a printed size name: n_c, H_in
Tree = tuple  # ("num", n) | ("sym", s) | ("add", [..]) | ("mul", [..]) | ("pow", t, n)

PROFILES: dict[str, dict[str, str]] = {
    # keyword (or L/D) -> symbol, as each source writes it
    "d2l": {"input_size": "d", "hidden_size": "h", "proj_size": "p"},
    "pytorch": {"input_size": "H_in", "hidden_size": "H_cell", "proj_size": "H_out"},
    "sak2014": {"input_size": "n_i", "hidden_size": "n_c", "proj_size": "n_r"},
}


# ------------------------------------------------------------------ building


def _ordered_terms(p: Poly, order: list[str]) -> list[tuple[int, tuple[tuple[str, int], ...]]]:
    rank = {s: i for i, s in enumerate(order)}

    def key(term: tuple[int, tuple[tuple[str, int], ...]]) -> tuple[Any, ...]:
        _c, m = term
        return (-sum(e for _, e in m), [(rank.get(s, len(rank)), s, -e) for s, e in m])

    return sorted(p.terms, key=key)


def _monomial(c: int, m: tuple[tuple[str, int], ...], order: list[str]) -> Tree:
    """c·∏ s^e; negative powers make a fraction: 4·d·h/g, never 4·d·h·g⁻¹."""
    below = tuple((s, -e) for s, e in m if e < 0)
    if below:
        above = _monomial(c, tuple((s, e) for s, e in m if e > 0), order)
        return ("div", above, _monomial(1, below, order))
    rank = {s: i for i, s in enumerate(order)}
    factors: list[Tree] = [] if c == 1 and m else [("num", c)]
    for s, e in sorted(m, key=lambda se: (rank.get(se[0], len(rank)), se[0])):
        factors.append(("sym", s) if e == 1 else ("pow", ("sym", s), e))
    return factors[0] if len(factors) == 1 else ("mul", factors)


def poly_tree(p: Poly, order: list[str]) -> Tree:
    """Factored: the common integer and monomial outside, the rest ordered inside."""
    if p.is_zero:
        return ("num", 0)
    terms = _ordered_terms(p, order)
    g = reduce(gcd, (abs(c) for c, _ in terms))
    # only positive powers are taken outside: h·(4·d + 4·h·n⁻¹ + 5), never n⁻¹ alone
    common = {s: max(0, min(dict(m).get(s, 0) for _, m in terms)) for s in p.symbols}
    common = {s: e for s, e in common.items() if e}
    if len(terms) == 1 or (g == 1 and not common):
        if len(terms) == 1:
            return _monomial(*terms[0], order)
        return ("add", [_monomial(c, m, order) for c, m in terms])
    inner = []
    for c, m in terms:
        rest = tuple((s, e - common.get(s, 0)) for s, e in m if e - common.get(s, 0))
        inner.append(_monomial(c // g, rest, order))
    outside = _monomial(g, tuple(sorted(common.items())), order)
    factors = (outside[1] if outside[0] == "mul" else [outside]) if outside != ("num", 1) else []
    return ("mul", [*factors, ("add", inner)])


def closed_form_tree(per_layer: Poly, input_symbol: str, above: Poly, order: list[str],
                     stackable: bool = True) -> Tree:
    """D·(P(d) + (L − 1)·P(a)), with P factored; ``above`` (a) is what a layer above the
    first reads, a polynomial in D (D·o, or o for separate stacks)."""
    first = poly_tree(per_layer, ["L", "D", *order])
    if not stackable:
        return first
    upper = upper_tree(per_layer, input_symbol, above, order)
    factors = list(upper[1]) if upper[0] == "mul" else [upper]
    lead = 1 if factors and factors[0][0] == "num" else 0
    factors.insert(lead, ("add", [("sym", "L"), ("num", -1)]))
    return ("mul", [("sym", "D"), ("add", [first, ("mul", factors)])])


def upper_tree(per_layer: Poly, input_symbol: str, above: Poly, order: list[str]) -> Tree:
    """A layer above the first: its input has ``above`` features."""
    return poly_tree(per_layer.subs(input_symbol, above), ["L", "D", *order])


# ------------------------------------------------------------------ notation


def notation(profile: str | None, sizes: list[dict[str, str]],
             overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Size symbol → printed name, from a profile (by keyword) and ``symbol=name`` overrides."""
    names = {s["symbol"]: s["symbol"] for s in sizes} | {"L": "L", "D": "D"}
    if profile is not None and profile.endswith(".toml"):
        overrides = {**_toml_symbols(profile), **(overrides or {})}
        profile = None
    if profile is not None:
        if profile not in PROFILES:
            raise ConfigError(f"unknown notation '{profile}'; profiles: {', '.join(PROFILES)}")
        for s in sizes:
            if s["keyword"] in PROFILES[profile]:
                names[s["symbol"]] = PROFILES[profile][s["keyword"]]
    by_keyword = {s["keyword"]: s["symbol"] for s in sizes}
    for key, value in (overrides or {}).items():
        sym = by_keyword.get(key, key)
        if sym not in names:
            raise ConfigError(f"--symbol {key}={value}: {key} is neither a size symbol nor a "
                              f"keyword of this cell ({', '.join(sorted(names))})")
        names[sym] = value
    return names


def _toml_symbols(path: str) -> dict[str, str]:
    """A notation file: ``[symbols]`` mapping size symbols or keywords to names."""
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read the notation file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the notation file {path} is not UTF-8 text (byte {exc.start})"
                          ) from None
    table = data.get("symbols")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: expected a [symbols] table, e.g. hidden_size = \"n_c\"")
    for key, value in table.items():
        if not isinstance(value, str) or not SYMBOL_NAME.fullmatch(value):
            raise ConfigError(f"{path}: symbols.{key} must be a letter with an optional "
                              f"subscript, like \"n_c\"; got {value!r}")
    return {str(k): str(v) for k, v in table.items()}


def _latex_name(name: str) -> str:
    base, _, sub = name.partition("_")
    sub = sub.strip("{}")
    if not sub:
        return base
    return f"{base}_{{\\mathrm{{{sub}}}}}" if len(sub) > 1 else f"{base}_{{{sub}}}"


# ------------------------------------------------------------------ printers


def to_latex(t: Tree, names: dict[str, str]) -> str:
    kind = t[0]
    if kind == "num":
        return str(t[1])
    if kind == "sym":
        return _latex_name(names.get(t[1], t[1]))
    if kind == "pow":
        return f"{to_latex(t[1], names)}^{{{t[2]}}}"
    if kind == "div":
        top = to_latex(t[1], names)
        sign = "-" if top.startswith("-") else ""
        return rf"{sign}\frac{{{top.removeprefix('-')}}}{{{to_latex(t[2], names)}}}"
    if kind == "add":
        return _join_terms([to_latex(term, names) for term in t[1]], "-")
    if t[1][0] == ("num", -1) and len(t[1]) > 1:  # −p, never −1·p
        return "-" + to_latex(("mul", t[1][1:]) if len(t[1]) > 2 else t[1][1], names)
    parts: list[str] = []
    for f in t[1]:
        text = to_latex(f, names)
        if f[0] == "add":
            text = rf"\left({text}\right)"
        if parts and (f[0] == "num" or (parts[-1][-1].isdigit() and text[0].isdigit())):
            parts.append(r"\cdot")
        parts.append(text)
    return " ".join(parts)


def _join_terms(texts: list[str], minus: str) -> str:
    """Terms of a sum: a leading '-' of a term becomes the operator before it."""
    out = ""
    for i, text in enumerate(texts):
        neg = text.startswith("-")
        body = text[1:] if neg else text
        out += (minus if neg else "") if i == 0 else (f" {minus} " if neg else " + ")
        out += body
    return out


_SUP = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def to_text(t: Tree, names: dict[str, str], ascii: bool = False) -> str:
    """``4·h·(d + h + 2)``, ``h²``, ``−``; with ``ascii``: ``4*h*(d + h + 2)``, ``h^2``, ``-``."""
    kind = t[0]
    if kind == "num":
        return str(t[1])
    if kind == "sym":
        return names.get(t[1], t[1])
    if kind == "pow":
        exp = f"^{t[2]}" if ascii else str(t[2]).translate(_SUP)
        return f"{to_text(t[1], names, ascii)}{exp}"
    if kind == "div":
        below = to_text(t[2], names, ascii)
        return f"{to_text(t[1], names, ascii)}/{f'({below})' if t[2][0] == 'mul' else below}"
    if kind == "add":
        return _join_terms([to_text(term, names, ascii) for term in t[1]], "-" if ascii else "−")
    if t[1][0] == ("num", -1) and len(t[1]) > 1:  # −p, never −1·p
        return "-" + to_text(("mul", t[1][1:]) if len(t[1]) > 2 else t[1][1], names, ascii)
    return ("*" if ascii else "·").join(
        f"({to_text(f, names, ascii)})" if f[0] in ("add", "div") else to_text(f, names, ascii)
        for f in t[1])


def forms(t: Tree, names: dict[str, str]) -> dict[str, Any]:
    """One formula in every form: Unicode text, ASCII text, LaTeX and the JSON tree."""
    return {"text": to_text(t, names), "ascii": to_text(t, names, ascii=True),
            "latex": to_latex(t, names), "tree": to_json(t, names)}


def to_json(t: Tree, names: dict[str, str]) -> Any:
    kind = t[0]
    if kind == "num":
        return {"num": t[1]}
    if kind == "sym":
        return {"sym": names.get(t[1], t[1])}
    if kind == "pow":
        return {"pow": [to_json(t[1], names), t[2]]}
    if kind == "div":
        return {"div": [to_json(t[1], names), to_json(t[2], names)]}
    return {kind: [to_json(a, names) for a in t[1]]}


def evaluate(t: Tree, env: dict[str, int]) -> int:
    """The exact value of a tree (a count: an integer, even where terms are fractions)."""
    value = _exact(t, env)
    if value.denominator != 1:
        raise ConfigError(f"the formula is not a whole number at these sizes ({value})")
    return int(value)


def _exact(t: Tree, env: dict[str, int]) -> Fraction:
    from fractions import Fraction

    kind = t[0]
    if kind == "num":
        return Fraction(int(t[1]))
    if kind == "sym":
        return Fraction(env[t[1]])
    if kind == "pow":
        return _exact(t[1], env) ** t[2]
    if kind == "div":
        return _exact(t[1], env) / _exact(t[2], env)
    values = [_exact(a, env) for a in t[1]]
    return sum(values, Fraction(0)) if kind == "add" else reduce(lambda a, b: a * b, values,
                                                                 Fraction(1))


# ------------------------------------------------------------------ reading back

GRAMMAR = r"""
?sum: signed (SIGN term)*
?signed: SIGN? term -> signed
?term: quotient (MUL? quotient)*  -> product
?quotient: factor ("/" factor)?  -> quotient
?factor: atom POWER?          -> power
?atom: INT                    -> num
     | NAME                   -> sym
     | "(" sum ")"
     | "\\left(" sum "\\right)"
     | "\\frac" "{" sum "}" "{" sum "}" -> frac
SIGN: "+" | "-" | "−"
MUL: "·" | "*" | "\\cdot"
POWER: /\^\{?\d+\}?/ | /[⁰¹²³⁴⁵⁶⁷⁸⁹]+/
INT: /\d+/
NAME: /[A-Za-z](_(\{(\\mathrm\{[A-Za-z0-9]+\}|[A-Za-z0-9]+)\}|[A-Za-z0-9]+))?/
%ignore /[ \t]+/
"""


@lru_cache(maxsize=1)
def _parser() -> Any:
    from lark import Lark

    return Lark(GRAMMAR, start="sum", parser="earley")


def _canon(name: str) -> str:
    """``H_{\\mathrm{in}}``, ``H_{in}`` and ``H_in`` are one name."""
    return name.replace("\\mathrm{", "").replace("{", "").replace("}", "")


def mathml_text(markup: str) -> str:
    """MathML (as :func:`derive.export.mathml` writes it) → the text form :func:`parse` reads."""
    import xml.etree.ElementTree as ET

    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    def text_of(el: ET.Element) -> str:
        return "".join(t for t in el.itertext()).strip()

    def walk(el: ET.Element) -> list[str]:
        tag = local(el.tag)
        kids = list(el)
        if tag == "msub":
            return [f"{text_of(kids[0])}_{{{text_of(kids[1])}}}"]
        if tag == "msubsup":  # H_cell²
            return [f"{text_of(kids[0])}_{{{text_of(kids[1])}}}", f"^{{{text_of(kids[2])}}}"]
        if tag == "msup":
            return [*walk(kids[0]), f"^{{{text_of(kids[1])}}}"]
        if tag == "mfrac":
            return ["(", *walk(kids[0]), ")", "/", "(", *walk(kids[1]), ")"]
        if tag in ("mi", "mn"):
            return [text_of(el)]
        if tag == "mo":
            op = text_of(el)
            return [{"\u2212": "-", "\u22c5": "·", "\u00b7": "·"}.get(op, op)]
        return [tok for k in kids for tok in walk(k)]

    return " ".join(walk(ET.fromstring(markup)))


def parse(text: str, names: dict[str, str]) -> Tree:
    """Read a printed formula (text or LaTeX) back into a tree over the size symbols."""
    from lark import Token
    from lark import Tree as LarkTree
    from lark.exceptions import LarkError

    back = {_canon(v): k for k, v in names.items()}

    def walk(node: Any) -> Tree:
        if isinstance(node, Token):
            raise AssertionError(node)
        kids = list(node.children)
        if node.data == "num":
            return ("num", int(kids[0]))
        if node.data == "sym":
            name = _canon(str(kids[0]))
            if name not in back:
                raise ConfigError(f"unknown symbol {name} in formula")
            return ("sym", back[name])
        if node.data == "power":
            base = walk(kids[0])
            if len(kids) == 1:
                return base
            raw = str(kids[1]).strip("^{}")
            raw = raw.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789"))
            return ("pow", base, int(raw))
        if node.data in ("quotient", "frac"):
            parts = [k for k in kids if not isinstance(k, Token)]
            if len(parts) == 1:
                return walk(parts[0])
            return ("div", walk(parts[0]), walk(parts[1]))
        if node.data == "product":
            return ("mul", [walk(k) for k in kids if not isinstance(k, Token)])
        if node.data == "signed":
            if len(kids) == 2 and str(kids[0]) in ("-", "−"):
                return ("mul", [("num", -1), walk(kids[1])])
            return walk(kids[-1])
        if node.data == "sum":
            terms: list[Tree] = []
            sign = 1
            for k in kids:
                if isinstance(k, Token):
                    sign = -1 if str(k) in ("-", "−") else 1
                else:
                    w = walk(k)
                    terms.append(w if sign == 1 else ("mul", [("num", -1), w]))
            return ("add", terms)
        if len(kids) == 1 and isinstance(kids[0], LarkTree):
            return walk(kids[0])
        raise AssertionError(node.data)

    try:
        return walk(_parser().parse(text))
    except LarkError as exc:
        raise ConfigError(f"cannot read the formula back: {exc}") from None
