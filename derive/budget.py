"""Counts → sizes: the largest hidden size within a parameter budget, and matched sizing.

The total count of a stack is a polynomial in the size solved for (the other sizes, L and
D bound). SymPy solves ``total(h) = N`` exactly; the integer answer is the floor of the
largest real root, then checked (and if need be corrected) with exact integer arithmetic,
and finally recounted by :func:`derive.counting.count` through the stored tensors.
"""

from __future__ import annotations

from fractions import Fraction

from derive.records import TYPE_CHECKING, record

if TYPE_CHECKING:
    from typing import Any

from derive.counting import above, convention, count, load, positive_int, stack_poly
from derive.errors import ConfigError
from derive.poly import Poly


@record
class Solution:
    cell: str
    framework: str
    keyword: str  # the size solved for, e.g. hidden_size
    budget: int
    value: int  # the largest size whose count fits
    total: int  # the count at value
    next_total: int  # the count at value + 1 (> budget)
    root: str  # the exact real root of total(x) = budget, as text
    polynomial: str  # total(x) with the other sizes bound
    config: dict[str, Any]

    @property
    def slack(self) -> int:
        return self.budget - self.total

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "framework": self.framework, "solve_for": self.keyword,
                "budget": self.budget, "value": self.value, "total": self.total,
                "slack": self.slack, "next_total": self.next_total, "root": self.root,
                "polynomial": self.polynomial, "config": self.config}


def _univariate(data: dict[str, Any], framework: str, keyword: str, options: dict[str, Any],
                sizes: dict[str, Any]) -> tuple[Poly, str]:
    by_keyword = {s["keyword"]: s["symbol"] for s in data["sizes"]}
    if keyword not in by_keyword:
        raise ConfigError(f"cell {data['cell']} has no size {keyword} to solve for (its sizes: "
                          f"{', '.join(by_keyword)})")
    layers = positive_int("num_layers", options.get("num_layers", 1))
    dirs = 2 if options.get("bidirectional") else 1
    conv = convention(data, framework)
    per_layer = Poly.from_data(conv["per_layer"]["bias" if options.get("bias", True)
                                                  else "no_bias"])
    poly = stack_poly(per_layer, data["input_symbol"], above(conv), Poly.const(layers),
                      Poly.const(dirs))
    for key, sym in by_keyword.items():
        if key == keyword:
            continue
        if sizes.get(key) is None:
            raise ConfigError(f"cell {data['cell']} needs {key} "
                              f"(--{key.replace('_', '-')}) to solve for {keyword}")
        poly = poly.subs(sym, Poly.const(positive_int(key, sizes[key])))
    return poly, by_keyword[keyword]


def _exact(poly: Poly, sym: str, x: Fraction) -> Fraction:
    total = Fraction(0)
    for c, m in poly.terms:
        term = Fraction(c)
        for s, e in m:
            term *= (x if s == sym else Fraction(1)) ** e
        total += term
    return total


def _largest_fitting(poly: Poly, sym: str, budget: int) -> tuple[int, str]:
    """The largest x ≥ 0 with poly(x) ≤ budget (poly increasing for x ≥ 1), found with
    exact integers (doubling, then bisection: no SymPy), and the root to 12 digits."""

    def fits(v: int) -> bool:
        return _exact(poly, sym, Fraction(v)) <= budget

    if not fits(1):
        return 0, "below 1"
    hi = 2
    while fits(hi):
        hi *= 2
    lo = hi // 2  # fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    a, b = Fraction(lo), Fraction(lo + 1)  # the root lies in [lo, lo + 1)
    for _ in range(64):
        mid = (a + b) / 2
        a, b = (mid, b) if _exact(poly, sym, mid) <= budget else (a, mid)
    return lo, f"≈ {_decimal(a, 12)}"


def _decimal(x: Fraction, digits: int) -> str:
    """x rounded to ``digits`` significant digits (x ≥ 0)."""
    places = max(digits - len(str(int(x))), 0)
    scaled = round(x * 10**places)
    whole, frac = divmod(scaled, 10**places)
    return f"{whole}.{frac:0{places}d}".rstrip("0").rstrip(".") if places else str(whole)


