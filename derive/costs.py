"""Shapes → compute: the operations one step of a cell performs, read off its equations.

Every operation is derived from a node of the equations and the shapes inference found:
a product ``W v`` with ``W`` of shape r×c is r·c multiply-accumulates; a sum of k terms of
size n is (k − 1)·n additions (those that add a bias vector are kept apart); a Hadamard
product or a scalar times a vector is n multiplications; a function applied to a vector of
size n is n evaluations of it. Nothing here is hand-typed per cell: a user's cell is costed
by the same walk as the catalog's.

The result is a tuple of :class:`Op` for one step, one layer, one direction and one batch
element; :mod:`derive.costing` weighs them by a compute convention and scales them by
batch, sequence length, layers and directions.
"""

from __future__ import annotations

from dataclasses import dataclass

from derive.errors import ShapeError
from derive.infer import Derivation, Parameter, children, walk
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


@dataclass(frozen=True)
class Op:
    """``count`` operations of one kind, from one term of one equation.

    ``operand`` says, for a product, what the matrix multiplies: ``input`` (the layer's
    input), ``recurrent`` (a state at t−1), ``intermediate`` (a value of this step, e.g. the
    projection's m_t) or ``mixed`` (a concatenation of several); for ``act`` it is the
    function's name; for ``add``, ``constant`` marks a scalar added to a vector (1 − z_t).
    """

    kind: str
    count: Poly
    equation: int
    term: str
    operand: str = ""
    parameter: str = ""

    def to_data(self) -> dict[str, object]:
        return {"kind": self.kind, "count": self.count.to_data(), "equation": self.equation,
                "term": self.term, "operand": self.operand, "parameter": self.parameter}


class _Costing:
    def __init__(self, derivation: Derivation) -> None:
        self.derivation = derivation
        self.params = {p.name: p for p in derivation.parameters}
        self.sizes: dict[str, Poly] = {}
        for v in derivation.variables:
            base = v.name[:-2] if v.name.endswith("_t") else v.name
            self.sizes[base] = v.size
        self.inputs = {v.name[:-2] for v in derivation.variables if v.kind == "input"}
        self.states = {v.name[:-2] for v in derivation.variables if v.kind == "state"}
        self.ops: list[Op] = []

    def matrix(self, node: Node) -> Parameter | None:
        """The parameter if ``node`` is a matrix parameter (the left of ``W v``)."""
        if isinstance(node, Var) and node.time is None and node.name in self.params \
                and self.params[node.name].kind == "matrix":
            return self.params[node.name]
        return None

    def shape(self, node: Node) -> tuple[Poly, ...] | None:
        return self.derivation.shape_of(node)

    def size(self, node: Node, eq: Equation) -> Poly | None:
        """The number of elements of a value; None for a number."""
        if isinstance(node, (Num, SizeRef)):
            return None
        if isinstance(node, Var) and node.time is None and node.name in self.params:
            return self.params[node.name].count
        shape = self.shape(node)
        if shape is None:
            if isinstance(node, Var) and node.name in self.sizes:
                return self.sizes[node.name]
            return None
        return Poly.product(shape)

    def operand(self, node: Node) -> str:
        if isinstance(node, Var):
            if node.time not in (None, "t") and node.name in self.states:
                return "recurrent"
            if node.name in self.inputs:
                return "input"
            return "intermediate"
        if isinstance(node, Concat):
            kinds = {self.operand(i) for i in node.items}
            return kinds.pop() if len(kinds) == 1 else "mixed"
        return "intermediate"

    def add(self, kind: str, count: Poly, eq: Equation, node: Node, operand: str = "",
            parameter: str = "") -> None:
        if not count.is_zero:
            self.ops.append(Op(kind, count, eq.number, node.text, operand, parameter))

    def walk(self, node: Node, eq: Equation) -> None:
        for child, _parent in reversed(walk(node)):  # operands before what uses them
            self.visit(child, eq)

    def visit(self, node: Node, eq: Equation) -> None:
        if isinstance(node, (Var, Num, SizeRef, Transpose, Concat)):
            return
        if isinstance(node, MatMul):
            assert node.left is not None and node.right is not None
            p = self.matrix(node.left)
            operand = self.operand(node.right)
            if p is not None:  # W v, applied at every position of v's further axes
                rest = Poly.product((self.shape(node.right) or (p.cols,))[1:])
                self.add("mac", p.count * rest, eq, node, operand, p.name)
                self.add("dot", p.rows * rest, eq, node, operand, p.name)
                return
            a, b = self.shape(node.left), self.shape(node.right)
            if not a or not b:  # a scalar times a value
                n = self.size(node, eq)
                if n is not None:
                    self.add("mul", n, eq, node)
                return
            if len(a) == 2:  # A v or A B: rows of A times the columns of the result
                out = Poly.product(self.shape(node) or ())
                self.add("mac", out * a[1], eq, node, operand)
                self.add("dot", out, eq, node, operand)
                return
            n = self.size(node, eq)  # v kᵀ: an outer product
            if n is not None:
                self.add("mul", n, eq, node)
            return
        if isinstance(node, Conv):
            assert isinstance(node.left, Var) and node.right is not None
            kernel = self.params[node.left.name]
            out = self.shape(node) or ()
            positions = Poly.product(out[1:])
            operand = self.operand(node.right)
            self.add("mac", kernel.count * positions, eq, node, operand, kernel.name)
            self.add("dot", Poly.product(out), eq, node, operand, kernel.name)
            return
        if isinstance(node, (Hadamard, Div)):
            n = self.size(node, eq)
            if n is not None:
                self.add("mul", n, eq, node)
            return
        if isinstance(node, Sum):
            n = self.size(node, eq)
            if n is None:
                return
            biases = [t for t in node.terms if isinstance(t, Var) and t.name in self.params
                      and self.params[t.name].role == "bias"]
            constants = [t for t in node.terms if isinstance(t, (Num, SizeRef))]
            adds = len(node.terms) - 1
            with_bias = min(len(biases), adds)
            for b in biases[:with_bias]:
                assert isinstance(b, Var)
                self.add("bias", n, eq, b, "", b.name)
            with_constant = min(len(constants), adds - with_bias)
            for _ in range(with_constant):  # 1 − z_t: a scalar broadcast over a vector
                self.add("add", n, eq, node, "constant")
            self.add("add", Poly.const(adds - with_bias - with_constant) * n, eq, node)
            return
        if isinstance(node, (Call, Power)):
            n = self.size(node, eq)
            if n is not None:
                func = node.func if isinstance(node, Call) else "pow"
                self.add("act", n, eq, node, func)
            return
        if isinstance(node, Norm):
            n = self.size(node, eq)
            if n is not None:
                self.add("act", n, eq, node, node.func)
                if node.params:
                    self.add("mul", n, eq, node, "", node.params[0].name)
                if len(node.params) > 1:
                    self.add("bias", n, eq, node, "", node.params[1].name)
            return
        raise ShapeError(f"cannot cost {node.text} in ({eq.number})", node.loc)  # pragma: no cover


