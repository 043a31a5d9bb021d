"""Compute formulas against operations counted while the cell really runs.

Reference implementations of PyTorch's nn.LSTM (with proj_size), nn.GRU and nn.RNN are
written here in NumPy, from PyTorch's documented equations and its packed weights, not from
derive's cell files. Each is first checked numerically against torch's own forward pass
(so the counted code is the real computation), then evaluated on arrays that count every
NumPy operation they take part in. The counts per kind must equal derive's formulas.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import numpy as np
import pytest
import torch

from derive.costing import KINDS, step_poly
from derive.counting import configure

COUNTS: Counter[str] = Counter()


class Counted(np.ndarray):
    """An array that records the operations NumPy performs on it."""

    role = ""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        plain = [np.asarray(i) if isinstance(i, Counted) else i for i in inputs]
        out = getattr(ufunc, method)(*plain, **kwargs)
        if method == "__call__":
            _record(ufunc, inputs, out)
        return out.view(Counted) if isinstance(out, np.ndarray) else out


def _record(ufunc: Any, inputs: tuple[Any, ...], out: np.ndarray) -> None:
    if ufunc is np.matmul:
        w, x = inputs
        rows, cols = w.shape
        batch = x.shape[1]
        COUNTS["mac"] += rows * cols * batch
        COUNTS["dot"] += rows * batch
    elif ufunc in (np.add, np.subtract):
        if any(getattr(i, "role", "") == "bias" for i in inputs):
            COUNTS["bias"] += out.size
        else:
            COUNTS["add"] += out.size
    elif ufunc is np.multiply:
        COUNTS["mul"] += out.size
    elif ufunc in (np.tanh,):
        COUNTS["act"] += out.size
    elif ufunc in (np.exp, np.reciprocal, np.negative, np.maximum, np.divide):
        raise AssertionError(f"{ufunc.__name__} must go through an activation helper")


def counted(a: Any, role: str = "") -> Counted:
    out = np.asarray(a, dtype=np.float64).view(Counted)
    out.role = role
    return out


def sigmoid(x: Counted) -> Counted:
    COUNTS["act"] += x.size
    v = np.asarray(x)
    return counted(1.0 / (1.0 + np.exp(-v)))


def relu(x: Counted) -> Counted:
    COUNTS["act"] += x.size
    return counted(np.maximum(np.asarray(x), 0.0))


# ------------------------------------------------------------------ reference cells
# One step; x is (features, batch). Weights are torch's packed tensors.


def lstm_step(w: dict[str, Counted], x: Counted, state: tuple[Counted, Counted]) -> Any:
    h, c = state
    gates = w["weight_ih"] @ x
    if "bias_ih" in w:
        gates = gates + w["bias_ih"]
    gates = gates + w["weight_hh"] @ h
    if "bias_hh" in w:
        gates = gates + w["bias_hh"]
    n = w["weight_ih"].shape[0] // 4
    i, f, g, o = (gates[k * n:(k + 1) * n] for k in range(4))
    i, f, g, o = sigmoid(i), sigmoid(f), np.tanh(g), sigmoid(o)
    c = f * c + i * g
    h = o * np.tanh(c)
    if "weight_hr" in w:
        h = w["weight_hr"] @ h
    return h, (h, c)


def gru_step(w: dict[str, Counted], x: Counted, state: Counted) -> Any:
    gi = w["weight_ih"] @ x
    gh = w["weight_hh"] @ state
    if "bias_ih" in w:
        gi = gi + w["bias_ih"]
        gh = gh + w["bias_hh"]
    n_ = w["weight_ih"].shape[0] // 3
    r = sigmoid(gi[:n_] + gh[:n_])
    z = sigmoid(gi[n_:2 * n_] + gh[n_:2 * n_])
    n = np.tanh(gi[2 * n_:] + r * gh[2 * n_:])
    h = (1 - z) * n + z * state
    return h, h


def rnn_step(nonlinearity: str) -> Any:
    def step(w: dict[str, Counted], x: Counted, state: Counted) -> Any:
        a = w["weight_ih"] @ x
        if "bias_ih" in w:
            a = a + w["bias_ih"]
        a = a + w["weight_hh"] @ state
        if "bias_hh" in w:
            a = a + w["bias_hh"]
        h = np.tanh(a) if nonlinearity == "tanh" else relu(a)
        return h, h

    return step


def run(m: Any, kind: str, x: np.ndarray) -> np.ndarray:
    """The whole stack over a (T, B, d) input, step by step; returns the (T, B, D·out) output."""
    dirs = 2 if m.bidirectional else 1
    step = {"LSTM": lstm_step, "GRU": gru_step}.get(kind) or rnn_step(m.nonlinearity)
    seq = [counted(x[t].T) for t in range(x.shape[0])]
    batch = x.shape[1]
    for k in range(m.num_layers):
        outs = []
        for direction in range(dirs):
            sfx = f"_l{k}" + ("_reverse" if direction else "")
            w = {name[: -len(sfx)]: counted(p.detach().numpy().astype(np.float64)[:, None]
                                            if p.dim() == 1 else p.detach().numpy(),
                                            "bias" if name.startswith("bias") else "")
                 for name, p in m.named_parameters() if name.endswith(sfx)}
            hsize = m.hidden_size
            out_size = m.proj_size or hsize
            zeros_out = counted(np.zeros((out_size, batch)))
            state: Any = (zeros_out, counted(np.zeros((hsize, batch)))) if kind == "LSTM" \
                else zeros_out
            order = range(len(seq)) if direction == 0 else reversed(range(len(seq)))
            ys: dict[int, Counted] = {}
            for t in order:
                y, state = step(w, seq[t], state)
                ys[t] = y
            outs.append([ys[t] for t in range(len(seq))])
        seq = [counted(np.concatenate([np.asarray(o[t]) for o in outs])) for t in range(len(seq))]
    return np.stack([np.asarray(s).T for s in seq])


def derived(cell: str, kind: str, c: dict[str, Any]) -> dict[str, int]:
    cfg = configure(cell, "pytorch", input_size=c["d"], hidden_size=c["h"],
                    proj_size=c["p"] or None, num_layers=c["L"], bidirectional=c["D"] == 2,
                    bias=c["bias"])
    return {k: c["B"] * c["T"] * cfg.stacked(step_poly(cfg.conv["ops"], {k: 1}, cfg.bias, (k,)))
            for k in KINDS}


def _configs() -> list[dict[str, Any]]:
    rng = random.Random(5)
    out = []
    for kind in ("LSTM", "LSTMP", "GRU", "RNN_TANH", "RNN_RELU"):
        for _ in range(6):
            h = rng.randint(2, 12)
            out.append(dict(kind=kind, d=rng.randint(1, 12), h=h,
                            p=rng.randint(1, h - 1) if kind == "LSTMP" else 0,
                            L=rng.randint(1, 3), D=rng.choice((1, 2)), bias=rng.random() < 0.7,
                            B=rng.randint(1, 3), T=rng.randint(1, 4)))
    return out


@pytest.mark.parametrize("c", _configs(), ids=lambda c: "{kind}-d{d}-h{h}-p{p}-L{L}-D{D}-b{bias:d}"
                         "-B{B}-T{T}".format(**c))
def test_counted_operations_equal_the_derived_formulas(c: dict[str, Any]) -> None:
    torch.manual_seed(0)
    common = dict(num_layers=c["L"], bidirectional=c["D"] == 2, bias=c["bias"])
    kind = c["kind"]
    if kind.startswith("LSTM"):
        m = torch.nn.LSTM(c["d"], c["h"], proj_size=c["p"], **common).double()
        base, cell = "LSTM", "lstm"
    elif kind == "GRU":
        m, base, cell = torch.nn.GRU(c["d"], c["h"], **common).double(), "GRU", "gru"
    else:
        m = torch.nn.RNN(c["d"], c["h"], nonlinearity=kind[4:].lower(), **common).double()
        base, cell = "RNN", "rnn"
    x = np.random.default_rng(1).standard_normal((c["T"], c["B"], c["d"]))
    COUNTS.clear()
    ours = run(m, base, x)
    counts = dict(COUNTS)
    with torch.no_grad():
        theirs = m(torch.from_numpy(x))[0].numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-9)  # the real computation
    want = derived(cell, kind, c)
    assert {k: counts.get(k, 0) for k in KINDS} == want
