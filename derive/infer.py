"""Shape inference by conformability, with a trace.

Every value in the equations has a *shape*: a tuple of dimensions (a scalar has none, a
vector one, a matrix or a 1-D feature map two, ...). Shapes are inferred by unification in
two layers:

* shape variables (a union-find) say how many axes a value has and which dimension each
  axis is; a value whose rank is not known yet (a bias before the sum it is added to is
  seen) stays a variable until something fixes it;
* dimensions (a second union-find) carry at most one value each, an exact polynomial in
  the size symbols. Three outcomes when two meet: equal (nothing to say), unequal
  (:class:`~derive.errors.ShapeError` at the term that joined them, with how each side got
  its size), undetermined (:class:`~derive.errors.UndeterminedError` asking for a
  declaration). When two *declared* sizes are forced equal (MUT1 adds tanh(x_t) to an
  h-sized vector), that is a derived requirement, kept with its chain of reasons; only a
  contradiction (h = 2h) is an error.

Each node kind of the language has one small rule function (:data:`RULES`) that states
what its operands' shapes must be and what its own shape is; rules that need an operand's
rank wait in a queue until it is known. Every equality keeps its reason, so the size of
any dimension is explained by the shortest chain of reasons from it to the declaration that
fixed it (computed lazily, when a trace is read).

SymPy's matrix expressions are not used here: they accept ``W(h×h) · x(d×1)`` silently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from derive.errors import ConfigError, Loc, ShapeError, UndeterminedError
from derive.model import (
    Call,
    Cell,
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
    SizeDecl,
    SizeRef,
    Sum,
    Transpose,
    Var,
    display_name,
)
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
    """One axis of a parameter or variable, its value and (lazily) the chain of reasons."""

    axis: str  # "rows", "columns", "size", "output channels", ...
    value: Poly
    explain: Callable[[], tuple[Step, ...]] = field(compare=False, repr=False,
                                                    default=lambda: ())

    @property
    def steps(self) -> tuple[Step, ...]:
        return self.explain()

    @property
    def because(self) -> str:
        """The chain of reasons, as one clause."""
        return "; ".join(s.reason for s in self.steps)


@dataclass(frozen=True)
class Parameter:
    """A learnable parameter, its inferred shape and how the equations use it.

    ``kind``: ``matrix`` (multiplies a vector: shape rows × columns, or with ``blocks``
    the blocks of a block-diagonal matrix, blocks × rows/blocks × columns/blocks),
    ``kernel`` (a convolution: output channels × input channels × kernel extents),
    ``vector``, ``scalar`` or ``tensor`` (a full feature-map-shaped weight).
    ``role`` is ``weight`` (matrix or kernel), ``bias`` (added to a sum, or a norm's
    bias), ``diagonal`` (in a Hadamard product, e.g. a peephole), ``gain`` (a norm's
    gain) or ``vector``. ``multiplies`` names what a weight multiplies.
    """

    name: str
    kind: str
    role: str
    shape: tuple[Poly, ...]
    traces: tuple[DimTrace, ...]
    multiplies: str
    equation: int
    loc: Loc
    blocks: str | None = None
    transposed_use: bool = False

    @property
    def count(self) -> Poly:
        return Poly.product(self.shape)

    @property
    def rows(self) -> Poly:
        """The rows of a matrix (all blocks together), or a kernel's output channels."""
        if self.blocks is not None:
            return self.shape[0] * self.shape[1]
        return self.shape[0]

    @property
    def cols(self) -> Poly:
        if self.blocks is not None:
            return self.shape[0] * self.shape[2]
        return self.shape[1]


@dataclass(frozen=True)
class Variable:
    name: str  # display name, e.g. "h_t"
    kind: str  # "input", "state" or "intermediate"
    shape: tuple[Poly, ...]
    trace: DimTrace
    description: str

    @property
    def size(self) -> Poly:
        """The number of elements (the size of a vector)."""
        return Poly.product(self.shape)

    @property
    def features(self) -> Poly:
        """The first axis: a vector's size, a feature map's channels; 1 for a scalar."""
        return self.shape[0] if self.shape else Poly.const(1)


@dataclass(frozen=True)
class Requirement:
    """A condition on the sizes that the equations force: ``left op right``.

    ``op`` is ``==`` (two declared sizes forced equal; ``symbol`` is the one eliminated)
    or ``|`` (divides: a block or group count divides a dimension)."""

    left: Poly
    op: str
    right: Poly
    message: str
    detail: str
    symbol: str = ""


@dataclass(frozen=True)
class Derivation:
    """Everything inference found for one set of equations of a cell."""

    cell: str
    convention: str
    equations: tuple[Equation, ...]
    parameters: tuple[Parameter, ...]
    variables: tuple[Variable, ...]
    requirements: tuple[Requirement, ...] = ()
    kernel_axes: int = 0  # spatial axes of the convolutions (kernel symbols k_1..k_n)
    shapes: dict[int, tuple[Poly, ...]] = field(default_factory=dict, compare=False,
                                                 repr=False)  # id(node) -> its shape

    def shape_of(self, node: Node) -> tuple[Poly, ...] | None:
        """The inferred shape of a node of these equations; None for a number."""
        return self.shapes.get(id(node))

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    @property
    def count(self) -> Poly:
        out = Poly()
        for p in self.parameters:
            out = out + p.count
        return out

    @property
    def substitution(self) -> dict[str, Poly]:
        """Size symbols eliminated by forced equalities: symbol → value."""
        return {r.symbol: r.right for r in self.requirements if r.op == "==" and r.symbol}


# ---------------------------------------------------------------- dimensions


@dataclass
class _Edge:
    a: str
    b: str
    reason: str
    loc: Loc | None