def operations(derivation: Derivation) -> tuple[Op, ...]:
    """The operations of one step (one layer, one direction, one batch element)."""
    c = _Costing(derivation)
    for eq in derivation.equations:
        c.walk(eq.rhs, eq)
    return tuple(c.ops)


@dataclass(frozen=True)
class Kept:
    """A value one step keeps for backpropagation through time, and why."""

    what: str
    size: Poly
    equation: int
    reason: str

    def to_data(self) -> dict[str, object]:
        return {"what": self.what, "size": self.size.to_data(), "equation": self.equation,
                "reason": self.reason}


def kept(derivation: Derivation) -> tuple[Kept, ...]:
    """The values one step keeps for the backward pass (the assumptions are stated in
    :data:`derive.costing.ASSUMPTIONS`)."""
    c = _Costing(derivation)
    out: list[Kept] = []
    for eq in derivation.equations:
        size = Poly()
        for t in eq.targets:
            size = size + c.sizes[t.name]
        out.append(Kept(eq.lhs_display, size, eq.number,
                        "the result of the equation"))

        def visit(node: Node, top: bool, eq: Equation = eq) -> None:
            plain = (Var, Num, SizeRef, Call, Norm, Power)  # kept as themselves, or free

            def keep(what: Node, why: str) -> None:
                size = c.size(what, eq)
                if size is not None and not (isinstance(what, Transpose)
                                             and isinstance(what.arg, Var)):
                    out.append(Kept(what.text, size, eq.number, why))

            stack = [(node, top)]
            while stack:
                cur, is_top = stack.pop()
                if isinstance(cur, (Call, Norm, Power)) and not is_top:
                    keep(cur, "the value of a function inside the equation")
                elif isinstance(cur, (Hadamard, Div)):
                    for side in (cur.left, cur.right):
                        if side is not None and not isinstance(side, plain):
                            keep(side, "an operand of a Hadamard product")
                elif isinstance(cur, (MatMul, Conv)):
                    right = cur.right
                    if right is not None and not isinstance(right, plain):
                        keep(right, "the vector a matrix multiplies (for the matrix's gradient)")
                stack.extend((ch, False) for ch in reversed(children(cur)))

        visit(eq.rhs, True)
    return tuple(out)


def states(derivation: Derivation) -> tuple[tuple[str, Poly], ...]:
    """The recurrent state carried from one step to the next: each state and its size."""
    return tuple((v.name, v.size) for v in derivation.variables if v.kind == "state")
