"""Exact polynomials in size symbols, in pure Python.

This is what the ``count`` path evaluates: it needs neither SymPy nor the parser, so a
cached derivation can be turned into exact integers in a few microseconds. SymPy
objects are built from these only when a formula is asked for.

>>> h, d = Poly.symbol("h"), Poly.symbol("d")
>>> p = Poly.const(4) * h * (d + h) + Poly.const(8) * h
>>> p.evaluate({"h": 256, "d": 512})
788480
>>> str(p)
'4·d·h + 4·h² + 8·h'
"""

from __future__ import annotations

from derive.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

Monomial = tuple[tuple[str, int], ...]


class Poly:
    """A polynomial with integer coefficients; ``terms`` is sorted, no zero coefficients.

    Immutable and hashable. (A plain class: dataclasses would cost the count path ~10 ms.)
    """

    __slots__ = ("terms",)
    terms: tuple[tuple[int, Monomial], ...]

    def __init__(self, terms: tuple[tuple[int, Monomial], ...] = ()) -> None:
        object.__setattr__(self, "terms", terms)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Poly is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Poly) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(self.terms)

    def __repr__(self) -> str:
        return f"Poly({str(self)!r})"

    # ---------------------------------------------------------------- construction
    @staticmethod
    def const(value: int) -> Poly:
        return Poly(((value, ()),)) if value else Poly()

    @staticmethod
    def symbol(name: str) -> Poly:
        return Poly(((1, ((name, 1),)),))

    @staticmethod
    def _make(acc: dict[Monomial, int]) -> Poly:
        return Poly(tuple(sorted(((c, m) for m, c in acc.items() if c), key=_order)))

    # ---------------------------------------------------------------- arithmetic
    def __add__(self, other: Poly) -> Poly:
        acc: dict[Monomial, int] = {}
        for c, m in self.terms + other.terms:
            acc[m] = acc.get(m, 0) + c
        return Poly._make(acc)

    def __neg__(self) -> Poly:
        return Poly(tuple((-c, m) for c, m in self.terms))

    def __sub__(self, other: Poly) -> Poly:
        return self + (-other)

    def __mul__(self, other: Poly) -> Poly:
        acc: dict[Monomial, int] = {}
        for c1, m1 in self.terms:
            for c2, m2 in other.terms:
                powers = dict(m1)
                for s, e in m2:
                    powers[s] = powers.get(s, 0) + e
                m = tuple(sorted((s, e) for s, e in powers.items() if e))
                acc[m] = acc.get(m, 0) + c1 * c2
        return Poly._make(acc)

    @staticmethod
    def product(factors: Any) -> Poly:
        """The product of an iterable of polynomials (1 for none)."""
        out = Poly.const(1)
        for f in factors:
            out = out * f
        return out

    def subs(self, name: str, value: Poly) -> Poly:
        out = Poly()
        for c, m in self.terms:
            term = Poly.const(c)
            for s, e in m:
                factor = value if s == name else Poly.symbol(s)
                if e < 0:
                    factor = factor.reciprocal()
                for _ in range(abs(e)):
                    term = term * factor
            out = out + term
        return out

    def reciprocal(self) -> Poly:
        """1/p for a monomial with coefficient ±1 (a block count such as n_h); else an error."""
        if len(self.terms) != 1 or abs(self.terms[0][0]) != 1:
            raise ValueError(f"1/({self}) is not a monomial")
        c, m = self.terms[0]
        return Poly(((c, tuple((s, -e) for s, e in m)),))

    @staticmethod
    def monomial(name: str, exponent: int) -> Poly:
        return Poly(((1, ((name, exponent),)),)) if exponent else Poly.const(1)

    # ---------------------------------------------------------------- queries
    @property
    def is_zero(self) -> bool:
        return not self.terms

    @property
    def symbols(self) -> frozenset[str]:
        return frozenset(s for _, m in self.terms for s, _ in m)

    @property
    def constant(self) -> int | None:
        """The value if the polynomial is a constant, else None."""
        if not self.terms:
            return 0
        if len(self.terms) == 1 and self.terms[0][1] == ():
            return self.terms[0][0]
        return None

    def evaluate(self, env: dict[str, int]) -> int:
        """The exact integer value. A term with a negative power (a block count: d²/n)
        is divided exactly; a value that is not an integer is a ValueError (the caller has
        checked the divisibility the cell requires)."""
        total = 0
        den_total = 1
        for c, m in self.terms:
            num, den = c, 1
            for s, e in m:
                if e >= 0:
                    num *= env[s] ** e
                else:
                    den *= env[s] ** -e
            if den == 1:
                total += num * den_total
            else:
                total = total * den + num * den_total
                den_total *= den
        if den_total == 1:
            return total
        q, r = divmod(total, den_total)
        if r:
            raise ValueError(f"{self} is not a whole number at {env}")
        return q

    @property
    def has_division(self) -> bool:
        return any(e < 0 for _, m in self.terms for _, e in m)

    # ---------------------------------------------------------------- text and data
    def __str__(self) -> str:
        """Expanded, in derive's notation: ``4·d·h + 4·h² − 2``, ``h/n_h``."""
        if not self.terms:
            return "0"
        out = ""
        for i, (c, m) in enumerate(self.terms):
            sign = "−" if c < 0 else "+"
            mag = abs(c)
            factors = [s if e == 1 else f"{s}{_sup(e)}" for s, e in m if e > 0]
            below = [s if e == -1 else f"{s}{_sup(-e)}" for s, e in m if e < 0]
            body = "·".join(([str(mag)] if mag != 1 or not factors else []) + factors)
            if below:
                body += "/" + (below[0] if len(below) == 1 else "(" + "·".join(below) + ")")
            out += (("−" if sign == "−" else "") if i == 0 else f" {sign} ") + body
        return out

    def to_data(self) -> list[Any]:
        return [[c, [[s, e] for s, e in m]] for c, m in self.terms]

    @staticmethod
    def from_data(data: list[Any]) -> Poly:
        return Poly(tuple((int(c), tuple((str(s), int(e)) for s, e in m)) for c, m in data))


def _order(term: tuple[int, Monomial]) -> tuple[int, Monomial]:
    """Higher degree first, then alphabetical: the order a person writes."""
    _c, m = term
    return (-sum(e for _, e in m), m)


def _sup(e: int) -> str:
    return str(e).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