class _Dims:
    """Union-find over dimensions; a class carries at most one value."""

    def __init__(self, order: list[str], prefer: str) -> None:
        self.parent: dict[str, str] = {}
        self.value: dict[str, tuple[Poly, str, str]] = {}  # root -> (value, source, why)
        self.adj: dict[str, list[tuple[str, str]]] = {}
        self.labels: dict[str, str] = {}
        self.order = order  # size symbols in declaration order
        self.prefer = prefer  # the symbol to eliminate first (the input size)
        self.subst: dict[str, Poly] = {}
        self.forced: list[Requirement] = []
        self._trees: dict[str, dict[str, tuple[str, str] | None]] = {}
        self.done = False  # explanations are cached once inference is over

    def node(self, n: str, label: str) -> str:
        if n not in self.parent:
            self.parent[n] = n
            self.adj[n] = []
            self.labels[n] = label
        return n

    def find(self, n: str) -> str:
        root = n
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[n] != root:
            self.parent[n], n = root, self.parent[n]
        return root

    def norm(self, p: Poly) -> Poly:
        for sym, value in self.subst.items():
            if sym in p.symbols:
                p = p.subs(sym, value)
        return p

    def get(self, n: str) -> Poly | None:
        v = self.value.get(self.find(n))
        return self.norm(v[0]) if v else None

    def bind(self, n: str, value: Poly, why: str, loc: Loc | None) -> None:
        root = self.find(n)
        if root in self.value:
            old = self.norm(self.value[root][0])
            if (old - self.norm(value)).is_zero:
                return
            if self.force(old, self.norm(value), f"{self.labels[n]} is {old} and {why}", loc,
                          n, n):
                return
            raise ShapeError(
                f"{self.labels[n]} would be {value} ({why}), but it is already {old}",
                loc, "\n".join(_indent_steps(self.explain(n))))
        self.value[root] = (value, n, why)

    def union(self, edge: _Edge) -> None:
        self.adj[edge.a].append((edge.b, edge.reason))
        self.adj[edge.b].append((edge.a, edge.reason))
        ra, rb = self.find(edge.a), self.find(edge.b)
        if ra == rb:
            return
        va, vb = self.get(ra), self.get(rb)
        if va is not None and vb is not None and not (va - vb).is_zero \
                and not self.force(va, vb, edge.reason, edge.loc, edge.a, edge.b):
            self.adj[edge.a].pop()
            self.adj[edge.b].pop()
            left, right = self.explain(edge.a), self.explain(edge.b)
            detail = [f"  {self.labels[edge.a]} = {va}:", *_indent_steps(left),
                      f"  {self.labels[edge.b]} = {vb}:", *_indent_steps(right)]
            syms = sorted((va - vb).symbols)
            hint = (f"; {' and '.join(syms)} are independent sizes" if len(syms) > 1
                    else "")
            raise ShapeError(
                f"size mismatch: {edge.reason}, so {self.labels[edge.a]} must equal "
                f"{self.labels[edge.b]}, but they are {va} and {vb}{hint}",
                edge.loc, "\n".join(detail))
        self.parent[rb] = ra
        if rb in self.value and ra not in self.value:
            self.value[ra] = self.value[rb]
        self.value.pop(rb, None)

    def force(self, a: Poly, b: Poly, reason: str, loc: Loc | None, na: str, nb: str) -> bool:
        """Two different sizes forced equal: eliminate one symbol if that is consistent."""
        diff = a - b
        candidates = [s for s in diff.symbols if s not in self.subst]
        rank = {s: i for i, s in enumerate(self.order)}
        candidates.sort(key=lambda s: (s != self.prefer, -rank.get(s, -1)))
        for sym in candidates:
            terms = [(c, m) for c, m in diff.terms if any(x == sym for x, _ in m)]
            if len(terms) != 1:
                continue
            c, m = terms[0]
            if m != ((sym, 1),) or abs(c) != 1:
                continue
            rest = diff - Poly(((c, m),))
            value = -rest if c == 1 else rest
            if value.is_zero or (value.constant is not None and value.constant <= 0) or \
                    all(k < 0 for k, _ in value.terms):
                return False
            left, right = self.explain(na), self.explain(nb)
            detail = "\n".join([f"  {self.labels[na]} = {a}:", *_indent_steps(left),
                                f"  {self.labels[nb]} = {b}:", *_indent_steps(right)])
            self.subst[sym] = value
            for key, (v, src, why) in list(self.value.items()):
                self.value[key] = (self.norm(v), src, why)
            self.forced.append(Requirement(
                Poly.symbol(sym), "==", value,
                reason, detail, sym))
            return True
        return False

    def explain(self, n: str) -> tuple[Step, ...]:
        """The shortest chain of reasons from node n to the binding of its class.

        Once inference is over, one breadth-first tree per class (rooted where its value
        was bound) serves every node of the class: reading all traces is linear."""
        root = self.find(n)
        if root not in self.value:
            return ()
        value, src, why = self.value[root]
        if self.done:
            tree = self._trees.get(root)
            if tree is None:
                tree = self._trees[root] = self._tree(src)
        else:
            tree = self._tree(src, stop=n)
        path: list[Step] = []
        cur = n
        while tree.get(cur) is not None:
            nxt, reason = tree[cur]  # type: ignore[misc]
            path.append(Step(self.labels[cur], self.labels[nxt], reason))
            cur = nxt
        path.append(Step(self.labels[src], str(self.norm(value)), why))
        return tuple(path)

    def _tree(self, src: str, stop: str | None = None) -> dict[str, tuple[str, str] | None]:
        """Breadth-first from ``src``: each node → (its neighbour one step closer, reason)."""
        prev: dict[str, tuple[str, str] | None] = {src: None}
        queue = deque([src])
        while queue:
            cur = queue.popleft()
            if cur == stop:
                break
            for nxt, reason in self.adj[cur]:
                if nxt not in prev:
                    prev[nxt] = (cur, reason)
                    queue.append(nxt)
        return prev


def _indent_steps(steps: tuple[Step, ...]) -> list[str]:
    return [f"    {s.left} = {s.right}: {s.reason}" for s in steps]


# ---------------------------------------------------------------- shapes


_VALUE_USES = {"any", "dot", "elementwise"}
CONST = -1  # the shape of a number or a size symbol: broadcasts against anything


class _Shapes:
    """Shape variables, each with its own dimension nodes once its rank is known.

    Unifying two shape variables ties their dimensions axis by axis, with the reason; one
    whose rank is not known yet is linked, and gets dimensions when a linked one does (a
    parameter or a variable gets nodes labelled after it, an intermediate value shares its
    neighbour's). So every dimension edge joins the two values the equations join."""

    def __init__(self, dims: _Dims) -> None:
        self.dims = dims
        self.axes: list[tuple[str, ...] | None] = []
        self.owner: dict[int, tuple[str, Callable[[int, int], str]]] = {}
        self.owned: dict[str, tuple[str, ...]] = {}  # owner key -> its dimension nodes
        self.links: dict[int, list[tuple[int, str, Loc | None]]] = {}
        self.fresh = 0

    def new(self, owner: tuple[str, Callable[[int, int], str]] | None = None) -> int:
        i = len(self.axes)
        self.axes.append(None)
        if owner is not None:
            self.owner[i] = owner
        return i

    def get(self, i: int) -> tuple[str, ...] | None:
        return self.axes[i]

    def rank(self, i: int) -> int | None:
        a = self.axes[i]
        return None if a is None else len(a)

    def _give(self, i: int, axes: tuple[str, ...], reason: str, loc: Loc | None) -> None:
        """Give an unresolved variable dimensions tied to ``axes``, then its links."""
        queue = deque([(i, axes, reason, loc)])
        while queue:
            j, src, why, where = queue.popleft()
            if self.axes[j] is not None:
                self._tie(self.axes[j], src, why, where)  # type: ignore[arg-type]
                continue
            if j in self.owner:
                key, label = self.owner[j]
                mine = tuple(self.dims.node(f"{key}#{k}", label(k, len(src)))
                             for k in range(len(src)))
                self.owned[key] = mine
                self.axes[j] = mine
                self._tie(mine, src, why, where)
            else:
                self.axes[j] = src
            for nxt, r, at in self.links.pop(j, []):
                queue.append((nxt, self.axes[j], r, at))  # type: ignore[arg-type]

    def _tie(self, a: tuple[str, ...], b: tuple[str, ...], reason: str,
             loc: Loc | None) -> None:
        if len(a) != len(b):
            raise _RankError(len(a), len(b))
        for x, y in zip(a, b, strict=True):
            if x != y:
                self.dims.union(_Edge(x, y, reason, loc))

    def resolve(self, i: int, axes: tuple[str, ...], reason: str, loc: Loc | None) -> None:
        """Give ``i`` dimensions (or tie them to the ones it has)."""
        have = self.axes[i]
        if have is not None:
            self._tie(have, axes, reason, loc)
            return
        self._give(i, axes, reason, loc)

    def unify(self, i: int, j: int, reason: str, loc: Loc | None) -> None:
        if i == j:
            return
        ai, aj = self.axes[i], self.axes[j]
        if ai is not None and aj is not None:
            self._tie(ai, aj, reason, loc)
        elif ai is not None:
            self._give(j, ai, reason, loc)
        elif aj is not None:
            self._give(i, aj, reason, loc)
        else:
            self.links.setdefault(i, []).append((j, reason, loc))
            self.links.setdefault(j, []).append((i, reason, loc))

    def new_dim(self, label: str) -> str:
        self.fresh += 1
        return self.dims.node(f"anon:{self.fresh}", label)


