"""Derived tensors against real Keras 3 layers (torch backend): weight paths, shapes, totals.

Models are functional (no model-name prefix in the paths) and built after
``clear_session()`` so that Keras's automatic layer names start from zero.
"""

from __future__ import annotations

import random

import keras
import pytest

from tests.oracles import EDGE_SIZES, configs, derived

LAYERS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU,
          "gru-reset-before": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}


def actual(cell: str, cfg: dict) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    keras.utils.clear_session()
    inp = keras.Input(shape=(None, cfg["input_size"]))
    x = inp
    for k in range(cfg["num_layers"]):
        kwargs = dict(return_sequences=k < cfg["num_layers"] - 1, use_bias=cfg["bias"])
        if cell == "gru-reset-before":
            kwargs["reset_after"] = False
        layer = LAYERS[cell](cfg["hidden_size"], **kwargs)
        if cfg["bidirectional"]:
            layer = keras.layers.Bidirectional(layer)
        x = layer(x)
    model = keras.Model(inp, x)
    return [(w.path, tuple(w.shape)) for w in model.weights], model.count_params()


def test_random_configurations() -> None:
    """200 seeded configurations spread over LSTM, GRU (both reset_after) and SimpleRNN."""
    rng = random.Random(2024)
    cells = sorted(LAYERS)
    for cfg in configs(seed=5, n=200, max_size=24):
        cell = rng.choice(cells)
        assert derived(cell, "keras", **cfg) == actual(cell, cfg), (cell, cfg)


@pytest.mark.parametrize("cell", sorted(LAYERS))
@pytest.mark.parametrize(("d", "h"), [*EDGE_SIZES, (1000, 513)])
def test_edge_sizes(cell: str, d: int, h: int) -> None:
    cfg = dict(input_size=d, hidden_size=h, num_layers=2, bidirectional=True, bias=True)
    assert derived(cell, "keras", **cfg) == actual(cell, cfg)


def test_no_reset_after_option_selects_the_reset_before_cell() -> None:
    cfg = dict(input_size=6, hidden_size=5, num_layers=2, bidirectional=False, bias=True)
    assert derived("gru", "keras", reset_after=False, **cfg) == actual("gru-reset-before", cfg)
    assert derived("gru-reset-before", "keras", reset_after=True, **cfg) == actual("gru", cfg)
