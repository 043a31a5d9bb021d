"""Answers to the questions people keep asking, computed: every number comes from the engine."""

from __future__ import annotations

from typing import Any

from derive import cache, catalog
from derive.conventions import gate_order
from derive.costing import flops
from derive.counting import count
from derive.export import mathml, poly_latex, shape_latex
from derive.infer import infer
from derive.paper import forms
from derive.parse import load_cell
from derive.poly import Poly
from derive.printing import to_latex


def _m(poly: Poly) -> str:
    return mathml(poly_latex(poly))


def _formula(cell: str, framework: str) -> str:
    """One layer and direction, printed as `derive latex` prints it."""
    f = forms(cell, framework)
    return mathml(to_latex(f["layer"], f["names"]))


def _per_layer(cell: str, framework: str) -> Poly:
    data = cache.compiled(catalog.resolve(cell))
    return Poly.from_data(data["conventions"][framework]["per_layer"]["bias"])


def _tensors(result: Any) -> list[dict[str, Any]]:
    return [{"name": t.name, "shape": t.shape_text,
             "count": f"{t.count:,}"} for t in result.tensors]


def _gates(cell: str, framework: str, tensor: str) -> str:
    c = load_cell(cell)
    d = infer(c, framework)
    data = cache.compiled(catalog.resolve(cell))
    spec = next(t for t in data["conventions"][framework]["tensors"] if t["name"] == tensor)
    return ", ".join(gate_order(d, spec["parts"]))


def questions_context() -> dict[str, Any]:
    d, h = 512, 256
    seed = {"input_size": d, "hidden_size": h}
    one = count("lstm", "pytorch", **seed)
    pt = count("lstm", "pytorch", bidirectional=True, **seed)
    ke = count("lstm", "keras", bidirectional=True, **seed)
    pt2 = count("lstm", "pytorch", bidirectional=True, num_layers=2, **seed)
    ke2 = count("lstm", "keras", bidirectional=True, num_layers=2, **seed)
    uni2 = count("lstm", "pytorch", num_layers=2, **seed)
    lstm = infer(load_cell("lstm"))
    w_hi, w_ii = lstm.parameter("W_hi"), lstm.parameter("W_ii")
    assert w_hi is not None and w_ii is not None
    h_sym = Poly.symbol("h")
    proj = count("lstm", "pytorch", input_size=d, hidden_size=h, proj_size=64)
    gru_keras = count("gru", "keras", **seed)
    gru_before = count("gru", "keras", reset_after=False, **seed)
    small = {"input_size": 10, "hidden_size": 20}
    fmt = "{:,}".format
    return {
        "seed": {
            "d": d, "h": h,
            "one": fmt(one.total), "pytorch": fmt(pt.total), "keras": fmt(ke.total),
            "pytorch_raw": pt.total, "keras_raw": ke.total,
            "pytorch2": fmt(pt2.total), "keras2": fmt(ke2.total),
            "difference": fmt(pt.total - ke.total),
            "tensors": _tensors(pt), "keras_tensors": _tensors(ke),
            "pytorch_layer": _formula("lstm", "pytorch"),
            "w_hi_shape": mathml(shape_latex(w_hi.shape)),
            "w_ii_shape": mathml(shape_latex(w_ii.shape)),
            "w_hi_steps": [s.reason for s in w_hi.traces[1].steps],
            "w_hi_rows": [s.reason for s in w_hi.traces[0].steps],
        },
        "gates": {name: _formula(name, "equations") for name in ("rnn", "lstm", "gru")},
        "bias_diff": _m(_per_layer("lstm", "pytorch") - _per_layer("lstm", "keras")),
        "gru_bias_diff": _m(_per_layer("gru", "keras") - _per_layer("gru-reset-before", "keras")),
        "gru_keras": fmt(gru_keras.total), "gru_before": fmt(gru_before.total),
        "gru_pytorch_layer": _formula("gru", "pytorch"),
        "gru_keras_layer": _formula("gru", "keras"),
        "gru_before_layer": _formula("gru-reset-before", "keras"),
        "uni2": fmt(uni2.total), "bi2": fmt(pt2.total),
        "ratio": f"{pt2.total / uni2.total:.4f}",
        "twice": fmt(2 * uni2.total),
        "upper_input": next(t.shape[1] for t in pt2.tensors if t.name == "weight_ih_l1"),
        "proj": {"tensors": _tensors(proj), "total": fmt(proj.total),
                 "plain": fmt(count("lstm", "pytorch", **seed).total)},
        "orders": {
            "pytorch_lstm": _gates("lstm", "pytorch", "weight_ih"),
            "keras_lstm": _gates("lstm", "keras", "kernel"),
            "onnx_lstm": _gates("lstm", "onnx", "W"),
            "pytorch_gru": _gates("gru", "pytorch", "weight_ih"),
            "keras_gru": _gates("gru", "keras", "kernel"),
            "onnx_gru": _gates("gru", "onnx", "W"),
        },
        "peephole_diff": _m(_per_layer("lstm-peephole", "equations")
                            - _per_layer("lstm", "equations")),
        "peephole_onnx": fmt(count("lstm-peephole", "onnx", bidirectional=True, **small).total
                             - count("lstm", "onnx", bidirectional=True, **small).total),
        "peephole_p": next(t.shape_text for t in count("lstm-peephole", "onnx",
                                                        bidirectional=True, **small).tensors
                           if t.name == "P"),
        "h": _m(h_sym),
        "compute": {name: fmt(flops("lstm", "pytorch", name, input_size=10,
                                    hidden_size=20).total)
                    for name in ("macs", "torchinfo", "thop", "ptflops", "calflops",
                                 "flops")},
        "seq": {"T": 100, "B": 32, "macs": fmt(flops("lstm", "pytorch", "macs", seq_len=100,
                                                     batch=32, bidirectional=True,
                                                     **seed).total)},
    }