class _RankError(Exception):
    def __init__(self, a: int, b: int) -> None:
        super().__init__(a, b)
        self.a, self.b = a, b


def _rank_name(n: int) -> str:
    return {0: "a scalar", 1: "a vector"}.get(n, f"a {n}-axis array" if n > 2 else "a matrix")


# ---------------------------------------------------------------- the walk


def walk(node: Node, parent: Node | None = None) -> list[tuple[Node, Node | None]]:
    """Every node under ``node`` with its parent, in source order (iterative: no recursion
    limit for long chains)."""
    out: list[tuple[Node, Node | None]] = []
    stack: list[tuple[Node, Node | None]] = [(node, parent)]
    while stack:
        cur, par = stack.pop()
        out.append((cur, par))
        stack.extend((c, cur) for c in reversed(children(cur)))
    return out


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Call):
        return node.operands
    if isinstance(node, (MatMul, Hadamard, Conv, Div)):
        return tuple(c for c in (node.left, node.right) if c is not None)
    if isinstance(node, Power):
        return tuple(c for c in (node.base, node.exponent) if c is not None)
    if isinstance(node, (Transpose, Norm)):
        extra = node.params if isinstance(node, Norm) else ()
        return (node.arg, *extra) if node.arg is not None else extra
    if isinstance(node, Sum):
        return node.terms
    if isinstance(node, Concat):
        return node.items
    return ()


Rule = Callable[["_Inference", Node, Equation], int]
RULES: dict[type, Rule] = {}


def rule(kind: type) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        RULES[kind] = fn
        return fn
    return register


def _time_label(name: str, time: str) -> str:
    return display_name(name, time)


