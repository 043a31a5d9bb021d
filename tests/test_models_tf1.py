"""Model files against TensorFlow 1 graphs: ``MultiRNNCell`` stacks whose layers differ
(their own ``num_units``, ``num_proj`` and ``use_peepholes``), through ``dynamic_rnn``,
``bidirectional_dynamic_rnn`` (two separate stacks: layer 2 reads one direction) and
``stack_bidirectional_dynamic_rnn`` (the directions concatenated between layers). Every
variable's name and shape, and the total.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from tensorflow.python.keras.layers.legacy_rnn import rnn_cell_impl as rc

from derive import assemble

tf.get_logger().setLevel("ERROR")


def cell_name(entry: dict[str, Any]) -> str:
    base = "lstmp" if entry["p"] else "lstm"
    return base + ("-peephole" if entry["peep"] else "")


def tf1_variables(cfg: dict[str, Any]) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    def cells() -> list[Any]:
        return [rc.LSTMCell(e["h"], use_peepholes=e["peep"], num_proj=e["p"] or None)
                for e in cfg["stack"]]

    def stack() -> Any:
        made = cells()
        return made[0] if len(made) == 1 else rc.MultiRNNCell(made)

    with tf.Graph().as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 2, cfg["d"]])
        with tf.compat.v1.variable_scope("enc"):
            if cfg["mode"] == "uni":
                tf.compat.v1.nn.dynamic_rnn(stack(), x, dtype=tf.float32)
            elif cfg["mode"] == "separate":
                tf.compat.v1.nn.bidirectional_dynamic_rnn(stack(), stack(), x,
                                                          dtype=tf.float32)
            else:  # tf.contrib.rnn.stack_bidirectional_dynamic_rnn, which TF 2 dropped:
                # one bidirectional_dynamic_rnn per layer, outputs concatenated between
                with tf.compat.v1.variable_scope("stack_bidirectional_rnn"):
                    prev = x
                    for i, (fw, bw) in enumerate(zip(cells(), cells(), strict=True)):
                        with tf.compat.v1.variable_scope(f"cell_{i}"):
                            outs, _ = tf.compat.v1.nn.bidirectional_dynamic_rnn(
                                fw, bw, prev, dtype=tf.float32)
                            prev = tf.concat(outs, 2)
        weights = [(v.name.removesuffix(":0"), tuple(v.shape.as_list()))
                   for v in tf.compat.v1.trainable_variables()]
    total = 0
    for _, shape in weights:
        n = 1
        for s in shape:
            n *= s
        total += n
    return weights, total


def model_text(cfg: dict[str, Any]) -> str:
    entries = []
    for j, e in enumerate(cfg["stack"]):
        sizes = f'hidden_size = "h_{j + 1}"' + (f', proj_size = "p_{j + 1}"' if e["p"] else "")
        entries.append(f'{{ cell = "{cell_name(e)}", sizes = {{ {sizes} }} }}')
    bidirectional = {"uni": "false", "separate": '"separate"', "concat": '"concat"'}[cfg["mode"]]
    symbols = [f'h_{j + 1} = "units"' for j in range(len(cfg["stack"]))] + [
        f'p_{j + 1} = "projection"' for j, e in enumerate(cfg["stack"]) if e["p"]]
    return "\n".join(['model = "tf1-oracle"', 'title = "a TF1 stack"', 'framework = "tf1"',
                      'input = "d"', "[symbols]", 'd = "input"', *symbols, "[[layer]]",
                      'name = "enc"', f"stack = [{', '.join(entries)}]",
                      f"bidirectional = {bidirectional}", ""])


def configs(n: int, modes: tuple[str, ...]) -> list[dict[str, Any]]:
    rng = random.Random("models/tf1")
    out = []
    for i in range(n):
        stack = []
        for _ in range(rng.randint(1, 3)):
            h = rng.randint(1, 12)
            stack.append({"h": h, "peep": rng.random() < 0.5,
                          "p": rng.choice([0, rng.randint(1, 2 * h + 2)])})
        out.append({"d": rng.randint(1, 12), "stack": stack, "mode": modes[i % len(modes)]})
    return out


def check(cfg: dict[str, Any], path: Path) -> None:
    path.write_text(model_text(cfg))
    sizes = {"d": cfg["d"]} | {f"h_{j + 1}": e["h"] for j, e in enumerate(cfg["stack"])} | {
        f"p_{j + 1}": e["p"] for j, e in enumerate(cfg["stack"]) if e["p"]}
    result = assemble.count(assemble.assemble(str(path)), sizes)
    names, total = tf1_variables(cfg)
    assert sorted((t.name, t.shape) for t in result.tensors) == sorted(names), cfg
    assert result.total == total, cfg


def test_multirnncell_stacks_with_their_own_sizes(tmp_path: Path) -> None:
    """60 seeded stacks, each layer its own num_units, num_proj (below, at or above
    num_units) and use_peepholes; unidirectional and bidirectional_dynamic_rnn."""
    for i, cfg in enumerate(configs(60, ("uni", "separate"))):
        check(cfg, tmp_path / f"t{i}.model")


def test_stack_bidirectional_dynamic_rnn_concatenates_between_layers(tmp_path: Path) -> None:
    """30 seeded stacks built as tf.contrib's stack_bidirectional_dynamic_rnn built them."""
    for i, cfg in enumerate(configs(30, ("concat",))):
        check(cfg, tmp_path / f"c{i}.model")


def test_a_separate_bidirectional_stack_reads_one_direction(tmp_path: Path) -> None:
    cfg = {"d": 3, "mode": "separate", "stack": [{"h": 5, "peep": False, "p": 0},
                                                 {"h": 4, "peep": True, "p": 2}]}
    check(cfg, tmp_path / "s.model")
    names = dict(tf1_variables(cfg)[0])
    # layer 2 reads layer 1 of its own direction (5), and its own projection (2): not 2·5 + 2
    assert names["enc/bidirectional_rnn/fw/multi_rnn_cell/cell_1/lstm_cell/kernel"] == (7, 16)
