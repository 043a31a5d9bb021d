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
from derive.infer import Derivation
from derive.model import Call, Concat, Equation, Hadamard, MatMul, Node, Num, Sum, Var
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
        self.params = {p.name: p for p in derivation.parameters}
        self.sizes: dict[str, Poly] = {}
        for v in derivation.variables:
            base = v.name[:-2] if v.name.endswith("_t") else v.name
            self.sizes[base] = v.size
        self.inputs = {v.name[:-2] for v in derivation.variables if v.kind == "input"}
        self.states = {v.name[:-2] for v in derivation.variables if v.kind == "state"}
        self.ops: list[Op] = []

    def matrix(self, node: Node) -> tuple[Poly, ...] | None:
        """The shape of ``node`` if it is a matrix parameter (the left of ``W v``)."""
        if isinstance(node, Var) and node.name in self.params \
                and self.params[node.name].kind == "matrix":
            return self.params[node.name].shape
        return None

    def size(self, node: Node, eq: Equation) -> Poly | None:
        """The size of a vector expression; None for a scalar constant."""
        if isinstance(node, Num):
            return None
        if isinstance(node, Var):
            if node.name in self.params:
                p = self.params[node.name]
                return p.shape[0]
            return self.sizes[node.name]
        if isinstance(node, MatMul):
            assert node.left is not None and node.right is not None
            shape = self.matrix(node.left)
            if shape is not None:
                return shape[0]
            left = self.size(node.left, eq)
            return left if left is not None else self.size(node.right, eq)
        if isinstance(node, Hadamard):
            assert node.left is not None and node.right is not None
            return self.size(node.left, eq) or self.size(node.right, eq)
        if isinstance(node, Sum):
            for t in node.terms:
                s = self.size(t, eq)
                if s is not None:
                    return s
            return None
        if isinstance(node, Call):
            assert node.arg is not None
            return self.size(node.arg, eq)
        if isinstance(node, Concat):
            total = Poly()
            for item in node.items:
                s = self.size(item, eq)
                if s is None:
                    raise ShapeError(f"cannot cost {node.text} in ({eq.number}): a constant "
                                     "inside a concatenation", node.loc)
                total = total + s
            return total
        raise ShapeError(f"cannot cost {node.text} in ({eq.number})", node.loc)  # pragma: no cover

    def operand(self, node: Node) -> str:
        if isinstance(node, Var):
            if node.time == "t-1" and node.name in self.states:
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
        if isinstance(node, (Var, Num)):
            return
        if isinstance(node, MatMul):
            assert node.left is not None and node.right is not None
            left = node.left
            shape = self.matrix(left)
            if shape is not None:
                assert isinstance(left, Var)
                rows, cols = shape
                self.walk(node.right, eq)
                operand = self.operand(node.right)
                self.add("mac", rows * cols, eq, node, operand, left.name)
                self.add("dot", rows, eq, node, operand, left.name)
                return
            self.walk(left, eq)
            self.walk(node.right, eq)
            n = self.size(node, eq)
            if n is not None:  # a scalar times a vector, elementwise
                self.add("mul", n, eq, node)
            return
        if isinstance(node, Hadamard):
            assert node.left is not None and node.right is not None
            self.walk(node.left, eq)
            self.walk(node.right, eq)
            n = self.size(node, eq)
            assert n is not None
            self.add("mul", n, eq, node)
            return
        if isinstance(node, Sum):
            for t in node.terms:
                self.walk(t, eq)
            n = self.size(node, eq)
            assert n is not None
            biases = [t for t in node.terms if isinstance(t, Var) and t.name in self.params
                      and self.params[t.name].role == "bias"]
            constants = [t for t in node.terms if isinstance(t, Num)]
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
        if isinstance(node, Call):
            assert node.arg is not None
            self.walk(node.arg, eq)
            n = self.size(node, eq)
            assert n is not None
            self.add("act", n, eq, node, node.func)
            return
        if isinstance(node, Concat):
            for item in node.items:
                self.walk(item, eq)
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
        out.append(Kept(eq.target.display, c.sizes[eq.target.name], eq.number,
                        "the result of the equation"))

        def visit(node: Node, top: bool, eq: Equation = eq) -> None:
            if isinstance(node, Call):
                assert node.arg is not None
                if not top:
                    out.append(Kept(node.text, c.size(node, eq) or Poly(), eq.number,
                                    "the value of a function inside the equation"))
                visit(node.arg, False)
            elif isinstance(node, Hadamard):
                assert node.left is not None and node.right is not None
                for side in (node.left, node.right):
                    if not isinstance(side, (Var, Num, Call)):
                        out.append(Kept(side.text, c.size(side, eq) or Poly(), eq.number,
                                        "an operand of a Hadamard product"))
                    visit(side, False)
            elif isinstance(node, MatMul):
                assert node.left is not None and node.right is not None
                if not isinstance(node.right, (Var, Num, Call)):
                    out.append(Kept(node.right.text, c.size(node.right, eq) or Poly(),
                                    eq.number, "the vector a matrix multiplies (for the "
                                    "matrix's gradient)"))
                visit(node.left, False)
                visit(node.right, False)
            elif isinstance(node, Sum):
                for t in node.terms:
                    visit(t, False)
            elif isinstance(node, Concat):
                for item in node.items:
                    visit(item, False)

        visit(eq.rhs, True)
    return tuple(out)


def states(derivation: Derivation) -> tuple[tuple[str, Poly], ...]:
    """The recurrent state carried from one step to the next: each state and its size."""
    return tuple((v.name, v.size) for v in derivation.variables if v.kind == "state")