class _Inference:
    def __init__(self, cell: Cell, equations: tuple[Equation, ...], convention: str) -> None:
        self.cell, self.equations, self.convention = cell, equations, convention
        order = [s.symbol for s in cell.sizes]
        prefer = cell.input_symbol if cell.inputs and cell.inputs[0].shape else ""
        self.d = _Dims(order, prefer)
        self.s = _Shapes(self.d)
        self.defined: dict[str, Equation] = {t.name: e for e in equations for t in e.targets}
        self.decl = {d.name: d for d in cell.decls}
        self.states = {d.name for d in cell.decls if d.kind == "state"}
        for eq in equations:
            for node, _ in walk(eq.rhs):
                if isinstance(node, Var) and node.time not in (None, "t") \
                        and node.name in self.defined:
                    self.states.add(node.name)
        self.sizes = {s.symbol: s for s in cell.sizes}
        self.kernels = [s for s in cell.sizes if s.kernel]
        self.functions = {f.name for f in cell.functions}
        self.param_shape: dict[str, int] = {}
        self.param_use: dict[str, tuple[str, str, Node, Equation]] = {}  # kind, role, first
        self.multiplies: dict[str, str] = {}
        self.transposed: set[str] = set()
        self.var_shape: dict[str, int] = {}
        self.pending: list[tuple[Callable[[], bool], Node, Equation]] = []
        self.requirements: list[Requirement] = []
        self.kernel_axes = 0
        self.node_shape: dict[int, int] = {}
        self.weak: list[tuple[int, str, Loc]] = []  # shapes broadcast against a scalar
        self.broadcasts: list[Callable[..., bool]] = []  # elementwise pairs not yet decided

    # -- shape variables of named things
    def var(self, name: str, time: str) -> int:
        key = f"var:{name}@{time}"
        if key not in self.var_shape:
            shown = _time_label(name, time)

            def label(k: int, n: int, shown: str = shown) -> str:
                return f"the size of {shown}" if n == 1 else f"axis {k + 1} of {shown}"

            self.var_shape[key] = self.s.new((key, label))
        return self.var_shape[key]

    def param(self, name: str) -> int:
        if name not in self.param_shape:
            self.param_shape[name] = self.s.new((f"param:{name}", lambda k, n, name=name:
                                                 self._param_label(name, k, n)))
        return self.param_shape[name]

    def use(self, node: Var, kind: str, role: str, eq: Equation) -> None:
        """Record how a parameter is used; a use of another kind is an error (a matrix is
        not a vector). ``any``, ``dot`` and ``elementwise`` are all uses as a value."""
        name = node.name
        if name in self.param_use:
            known, known_role, first, first_eq = self.param_use[name]
            if known == kind:
                return
            if known in _VALUE_USES and kind in _VALUE_USES:
                if known == "any":
                    self.param_use[name] = (kind, known_role, first, first_eq)
                return
            use = {"matrix": "multiplies a vector", "kernel": "is a convolution kernel"}.get(
                known, "is used as a vector")
            shown = {"matrix": "matrix", "kernel": "convolution kernel"}.get(kind, "vector")
            raise ShapeError(
                f"{name} is used as a {shown} here, but it {use} in ({first_eq.number}) "
                f"{first_eq.source}", node.loc)
        self.param_use[name] = (kind, role, node, eq)

    def param_dim(self, name: str, k: int, n: int) -> str:
        """The node of axis k (of n) of a parameter, labelled after it."""
        self.param(name)
        key = f"param:{name}"
        label = self._param_label(name, k, n)
        return self.d.node(f"{key}#{k}", label)

    def _param_label(self, name: str, k: int, n: int) -> str:
        kind = self.param_use.get(name, ("vector",))[0]
        if kind == "matrix":
            return f"the {('rows', 'columns')[k]} of {name}" if n == 2 else \
                f"axis {k + 1} of {name}"
        if kind == "kernel":
            return (("the output channels of", "the input channels of")[k] + f" {name}"
                    if k < 2 else f"the kernel extent along axis {k - 1} of {name}")
        return f"the size of {name}" if n == 1 else f"axis {k + 1} of {name}"

    # -- pass 1: names
    def classify(self) -> None:
        seen_eq: set[str] = set()
        for eq in self.equations:
            for target in eq.targets:
                if target.name in seen_eq or [t.name for t in eq.targets].count(target.name) > 1:
                    raise ShapeError(f"{target.display} is defined twice", target.loc)
                if target.name in self.decl and self.decl[target.name].kind == "input":
                    raise ShapeError(f"{target.display} is an input; it cannot be defined by "
                                     "an equation", target.loc)
            for node, _parent in walk(eq.rhs):
                if isinstance(node, Var):
                    self._check_var(node, eq, seen_eq)
            seen_eq.update(t.name for t in eq.targets)
        for d in self.cell.decls:
            if d.kind != "input" and d.name not in self.defined:
                kind = "state" if d.kind == "state" else "variable"
                raise ShapeError(f"the {kind} {d.name}_t has no equation", d.loc)
            if d.kind == "input" and not any(
                    isinstance(n, Var) and n.name == d.name for e in self.equations
                    for n, _ in walk(e.rhs)):
                raise ShapeError(f"the input {d.name}_t is declared but no equation uses it",
                                 d.loc)
        for p in self.cell.params:
            for name in p.names:
                if name in self.defined or name in self.decl:
                    raise ShapeError(f"{name} is a variable, not a parameter", p.loc)
            if p.what == "kernel" and not (p.blocks in self.sizes
                                           and self.sizes[p.blocks].kernel):
                raise ShapeError(f"{p.names[0]} is declared 'kernel {p.blocks}', but {p.blocks} "
                                 "is not a kernel size of the cell (its kernel sizes: "
                                 f"{', '.join(k.symbol for k in self.kernels) or 'none'})",
                                 p.loc)
            if p.blocks is not None and p.blocks not in self.sizes:
                raise ShapeError(f"the number of blocks {p.blocks} is not a declared size; "
                                 f"add 'size {p.blocks} = KEYWORD \"meaning\"'", p.loc)

    def _check_var(self, node: Var, eq: Equation, seen: set[str]) -> None:
        name = node.name
        if node.time is None:
            if name in self.defined or name in self.decl:
                raise ShapeError(f"{name} is a variable; write {name}_t or {name}_{{t-1}}",
                                 node.loc)
            return
        is_input = name in self.decl and self.decl[name].kind == "input"
        if node.window is not None:
            if not is_input:
                raise ShapeError(f"{node.text}: a window of past values is taken of an input",
                                 node.loc)
            if node.window not in self.sizes:
                raise ShapeError(f"{node.text}: the window's length {node.window} is not a "
                                 f"declared size", node.loc)
            return
        if node.time != "t":
            if is_input:
                return  # x_{t-1}: the previous input
            if name not in self.defined:
                raise ShapeError(f"{node.text} is the previous value of {name}_t, but no "
                                 f"equation defines {name}_t", node.loc)
            return
        if is_input:
            return
        if name not in self.defined:
            raise ShapeError(f"{node.text} is neither an input nor defined by an equation; "
                             f"declare it ('input {name}_t ∈ ℝ^n') or add an equation for it",
                             node.loc)
        if name not in seen:
            if any(name == t.name for t in eq.targets):
                raise ShapeError(f"{node.text} is used in its own equation; write "
                                 f"{name}_{{t-1}} for its previous value", node.loc)
            raise ShapeError(f"{node.text} is used in ({eq.number}) before its equation "
                             f"({self.defined[name].number})", node.loc)

    # -- pass 2: shapes
    def shape(self, node: Node, eq: Equation) -> int:
        fn = RULES.get(type(node))
        if fn is None:  # pragma: no cover - every node kind has a rule
            raise AssertionError(node)
        out = fn(self, node, eq)
        if out != CONST:
            self.node_shape[id(node)] = out
        return out

    def later(self, fn: Callable[[], bool], node: Node, eq: Equation) -> None:
        """Run a rule that needs ranks now if it can, else once they are known."""
        if not fn():
            self.pending.append((fn, node, eq))

    def unify(self, a: int, b: int, reason: str, loc: Loc | None, what: tuple[Node, Node]
              ) -> None:
        try:
            self.s.unify(a, b, reason, loc)
        except _RankError as exc:
            raise ShapeError(f"{reason}, but {what[0].text} is {_rank_name(exc.a)} and "
                             f"{what[1].text} is {_rank_name(exc.b)}", loc) from None

    def resolve(self, i: int, axes: tuple[str, ...], reason: str, loc: Loc | None,
                node: Node) -> None:
        try:
            self.s.resolve(i, axes, reason, loc)
        except _RankError as exc:
            raise ShapeError(f"{reason}, so {node.text} is {_rank_name(exc.b)}, but it is "
                             f"{_rank_name(exc.a)} elsewhere", loc) from None

    def elementwise(self, operands: list[tuple[Node, int]], reason: Callable[[Node, Node], str],
                    loc: Loc) -> int:
        """Operands of an elementwise operation: equal shapes, but a scalar (or a number)
        broadcasts, and a per-channel parameter spreads over the spatial axes."""
        first: tuple[Node, int] | None = None
        for node, sh in operands:
            if sh == CONST or self._per_channel(node):
                continue
            if first is None:
                first = (node, sh)
                continue
            a_node, a = first
            ra, rb = self.s.rank(a), self.s.rank(sh)
            # A scalar broadcasts over the other operand, whatever its shape; a parameter or
            # variable whose shape nothing else fixes is then a scalar too (decided last).
            if ra == 0 and rb != 0:
                if rb is None and isinstance(node, Var):
                    self.weak.append((sh, f"{reason(a_node, node)}, and {a_node.text} is a "
                                      "scalar", loc))
                first = (node, sh)
                continue
            if rb == 0 and ra != 0:
                if ra is None and isinstance(a_node, Var):
                    self.weak.append((a, f"{reason(a_node, node)}, and {node.text} is a "
                                      "scalar", loc))
                continue
            if (ra is None and a not in self.s.owner) or (rb is None and sh not in self.s.owner):
                # a computed value whose rank is not known yet may still turn out a scalar
                # (a dot product): decide once both ranks are known
                first = (a_node, self._broadcast(a, sh, reason(a_node, node), loc,
                                                 (a_node, node)))
                continue
            self.unify(a, sh, reason(a_node, node), loc, (a_node, node))
        if first is None:
            for _node, sh in operands:
                if sh != CONST:
                    return sh
            return CONST
        for node, sh in operands:
            if sh != CONST and self._per_channel(node):
                self._spread(node, sh, first, reason, loc)
        return first[1]

    def _broadcast(self, a: int, b: int, reason: str, loc: Loc, what: tuple[Node, Node]) -> int:
        """The shape of an elementwise result of ``a`` and ``b`` once both ranks are known:
        a scalar broadcasts, otherwise the two are equal. If inference gets stuck first, the
        two are taken as equal (see :meth:`_drain`)."""
        out = self.s.new()

        def go(force: bool = False) -> bool:
            ra, rb = self.s.rank(a), self.s.rank(b)
            if not force and (ra is None or rb is None) and 0 not in (ra, rb):
                return False
            if ra == 0:
                self.unify(out, b, reason, loc, what)
            elif rb == 0:
                self.unify(out, a, reason, loc, what)
            else:
                self.unify(a, b, reason, loc, what)
                self.unify(out, a, reason, loc, what)
            return True

        self.broadcasts.append(go)
        self.later(go, what[0], self._eq)
        return out

    def _per_channel(self, node: Node) -> bool:
        if not isinstance(node, Var) or node.time is not None:
            return False
        decl = self.cell.param_decl(node.name)
        return decl is not None and decl.what == "per-channel"

    def _spread(self, node: Node, sh: int, other: tuple[Node, int],
                reason: Callable[[Node, Node], str], loc: Loc) -> None:
        o_node, o = other

        def go() -> bool:
            axes = self.s.get(o)
            if axes is None:
                return False
            if not axes:
                raise ShapeError(f"{node.text} is declared per-channel, but {o_node.text} is a "
                                 "scalar", node.loc)
            self.resolve(sh, (axes[0],), reason(node, o_node) + " (one weight per channel)",
                         loc, node)
            return True

        self.later(go, node, self._eq)

    # -- the run
    def run(self) -> Derivation:
        self.classify()
        for d in self.cell.decls:
            if d.shape is None:
                continue
            i = self.var(d.name, "t")
            n = len(d.shape)
            shown_t = f"{d.name}_t"
            dims = tuple(self.d.node(f"var:{d.name}@t#{k}", f"the size of {shown_t}" if n == 1
                                     else f"axis {k + 1} of {shown_t}") for k in range(n))
            shown = "∈ ℝ" + ("" if not d.shape else "^" + _sup_shape(d.shape))
            why = f"{d.name}_t is declared {shown} ({_where(d.loc)})"
            for dim, value in zip(dims, d.shape, strict=True):
                self.d.bind(dim, value, why, d.loc)
            self.s.resolve(i, dims, why, d.loc)
        for name in sorted(self.states):
            self._link_times(name, "state")
        for d in self.cell.inputs:
            self._link_times(d.name, "input")
        for eq in self.equations:
            self._eq = eq
            rhs = self.shape(eq.rhs, eq)
            if rhs == CONST:
                raise ShapeError(f"{eq.lhs_display} is defined as a constant", eq.loc)
            if eq.stacked:  # [f_t; i_t] = ...: the right side is the parts stacked
                first, last = eq.targets[0].loc, eq.targets[-1].loc
                lhs = Concat(Loc(first.file, first.line, first.col - 1, last.end_col + 1,
                                 first.text), eq.targets)
                target = self.shape(lhs, eq)
                where = lhs.loc
            else:
                target = self.var(eq.target.name, "t")
                where = eq.target.loc
            self.unify(target, rhs, f"{eq.lhs_display} is defined by ({eq.number})",
                       where, (Var(where, eq.lhs_display, None), eq.rhs))
        self._drain()
        self.requirements.extend(self.d.forced)
        return self.result()

    def _link_times(self, name: str, kind: str) -> None:
        times = sorted({n.time for e in self.equations for n, _ in walk(e.rhs)
                        if isinstance(n, Var) and n.name == name and n.time not in (None, "t")
                        and not (n.time or "").startswith("window:")})
        for time in times:
            what = "state" if kind == "state" else ("input" if kind == "input" else "value")
            steps = "one step" if time == "t-1" else f"{time[2:]} steps"
            self.unify(self.var(name, time), self.var(name, "t"),
                       f"{_time_label(name, time)} is the {what} {name}_t {steps} earlier",
                       None, (Var(_NOLOC, name, time), Var(_NOLOC, name, "t")))

    def _default_scalar(self) -> bool:
        """A value only ever broadcast against scalars, whose shape nothing else fixes, is a
        scalar (a bias added to a dot product). Decided one at a time, after every rule that
        could fix it has run; returns False when there is none left."""
        while self.weak:
            sh, why, loc = self.weak.pop(0)
            if self.s.rank(sh) is None:
                self.s.resolve(sh, (), why, loc)
                return True
        return False

    def _drain(self) -> None:
        while self.pending or self.weak:
            progress = False
            for item in list(self.pending):
                fn, _node, _eq = item
                if fn():
                    self.pending.remove(item)
                    progress = True
            if progress:
                continue
            if self._default_scalar():
                continue
            stuck = next((item for item in self.pending if item[0] in self.broadcasts), None)
            if stuck is not None:  # an elementwise pair nothing decides: equal shapes
                self.pending.remove(stuck)
                stuck[0](True)
                continue
            if self.pending:
                _fn, node, eq = self.pending[0]
                raise UndeterminedError(
                    f"cannot decide the shape of {node.text} in ({eq.number}): the shapes of "
                    "its operands are not fixed; declare the size of a variable it uses",
                    node.loc)

    def undetermined(self, node: str, what: str, loc: Loc) -> UndeterminedError:
        root = self.d.find(node)
        members = sorted({self.d.labels[n].removeprefix("the size of ")
                          for n in self.d.parent if self.d.find(n) == root
                          and n.startswith("var:") and self.d.labels[n].startswith("the size")})
        keyword = "state" if members and members[0].split("_")[0] in self.states else "var"
        hint = (f"; it is the size of {', '.join(members)}: declare one, e.g. "
                f"'{keyword} {members[0].split('_')[0]}_t ∈ ℝ^n'" if members else
                "; declare the size of a variable it is tied to")
        return UndeterminedError(f"cannot determine {what}: nothing in the equations fixes it"
                                 f"{hint}", loc)

    def result(self) -> Derivation:
        self.d.done = True
        params: list[Parameter] = []
        for name, (kind, role, first, eq) in self.param_use.items():
            sh = self.param_shape[name]
            axes = self.s.get(sh)
            if axes is None:
                raise UndeterminedError(
                    f"cannot tell whether {name} is a scalar, a vector or a matrix: nothing in "
                    f"the equations fixes its shape; declare it ('param {name} scalar') or "
                    "use it with a value whose size is known", first.loc)
            own = self.s.owned.get(f"param:{name}", axes)
            shape: list[Poly] = []
            traces: list[DimTrace] = []
            for k, node in enumerate(own):
                value = self.d.get(node)
                if value is None:
                    raise self.undetermined(node, self.d.labels[node], first.loc)
                shape.append(value)
                traces.append(DimTrace(_axis_name(kind, k, len(own)), value,
                                       _explainer(self.d, node)))
            decl = self.cell.param_decl(name)
            blocks = decl.blocks if decl is not None and decl.what == "blockdiag" else None
            final_kind = kind
            if kind in ("any", "dot", "elementwise"):
                final_kind = {0: "scalar", 1: "vector"}.get(len(shape), "tensor")
            if decl is not None and decl.what == "scalar" and shape:
                raise ShapeError(f"{name} is declared scalar, but the equations make it "
                                 f"{_rank_name(len(shape))}", decl.loc)
            if decl is not None and decl.what == "kernel" and final_kind != "kernel":
                raise ShapeError(f"{name} is declared a kernel of size {decl.blocks}, but it "
                                 "convolves nothing (write it left of ∗)", decl.loc)
            if blocks is not None:
                if final_kind != "matrix":
                    raise ShapeError(f"{name} is declared block-diagonal, but it does not "
                                     "multiply a vector", decl.loc if decl else first.loc)
                n = Poly.symbol(blocks)
                rows, cols = shape
                for what, dim in (("rows", rows), ("columns", cols)):
                    self.requirements.append(Requirement(
                        n, "|", dim,
                        f"{blocks} must divide {dim}: {name} is block-diagonal with "
                        f"{blocks} blocks, and its {what} are {dim}", ""))
                shape = [n, rows * n.reciprocal(), cols * n.reciprocal()]
                traces = [DimTrace("blocks", n, lambda: ()),
                          DimTrace("rows of a block", shape[1], traces[0].explain),
                          DimTrace("columns of a block", shape[2], traces[1].explain)]
            params.append(Parameter(name, final_kind, role, tuple(shape), tuple(traces),
                                    self.multiplies.get(name, ""), eq.number, first.loc,
                                    blocks, name in self.transposed))
        variables: list[Variable] = []
        for d in self.cell.decls:
            if d.kind == "input":
                variables.append(self._variable(d.name, "input", d.description, d.loc))
        for eq in self.equations:
            for target in eq.targets:
                kind = "state" if target.name in self.states else "intermediate"
                desc = self.decl[target.name].description if target.name in self.decl else \
                    eq.label
                variables.append(self._variable(target.name, kind, desc, target.loc))
        subst = self.d.subst
        reqs = []
        for r in self.requirements:
            left, right = r.left, r.right
            if r.op == "|":
                for sym, value in subst.items():
                    right = right.subs(sym, value)
            reqs.append(Requirement(left, r.op, right, r.message, r.detail, r.symbol))
        shapes: dict[int, tuple[Poly, ...]] = {}
        for key, sh in self.node_shape.items():
            axes = self.s.get(sh)
            if axes is None:
                continue
            values = [self.d.get(a) for a in axes]
            if all(v is not None for v in values):
                shapes[key] = tuple(values)  # type: ignore[arg-type]
        return Derivation(self.cell.name, self.convention, self.equations, tuple(params),
                          tuple(variables), tuple(_unique(reqs)), self.kernel_axes, shapes)

    def _variable(self, name: str, kind: str, description: str, loc: Loc) -> Variable:
        sh = self.var(name, "t")
        axes = self.s.get(sh)
        shown = f"{name}_t"
        if axes is None:
            raise UndeterminedError(f"cannot determine the size of {shown}: nothing in the "
                                    f"equations fixes it; declare it, e.g. 'var {shown} ∈ ℝ^n'",
                                    loc)
        own = self.s.owned.get(f"var:{name}@t", axes)
        shape: list[Poly] = []
        for node in own:
            value = self.d.get(node)
            if value is None:
                raise self.undetermined(node, f"the size of {shown}", loc)
            shape.append(value)
        first = own[0] if own else None
        trace = DimTrace("size", Poly.product(shape),
                         _explainer(self.d, first) if first else (lambda: ()))
        return Variable(shown, kind, tuple(shape), trace, description)


