"""Model files against Keras 3 networks built from real layers (torch backend): Embedding,
Bidirectional recurrent stacks in each merge_mode with per-layer sizes, LayerNormalization
and Dense; ConvLSTM2D stacks with a Conv2D head. Every weight's shape in order, and the
total of ``count_params()``.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import keras
import pytest

from derive import assemble

LAYER = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}
MERGES = ["concat", "sum", "ave", "mul", None]


def keras_network(cfg: dict[str, Any]) -> tuple[list[tuple[int, ...]], int]:
    keras.utils.clear_session(free_memory=False)
    inp = keras.Input(shape=(3,), dtype="int32")
    x = keras.layers.Embedding(cfg["V"], cfg["e"])(inp)
    for h in cfg["hidden"]:
        layer = LAYER[cfg["cell"]](h, return_sequences=True, use_bias=cfg["bias"],
                                   kernel_initializer="zeros", recurrent_initializer="zeros")
        x = layer(x) if cfg["merge"] is None else keras.layers.Bidirectional(
            layer, merge_mode=cfg["merge"])(x)
    if cfg["norm"]:
        x = keras.layers.LayerNormalization()(x)
    x = keras.layers.Dense(cfg["out"], use_bias=cfg["head_bias"])(x)
    model = keras.Model(inp, x)
    return [tuple(w.shape) for w in model.weights], model.count_params()


def model_text(cfg: dict[str, Any]) -> str:
    stack = ", ".join(f'{{ cell = "{cfg["cell"]}", sizes = {{ hidden_size = "h_{j + 1}" }} }}'
                      for j in range(len(cfg["hidden"])))
    bidirectional = "false" if cfg["merge"] is None else f'"{cfg["merge"]}"'
    return "\n".join([
        'model = "keras-oracle"', 'title = "a Keras network"', 'framework = "keras"',
        "[symbols]", 'V = "vocabulary"', 'e = "embedding"', 'o = "outputs"',
        *[f'h_{j + 1} = "units of layer {j + 1}"' for j in range(len(cfg["hidden"]))],
        "[[layer]]", 'name = "embedding"', 'kind = "embedding"', 'vocab = "V"', 'size = "e"',
        "[[layer]]", 'name = "rnn"', f"stack = [{stack}]", f"bidirectional = {bidirectional}",
        f"bias = {'true' if cfg['bias'] else 'false'}",
        *(["[[layer]]", 'name = "norm"', 'kind = "layernorm"'] if cfg["norm"] else []),
        "[[layer]]", 'name = "dense"', 'kind = "dense"', 'out = "o"',
        f"bias = {'true' if cfg['head_bias'] else 'false'}", ""])


def configs(n: int) -> list[dict[str, Any]]:
    rng = random.Random("models/keras")
    out = []
    for i in range(n):
        out.append({"cell": rng.choice(sorted(LAYER)), "merge": MERGES[i % len(MERGES)],
                    "V": rng.randint(1, 30), "e": rng.randint(1, 12), "out": rng.randint(1, 9),
                    "hidden": [rng.randint(1, 12) for _ in range(rng.randint(1, 3))],
                    "bias": rng.random() < 0.7, "head_bias": rng.random() < 0.6,
                    "norm": rng.random() < 0.5})
    return out


def test_keras_bidirectional_stacks_in_every_merge_mode(tmp_path: Path) -> None:
    """60 seeded networks, 12 per merge mode (and unidirectional): a layer above a summed,
    averaged or multiplied pair reads h features, above a concatenated pair 2h."""
    for i, cfg in enumerate(configs(60)):
        path = tmp_path / f"k{i}.model"
        path.write_text(model_text(cfg))
        sizes = {"V": cfg["V"], "e": cfg["e"], "o": cfg["out"]} | {
            f"h_{j + 1}": h for j, h in enumerate(cfg["hidden"])}
        result = assemble.count(assemble.assemble(str(path)), sizes)
        shapes, total = keras_network(cfg)
        assert [t.shape for t in result.tensors] == shapes, cfg
        assert result.total == total, cfg


def convlstm_network(cfg: dict[str, Any]) -> tuple[list[tuple[int, ...]], int]:
    keras.utils.clear_session(free_memory=False)
    inp = keras.Input(shape=(2, 6, 6, cfg["C"]))
    x = inp
    for j, (f, k) in enumerate(cfg["layers"]):
        layer = keras.layers.ConvLSTM2D(f, tuple(k), padding="same",
                                        return_sequences=j < len(cfg["layers"]) - 1,
                                        kernel_initializer="zeros",
                                        recurrent_initializer="zeros")
        x = keras.layers.Bidirectional(layer)(x) if cfg["bi"] else layer(x)
    x = keras.layers.Conv2D(cfg["out"], tuple(cfg["head"]), padding="same")(x)
    model = keras.Model(inp, x)
    return [tuple(w.shape) for w in model.weights], model.count_params()


def convlstm_text(cfg: dict[str, Any]) -> str:
    stack = ", ".join(
        f'{{ cell = "convlstm2d", sizes = {{ filters = "F_{j + 1}", kernel_size = '
        f'"{k[0]}x{k[1]}" }} }}' for j, (_, k) in enumerate(cfg["layers"]))
    return "\n".join([
        'model = "convlstm-oracle"', 'title = "a ConvLSTM2D stack"', 'framework = "keras"',
        'input = "C"', "[symbols]", 'C = "input channels"', 'o = "output channels"',
        *[f'F_{j + 1} = "filters of layer {j + 1}"' for j in range(len(cfg["layers"]))],
        "[[layer]]", 'name = "convlstm"', f"stack = [{stack}]",
        f"bidirectional = {'true' if cfg['bi'] else 'false'}",
        "[[layer]]", 'name = "head"', 'kind = "conv"', 'out = "o"',
        f'kernel = "{cfg["head"][0]}x{cfg["head"][1]}"', ""])


def test_keras_convlstm2d_stacks(tmp_path: Path) -> None:
    """24 seeded ConvLSTM2D stacks with per-layer filters and kernels and a Conv2D head."""
    rng = random.Random("models/convlstm2d")
    for i in range(24):
        cfg = {"C": rng.randint(1, 5), "out": rng.randint(1, 5), "bi": i % 3 == 0,
               "head": [rng.choice([1, 3]), rng.choice([1, 3])],
               "layers": [(rng.randint(1, 6), [rng.randint(1, 4), rng.randint(1, 4)])
                          for _ in range(rng.randint(1, 3))]}
        path = tmp_path / f"c{i}.model"
        path.write_text(convlstm_text(cfg))
        sizes = {"C": cfg["C"], "o": cfg["out"]} | {
            f"F_{j + 1}": f for j, (f, _) in enumerate(cfg["layers"])}
        result = assemble.count(assemble.assemble(str(path)), sizes)
        shapes, total = convlstm_network(cfg)
        assert [t.shape for t in result.tensors] == shapes, cfg
        assert result.total == total, cfg


@pytest.mark.parametrize("merge", ["sum", "ave", "mul"])
def test_a_merged_pair_halves_what_the_next_layer_reads(merge: str, tmp_path: Path) -> None:
    cfg = {"cell": "lstm", "merge": merge, "V": 5, "e": 3, "out": 2, "hidden": [4, 4],
           "bias": True, "head_bias": True, "norm": False}
    path = tmp_path / "m.model"
    path.write_text(model_text(cfg))
    result = assemble.count(assemble.assemble(str(path)),
                            {"V": 5, "e": 3, "o": 2, "h_1": 4, "h_2": 4})
    assert [lc.output for lc in result.layers] == [3, 4, 2]
