"""Cell diagrams: the equations of a cell drawn as a data-flow graph, in the style of Colah's
and D2L's LSTM figures, laid out by Graphviz's ``dot`` and written as a standalone SVG.

Two steps, both pure:

* :func:`diagram_graph` walks the equations' syntax trees (no per-cell code) and returns
  the drawing as data: one node per input and per value carried from an earlier step
  (``x_t``, ``h_{t-1}``, ``x_{t-k+1:t}``), one per variable an equation defines (with its
  activation, ``σ`` or ``tanh``, when the equation applies one; the pre-activation sum is
  then the box itself, as in the figures: the arrows into a box are added), small operator
  nodes for the other operations (``⊙``, ``+``, ``×``, ``∗``, ``÷``, functions, norms), and
  edges that carry the parameters that weight them (``W_ii`` on the ``x_t`` arrow into
  ``i_t``). A bias is written in the node it is added in (``+ b_i``); a norm's gain and
  bias in the norm's node; a parameter used in no other way gets a small node of its own.
  States at t leave the picture on the right, through an arrow to its edge.
* :func:`diagram_svg` lays that graph out with Graphviz ``dot`` (through PyGraphviz, whose
  wheels bundle Graphviz) and writes the SVG itself from the positions. Every node and
  every edge label is given a fixed size computed here from the text, so the layout never
  measures text with the machine's fonts: the same equations give the same bytes on every
  machine with the same PyGraphviz. The SVG has a viewBox and ``width="100%"`` (it scales
  to a phone's width, never above its natural size), no script, no external reference,
  and all text is escaped for XML (cell files are user text).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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

__all__ = ["Diagram", "DiagramEdge", "DiagramNode", "diagram_graph", "diagram_svg", "layout"]

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
    the parameters it names."""

    id: str
    kind: str
    label: str
    header: str = ""
    detail: str = ""
    params: tuple[str, ...] = ()
    title: str = ""


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
        self.count = 0

    # -- nodes and edges
    def add(self, kind: str, label: str, **kw: object) -> str:
        node_id = f"n{self.count}"
        self.count += 1
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
            if kind == "previous" and what:
                what = f"{what}, at {time}"
            elif kind == "previous":
                what = f"{var.name}_t at {time}"
            v = self.variables.get(f"{var.name}_t")
            shape = f" ({_shape(v.shape)})" if v is not None else ""
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
            i = next(k for k, n in enumerate(self.nodes) if n.id == target)
            old = self.nodes[i]
            title = "; ".join(x for x in (old.title, *(self.param_title(p) for p in params))
                              if x)
            self.nodes[i] = DiagramNode(old.id, old.kind, old.label, old.header,
                                        " ".join(absorbed), (*old.params, *params), title)
        return target

    # -- equations
    def equation(self, eq: Equation) -> None:
        rhs, header = eq.rhs, ""
        if isinstance(rhs, Call) and len(rhs.operands) == 1 and rhs.func not in MULTI_ARG \
                and any(isinstance(n, Var) for n, _ in walk(rhs)):
            header = FUNCTION_LABELS.get(rhs.func, rhs.func)
            rhs = rhs.operands[0]
        if eq.stacked:  # [f_t; i_t; o_t; g_t] = ...: the parts of one value
            whole = self.value(rhs)
            if header:  # pragma: no cover - the grammar's stacked sides are sums
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
        if header or any(isinstance(v, _Loose) or v.params for v, _ in terms):
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
        node = self.add(kind, shown, header=header, title=title)
        return node

    def build(self) -> Diagram:
        for eq in self.d.equations:
            start = len(self.nodes)
            self.equation(eq)
            for target in eq.targets:
                self.defined[target.name] = next(
                    n.id for n in self.nodes[start:]
                    if n.kind in ("state", "variable") and n.label == target.display)
        exits = []
        for eq in self.d.equations:
            for target in eq.targets:
                v = self.variables.get(target.display)
                if (v is not None and v.kind == "state") or target.name == self.cell.output:
                    exits.append(target)
        for target in exits:
            node = self.add("exit", "", title=f"{target.display} at the next step")
            self.edges.append(DiagramEdge(self.defined[target.name], node, kind="exit"))
        return Diagram(self.cell.name, self.cell.title, tuple(self.nodes), tuple(self.edges))



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
SIZE_OP = 18.0  # an operator's symbol
SIZE_EDGE = 14.0  # a weight on an arrow
SUB = 0.72  # a subscript's size, relative to its text
ARROW = 8.0  # an arrowhead's length