_NOLOC = Loc("", 0, 1, 1, "")


def _where(loc: Loc) -> str:
    """``gru.cell, line 9``: the file by its name (a site never shows a reader's paths)."""
    return f"{loc.file.replace(chr(92), '/').rsplit('/', 1)[-1]}, line {loc.line}"


def _explainer(dims: _Dims, node: str) -> Callable[[], tuple[Step, ...]]:
    return lambda: dims.explain(node)


def _unique(reqs: list[Requirement]) -> list[Requirement]:
    seen: set[tuple[Poly, str, Poly]] = set()
    out = []
    for r in reqs:
        key = (r.left, r.op, r.right)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _axis_name(kind: str, k: int, n: int) -> str:
    if kind == "matrix" and n == 2:
        return ("rows", "columns")[k]
    if kind == "kernel":
        return ("output channels", "input channels")[k] if k < 2 else f"kernel axis {k - 1}"
    return "size" if n == 1 else f"axis {k + 1}"


def _sup_shape(shape: tuple[Poly, ...]) -> str:
    if len(shape) == 1:
        return _sup(shape[0])
    return "{" + "×".join(str(p) if len(p.terms) == 1 else f"({p})" for p in shape) + "}"


def _sup(p: Poly) -> str:
    text = str(p)
    return text if len(p.terms) == 1 and "*" not in text else "{" + text + "}"


