"""The question this project grew from, answered with derived numbers.

"LSTM input 512, hidden 256, bidirectional: how many parameters per cell and in total,
and why is the hidden state's size the number of units?"
"""

from __future__ import annotations

import derive
from derive.poly import Poly

SEED = dict(input_size=512, hidden_size=256, bidirectional=True)


def test_one_bidirectional_layer_pytorch_and_keras() -> None:
    assert derive.count("lstm", "pytorch", **SEED).total == 1_576_960
    assert derive.count("lstm", "keras", **SEED).total == 1_574_912


def test_the_difference_is_one_bias_vector_per_gate_and_direction() -> None:
    torch_ = derive.count("lstm", "pytorch", **SEED).total
    keras_ = derive.count("lstm", "keras", **SEED).total
    assert torch_ - keras_ == 2 * 4 * 256  # D · 4h


def test_per_direction_and_two_layers() -> None:
    one = derive.count("lstm", "pytorch", input_size=512, hidden_size=256)
    assert one.total == 788_480
    two = derive.count("lstm", "pytorch", num_layers=2, **SEED)
    # the second layer sees both directions: 2·256 = 512 inputs, here equal to d
    assert two.total == 2 * 1_576_960
    assert [t.shape for t in two.tensors if t.name == "weight_ih_l1"] == [(1024, 512)]


def test_why_the_recurrent_matrix_is_units_by_units() -> None:
    """W_hi multiplies h_{t-1}, so it has h columns; it is added to W_ii x_t, so h rows."""
    d = derive.shapes("lstm")
    w_hi = d.parameter("W_hi")
    assert w_hi is not None
    assert w_hi.shape == (Poly.symbol("h"), Poly.symbol("h"))
    rows, cols = w_hi.traces
    assert cols.steps[0].reason == "W_hi multiplies h_{t-1} in (1)"
    assert cols.steps[-1].reason.startswith("h_t is declared ∈ ℝ^h")
    assert any("terms of the same sum in (1)" in s.reason for s in rows.steps)
    w_ii = d.parameter("W_ii")
    assert w_ii is not None and w_ii.shape == (Poly.symbol("h"), Poly.symbol("d"))
