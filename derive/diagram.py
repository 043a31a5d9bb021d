"""Cell diagrams: the equations of a cell drawn as a data-flow graph, in the style of Colah's
and D2L's LSTM figures, laid out by Graphviz's ``dot`` and written as a standalone SVG.

Two steps, both pure:

* :func:`diagram_graph` walks the equations' syntax trees (no per-cell code) and returns
  the drawing as data (:class:`Diagram`): one node per input and per value carried from an
  earlier step (``x_t``, ``h_{t-1}``, ``x_{t-k+1:t}``), one per variable an equation
  defines, small operator nodes for the other operations (``⊙``, ``+``, ``×``, ``∗``,
  ``÷``, ``(·)ᵀ``, ``[ ; ]``, functions and norms), and edges that carry the parameters
  that weight them (``W_ii`` on the ``x_t`` arrow into ``i_t``, ``W_xi ∗`` for a
  convolution, ``p_i ⊙`` for a peephole). A variable whose equation applies an activation
  to a sum of weighted terms is a *layer*, as in the figures: its box shows the activation
  (``σ``) and adds the arrows that enter it. A bias is written in the node it is added in
  (``+ b_i``), a norm's gain and bias in the norm's node, and a parameter used in no other
  way gets a small node of its own. The states at t leave the picture through dashed arrows
  to its far edge.
* :func:`diagram_svg` lays that graph out with Graphviz ``dot`` (PyGraphviz, whose wheels
  bundle Graphviz: nothing to install but the wheel) and writes the SVG itself from the
  positions. Every node and every weight is given a fixed size computed here from its text
  (:func:`text_width`), so the layout never measures text with the machine's fonts: the
  same equations give the same bytes on every machine with the same PyGraphviz. The SVG has
  a viewBox and ``width="100%"`` (it shrinks to a phone's width and never grows past its
  natural size), a legend, a tooltip (``<title>``) on every node and weight with its shape,
  no script, no external reference, and all text escaped for XML (cell files are user
  text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import cache

from derive.infer import Derivation, walk
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
    Sum,
    Transpose,
    Var,
    display_name,
)
from derive.poly import Poly

__all__ = ["Diagram", "DiagramEdge", "DiagramNode", "Placed", "diagram_graph", "diagram_svg",
           "layout", "plain", "text_width"]

# ---------------------------------------------------------------- the graph, as data

FUNCTION_LABELS = {"σ": "σ", "tanh": "tanh", "relu": "ReLU", "exp": "exp", "log": "log",
                   "softplus": "softplus", "sqrt": "√", "abs": "|·|", "max": "max",
                   "min": "min", "gelu": "GELU", "silu": "SiLU"}
MULTI_ARG = {"max", "min"}


@dataclass(frozen=True)
class DiagramNode:
    """One node of a diagram.

    ``kind``: ``input`` (an input, at t or earlier), ``previous`` (a variable's value at an
    earlier step, e.g. ``h_{t-1}``), ``state`` (a state at t), ``variable`` (any other value
    an equation defines), ``operator`` (``⊙``, ``+``, ``×``, ``∗``, ``÷``, ``[ ; ]``, ...),
    ``function`` (an activation or norm inside an expression), ``parameter`` (a parameter
    used as a value on its own), ``constant`` or ``exit`` (the right edge, where a state
    leaves for the next step). ``label`` is what the node says (``i_t``, ``⊙``); a variable
    with an activation has it in ``header``; ``detail`` is text written under the label
    (``+ b_i``: a bias added in the node; ``γ, β``: a norm's parameters), and ``params``
    the parameters it names; ``title`` is a tooltip (what it is, its shape). A variable is a
    ``layer`` when it has parameters: weighted arrows into its box, or a bias in it
    (``σ(W x + U h + b)``); any box adds the arrows that enter it."""

    id: str
    kind: str
    label: str
    header: str = ""
    detail: str = ""
    params: tuple[str, ...] = ()
    title: str = ""
    layer: bool = False


@dataclass(frozen=True)
class DiagramEdge:
    """An arrow. ``label`` is what weights it (``W_ii``, ``w_iᵀ``, ``W_xi ∗``, ``p_i ⊙``,
    ``W_k /√d``), naming ``params``; ``role`` says how the value enters its target when
    that is not plain: ``−`` (subtracted), ``divisor``, ``exponent``. ``kind`` is ``data``,
    or ``exit`` for a state leaving for the next step."""

    source: str
    target: str
    label: str = ""
    role: str = ""
    params: tuple[str, ...] = ()
    kind: str = "data"

    @property
    def text(self) -> str:
        """The label as drawn: the role, then the weight."""
        if self.role == "−":
            return "−" + self.label if self.label else "−"
        if self.role:
            return f"{self.label} ({self.role})" if self.label else self.role
        return self.label


@dataclass(frozen=True)
class Diagram:
    cell: str
    title: str
    nodes: tuple[DiagramNode, ...]
    edges: tuple[DiagramEdge, ...]

    def node(self, node_id: str) -> DiagramNode:
        return next(n for n in self.nodes if n.id == node_id)

    @property
    def params(self) -> tuple[str, ...]:
        """Every parameter the drawing names, in order of appearance."""
        seen: dict[str, None] = {}
        for item in (*self.nodes, *self.edges):
            seen.update(dict.fromkeys(item.params))
        return tuple(seen)


@dataclass(frozen=True)
class _Ref:
    """A value drawn as a node, possibly weighted on its way out (``W_ii`` x_t)."""

    node: str
    label: tuple[str, ...] = ()
    params: tuple[str, ...] = ()

    def weighted(self, text: str, params: tuple[str, ...], before: bool = True) -> _Ref:
        label = (text, *self.label) if before else (*self.label, text)
        return _Ref(self.node, label, (*params, *self.params) if before else
                    (*self.params, *params))


@dataclass(frozen=True)
class _Loose:
    """A parameter or a constant not drawn yet: it may become an edge's weight or part of
    a node's text, or else a small node of its own."""

    text: str
    params: tuple[str, ...] = ()  # empty: a constant


_Value = _Ref | _Loose


def _shape(shape: tuple[Poly, ...]) -> str:
    return " × ".join(str(p) for p in shape) if shape else "scalar"


class _Builder:
    def __init__(self, cell: Cell, derivation: Derivation) -> None:
        self.cell, self.d = cell, derivation
        self.nodes: list[DiagramNode] = []
        self.edges: list[DiagramEdge] = []
        self.defined: dict[str, str] = {}  # variable name -> node id
        self.sources: dict[tuple[str, str], str] = {}
        self.inputs = {d.name: d for d in cell.inputs}
        self.decls = {d.name: d for d in cell.decls}
        self.variables = {v.name: v for v in derivation.variables}
        self.index: dict[str, int] = {}  # node id -> its place in self.nodes

    # -- nodes and edges
    def add(self, kind: str, label: str, **kw: object) -> str:
        node_id = f"n{len(self.nodes)}"
        self.index[node_id] = len(self.nodes)
        self.nodes.append(DiagramNode(node_id, kind, label, **kw))  # type: ignore[arg-type]
        return node_id

    def edge(self, value: _Value, target: str, role: str = "") -> None:
        ref = self.ref(value)
        self.edges.append(DiagramEdge(ref.node, target, " ".join(ref.label), role, ref.params))

    def ref(self, value: _Value) -> _Ref:
        """A value as a node: a loose parameter or constant gets a small node of its own."""
        if isinstance(value, _Ref):
            return value
        if value.params:
            title = "; ".join(self.param_title(p) for p in value.params)
            return _Ref(self.add("parameter", value.text, params=value.params, title=title))
        return _Ref(self.add("constant", value.text, title=value.text))

    def param_title(self, name: str) -> str:
        p = self.d.parameter(name)
        return f"{name}: {_shape(p.shape)}" if p is not None else name

    def source(self, var: Var) -> str:
        time = var.time or "t"
        key = (var.name, time)
        if key not in self.sources:
            shown = display_name(var.name, time)
            decl = self.decls.get(var.name)
            kind = "input" if var.name in self.inputs else "previous"
            what = decl.description if decl is not None and decl.description else ""
            if var.window is not None:
                what = f"the last {var.window} values of {var.name}_t"
            elif kind == "previous" and what:
                what = f"{what}, at {time}"
            elif kind == "previous":
                what = f"{var.name}_t at {time}"
            v = self.variables.get(f"{var.name}_t")
            shape = f" ({_shape(v.shape)})" if v is not None and var.window is None else ""
            self.sources[key] = self.add(kind, shown, title=f"{shown}: {what}{shape}")
        return self.sources[key]

    # -- expressions
    def value(self, node: Node) -> _Value:
        if not any(isinstance(n, Var) for n, _ in walk(node)):
            return _Loose(_constant_text(node))
        if isinstance(node, Var):
            if node.time is None:
                return _Loose(node.name, (node.name,))
            if node.time == "t" and node.name in self.defined:
                return _Ref(self.defined[node.name])
            return _Ref(self.source(node))
        if isinstance(node, Transpose) and isinstance(node.arg, Var) and node.arg.time is None:
            return _Loose(node.arg.name + "ᵀ", (node.arg.name,))
        if isinstance(node, (MatMul, Conv, Hadamard)):
            return self.product(node)
        if isinstance(node, Div):
            return self.divide(node)
        if isinstance(node, Sum):
            terms = self.terms(node)
            return _Ref(self.sum_into(terms, self.add("operator", "+", title=node.text)))
        if isinstance(node, Power):
            return self.power(node)
        if isinstance(node, Call):
            label = FUNCTION_LABELS.get(node.func, node.func)
            op = self.add("function", label, title=node.text)
            if _unary(node) and isinstance(node.operands[0], Sum):
                terms = self.terms(node.operands[0])
                if _affine(terms):  # tanh(W x + U h + b) inside an expression: a layer
                    self.sum_into(terms, op)
                    self.set(op, layer=True)
                    return _Ref(op)
                op_sum = self.add("operator", "+", title=node.operands[0].text)
                self.edge(_Ref(self.sum_into(terms, op_sum)), op)
                return _Ref(op)
            for arg in node.operands:
                self.edge(self.value(arg), op)
            return _Ref(op)
        if isinstance(node, Norm):
            assert node.arg is not None
            label = node.func if node.groups is None else f"{node.func}({node.groups})"
            names = tuple(p.name for p in node.params)
            op = self.add("function", label, detail=", ".join(names), params=names,
                          title="; ".join((node.text, *(self.param_title(n) for n in names))))
            self.edge(self.value(node.arg), op)
            return _Ref(op)
        if isinstance(node, Transpose):
            assert node.arg is not None
            op = self.add("operator", "(·)ᵀ", title=node.text)
            self.edge(self.value(node.arg), op)
            return _Ref(op)
        if isinstance(node, Concat):
            op = self.add("operator", "[ ; ]", title=node.text)
            for item in node.items:
                self.edge(self.value(item), op)
            return _Ref(op)
        raise TypeError(f"no diagram for {type(node).__name__}")  # pragma: no cover

    def product(self, node: MatMul | Conv | Hadamard) -> _Value:
        """``W x``, ``W ∗ X``, ``p ⊙ c``: a parameter or constant times a value weights the
        value's arrow; two values meet in an operator node."""
        assert node.left is not None and node.right is not None
        left, right = self.value(node.left), self.value(node.right)
        mark = {MatMul: "", Conv: " ∗", Hadamard: " ⊙"}[type(node)]
        if isinstance(left, _Loose) and isinstance(right, _Ref):
            return right.weighted(left.text + mark, left.params)
        if isinstance(right, _Loose) and isinstance(left, _Ref) and not mark:
            return left.weighted(right.text, right.params, before=False)
        if isinstance(right, _Loose) and isinstance(left, _Ref):
            return left.weighted(mark.strip() + " " + right.text, right.params, before=False)
        symbol = {MatMul: "×", Conv: "∗", Hadamard: "⊙"}[type(node)]
        op = self.add("operator", symbol, title=node.text)
        self.edge(left, op)
        self.edge(right, op)
        return _Ref(op)

    def divide(self, node: Div) -> _Value:
        assert node.left is not None and node.right is not None
        left, right = self.value(node.left), self.value(node.right)
        if isinstance(left, _Ref) and isinstance(right, _Loose):
            return left.weighted("/" + right.text, right.params, before=False)
        op = self.add("operator", "÷", title=node.text)
        self.edge(left, op)
        self.edge(right, op, "divisor")
        return _Ref(op)

    def power(self, node: Power) -> _Value:
        assert node.base is not None and node.exponent is not None
        base, exponent = self.value(node.base), self.value(node.exponent)
        if isinstance(exponent, _Loose) and not exponent.params:
            op = self.add("operator", "(·)" + _superscript(node.exponent, exponent.text),
                          title=node.text)
            self.edge(base, op)
            return _Ref(op)
        op = self.add("operator", "(·)^", title=node.text)
        self.edge(base, op)
        self.edge(exponent, op, "exponent")
        return _Ref(op)

    def terms(self, node: Sum) -> list[tuple[_Value, int]]:
        return [(self.value(t), sign) for t, sign in zip(node.terms, node.signs, strict=True)]

    def sum_into(self, terms: list[tuple[_Value, int]], target: str) -> str:
        """The terms of a sum as arrows into ``target``; its parameters and constants (a
        bias, the 1 of 1 − z_t) are written in the node."""
        absorbed: list[str] = []
        params: list[str] = []
        for value, sign in terms:
            if isinstance(value, _Loose):
                absorbed.append(("+ " if sign > 0 else "− ") + value.text)
                params.extend(value.params)
            else:
                self.edge(value, target, "" if sign > 0 else "−")
        if absorbed:
            old = self.nodes[self.index[target]]
            title = "; ".join(x for x in (old.title, *(self.param_title(p) for p in params))
                              if x)
            self.set(target, detail=" ".join(absorbed), params=(*old.params, *params),
                     title=title)
        return target

    def set(self, node_id: str, **changes: object) -> None:
        i = self.index[node_id]
        self.nodes[i] = replace(self.nodes[i], **changes)  # type: ignore[arg-type]

    # -- equations
    def equation(self, eq: Equation) -> None:
        rhs, header = eq.rhs, ""
        if isinstance(rhs, Call) and _unary(rhs) and any(isinstance(n, Var)
                                                         for n, _ in walk(rhs)):
            header = FUNCTION_LABELS.get(rhs.func, rhs.func)
            rhs = rhs.operands[0]
        if eq.stacked:  # [f_t; i_t; o_t; g_t] = ...: the parts of one value
            whole = self.value(rhs)
            if header:
                op = self.add("function", header)
                self.edge(whole, op)
                whole = _Ref(op)
            whole = self.ref(whole)
            for target in eq.targets:
                node = self.variable(target, eq, "")
                self.edge(whole, node)
            return
        node = self.variable(eq.target, eq, header)
        if not isinstance(rhs, Sum):
            self.edge(self.value(rhs), node)
            return
        terms = self.terms(rhs)
        if header or _affine(terms):
            self.sum_into(terms, node)  # σ(W x + U h + b), W x + b: the box is the layer
        else:  # f ⊙ c + i ⊙ g: a sum of products
            self.edge(_Ref(self.sum_into(terms, self.add("operator", "+", title=rhs.text))),
                      node)

    def variable(self, target: Var, eq: Equation, header: str) -> str:
        shown = target.display
        v = self.variables.get(shown)
        kind = "state" if v is not None and v.kind == "state" else "variable"
        what = eq.label or (self.decls[target.name].description
                            if target.name in self.decls else "")
        shape = f" ({_shape(v.shape)})" if v is not None else ""
        title = f"{shown}: {what}{shape}" if what else f"{shown}{shape}"
        self.defined[target.name] = self.add(kind, shown, header=header, title=title)
        return self.defined[target.name]

    def build(self) -> Diagram:
        for eq in self.d.equations:
            self.equation(eq)
        weighted = {e.target for e in self.edges if e.params}
        for n in list(self.nodes):
            if n.kind in ("state", "variable") and (n.params or n.id in weighted):
                self.set(n.id, layer=True)
        for eq in self.d.equations:
            for target in eq.targets:
                v = self.variables.get(target.display)
                if (v is not None and v.kind == "state") or target.name == self.cell.output:
                    node = self.add("exit", "", title=f"{target.display}, to the next step")
                    self.edges.append(DiagramEdge(self.defined[target.name], node,
                                                  kind="exit"))
        return Diagram(self.cell.name, self.cell.title, tuple(self.nodes), tuple(self.edges))


def _unary(node: Call) -> bool:
    return len(node.operands) == 1 and node.func not in MULTI_ARG


def _affine(terms: list[tuple[_Value, int]]) -> bool:
    """A sum with a weighted arrow or a bias: what a layer computes before its activation."""
    return any(v.params for v, _ in terms)


def _constant_text(node: Node) -> str:
    if isinstance(node, Num) and node.denominator == 1:
        return str(node.numerator)
    return node.text


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def _superscript(node: Node, text: str) -> str:
    if isinstance(node, Num) and node.denominator == 1:
        return str(node.numerator).translate(_SUPERSCRIPT)
    return "^" + text


def diagram_graph(cell: Cell, derivation: Derivation) -> Diagram:
    """The diagram of a cell's equations (``derivation.equations``), as nodes and edges."""
    return _Builder(cell, derivation).build()


# ---------------------------------------------------------------- text and sizes

FONT = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
SIZE_NAME = 17.0  # a variable's or an input's name
SIZE_HEADER = 17.0  # the activation of a variable's box
SIZE_DETAIL = 13.0  # a bias written in a node, a norm's parameters
SIZE_OP = 20.0  # an operator's symbol
SIZE_EDGE = 14.0  # a weight on an arrow
SIZE_LEGEND = 12.5
SUB = 0.72  # a subscript's size, relative to its text
ARROW = 8.0  # an arrowhead's length

_NARROW = set("iljtfr1!|.,:;'’ ()[]ıI")
_WIDE = set("mwMW⊙∗×÷√−+")
_SPAN = re.compile(r"_(\{[^{}]*\}|[^\s_{}ᵀ/]+)")


def _spans(text: str) -> list[tuple[str, bool]]:
    """``W_ii`` → [("W", False), ("ii", True)]; ``h_{t-1}`` → [("h", False), ("t−1", True)];
    ``w_iᵀ /√d`` keeps ᵀ and what follows on the baseline."""
    out: list[tuple[str, bool]] = []
    pos = 0
    for m in _SPAN.finditer(text):
        if m.start() > pos:
            out.append((text[pos:m.start()], False))
        out.append((m[1].strip("{}").replace("-", "−"), True))
        pos = m.end()
    if pos < len(text):
        out.append((text[pos:], False))
    return [(s, sub) for s, sub in out if s]


def plain(text: str) -> str:
    """The characters a label shows, as SVG text reads them: ``h_{t-1}`` → ``ht−1``."""
    return "".join(part for part, _ in _spans(text))


def _char_width(ch: str) -> float:
    if "\u0300" <= ch <= "\u036f":  # combining marks (the tilde of c̃)
        return 0.0
    if ch in _NARROW:
        return 0.36
    if ch in _WIDE:
        return 0.95
    if ch.isupper():
        return 0.74
    return 0.64


def text_width(text: str, size: float) -> float:
    """A generous estimate of the drawn width of ``text`` (subscripts included) at ``size``,
    from fixed character classes: no font is measured, so layouts are the same everywhere."""
    total = 0.0
    for part, sub in _spans(text):
        total += sum(_char_width(ch) for ch in part) * size * (SUB if sub else 1.0)
    return total


def _lines(node: DiagramNode) -> list[tuple[str, float, str]]:
    """The lines of a variable's box: its activation, its name, its bias."""
    lines = [(node.label, SIZE_NAME, "name")]
    if node.header:
        lines.insert(0, (node.header, SIZE_HEADER, "header"))
    if node.detail:
        lines.append((node.detail, SIZE_DETAIL, "detail"))
    return lines


def node_size(node: DiagramNode) -> tuple[float, float]:
    """Width and height of a node as drawn, in SVG units (points, for Graphviz)."""
    if node.kind == "exit":
        return 2.0, 2.0
    if node.kind in ("constant", "parameter"):
        return text_width(node.label, SIZE_EDGE) + 8, SIZE_EDGE + 8
    if node.kind in ("operator", "function"):
        w = text_width(node.label, SIZE_OP)
        h = SIZE_OP + 12
        if node.detail:
            w = max(w, text_width(node.detail, SIZE_DETAIL))
            h += SIZE_DETAIL + 2
        pad = 14 if node.kind == "function" else (8 if len(node.label) == 1 else 22)
        return max(h, w + pad), h
    lines = _lines(node)
    w = max(text_width(t, s) for t, s, _ in lines) + 20
    h = sum(s * 1.25 for _, s, _ in lines) + 12
    return max(w, 46.0), max(h, 34.0)


def _edge_font(edge: DiagramEdge) -> float:
    return SIZE_OP if edge.text == "−" else SIZE_EDGE


def edge_label_size(edge: DiagramEdge) -> tuple[float, float]:
    size = _edge_font(edge)
    return text_width(edge.text, size) + 6, size + 6


# ---------------------------------------------------------------- layout (Graphviz dot)

Point = tuple[float, float]


@dataclass(frozen=True)
class Placed:
    """A layout in SVG units (y down): each node's centre and size, and each edge's Bézier
    pieces (one, or two around its label), arrow tip and label centre."""

    width: float
    height: float
    nodes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    edges: list[tuple[tuple[tuple[Point, ...], ...], Point | None, Point | None]] = field(
        default_factory=list)


def _inches(points: float) -> str:
    return f"{points / 72:.4f}"


@cache
def _pygraphviz():  # type: ignore[no-untyped-def]
    import pygraphviz  # the site's extra; the wheels bundle Graphviz (dot)

    return pygraphviz


def layout(diagram: Diagram, rankdir: str = "TB") -> Placed:
    """Positions for every node and edge of ``diagram``, from Graphviz ``dot``.

    Inputs and values from t−1 share the first rank, the exits of the states the last. An
    arrow's weight is a node of its own on the arrow, pulled next to the arrow's target and
    kept there with the target's other weights (a cluster), so that arrows cross before
    their weights, never between a weight and its box. Every size is given: nothing is
    measured with the machine's fonts."""
    pgv = _pygraphviz()
    g = pgv.AGraph(directed=True, strict=False)
    g.graph_attr.update(rankdir=rankdir, nodesep="0.14", ranksep="0.28", splines="spline",
                        margin="0", pad="0", newrank="true")
    g.node_attr.update(label="", fixedsize="true", shape="box", margin="0")
    g.edge_attr.update(arrowsize=f"{ARROW / 10:.2f}", arrowhead="normal")
    for node in diagram.nodes:
        w, h = node_size(node)
        g.add_node(node.id, width=_inches(w), height=_inches(h),
                   shape="point" if node.kind == "exit" else "box")
    sources = [n.id for n in diagram.nodes if n.kind in ("input", "previous")]
    exits = [n.id for n in diagram.nodes if n.kind == "exit"]
    if sources:
        g.add_subgraph(sources, name="sources", rank="min")
    if exits:
        g.add_subgraph(exits, name="exits", rank="max")
    weights: dict[str, list[str]] = {}
    for k, edge in enumerate(diagram.edges):
        if edge.text:
            w, h = edge_label_size(edge)
            g.add_node(f"w{k}", width=_inches(w), height=_inches(h))
            g.add_edge(edge.source, f"w{k}", key="in", arrowhead="none")
            g.add_edge(f"w{k}", edge.target, key="out", weight="8")
            weights.setdefault(edge.target, []).append(f"w{k}")
        else:
            g.add_edge(edge.source, edge.target, key=str(k),
                       weight="2" if edge.kind == "exit" else "1")
    for target, ws in weights.items():
        g.add_subgraph([target, *ws], name=f"cluster_{target}", margin="1")
    g.layout(prog="dot")
    x0, y0, x1, y1 = (float(v) for v in g.graph_attr["bb"].split(","))
    height = y1 - y0

    def pt(text: str) -> Point:
        x, y = (float(v) for v in text.split(",")[:2])
        return round(x - x0, 1), round(height - (y - y0), 1)

    def spline(ge: object) -> tuple[tuple[Point, ...], Point | None]:
        points: list[Point] = []
        tip = None
        for part in ge.attr["pos"].split(" "):  # type: ignore[attr-defined]
            if part.startswith("e,"):
                tip = pt(part[2:])
            elif not part.startswith("s,"):
                points.append(pt(part))
        return tuple(points), tip

    placed = Placed(round(x1 - x0, 1), round(height, 1))
    for node in diagram.nodes:
        x, y = pt(g.get_node(node.id).attr["pos"])
        w, h = node_size(node)
        placed.nodes[node.id] = (x, y, round(w, 1), round(h, 1))
    for k, edge in enumerate(diagram.edges):
        if edge.text:
            first, _ = spline(g.get_edge(edge.source, f"w{k}", key="in"))
            second, tip = spline(g.get_edge(f"w{k}", edge.target, key="out"))
            placed.edges.append(((first, second), tip, pt(g.get_node(f"w{k}").attr["pos"])))
        else:
            points, tip = spline(g.get_edge(edge.source, edge.target, key=str(k)))
            placed.edges.append(((points,), tip, None))
    return placed


# ---------------------------------------------------------------- SVG

INK = "#222222"
LINE = "#555555"
WEIGHT = "#5b2a86"  # parameters, wherever they are written
STYLE = {  # (fill, stroke, stroke width)
    "input": ("#e3f4e1", "#2e7d32", 1.5),
    "previous": ("#e1edfb", "#1f5fa8", 1.5),
    "layer": ("#fff4cf", "#b88a00", 1.5),
    "value": ("#ffffff", "#8a8a8a", 1.5),
    "operator": ("#fde7ef", "#b0285c", 1.5),
}
STATE = ("#1f5fa8", 2.6)  # the border of a state at t
HEADER = "#8a5a00"
MARGIN = 10.0


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _esc(text: str) -> str:
    """Text for XML content or a quoted attribute; characters XML 1.0 cannot carry go."""
    return (_NOT_XML.sub("", text).replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


def _f(v: float) -> str:
    s = f"{v:.1f}"
    s = s[:-2] if s.endswith(".0") else s
    return "0" if s == "-0" else s


def _text(x: float, y: float, text: str, size: float, fill: str = INK, weight: str = "",
          style: str = "", anchor: str = "") -> str:
    """One line of text centred on (x, y); a name's subscript is a smaller, lower tspan."""
    attrs = f'x="{_f(x)}" y="{_f(y + 0.35 * size)}" font-size="{_f(size)}"'
    for name, value in (("fill", fill if fill != INK else ""), ("font-weight", weight),
                        ("font-style", style), ("text-anchor", anchor)):
        if value:
            attrs += f' {name}="{value}"'
    body = []
    shift = 0.0
    for part, sub in _spans(text):
        want = 0.28 * size if sub else 0.0
        a = f' dy="{_f(want - shift)}"' if want != shift else ""
        shift = want
        if sub:
            a += f' font-size="{_f(size * SUB)}"'
        body.append(f"<tspan{a}>{_esc(part)}</tspan>" if a else _esc(part))
    return f'<text {attrs}>{"".join(body)}</text>'


def _bezier(points: tuple[Point, ...]) -> str:
    out = [f"M{_f(points[0][0])},{_f(points[0][1])}"]
    rest = points[1:]
    for i in range(0, len(rest) - 2, 3):
        out.append("C" + " ".join(f"{_f(x)},{_f(y)}" for x, y in rest[i:i + 3]))
    return " ".join(out)


def _arrowhead(base: Point, tip: Point) -> str:
    (bx, by), (tx, ty) = base, tip
    n = ((tx - bx) ** 2 + (ty - by) ** 2) ** 0.5 or 1.0
    ux, uy = (tx - bx) / n, (ty - by) / n
    sx, sy = tx - ux * ARROW, ty - uy * ARROW
    half = ARROW * 0.42
    pts = ((tx, ty), (sx - uy * half, sy + ux * half), (sx + uy * half, sy - ux * half))
    return '<polygon points="' + " ".join(f"{_f(x)},{_f(y)}" for x, y in pts) + '"/>'


def _style(node: DiagramNode) -> tuple[str, str, float]:
    if node.kind in ("state", "variable"):
        fill, stroke, width = STYLE["layer" if node.layer else "value"]
        if node.kind == "state":
            stroke, width = STATE
        return fill, stroke, width
    if node.kind == "function" and node.layer:
        return STYLE["layer"]
    return STYLE["operator" if node.kind == "function" else node.kind]


def _node_svg(node: DiagramNode, x: float, y: float, w: float, h: float) -> str:
    out = [f"<g><title>{_esc(node.title or node.label)}</title>"]
    left, top = x - w / 2, y - h / 2
    box = f'x="{_f(left)}" y="{_f(top)}" width="{_f(w)}" height="{_f(h)}"'
    if node.kind in ("constant", "parameter"):
        out.append(_text(x, y, node.label, SIZE_EDGE, WEIGHT if node.params else INK,
                         style="italic" if node.params else ""))
        return "".join(out) + "</g>"
    fill, stroke, width = _style(node)
    if node.kind in ("operator", "function"):
        radius = h / 2 if node.kind == "operator" else 7.0
        ink = HEADER if node.layer else stroke
        out.append(f'<rect {box} rx="{_f(radius)}" fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="{_f(width)}"/>')
        if node.detail:
            out.append(_text(x, top + 6 + SIZE_OP / 2, node.label, SIZE_OP, ink, "bold"))
            out.append(_text(x, top + h - 5 - SIZE_DETAIL / 2, node.detail, SIZE_DETAIL,
                             WEIGHT))
        else:
            out.append(_text(x, y, node.label, SIZE_OP, ink, "bold"))
        return "".join(out) + "</g>"
    out.append(f'<rect {box} rx="8" fill="{fill}" stroke="{stroke}" '
               f'stroke-width="{_f(width)}"/>')
    lines = _lines(node)
    cy = y - sum(s * 1.25 for _, s, _ in lines) / 2
    for text, size, role in lines:
        cy += size * 1.25 / 2
        color, weight = {"header": (HEADER, "bold"), "detail": (WEIGHT, "")}.get(role, (INK, ""))
        out.append(_text(x, cy, text, size, color, weight))
        cy += size * 1.25 / 2
    return "".join(out) + "</g>"


def _legend(diagram: Diagram, width: float) -> tuple[list[str], float]:
    """A key to the colours, below the drawing, its items flowed into rows of ``width``."""
    kinds = {n.kind for n in diagram.nodes}
    layers = {n.layer for n in diagram.nodes if n.kind in ("state", "variable", "function")}
    values = any(n.kind == "variable" and not n.layer for n in diagram.nodes)
    items: list[tuple[str, str]] = [("input", "input")]
    if "previous" in kinds:
        items.append(("previous", "from step t−1"))
    if True in layers:
        items.append(("layer", "layer: adds its weighted arrows"))
    if values:
        items.append(("value", "value"))
    if "state" in kinds:
        items.append(("state", "state at t"))
    if kinds & {"operator", "function"}:
        items.append(("operator", "operation"))
    if diagram.params:
        items.append(("weight", "parameter"))
    if "exit" in kinds:
        items.append(("exit", "to step t+1"))
    out: list[str] = []
    x = y = 0.0
    row = SIZE_LEGEND + 10
    for kind, text in items:
        w = 26 + text_width(text, SIZE_LEGEND) + 14
        if x > 0 and x + w > width:
            x, y = 0.0, y + row
        cy = y + row / 2
        if kind == "exit":
            out.append(f'<path d="M{_f(x)},{_f(cy)} H{_f(x + 14)}" fill="none" '
                       f'stroke="{LINE}" stroke-width="1.6" stroke-dasharray="5,3"/>')
            out.append(f'<g fill="{LINE}">{_arrowhead((x + 14, cy), (x + 22, cy))}</g>')
        elif kind == "weight":
            out.append(_text(x + 11, cy, "W", SIZE_EDGE, WEIGHT, style="italic"))
        else:
            fill, stroke, sw = ("#ffffff", *STATE) if kind == "state" else STYLE[kind]
            rx = 6 if kind == "operator" else 3
            out.append(f'<rect x="{_f(x)}" y="{_f(cy - 7)}" width="22" height="14" '
                       f'rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="{_f(sw)}"/>')
        out.append(_text(x + 28, cy, text, SIZE_LEGEND, anchor="start"))
        x += w
    return out, y + row


def diagram_svg(cell: Cell, derivation: Derivation, rankdir: str = "TB",
                legend: bool = True) -> str:
    """The diagram of ``derivation``'s equations (the cell's own, or a convention's) as a
    standalone SVG document. The same inputs give the same bytes."""
    diagram = diagram_graph(cell, derivation)
    placed = layout(diagram, rankdir)
    key, key_height = _legend(diagram, placed.width) if legend else ([], 0.0)
    width = placed.width + 2 * MARGIN
    height = placed.height + 2 * MARGIN + (key_height + 8 if key else 0)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
           f'width="100%" style="max-width:{_f(width)}px;height:auto" role="img" '
           f'font-family="{FONT}" text-anchor="middle">',
           f"<title>{_esc(f'{cell.title}: one step, as a data-flow diagram')}</title>",
           f'<rect width="{_f(width)}" height="{_f(height)}" fill="#ffffff"/>',
           f'<g transform="translate({_f(MARGIN)},{_f(MARGIN)})">',
           f'<g fill="none" stroke="{LINE}" stroke-width="1.6">']
    heads = []
    for edge, (pieces, tip, _label) in zip(diagram.edges, placed.edges, strict=True):
        dash = ' stroke-dasharray="5,3"' if edge.kind == "exit" else ""
        out.extend(f'<path d="{_bezier(points)}"{dash}/>' for points in pieces if points)
        if tip is not None and pieces[-1]:
            heads.append(_arrowhead(pieces[-1][-1], tip))
    out.append("</g>")
    out.append(f'<g fill="{LINE}">' + "".join(heads) + "</g>")
    for edge, (_pieces, _tip, label) in zip(diagram.edges, placed.edges, strict=True):
        if label is not None:
            title = _esc(_edge_title(edge, derivation))
            out.append(f"<g><title>{title}</title>" + _text(
                *label, edge.text, _edge_font(edge), WEIGHT if edge.params else INK,
                style="italic" if edge.params else "") + "</g>")
    out.extend(_node_svg(node, *placed.nodes[node.id]) for node in diagram.nodes
               if node.kind != "exit")
    out.append("</g>")
    if key:
        out.append(f'<g transform="translate({_f(MARGIN)},{_f(MARGIN + placed.height + 8)})">')
        out.extend(key)
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge_title(edge: DiagramEdge, derivation: Derivation) -> str:
    parts = []
    for name in edge.params:
        p = derivation.parameter(name)
        parts.append(f"{name}: {_shape(p.shape)}" if p is not None else name)
    return "; ".join(parts) or edge.text