# ---------------------------------------------------------------- rules, one per node kind


@rule(Num)
def _num(inf: _Inference, node: Node, eq: Equation) -> int:
    return CONST


@rule(SizeRef)
def _size_ref(inf: _Inference, node: Node, eq: Equation) -> int:
    return CONST


@rule(Var)
def _var(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Var)
    if node.time is None:
        decl = inf.cell.param_decl(node.name)
        inf.use(node, "any", "vector", eq)
        sh = inf.param(node.name)
        if decl is not None and decl.what == "scalar":
            inf.resolve(sh, (), f"{node.name} is declared scalar ({_where(decl.loc)})",
                        decl.loc, node)
        return sh
    if node.window is not None:
        k = node.window
        base = inf.var(node.name, "t")
        out = inf.s.new()

        def go() -> bool:
            axes = inf.s.get(base)
            if axes is None:
                return False
            if len(axes) != 1:
                raise ShapeError(f"{node.text}: a window stacks vectors, but {node.name}_t is "
                                 f"{_rank_name(len(axes))}", node.loc)
            value = inf.d.get(axes[0])
            if value is None:
                return False
            dim = inf.s.new_dim(f"the size of {node.text}")
            inf.d.bind(dim, Poly.symbol(k) * value,
                       f"{node.text} stacks the last {k} values of {node.name}_t", node.loc)
            inf.s.resolve(out, (dim,), f"{node.text} stacks {node.name}_t", node.loc)
            return True

        inf.later(go, node, eq)
        return out
    return inf.var(node.name, node.time)


def _set_kind(inf: _Inference, node: Node, kind: str, role: str, eq: Equation) -> None:
    assert isinstance(node, Var)
    inf.use(node, kind, role, eq)
    known = inf.param_use[node.name]
    if known[0] == kind and known[1] != role and known[1] == "vector":
        inf.param_use[node.name] = (kind, role, known[2], known[3])


@rule(Sum)
def _sum(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Sum)
    n = eq.number
    ops = []
    for term in node.terms:
        sh = inf.shape(term, eq)
        if isinstance(term, Var) and term.time is None:
            _set_kind(inf, term, "any", "bias", eq)
        ops.append((term, sh))
    return inf.elementwise(ops, lambda a, b: f"{a.text} and {b.text} are terms of the same "
                                             f"sum in ({n})", node.loc)


@rule(Hadamard)
def _hadamard(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Hadamard) and node.left is not None and node.right is not None
    n = eq.number
    ops = []
    for side in (node.left, node.right):
        sh = inf.shape(side, eq)
        if isinstance(side, Var) and side.time is None:
            _set_kind(inf, side, "any", "diagonal", eq)
        ops.append((side, sh))
    return inf.elementwise(ops, lambda a, b: f"{a.text} and {b.text} are multiplied "
                                             f"elementwise in ({n})", node.loc)