def exact_root(poly: Poly, sym: str, budget: int) -> str:
    """The real root of poly(x) = budget as SymPy writes it (imports SymPy)."""
    import sympy

    from derive.closedform import symbol, to_sympy

    x = sympy.Symbol(sym, real=True)  # not integer: the root seldom is
    expr = to_sympy(poly).subs(symbol(sym), x)
    roots = [r for r in sympy.solve(sympy.Eq(expr, budget), x) if r.is_real]
    root = max(roots, key=lambda r: sympy.N(r, 50)) if roots else sympy.Integer(0)
    return f"= {sympy.sstr(root)} ≈ {sympy.N(root, 12)}"


def solve(cell: str, framework: str = "equations", *, budget: Any,
          solve_for: str = "hidden_size", num_layers: int = 1, bidirectional: bool = False,
          bias: bool = True, reset_after: bool | None = None, exact: bool = False,
          **sizes: Any) -> Solution:
    """The largest ``solve_for`` whose parameter count fits ``budget``; with ``exact``, the
    root also as SymPy solves it (the only part of this that needs SymPy).

    >>> solve("lstm", "pytorch", budget=1_000_000, input_size=512).value
    305
    """
    n = positive_int("budget", budget)
    if sizes.get(solve_for) is not None:
        raise ConfigError(f"{solve_for} is what derive solve finds; do not also give it "
                          f"({solve_for}={sizes[solve_for]})")
    options = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    data, _ = load(cell, {**{k: positive_int(k, v, allow_zero=True) for k, v in sizes.items()
                             if v is not None}, "reset_after": reset_after})
    poly, sym = _univariate(data, framework, solve_for, options, sizes)
    value, root = _largest_fitting(poly, sym, n)
    if exact:
        root = exact_root(poly, sym, n)
    if value < 1:
        need = poly.evaluate({sym: 1})
        raise ConfigError(f"a budget of {n:,} parameters is too small for {data['cell']} "
                          f"({framework}): {solve_for}=1 already needs {need:,}")
    fixed = {**sizes, solve_for: value}
    recount = count(cell, framework, reset_after=reset_after, **options, **fixed)
    assert recount.total == poly.evaluate({sym: value}), "stack polynomial != tensor count"
    return Solution(data["cell"], framework, solve_for, n, value, recount.total,
                    poly.evaluate({sym: value + 1}), root, _text(poly, data), recount.config)


def _text(poly: Poly, data: dict[str, Any]) -> str:
    from derive import printing

    order = [s["symbol"] for s in data["sizes"]]
    return printing.to_text(printing.poly_tree(poly, order), {s: s for s in order})


@record
class Match:
    cell: str
    target: int  # the count to match
    value: int  # the hidden size of ``cell`` whose count is closest
    total: int

    @property
    def difference(self) -> int:
        return self.total - self.target

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "target": self.target, "hidden_size": self.value,
                "total": self.total, "difference": self.difference}


def match(cell: str, to: list[str], framework: str = "equations", *,
          solve_for: str = "hidden_size", num_layers: int = 1, bidirectional: bool = False,
          bias: bool = True, **sizes: Any) -> tuple[int, list[Match]]:
    """For each cell of ``to``, the ``solve_for`` whose count is closest to ``cell``'s.

    Ties go to the smaller size. Returns ``cell``'s count and one :class:`Match` per cell.
    """
    options = dict(num_layers=num_layers, bidirectional=bidirectional, bias=bias)
    target = count(cell, framework, **options, **sizes).total
    out = []
    for other in to:
        data, _ = load(other, {})
        declared = {s["keyword"] for s in data["sizes"]}
        theirs = {k: v for k, v in sizes.items() if k in declared and k != solve_for}
        poly, sym = _univariate(data, framework, solve_for, options, theirs)
        below, _ = _largest_fitting(poly, sym, target)
        candidates = [v for v in (below, below + 1) if v >= 1]
        best = min(candidates, key=lambda v: (abs(poly.evaluate({sym: v}) - target), v))
        total = count(other, framework, **options, **theirs, **{solve_for: best}).total
        out.append(Match(data["cell"], target, best, total))
    return target, out
