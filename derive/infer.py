"""Shape inference by conformability, with a trace.

Every dimension in the equations is a node: the rows and columns of each parameter
matrix, the size of each parameter vector, the size of each variable at t and t-1, the
size of each concatenation. The equations give equalities between nodes (a matrix's
columns equal the size of what it multiplies; the terms of a sum have equal size; ...)
and the declarations bind some nodes to sizes. A union-find merges equal nodes; a class
carries at most one value, an exact polynomial in the size symbols. Three outcomes:

* equal: the values agree, nothing to say;
* unequal: two different values meet, :class:`~derive.errors.ShapeError` at the term
  that joined them, with how each side got its size;
* undetermined: a class never receives a value, :class:`~derive.errors.UndeterminedError`
  asking for a declaration.

Every equality keeps its reason, so the size of any dimension is explained by the
shortest chain of reasons from it to the declaration that fixed it.

SymPy's matrix expressions are not used here: they accept ``W(h×h) · x(d×1)`` silently.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from derive.errors import Loc, ShapeError, UndeterminedError
from derive.model import Call, Cell, Concat, Equation, Hadamard, MatMul, Node, Num, Sum, Var
from derive.poly import Poly

# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Step:
    """One link of a derivation chain: ``left = right`` because ``reason``."""

    left: str
    right: str
    reason: str


@dataclass(frozen=True)
class DimTrace:
    axis: str  # "rows", "columns" or "size"
    value: Poly
    steps: tuple[Step, ...]

    @property
    def because(self) -> str:
        """The chain of reasons, as one clause."""
        return "; ".join(s.reason for s in self.steps)


@dataclass(frozen=True)
class Parameter:
    """A learnable parameter, its inferred shape and how the equations use it.

    ``role`` is ``weight`` (a matrix that multiplies), ``bias`` (a vector added to a
    sum), ``diagonal`` (a vector in a Hadamard product, e.g. a peephole) or ``vector``.
    ``multiplies`` names what a weight multiplies (``x_t``, ``h_{t-1}``, ...).
    """

    name: str
    kind: str  # "matrix" or "vector"
    role: str
    shape: tuple[Poly, ...]
    traces: tuple[DimTrace, ...]
    multiplies: str
    equation: int
    loc: Loc

    @property
    def count(self) -> Poly:
        return Poly.product(self.shape)


@dataclass(frozen=True)
class Variable:
    name: str  # display name, e.g. "h_t"
    kind: str  # "input", "state" or "intermediate"
    size: Poly
    trace: DimTrace
    description: str


@dataclass(frozen=True)
class Derivation:
    """Everything inference found for one set of equations of a cell."""

    cell: str
    convention: str
    equations: tuple[Equation, ...]
    parameters: tuple[Parameter, ...]
    variables: tuple[Variable, ...]

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def count(self) -> Poly:
        out = Poly()
        for p in self.parameters:
            out = out + p.count
        return out


# ---------------------------------------------------------------- the union-find


@dataclass
class _Edge:
    a: str
    b: str
    reason: str
    loc: Loc | None


class _Unifier:
    def __init__(self, labels: dict[str, str]) -> None:
        self.parent: dict[str, str] = {}
        self.value: dict[str, tuple[Poly, str, str]] = {}  # root -> (value, source node, why)
        self.adj: dict[str, list[tuple[str, str]]] = {}
        self.labels = labels

    def node(self, n: str, label: str) -> str:
        if n not in self.parent:
            self.parent[n] = n
            self.adj[n] = []
            self.labels[n] = label
        return n

    def find(self, n: str) -> str:
        while self.parent[n] != n:
            self.parent[n] = self.parent[self.parent[n]]
            n = self.parent[n]
        return n

    def bind(self, n: str, value: Poly, why: str, loc: Loc | None) -> None:
        root = self.find(n)
        if root in self.value:
            old, _src, _old_why = self.value[root]
            if (old - value).is_zero:
                return
            raise ShapeError(
                f"{self.labels[n]} would be {value} ({why}), but it is already {old}",
                loc, self.explain_value(n, "it is already " + str(old)))
        self.value[root] = (value, n, why)

    def union(self, edge: _Edge) -> None:
        self.adj[edge.a].append((edge.b, edge.reason))
        self.adj[edge.b].append((edge.a, edge.reason))
        ra, rb = self.find(edge.a), self.find(edge.b)
        if ra == rb:
            return
        va, vb = self.value.get(ra), self.value.get(rb)
        if va and vb and not (va[0] - vb[0]).is_zero:
            # Undo the adjacency so the explanations below show the two sides apart.
            self.adj[edge.a].pop()
            self.adj[edge.b].pop()
            left = self.explain(edge.a)
            right = self.explain(edge.b)
            detail = [f"  {self.labels[edge.a]} = {va[0]}:", *_indent_steps(left),
                      f"  {self.labels[edge.b]} = {vb[0]}:", *_indent_steps(right)]
            syms = sorted((va[0] - vb[0]).symbols)
            hint = (f"; {' and '.join(syms)} are independent sizes" if len(syms) > 1 else "")
            raise ShapeError(
                f"size mismatch: {edge.reason}, so {self.labels[edge.a]} must equal "
                f"{self.labels[edge.b]}, but they are {va[0]} and {vb[0]}{hint}",
                edge.loc, "\n".join(detail))
        self.parent[rb] = ra
        if vb and not va:
            self.value[ra] = vb
        self.value.pop(rb, None)

    def get(self, n: str) -> Poly | None:
        v = self.value.get(self.find(n))
        return v[0] if v else None

    def explain(self, n: str) -> tuple[Step, ...]:
        """The shortest chain of reasons from node n to the binding of its class."""
        root = self.find(n)
        if root not in self.value:
            return ()
        _, src, why = self.value[root]
        prev: dict[str, tuple[str, str] | None] = {n: None}
        queue = deque([n])
        while queue:
            cur = queue.popleft()
            if cur == src:
                break
            for nxt, reason in self.adj[cur]:
                if nxt not in prev:
                    prev[nxt] = (cur, reason)
                    queue.append(nxt)
        path: list[Step] = []
        cur = src
        while prev.get(cur) is not None:
            before, reason = prev[cur]  # type: ignore[misc]
            path.append(Step(self.labels[before], self.labels[cur], reason))
            cur = before
        path.reverse()
        path.append(Step(self.labels[src], str(self.value[root][0]), why))
        return tuple(path)

    def explain_value(self, n: str, _: str) -> str:
        return "\n".join(_indent_steps(self.explain(n)))


def _indent_steps(steps: tuple[Step, ...]) -> list[str]:
    return [f"    {s.left} = {s.right}: {s.reason}" for s in steps]


# ---------------------------------------------------------------- the walk


def _role_of(parent: Node | None, node: Var) -> str:
    if isinstance(parent, MatMul) and parent.left is node:
        return "weight"
    if isinstance(parent, Sum) or parent is None:
        return "bias"
    if isinstance(parent, Hadamard):
        return "diagonal"
    return "vector"


def _walk(node: Node, parent: Node | None = None):  # type: ignore[no-untyped-def]
    yield node, parent
    children: tuple[Node | None, ...] = ()
    if isinstance(node, Call):
        children = (node.arg,)
    elif isinstance(node, (MatMul, Hadamard)):
        children = (node.left, node.right)
    elif isinstance(node, Sum):
        children = node.terms
    elif isinstance(node, Concat):
        children = node.items
    for child in children:
        if child is not None:
            yield from _walk(child, node)


class _Inference:
    def __init__(self, cell: Cell, equations: tuple[Equation, ...], convention: str) -> None:
        self.cell, self.equations, self.convention = cell, equations, convention
        self.labels: dict[str, str] = {}
        self.u = _Unifier(self.labels)
        self.defined: dict[str, Equation] = {e.target.name: e for e in equations}
        self.decl = {d.name: d for d in cell.decls}
        self.states = {d.name for d in cell.decls if d.kind == "state"}
        for eq in equations:
            for node, _ in _walk(eq.rhs):
                if isinstance(node, Var) and node.time == "t-1" and node.name in self.defined:
                    self.states.add(node.name)
        self.kinds: dict[str, tuple[str, str, Node, Equation]] = {}
        self.constraints: list[tuple[str, list[str], Concat, Equation]] = []
        self.multiplies: dict[str, str] = {}

    # -- labels
    def var_node(self, name: str, time: str) -> str:
        shown = f"{name}_t" if time == "t" else f"{name}_{{t-1}}"
        return self.u.node(f"var:{name}@{time}", f"the size of {shown}")

    def param_nodes(self, name: str) -> tuple[str, ...]:
        kind = self.kinds[name][0]
        if kind == "matrix":
            return (self.u.node(f"rows:{name}", f"the rows of {name}"),
                    self.u.node(f"cols:{name}", f"the columns of {name}"))
        return (self.u.node(f"size:{name}", f"the size of {name}"),)

    # -- pass 1: what each name is
    def classify(self) -> None:
        seen_eq: set[str] = set()
        for eq in self.equations:
            if eq.target.name in seen_eq:
                raise ShapeError(f"{eq.target.display} is defined twice", eq.target.loc)
            if eq.target.name in self.decl and self.decl[eq.target.name].kind == "input":
                raise ShapeError(f"{eq.target.display} is an input; it cannot be defined by an "
                                 "equation", eq.target.loc)
            for node, parent in _walk(eq.rhs):
                if not isinstance(node, Var):
                    continue
                self._check_var(node, parent, eq, seen_eq)
            seen_eq.add(eq.target.name)
        for d in self.cell.decls:
            if d.kind != "input" and d.name not in self.defined:
                kind = "state" if d.kind == "state" else "variable"
                raise ShapeError(f"the {kind} {d.name}_t has no equation", d.loc)
            if d.kind == "input" and not any(
                    isinstance(n, Var) and n.name == d.name for e in self.equations
                    for n, _ in _walk(e.rhs)):
                raise ShapeError(f"the input {d.name}_t is declared but no equation uses it",
                                 d.loc)

    def _check_var(self, node: Var, parent: Node | None, eq: Equation, seen: set[str]) -> None:
        name = node.name
        if node.time is None:
            if name in self.defined or name in self.decl:
                raise ShapeError(f"{name} is a variable; write {name}_t or {name}_{{t-1}}",
                                 node.loc)
            role = _role_of(parent, node)
            kind = "matrix" if role == "weight" else "vector"
            if name in self.kinds:
                known, _, _first, first_eq = self.kinds[name]
                if known != kind:
                    use = "multiplies a vector" if known == "matrix" else "is used as a vector"
                    raise ShapeError(
                        f"{name} is used as a {kind} here, but it {use} in ({first_eq.number}) "
                        f"{first_eq.source}", node.loc)
            else:
                self.kinds[name] = (kind, role, node, eq)
            return
        if node.time == "t-1":
            if name in self.decl and self.decl[name].kind == "input":
                raise ShapeError(f"{name}_{{t-1}}: {name}_t is an input, not a state", node.loc)
            if name not in self.defined:
                raise ShapeError(f"{node.text} is the previous value of {name}_t, but no "
                                 f"equation defines {name}_t", node.loc)
            return
        if name in self.decl and self.decl[name].kind == "input":
            return
        if name not in self.defined:
            raise ShapeError(f"{node.text} is neither an input nor defined by an equation; "
                             f"declare it ('input {name}_t ∈ ℝ^n') or add an equation for it",
                             node.loc)
        if name not in seen:
            if name == eq.target.name:
                raise ShapeError(f"{node.text} is used in its own equation; write "
                                 f"{name}_{{t-1}} for its previous value", node.loc)
            raise ShapeError(f"{node.text} is used in ({eq.number}) before its equation "
                             f"({self.defined[name].number})", node.loc)

    # -- pass 2: equalities
    def dim(self, node: Node, eq: Equation) -> str | None:
        n = eq.number
        if isinstance(node, Num):
            return None
        if isinstance(node, Var):
            if node.time is None:
                nodes = self.param_nodes(node.name)
                if len(nodes) != 1:  # pragma: no cover - classify() forbids it
                    raise ShapeError(f"{node.name} is a matrix used as a vector", node.loc)
                return nodes[0]
            return self.var_node(node.name, node.time)
        if isinstance(node, Call):
            assert node.arg is not None
            return self.dim(node.arg, eq)
        if isinstance(node, MatMul):
            assert node.left is not None and node.right is not None
            right = self.dim(node.right, eq)
            left = node.left
            if isinstance(left, Num):
                return right
            if not (isinstance(left, Var) and left.time is None):
                raise ShapeError(
                    f"{node.text}: writing two factors side by side is a matrix-vector "
                    f"product, and {left.text} is not a parameter matrix; write "
                    f"{left.text} ⊙ {node.right.text} for an elementwise product", node.loc)
            if right is None:
                raise ShapeError(f"{node.text}: {left.text} multiplies a constant, not a "
                                 "vector", node.loc)
            rows, cols = self.param_nodes(left.name)
            self.multiplies.setdefault(left.name, node.right.text)
            self.u.union(_Edge(cols, right, f"{left.name} multiplies {node.right.text} in ({n})",
                               node.loc))
            return rows
        if isinstance(node, Hadamard):
            assert node.left is not None and node.right is not None
            a, b = self.dim(node.left, eq), self.dim(node.right, eq)
            if a is None or b is None:
                return a or b
            self.u.union(_Edge(a, b, f"{node.left.text} and {node.right.text} are multiplied "
                                     f"elementwise in ({n})", node.loc))
            return a
        if isinstance(node, Sum):
            first: tuple[str, Node] | None = None
            for term in node.terms:
                d = self.dim(term, eq)
                if d is None:
                    continue
                if first is None:
                    first = (d, term)
                else:
                    self.u.union(_Edge(first[0], d, f"{first[1].text} and {term.text} are terms "
                                                    f"of the same sum in ({n})", term.loc))
            return first[0] if first else None
        if isinstance(node, Concat):
            parts: list[str] = []
            for item in node.items:
                d = self.dim(item, eq)
                if d is None:
                    raise ShapeError(f"{item.text}: a constant cannot be stacked into a vector",
                                     item.loc)
                parts.append(d)
            cat = self.u.node(f"cat:{eq.number}:{node.loc.col}", f"the size of {node.text}")
            self.constraints.append((cat, parts, node, eq))
            return cat
        raise AssertionError(node)  # pragma: no cover

    def run(self) -> Derivation:
        self.classify()
        for d in self.cell.decls:
            node = self.var_node(d.name, "t")
            if d.size is not None:
                self.u.bind(node, d.size, f"{d.name}_t is declared ∈ ℝ^{_sup(d.size)} "
                                          f"(line {d.loc.line})", d.loc)
        for name in sorted(self.states):
            self.u.union(_Edge(self.var_node(name, "t-1"), self.var_node(name, "t"),
                               f"{name}_{{t-1}} is the state {name}_t one step earlier", None))
        for eq in self.equations:
            rhs = self.dim(eq.rhs, eq)
            if rhs is None:
                raise ShapeError(f"{eq.target.display} is defined as a constant", eq.loc)
            self.u.union(_Edge(self.var_node(eq.target.name, "t"), rhs,
                               f"{eq.target.display} is defined by ({eq.number})", eq.target.loc))
        self.solve_constraints()
        return self.result()

    def solve_constraints(self) -> None:
        pending = list(self.constraints)
        while pending:
            progress = False
            for c in list(pending):
                cat, parts, node, eq = c
                values = [self.u.get(p) for p in parts]
                total = self.u.get(cat)
                why = f"the size of {node.text} is the sum of the sizes of its parts"
                if all(v is not None for v in values):
                    s = Poly()
                    for v in values:
                        s = s + v  # type: ignore[operator]
                    self.u.bind(cat, s, why, node.loc)
                elif total is not None and sum(v is None for v in values) == 1:
                    i = values.index(None)
                    rest = Poly()
                    for v in values:
                        if v is not None:
                            rest = rest + v
                    self.u.bind(parts[i], total - rest, why, node.loc)
                else:
                    continue
                pending.remove(c)
                progress = True
            if not progress:
                cat, parts, node, eq = pending[0]
                raise UndeterminedError(
                    f"cannot decide the size of {node.text} in ({eq.number}): the sizes of "
                    f"its parts are not fixed; declare them", node.loc)

    def undetermined(self, node: str, what: str, loc: Loc, eq: Equation) -> UndeterminedError:
        root = self.u.find(node)
        members = sorted(self.labels[n].removeprefix("the size of ")
                         for n in self.u.parent if self.u.find(n) == root and n.startswith("var:"))
        keyword = "state" if members and members[0].split("_")[0] in self.states else "var"
        hint = (f"; it is the size of {', '.join(members)}: declare one, e.g. "
                f"'{keyword} {members[0].split('_')[0]}_t ∈ ℝ^n'" if members else
                "; declare the size of a variable it is tied to")
        return UndeterminedError(f"cannot determine {what}: nothing in the equations fixes it"
                                 f"{hint}", loc)

    def result(self) -> Derivation:
        params: list[Parameter] = []
        for name, (kind, role, first, eq) in self.kinds.items():
            nodes = self.param_nodes(name)
            axes = ("rows", "columns") if kind == "matrix" else ("size",)
            shape: list[Poly] = []
            traces: list[DimTrace] = []
            for node, axis in zip(nodes, axes, strict=False):
                value = self.u.get(node)
                if value is None:
                    raise self.undetermined(node, self.labels[node], first.loc, eq)
                shape.append(value)
                traces.append(DimTrace(axis, value, self.u.explain(node)))
            params.append(Parameter(name, kind, role, tuple(shape), tuple(traces),
                                    self.multiplies.get(name, ""), eq.number, first.loc))
        variables: list[Variable] = []
        for d in self.cell.decls:
            if d.kind == "input":
                node = self.var_node(d.name, "t")
                variables.append(Variable(f"{d.name}_t", "input", self.u.get(node) or Poly(),
                                          DimTrace("size", d.size or Poly(),
                                                   self.u.explain(node)), d.description))
        for eq in self.equations:
            node = self.var_node(eq.target.name, "t")
            value = self.u.get(node)
            if value is None:
                raise self.undetermined(node, f"the size of {eq.target.display}", eq.target.loc,
                                        eq)
            kind = "state" if eq.target.name in self.states else "intermediate"
            desc = self.decl[eq.target.name].description if eq.target.name in self.decl else \
                eq.label
            variables.append(Variable(eq.target.display, kind, value,
                                      DimTrace("size", value, self.u.explain(node)), desc))
        return Derivation(self.cell.name, self.convention, self.equations, tuple(params),
                          tuple(variables))


def _sup(p: Poly) -> str:
    text = str(p)
    return text if len(p.terms) == 1 and "*" not in text else "{" + text + "}"


def infer(cell: Cell, convention: str = "equations") -> Derivation:
    """Infer the shape of every parameter of ``cell`` under a convention's equations."""
    equations = cell.equations
    if convention != "equations":
        conv = cell.convention(convention)
        if conv is None:
            from derive.errors import ConfigError

            raise ConfigError(f"cell {cell.name} has no convention {convention}")
        if conv.equations is not None:
            equations = conv.equations
    return _Inference(cell, equations, convention).run()