@rule(Div)
def _div(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Div) and node.left is not None and node.right is not None
    n = eq.number
    ops = [(side, inf.shape(side, eq)) for side in (node.left, node.right)]
    return inf.elementwise(ops, lambda a, b: f"{a.text} and {b.text} are divided "
                                             f"elementwise in ({n})", node.loc)


@rule(Power)
def _power(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Power) and node.base is not None and node.exponent is not None
    n = eq.number
    ops = [(side, inf.shape(side, eq)) for side in (node.base, node.exponent)]
    return inf.elementwise(ops, lambda a, b: f"{a.text} is raised elementwise to {b.text} "
                                             f"in ({n})", node.loc)


@rule(Call)
def _call(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Call)
    n = eq.number
    ops = [(arg, inf.shape(arg, eq)) for arg in node.operands]
    if len(ops) == 1:
        return ops[0][1]
    return inf.elementwise(ops, lambda a, b: f"{a.text} and {b.text} are compared "
                                             f"elementwise by {node.func} in ({n})", node.loc)


@rule(Norm)
def _norm(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Norm) and node.arg is not None
    arg = inf.shape(node.arg, eq)
    if arg == CONST:
        raise ShapeError(f"{node.text}: a constant cannot be normalised", node.loc)
    n = eq.number
    for k, p in enumerate(node.params):
        role = "gain" if k == 0 else "bias"
        inf.use(p, "elementwise", role, eq)
        known = inf.param_use[p.name]
        inf.param_use[p.name] = (known[0], role, known[2], known[3])
        sh = inf.param(p.name)
        what = "gain" if k == 0 else "bias"
        if node.func == "GN":
            def go(sh: int = sh, p: Var = p, what: str = what) -> bool:
                axes = inf.s.get(arg)
                if axes is None:
                    return False
                if not axes:
                    raise ShapeError(f"{node.text}: a scalar cannot be group-normalised",
                                     node.loc)
                inf.resolve(sh, (axes[0],), f"{p.name} is the per-channel {what} of the group "
                            f"norm of {node.arg.text} in ({n})", node.loc, p)  # type: ignore
                return True

            inf.later(go, node, eq)
        else:
            inf.unify(sh, arg, f"{p.name} is the {what} of the {node.func} of {node.arg.text} "
                      f"in ({n})", p.loc, (p, node.arg))
    if node.groups is not None:
        groups = node.groups

        def divides() -> bool:
            axes = inf.s.get(arg)
            if axes is None:
                return False
            value = inf.d.get(axes[0]) if axes else None
            if value is None:
                return False
            inf.requirements.append(Requirement(
                Poly.symbol(groups), "|", value,
                f"{groups} must divide {value}: {node.text} in ({n}) splits {value} channels "
                f"into {groups} groups", ""))
            return True

        inf.later(divides, node, eq)
    return arg


@rule(Transpose)
def _transpose(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Transpose) and node.arg is not None
    arg = inf.shape(node.arg, eq)
    if arg == CONST:
        return CONST
    out = inf.s.new()

    def go() -> bool:
        axes = inf.s.get(arg)
        if axes is None:
            return False
        if len(axes) == 0:
            inf.s.resolve(out, (), "a scalar's transpose is itself", node.loc)
        elif len(axes) == 1:
            one = inf.s.new_dim(f"the rows of {node.text}")
            inf.d.bind(one, Poly.const(1), f"{node.text} is a row", node.loc)
            inf.s.resolve(out, (one, axes[0]), f"{node.text} is a row", node.loc)
        elif len(axes) == 2:
            inf.s.resolve(out, (axes[1], axes[0]), f"{node.text} is transposed", node.loc)
        else:
            raise ShapeError(f"{node.text}: only vectors and matrices have a transpose",
                             node.loc)
        return True

    inf.later(go, node, eq)
    return out


def _kernel_of(inf: _Inference, left: Var) -> SizeDecl:
    """The kernel size a convolution's kernel takes: the cell's only one, or the one its
    ``param W kernel K`` declaration names."""
    decl = inf.cell.param_decl(left.name)
    if decl is not None and decl.what == "kernel":  # checked to be a kernel size
        return next(k for k in inf.kernels if k.symbol == decl.blocks)
    if len(inf.kernels) > 1:
        raise ShapeError(f"{left.name}: the cell declares {len(inf.kernels)} kernel sizes "
                         f"({', '.join(k.symbol for k in inf.kernels)}); say which one "
                         f"{left.name} has: 'param {left.name} kernel "
                         f"{inf.kernels[0].symbol} \"why\"'", left.loc)
    return inf.kernels[0]


@rule(Conv)
def _conv(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Conv) and node.left is not None and node.right is not None
    left, right = node.left, node.right
    n = eq.number
    if not (isinstance(left, Var) and left.time is None):
        raise ShapeError(f"{node.text}: the left of a convolution is a kernel, a parameter; "
                         f"{left.text} is not", node.loc)
    inf.use(left, "kernel", "weight", eq)
    inf.multiplies.setdefault(left.name, right.text)
    kernel = inf.param(left.name)
    x = inf.shape(right, eq)
    if x == CONST:
        raise ShapeError(f"{node.text}: {left.name} convolves a constant, not a feature map",
                         node.loc)
    if not inf.kernels:
        raise ShapeError(f"{node.text}: a convolution needs a kernel size; declare one, e.g. "
                         "'kernel k = kernel_size \"the extent of every kernel\"'", node.loc)
    kdecl = _kernel_of(inf, left)
    ksym = kdecl.symbol
    out = inf.s.new()

    def go() -> bool:
        axes = inf.s.get(x)
        if axes is None:
            return False
        if len(axes) < 2:
            raise ShapeError(f"{node.text}: a convolution needs a feature map (channels × "
                             f"spatial axes), but {right.text} is {_rank_name(len(axes))}; "
                             "declare the input as 'input X_t ∈ ℝ^{C×H×W}'", node.loc)
        spatial = len(axes) - 1
        if inf.kernel_axes and inf.kernel_axes != spatial:
            raise ShapeError(f"{node.text} convolves over {spatial} spatial axes, another "
                             f"convolution over {inf.kernel_axes}", node.loc)
        inf.kernel_axes = spatial
        c_out = inf.param_dim(left.name, 0, spatial + 2)
        ks = []
        for k in range(spatial):
            dim = inf.param_dim(left.name, k + 2, spatial + 2)
            sym = f"{ksym}_{k + 1}"
            inf.d.bind(dim, Poly.symbol(sym), f"the kernel extent along spatial axis {k + 1} "
                       f"is {sym} ({kdecl.keyword})", node.loc)
            ks.append(dim)
        reason = f"{left.name} convolves {right.text} in ({n})"
        inf.resolve(kernel, (c_out, axes[0], *ks), reason, node.loc, left)
        kernel_axes = inf.s.get(kernel)
        assert kernel_axes is not None
        inf.s.resolve(out, (kernel_axes[0], *axes[1:]), reason, node.loc)
        return True

    inf.later(go, node, eq)
    return out


