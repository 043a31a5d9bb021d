"""Closed forms with SymPy: the count of a layer, and of L layers in D directions.

The engine's polynomials become SymPy expressions here, built term by term from exact
integers and symbols (never from text). ``L`` and ``D`` stay symbolic.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import sympy

from derive.poly import Poly

LAYERS = "L"
DIRECTIONS = "D"


@cache
def symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, positive=True, integer=True)


def to_sympy(poly: Poly) -> sympy.Expr:
    out: Any = sympy.Integer(0)
    for coeff, monomial in poly.terms:
        term: Any = sympy.Integer(coeff)
        for name, power in monomial:
            term = term * symbol(name) ** power
        out = out + term
    return out


def layer_formula(per_layer: Poly, input_symbol: str, value: Poly) -> sympy.Expr:
    """One layer and direction whose input has size ``value``, factored."""
    return sympy.factor(to_sympy(per_layer.subs(input_symbol, value)))


def closed_form(per_layer: Poly, input_symbol: str, above: Poly, stackable: bool) -> sympy.Expr:
    """D·(P(d) + (L − 1)·P(a)): layer 1 sees the input, the others ``above`` features (a
    polynomial in D: D·o when the directions are concatenated, o for separate stacks)."""
    first = layer_formula(per_layer, input_symbol, Poly.symbol(input_symbol))
    if not stackable:
        return first
    L, D = symbol(LAYERS), symbol(DIRECTIONS)
    upper = layer_formula(per_layer, input_symbol, above)
    return D * (first + (L - 1) * upper)