_NARROW = set("iljtfr1!|.,:;'’ ()[]ıI")
_WIDE = set("mwMW⊙∗×÷√")
_SPAN = re.compile(r"_(\{[^{}]*\}|[^\s_{}ᵀ/]+)")


def _spans(text: str) -> list[tuple[str, bool]]:
    """``W_ii`` → [("W", False), ("ii", True)]; ``h_{t-1}`` → [("h", False), ("t−1", True)];
    ``w_iᵀ /√d`` keeps ᵀ and what follows at the baseline."""
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
        scale = size * (SUB if sub else 1.0)
        total += sum(_char_width(ch) for ch in part) * scale
    return total


def _node_size(node: DiagramNode) -> tuple[float, float]:
    """Width and height in points (SVG units) of a node as drawn."""
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
        return max(h, w + (14 if node.kind == "function" else 18)), h
    lines = [(node.label, SIZE_NAME)]
    if node.header:
        lines.insert(0, (node.header, SIZE_HEADER))
    if node.detail:
        lines.append((node.detail, SIZE_DETAIL))
    w = max(text_width(t, s) for t, s in lines) + 20
    h = sum(s * 1.25 for _, s in lines) + 12
    return max(w, 46.0), max(h, 34.0)


def _edge_label_size(edge: DiagramEdge) -> tuple[float, float]:
    return text_width(edge.text, SIZE_EDGE) + 6, SIZE_EDGE + 6


# ---------------------------------------------------------------- layout (Graphviz dot)


@dataclass(frozen=True)
class Placed:
    """A node's centre and size, an edge's Bézier points and label centre, in SVG units
    (y down), after layout."""

    width: float
    height: float
    nodes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    edges: list[tuple[tuple[tuple[tuple[float, float], ...], ...], tuple[float, float] | None,
                      tuple[float, float] | None]] = field(default_factory=list)


def _inches(points: float) -> str:
    return f"{points / 72:.4f}"


@cache
def _pygraphviz():  # type: ignore[no-untyped-def]
    import pygraphviz

    return pygraphviz


def layout(diagram: Diagram, rankdir: str = "TB") -> Placed:
    """Positions for every node and edge of ``diagram``, from Graphviz ``dot``."""
    pgv = _pygraphviz()
    g = pgv.AGraph(directed=True, strict=False)
    g.graph_attr.update(rankdir=rankdir, nodesep="0.18", ranksep="0.22", splines="spline",
                        margin="0", pad="0", ordering="", newrank="true")
    g.node_attr.update(label="", fixedsize="true", shape="box", margin="0")
    g.edge_attr.update(arrowsize=f"{ARROW / 10:.2f}", arrowhead="normal")
    for node in diagram.nodes:
        w, h = _node_size(node)
        shape = {"exit": "point", "operator": "box", "function": "box"}.get(node.kind, "box")
        g.add_node(node.id, width=_inches(w), height=_inches(h), shape=shape)
    sources = [n.id for n in diagram.nodes if n.kind in ("input", "previous")]
    exits = [n.id for n in diagram.nodes if n.kind == "exit"]
    if sources:
        g.add_subgraph(sources, name="sources", rank="min")
    if exits:
        g.add_subgraph(exits, name="exits", rank="max")
    weights: dict[str, list[str]] = {}  # target -> the weights on the arrows into it
    for k, edge in enumerate(diagram.edges):
        if edge.text:  # the weight is a node on the arrow, kept next to the target
            w, h = _edge_label_size(edge)
            g.add_node(f"w{k}", width=_inches(w), height=_inches(h))
            g.add_edge(edge.source, f"w{k}", key="in", arrowhead="none")
            g.add_edge(f"w{k}", edge.target, key="out", weight="8")
            weights.setdefault(edge.target, []).append(f"w{k}")
        else:
            g.add_edge(edge.source, edge.target, key=str(k),
                       weight="2" if edge.kind == "exit" else "1")
    for target, ws in weights.items():  # a cluster keeps them together: arrows cross before
        g.add_subgraph([target, *ws], name=f"cluster_{target}", margin="1")
    g.layout(prog="dot")
    x0, y0, x1, y1 = (float(v) for v in g.graph_attr["bb"].split(","))
    height = y1 - y0

    def pt(text: str) -> tuple[float, float]:
        x, y = (float(v) for v in text.split(","))
        return round(x - x0, 1), round(height - (y - y0), 1)

    def spline(ge: object) -> tuple[tuple[tuple[float, float], ...], tuple[float, float] | None]:
        points: list[tuple[float, float]] = []
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
        w, h = _node_size(node)
        placed.nodes[node.id] = (x, y, round(w, 1), round(h, 1))
    for k, edge in enumerate(diagram.edges):
        if edge.text:
            first, _ = spline(g.get_edge(edge.source, f"w{k}", key="in"))
            second, tip = spline(g.get_edge(f"w{k}", edge.target, key="out"))
            label = pt(g.get_node(f"w{k}").attr["pos"])
            placed.edges.append(((first, second), tip, label))
        else:
            points, tip = spline(g.get_edge(edge.source, edge.target, key=str(k)))
            placed.edges.append(((points,), tip, None))
    return placed