@rule(MatMul)
def _matmul(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, MatMul) and node.left is not None and node.right is not None
    left, right = node.left, node.right
    n = eq.number
    if isinstance(left, (Num, SizeRef)):
        return inf.shape(right, eq)
    param = left if isinstance(left, Var) and left.time is None else None
    if param is not None:
        decl = inf.cell.param_decl(param.name)
        if decl is not None and decl.what == "scalar":
            inf.shape(param, eq)
            _set_kind(inf, param, "any", "vector", eq)
            return inf.shape(right, eq)
        # W v: a matrix with as many columns as v has rows
        inf.use(param, "matrix", "weight", eq)
        r = inf.shape(right, eq)
        if r == CONST:
            raise ShapeError(f"{node.text}: {left.text} multiplies a constant, not a vector",
                             node.loc)
        inf.multiplies.setdefault(param.name, right.text)
        w = inf.param(param.name)
        out = inf.s.new()

        def go_matrix() -> bool:
            axes = inf.s.get(r)
            if axes is None:
                return False
            if not axes:
                raise ShapeError(f"{node.text}: {left.text} multiplies {right.text}, a scalar; "
                                 f"write {left.text} ⊙ {right.text} for an elementwise product",
                                 node.loc)
            rows = inf.param_dim(param.name, 0, 2)
            inf.resolve(w, (rows, axes[0]), f"{param.name} multiplies {right.text} in ({n})",
                        node.loc, param)
            w_axes = inf.s.get(w)
            assert w_axes is not None
            inf.s.resolve(out, (w_axes[0], *axes[1:]), f"{param.name} multiplies {right.text} "
                          f"in ({n})", node.loc)
            return True

        inf.later(go_matrix, node, eq)
        return out
    if isinstance(left, Transpose) and isinstance(left.arg, Var) and left.arg.time is None:
        # wᵀ v: a parameter vector in a dot product
        p = left.arg
        inf.use(p, "dot", "weight", eq)
        r = inf.shape(right, eq)
        inf.multiplies.setdefault(p.name, right.text)
        inf.transposed.add(p.name)
        w = inf.param(p.name)
        if r == CONST:
            raise ShapeError(f"{node.text}: {left.text} multiplies a constant", node.loc)
        inf.unify(w, r, f"{p.name}ᵀ {right.text} is a dot product in ({n})", node.loc,
                  (p, right))
        out = inf.s.new()
        inf.s.resolve(out, (), "a dot product is a scalar", node.loc)

        def check() -> bool:
            if inf.s.rank(w) is None:
                return False
            if inf.s.rank(w) != 1:
                raise ShapeError(f"{node.text}: {p.name}ᵀ must be a row vector", node.loc)
            return True

        inf.later(check, node, eq)
        return out
    lsh = inf.shape(left, eq)
    r = inf.shape(right, eq)
    if lsh == CONST:
        return r
    if r == CONST:
        return lsh
    out = inf.s.new()

    def go() -> bool:
        a, b = inf.s.get(lsh), inf.s.get(r)
        if a is None or b is None:
            return False
        reason = f"{left.text} multiplies {right.text} in ({n})"
        if not a:
            inf.s.unify(out, r, reason, node.loc)
        elif not b:
            inf.s.unify(out, lsh, reason, node.loc)
        elif len(a) == 2 and len(b) == 1:
            if inf.d.get(a[0]) == Poly.const(1):  # a row times a vector: a dot product
                inf.s.dims.union(_Edge(a[1], b[0], reason, node.loc))
                inf.s.resolve(out, (), reason, node.loc)
            else:
                inf.s.dims.union(_Edge(a[1], b[0], reason, node.loc))
                inf.s.resolve(out, (a[0],), reason, node.loc)
        elif len(a) == 2 and len(b) == 2:
            inf.s.dims.union(_Edge(a[1], b[0], reason, node.loc))
            inf.s.resolve(out, (a[0], b[1]), reason, node.loc)
        elif len(a) == 1 and len(b) == 2:
            one = inf.s.new_dim("the rows of a row vector")
            inf.d.bind(one, Poly.const(1), "a row vector has one row", node.loc)
            inf.s.dims.union(_Edge(b[0], one, f"{left.text} {right.text} is an outer product "
                                   f"in ({n}), so {right.text} must be a row", node.loc))
            inf.s.resolve(out, (a[0], b[1]), reason, node.loc)
        else:
            raise ShapeError(
                f"{node.text}: writing two factors side by side is a matrix product, and "
                f"{left.text} is {_rank_name(len(a))}; write {left.text} ⊙ {right.text} for "
                f"an elementwise product or {left.text}ᵀ {right.text} for a dot product",
                node.loc)
        return True

    inf.later(go, node, eq)
    return out


@rule(Concat)
def _concat(inf: _Inference, node: Node, eq: Equation) -> int:
    assert isinstance(node, Concat)
    parts: list[tuple[Node, int]] = []
    for item in node.items:
        sh = inf.shape(item, eq)
        if sh == CONST:
            raise ShapeError(f"{item.text}: a constant cannot be stacked into a vector",
                             item.loc)
        parts.append((item, sh))
    out = inf.s.new()
    cat = inf.s.new_dim(f"the size of {node.text}")
    n = eq.number
    started = [False]

    def go() -> bool:
        if not started[0]:
            axes = [inf.s.get(sh) for _, sh in parts]
            if any(a is None for a in axes):
                return False
            first = axes[0]
            assert first is not None
            for (item, _), a in zip(parts, axes, strict=True):
                assert a is not None
                if not a:
                    raise ShapeError(f"{item.text}: a scalar cannot be stacked into a vector",
                                     item.loc)
                if len(a) != len(first):
                    raise ShapeError(f"{node.text}: the parts have different numbers of axes",
                                     node.loc)
                for x, y in zip(first[1:], a[1:], strict=True):
                    inf.s.dims.union(_Edge(x, y, f"{parts[0][0].text} and {item.text} are "
                                           f"stacked in ({n})", node.loc))
            inf.s.resolve(out, (cat, *first[1:]), f"{node.text} is stacked", node.loc)
            started[0] = True
        values = [inf.d.get(inf.s.get(sh)[0]) for _, sh in parts]  # type: ignore[index]
        total = inf.d.get(cat)
        why = f"the size of {node.text} is the sum of the sizes of its parts"
        if all(v is not None for v in values):
            s = Poly()
            for v in values:
                s = s + v  # type: ignore[operator]
            inf.d.bind(cat, s, why, node.loc)
            return True
        if total is not None and sum(v is None for v in values) == 1:
            i = values.index(None)
            rest = Poly()
            for v in values:
                if v is not None:
                    rest = rest + v
            inf.d.bind(inf.s.get(parts[i][1])[0], total - rest, why, node.loc)  # type: ignore
            return True
        return False

    inf.later(go, node, eq)
    return out


def infer(cell: Cell, convention: str = "equations") -> Derivation:
    """Infer the shape of every parameter of ``cell`` under a convention's equations."""
    equations = cell.equations
    if convention != "equations":
        conv = cell.convention(convention)
        if conv is None:
            raise ConfigError(f"cell {cell.name} has no convention {convention}")
        if conv.equations is not None:
            equations = conv.equations
    return _Inference(cell, equations, convention).run()
