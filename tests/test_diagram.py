"""Cell diagrams (derive/diagram.py): every catalog cell draws a valid, self-contained SVG,
the same bytes every time, with every variable and parameter written in it; the graph
model puts the weights on the arrows they weight; golden SVGs for three cells.

The golden SVGs depend on the Graphviz that PyGraphviz's wheel bundles (the pinned version).
After an intended change, regenerate them with:

    DERIVE_REGENERATE=1 .venv/bin/python -m pytest tests/test_diagram.py

and look at the diff of tests/golden/diagram-*.svg (and at the pictures) before committing.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path

import pytest

from derive.catalog import builtin_names
from derive.diagram import Diagram, diagram_graph, diagram_svg, plain
from derive.infer import Derivation, infer, walk
from derive.model import Cell, Var
from derive.parse import load_cell, parse_cell

GOLDEN = Path(__file__).parent / "golden"
SVG = "{http://www.w3.org/2000/svg}"
NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'
NAMES = builtin_names()


@cache
def drawn(name: str) -> tuple[Cell, Derivation, str]:
    cell = load_cell(name)
    derivation = infer(cell)
    return cell, derivation, diagram_svg(cell, derivation)


def texts(svg: str) -> list[str]:
    """What each <text> element shows (subscripts are tspans: W_ii reads Wii)."""
    return ["".join(t.itertext()).replace("ᵀ", " ᵀ")
            for t in ET.fromstring(svg).iter(f"{SVG}text")]


def written(name: str, shown: list[str]) -> bool:
    """``name`` (``h_{t-1}``) is a whole word of some text (``ht−1``, not part of ``ht−10``)."""
    word = re.compile(rf"(?<!\w){re.escape(plain(name))}(?!\w)")
    return any(word.search(t) for t in shown)


def test_catalog_is_there() -> None:
    assert len(NAMES) >= 40


@pytest.mark.parametrize("name", NAMES)
def test_valid_svg(name: str) -> None:
    _cell, _derivation, svg = drawn(name)
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == f"{SVG}svg"
    x, y, w, h = (float(v) for v in root.get("viewBox", "").split())
    assert (x, y) == (0, 0) and w > 50 and h > 50
    assert root.get("width") == "100%"
    assert f"max-width:{root.get('viewBox', '').split()[2]}px" in root.get("style", "")
    assert root.find(f"{SVG}title") is not None
    assert svg.count("<text") == len(texts(svg)) > 0


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(name: str) -> None:
    cell, derivation, svg = drawn(name)
    assert diagram_svg(cell, derivation) == svg
    assert diagram_svg(load_cell(name), infer(load_cell(name))) == svg


@pytest.mark.parametrize("name", NAMES)
def test_every_variable_and_parameter_is_written(name: str) -> None:
    _cell, derivation, svg = drawn(name)
    shown = texts(svg)
    for eq in derivation.equations:
        for target in eq.targets:
            assert written(target.display, shown), (target.display, eq.source)
        for node, _ in walk(eq.rhs):
            if isinstance(node, Var):
                assert written(node.display, shown), (node.display, eq.source)
    for p in derivation.parameters:
        assert written(p.name, shown), p.name


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_is_in_the_graph(name: str) -> None:
    cell, derivation, _svg = drawn(name)
    diagram = diagram_graph(cell, derivation)
    assert set(diagram.params) == {p.name for p in derivation.parameters}
    ids = [n.id for n in diagram.nodes]
    assert len(ids) == len(set(ids))
    for edge in diagram.edges:
        assert edge.source in ids and edge.target in ids
    for v in derivation.variables:  # one node per defined variable, an input at some time
        if v.kind == "input":  # x_t, x_{t-1} or the window x_{t-k+1:t}
            assert any(n.kind == "input" and n.label.startswith(v.name[:-1])
                       for n in diagram.nodes), v.name
        else:
            assert len([n for n in diagram.nodes
                        if n.label == v.name and n.kind in ("state", "variable")]) == 1
    states = [v.name for v in derivation.variables if v.kind == "state"]
    exits = [diagram.node(e.source).label for e in diagram.edges if e.kind == "exit"]
    assert set(states) <= set(exits)


@pytest.mark.parametrize("name", NAMES)
def test_nothing_external(name: str) -> None:
    _cell, _derivation, svg = drawn(name)
    low = svg.lower()
    assert svg.count(NAMESPACE) == 1  # the SVG namespace is a name, not a reference
    assert "http" not in low.replace(NAMESPACE, "")
    for bad in ("href", "<script", "javascript:", "url(", "@import", "@font-face", "<image",
                "<foreignobject", "<style"):
        assert bad not in low, bad
    assert not re.search(r"\son\w+\s*=", low)  # no event handler


@pytest.mark.parametrize("name", ["lstm", "gru", "convlstm2d"])
def test_golden(name: str) -> None:
    _cell, _derivation, svg = drawn(name)
    path = GOLDEN / f"diagram-{name}.svg"
    if os.environ.get("DERIVE_REGENERATE"):
        path.write_text(svg, encoding="utf-8")
    assert path.exists(), f"missing {path}; run DERIVE_REGENERATE=1 pytest tests/test_diagram.py"
    assert svg == path.read_text(encoding="utf-8"), (
        f"the diagram of {name} differs from {path.name}; if the change is intended, run "
        "DERIVE_REGENERATE=1 .venv/bin/python -m pytest tests/test_diagram.py and review it")


def graph(name: str) -> Diagram:
    cell, derivation, _svg = drawn(name)
    return diagram_graph(cell, derivation)


def arrows(d: Diagram, target: str) -> dict[str, str]:
    """The arrows into the node labelled ``target``: source label → weight."""
    (node,) = [n for n in d.nodes if n.label == target and n.kind in ("state", "variable")]
    return {d.node(e.source).label: e.text for e in d.edges if e.target == node.id}


def test_lstm_weights_are_on_their_arrows() -> None:
    d = graph("lstm")
    assert arrows(d, "i_t") == {"x_t": "W_ii", "h_{t-1}": "W_hi"}
    assert arrows(d, "g_t") == {"x_t": "W_ig", "h_{t-1}": "W_hg"}
    (i_t,) = [n for n in d.nodes if n.label == "i_t"]
    assert (i_t.header, i_t.detail, i_t.params, i_t.layer) == ("σ", "+ b_i", ("b_i",), True)
    (c_t,) = [n for n in d.nodes if n.label == "c_t"]
    assert c_t.kind == "state" and not c_t.layer
    (plus,) = [d.node(e.source) for e in d.edges if e.target == c_t.id]
    assert plus.label == "+"
    assert sorted(d.node(e.source).label for e in d.edges if e.target == plus.id) == ["⊙", "⊙"]
    assert [n.label for n in d.nodes if n.kind in ("input", "previous")] == \
        ["x_t", "h_{t-1}", "c_{t-1}"]


def test_convolutions_peepholes_and_scaling() -> None:
    assert arrows(graph("convlstm2d"), "i_t") == {"X_t": "W_xi ∗", "H_{t-1}": "W_hi ∗"}
    assert arrows(graph("lstm-peephole"), "i_t")["c_{t-1}"] == "p_i ⊙"
    mlstm = graph("mlstm")
    assert arrows(mlstm, "k_t") == {"x_t": "W_k /√d"}
    assert arrows(mlstm, "ĩ_t") == {"x_t": "w_iᵀ"}
    assert any(n.label == "(·)ᵀ" for n in mlstm.nodes)  # k_tᵀ of the outer product


def test_stacked_left_side_and_norms() -> None:
    d = graph("ln-lstm")
    (plus,) = [n for n in d.nodes if n.kind == "operator" and n.detail == "+ b"]
    parts = sorted(d.node(e.target).label for e in d.edges if e.source == plus.id)
    assert parts == ["f_t", "g_t", "i_t", "o_t"]
    norms = sorted(n.params for n in d.nodes if n.label == "LN")
    assert norms == [("α_1", "β_1"), ("α_2", "β_2"), ("α_3", "β_3")]


def test_windows_and_signs() -> None:
    qrnn = graph("qrnn")
    assert "x_{t-k+1:t}" in [n.label for n in qrnn.nodes if n.kind == "input"]
    gru = graph("gru")
    assert any(e.role == "−" and gru.node(e.source).label == "z_t" for e in gru.edges)


def test_conventions_draw_too() -> None:
    for name in ("lstm", "gru", "rnn"):
        cell = load_cell(name)
        for conv in cell.conventions:
            if conv.equations is not None:
                svg = diagram_svg(cell, infer(cell, conv.name))
                ET.fromstring(svg)
    cell = load_cell("lstm")
    shown = texts(diagram_svg(cell, infer(cell, "pytorch")))
    assert written("b_ii", shown) and written("b_hi", shown)


EVIL = """\
cell evil
title "A <script>alert('&amp;')</script> cell"
size d = input_size   "features & <things>"
size h = hidden_size  "units"
input x_t ∈ ℝ^d       "the <input> at step t & more"
state h_t ∈ ℝ^h       "the ]]> state"
output h_t

equations
  h_t = tanh(W x_t + U h_{t-1} + b)    "hidden <b>state</b> & 'more'"
"""


def test_user_text_is_escaped() -> None:
    cell = parse_cell(EVIL, "evil.cell")
    svg = diagram_svg(cell, infer(cell))
    root = ET.fromstring(svg)
    assert "<script" not in svg and "<b>" not in svg and "]]>" not in svg
    title = root.find(f"{SVG}title")
    assert title is not None and title.text is not None
    assert title.text.startswith("A <script>alert('&amp;')</script> cell")
    tips = ["".join(t.itertext()) for t in root.iter(f"{SVG}title")]
    assert any("hidden <b>state</b> & 'more'" in t for t in tips)


def test_layout_is_left_to_right_on_request() -> None:
    cell, derivation, tall = drawn("lstm")
    wide = diagram_svg(cell, derivation, rankdir="LR", legend=False)
    w, h = (float(v) for v in ET.fromstring(wide).get("viewBox", "").split()[2:])
    assert w > h and wide != tall