# ---------------------------------------------------------------- SVG

STYLE = {  # kind -> (fill, stroke)
    "input": ("#e3f4e1", "#2e7d32"),
    "previous": ("#e1edfb", "#1f5fa8"),
    "state": ("#e1edfb", "#1f5fa8"),
    "variable": ("#fff4cf", "#b88a00"),
    "gate": ("#fff4cf", "#b88a00"),
    "operator": ("#fde7ef", "#b0285c"),
    "function": ("#fde7ef", "#b0285c"),
}
INK = "#222222"
EDGE = "#555555"
WEIGHT = "#5b2a86"
MARGIN = 10.0


def _esc(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def _f(v: float) -> str:
    s = f"{v:.1f}"
    return s[:-2] if s.endswith(".0") else s


def _text(x: float, y: float, text: str, size: float, fill: str = INK,
          weight: str = "", style: str = "") -> str:
    """One line of text centred on (x, y), names with subscripts (``W_ii``)."""
    base = y + 0.35 * size
    attrs = f'x="{_f(x)}" y="{_f(base)}" font-size="{_f(size)}"'
    if fill != INK:
        attrs += f' fill="{fill}"'
    if weight:
        attrs += f' font-weight="{weight}"'
    if style:
        attrs += f' font-style="{style}"'
    body = []
    shift = 0.0
    for part, sub in _spans(text):
        want = 0.28 * size if sub else 0.0
        dy = want - shift
        shift = want
        a = ""
        if dy:
            a += f' dy="{_f(dy)}"'
        if sub:
            a += f' font-size="{_f(size * SUB)}"'
        body.append(f"<tspan{a}>{_esc(part)}</tspan>" if a else _esc(part))
    return f'<text {attrs}>{"".join(body)}</text>'


def _bezier(points: tuple[tuple[float, float], ...]) -> str:
    if not points:
        return ""
    out = [f"M{_f(points[0][0])},{_f(points[0][1])}"]
    rest = points[1:]
    for i in range(0, len(rest) - 2, 3):
        (a, b), (c, d), (e, f) = rest[i:i + 3]
        out.append(f"C{_f(a)},{_f(b)} {_f(c)},{_f(d)} {_f(e)},{_f(f)}")
    return " ".join(out)


def _arrowhead(base: tuple[float, float], tip: tuple[float, float], color: str) -> str:
    bx, by = base
    tx, ty = tip
    dx, dy = tx - bx, ty - by
    n = (dx * dx + dy * dy) ** 0.5 or 1.0
    ux, uy = dx / n, dy / n
    sx, sy = tx - ux * ARROW, ty - uy * ARROW
    half = ARROW * 0.42
    p1 = (sx - uy * half, sy + ux * half)
    p2 = (sx + uy * half, sy - ux * half)
    pts = " ".join(f"{_f(x)},{_f(y)}" for x, y in (tip, p1, p2))
    return f'<polygon points="{pts}" fill="{color}"/>'


def _node_svg(node: DiagramNode, x: float, y: float, w: float, h: float) -> list[str]:
    out = [f"<g><title>{_esc(node.title or node.label)}</title>"]
    left, top = x - w / 2, y - h / 2
    box = f'x="{_f(left)}" y="{_f(top)}" width="{_f(w)}" height="{_f(h)}"'
    if node.kind in ("constant", "parameter"):
        color = WEIGHT if node.kind == "parameter" else INK
        out.append(_text(x, y, node.label, SIZE_EDGE, color, style="italic"
                         if node.kind == "parameter" else ""))
    elif node.kind in ("operator", "function"):
        fill, stroke = STYLE[node.kind]
        radius = h / 2 if node.kind == "operator" else 7
        out.append(f'<rect {box} rx="{_f(radius)}" fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="1.5"/>')
        if node.detail:
            out.append(_text(x, top + 6 + SIZE_OP / 2, node.label, SIZE_OP, stroke, "bold"))
            out.append(_text(x, top + h - 6 - SIZE_DETAIL / 2, node.detail, SIZE_DETAIL,
                             WEIGHT))
        else:
            out.append(_text(x, y, node.label, SIZE_OP, stroke, "bold"))
    else:
        kind = node.kind
        fill, stroke = STYLE[kind]
        width = "2.5" if kind == "state" else "1.5"
        out.append(f'<rect {box} rx="8" fill="{fill}" stroke="{stroke}" '
                   f'stroke-width="{width}"/>')
        lines: list[tuple[str, float, str, str]] = []
        if node.header:
            lines.append((node.header, SIZE_HEADER, "#8a5a00", "bold"))
        lines.append((node.label, SIZE_NAME, INK, ""))
        if node.detail:
            lines.append((node.detail, SIZE_DETAIL, WEIGHT, ""))
        total = sum(s * 1.25 for _, s, _, _ in lines)
        cy = y - total / 2
        for text, size, color, weight in lines:
            cy += size * 1.25 / 2
            out.append(_text(x, cy, text, size, color, weight))
            cy += size * 1.25 / 2
    out.append("</g>")
    return out


def diagram_svg(cell: Cell, derivation: Derivation, rankdir: str = "TB") -> str:
    """The diagram of a cell as a standalone SVG document (deterministic bytes)."""
    diagram = diagram_graph(cell, derivation)
    placed = layout(diagram, rankdir)
    width, height = placed.width + 2 * MARGIN, placed.height + 2 * MARGIN
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
           f'width="100%" style="max-width:{_f(width)}px;height:auto" role="img" '
           f'font-family="{FONT}" text-anchor="middle">',
           f"<title>{_esc(f'Data flow of one step of {cell.title}')}</title>",
           f'<rect width="{_f(width)}" height="{_f(height)}" fill="#ffffff"/>',
           f'<g transform="translate({_f(MARGIN)},{_f(MARGIN)})">']
    out.append(f'<g fill="none" stroke="{EDGE}" stroke-width="1.6">')
    heads = []
    for edge, (pieces, tip, _label) in zip(diagram.edges, placed.edges, strict=True):
        dash = ' stroke-dasharray="5,3"' if edge.kind == "exit" else ""
        for points in pieces:
            out.append(f'<path d="{_bezier(points)}"{dash}/>')
        if tip is not None and pieces[-1]:
            heads.append(_arrowhead(pieces[-1][-1], tip, EDGE))
    out.append("</g>")
    out.extend(heads)
    for edge, (_points, _tip, label) in zip(diagram.edges, placed.edges, strict=True):
        if label is None:
            continue
        w, h = _edge_label_size(edge)
        x, y = label
        out.append(f"<g><title>{_esc(edge_title(edge, derivation))}</title>"
                   f'<rect x="{_f(x - w / 2)}" y="{_f(y - h / 2)}" width="{_f(w)}" '
                   f'height="{_f(h)}" rx="3" fill="#ffffff"/>'
                   + _text(x, y, edge.text, SIZE_EDGE, WEIGHT if edge.params else INK,
                           style="italic" if edge.params else "") + "</g>")
    for node in diagram.nodes:
        if node.kind == "exit":
            continue
        out.extend(_node_svg(node, *placed.nodes[node.id]))
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def edge_title(edge: DiagramEdge, derivation: Derivation) -> str:
    parts = []
    for name in edge.params:
        p = derivation.parameter(name)
        parts.append(f"{name}: {_shape(p.shape)}" if p is not None else name)
    return "; ".join(parts) or edge.text
