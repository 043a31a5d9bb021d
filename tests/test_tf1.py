"""Derived tensors against TensorFlow 1's cells (``tf.compat.v1.nn.rnn_cell``): names,
shapes and totals, through the real ``dynamic_rnn`` and ``bidirectional_dynamic_rnn``.

tensorflow-cpu ships the legacy cells in ``tensorflow.python.keras.layers.legacy_rnn``
(``tf.compat.v1.nn.rnn_cell`` points there when tf-keras is installed; without it the
public alias refuses to load under Keras 3, so the module is imported directly). Each
configuration builds a fresh graph: a stack is a ``MultiRNNCell`` of identical cells, a
bidirectional one two separate stacks, as TF1 papers built them.
"""

from __future__ import annotations

import os
import random
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest
import tensorflow as tf
from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl as rc

import derive
from tests.oracles import derived

tf.get_logger().setLevel("ERROR")

# derive's cell and convention for each TF1 cell class (with its options)
CASES: dict[str, tuple[str, str]] = {
    "BasicRNNCell": ("rnn", "tf1"),
    "GRUCell": ("gru-reset-before", "tf1"),
    "BasicLSTMCell": ("lstm", "tf1-basic"),
    "LSTMCell": ("lstm", "tf1"),
    "LSTMCell(use_peepholes)": ("lstm-peephole", "tf1"),
    "LSTMCell(num_proj)": ("lstmp", "tf1"),
    "LSTMCell(use_peepholes, num_proj)": ("lstmp-peephole", "tf1"),
}


def make(kind: str, h: int, p: int | None) -> Any:
    if kind == "BasicRNNCell":
        return rc.BasicRNNCell(h)
    if kind == "GRUCell":
        return rc.GRUCell(h)
    if kind == "BasicLSTMCell":
        return rc.BasicLSTMCell(h)
    return rc.LSTMCell(h, use_peepholes="use_peepholes" in kind, num_proj=p)


def actual(kind: str, cfg: dict[str, Any]) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    """Build the graph the way TF1 code did, and read its trainable variables."""
    h, p, layers = cfg["hidden_size"], cfg.get("proj_size"), cfg["num_layers"]

    def stack() -> Any:
        if layers == 1:
            return make(kind, h, p)
        return rc.MultiRNNCell([make(kind, h, p) for _ in range(layers)])

    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2, cfg["input_size"]])
        if cfg["bidirectional"]:
            tf.compat.v1.nn.bidirectional_dynamic_rnn(stack(), stack(), x, dtype=tf.float32)
        else:
            tf.compat.v1.nn.dynamic_rnn(stack(), x, dtype=tf.float32)
        weights = [(v.name.removesuffix(":0"), tuple(v.shape.as_list()))
                   for v in tf.compat.v1.trainable_variables()]
    n = 0
    for _, shape in weights:
        size = 1
        for s in shape:
            size *= s
        n += size
    return weights, n


def configurations(kind: str, n: int) -> list[dict[str, Any]]:
    """n seeded configurations; projections below, equal to and above the hidden size."""
    rng = random.Random(f"tf1/{kind}")
    out = []
    for i in range(n):
        cfg: dict[str, Any] = {"input_size": rng.randint(1, 24),
                               "hidden_size": rng.randint(1, 24),
                               "num_layers": rng.choice([1, 1, 2, 3]),
                               "bidirectional": rng.random() < 0.4}
        if "num_proj" in kind:
            h = cfg["hidden_size"]
            cfg["proj_size"] = [rng.randint(1, max(1, h - 1)), h, rng.randint(h + 1, 2 * h + 3)][
                i % 3]
        out.append(cfg)
    return out


@pytest.mark.parametrize("kind", sorted(CASES))
def test_random_configurations(kind: str) -> None:
    """100 seeded configurations per TF1 cell: every name and shape, and the total."""
    cell, convention = CASES[kind]
    for cfg in configurations(kind, 100):
        names, total = derived(cell, convention, **cfg)
        tf_names, tf_total = actual(kind, cfg)
        assert total == tf_total, (kind, cfg)
        assert sorted(names) == sorted(tf_names), (kind, cfg)


def test_projection_at_or_above_the_hidden_size_is_allowed() -> None:
    """TF1 accepts num_proj ≥ num_units, which PyTorch's proj_size refuses."""
    cfg = dict(input_size=3, hidden_size=4, proj_size=6, num_layers=2, bidirectional=True)
    names, total = actual("LSTMCell(num_proj)", cfg)
    mine, n = derived("lstmp", "tf1", **cfg)
    assert n == total and sorted(mine) == sorted(names)
    with pytest.raises(derive.DeriveError, match="proj_size has to be smaller"):
        derive.count("lstmp", "pytorch", **cfg)


def test_a_stacked_bidirectional_layer_reads_one_direction() -> None:
    """bidirectional_dynamic_rnn over MultiRNNCell: layer 2 reads h features, not 2h."""
    cfg = dict(input_size=3, hidden_size=5, num_layers=2, bidirectional=True)
    names, total = actual("LSTMCell", cfg)
    assert dict(names)["bidirectional_rnn/fw/multi_rnn_cell/cell_1/lstm_cell/kernel"] == (10, 20)
    result = derive.count("lstm", "tf1", **cfg)
    assert result.total == total
    assert "D" not in result.upper_text  # the closed form says so for any D
    assert derive.count("lstm", "keras", **cfg).total - total == 2 * 5 * 20  # Keras reads 2h


def test_tf1_has_no_switch_for_the_biases() -> None:
    with pytest.raises(derive.DeriveError, match="always stores its biases"):
        derive.count("lstm", "tf1", input_size=3, hidden_size=5, bias=False)
