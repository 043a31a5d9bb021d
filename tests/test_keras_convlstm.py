"""Derived tensors of the ConvLSTM cells against real Keras 3 layers (torch backend).

``keras.layers.ConvLSTM1D/2D/3D`` are built on symbolic inputs (channels_last) of random,
small spatial sizes, which must not change anything derive reports: the count of a
convolutional cell depends on the kernel extents and the channels only. Each configuration
compares the total and every weight's path and shape with ``derive.count(cell, "keras")``.
Models are functional and built after ``clear_session()``, as in tests/test_keras.py.
Bidirectional stacks are built channels_last only: under channels_first Keras's
Bidirectional concatenates the two directions along the last axis, a spatial one, so the
next layer reads F channels and a map twice as wide (derive's convention counts 2F).
"""

from __future__ import annotations

import random
from typing import Any

import keras
import pytest

from tests.oracles import derived

LAYERS = {"convlstm1d": (1, keras.layers.ConvLSTM1D), "convlstm2d": (2, keras.layers.ConvLSTM2D),
          "convlstm3d": (3, keras.layers.ConvLSTM3D)}


def actual(cell: str, cfg: dict[str, Any], spatial: tuple[int, ...], padding: str,
           data_format: str = "channels_last") -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    _, layer_class = LAYERS[cell]
    keras.utils.clear_session(free_memory=False)  # the garbage collection would take 0.25 s
    c = cfg["in_channels"]
    shape = (3, *spatial, c) if data_format == "channels_last" else (3, c, *spatial)
    inp = keras.Input(shape=shape)
    x = inp
    for k in range(cfg["num_layers"]):  # (zeros: the default orthogonal QR costs 3/4 of the time)
        layer = layer_class(cfg["filters"], tuple(cfg["kernel"]), padding=padding,
                            data_format=data_format, use_bias=cfg["bias"],
                            return_sequences=k < cfg["num_layers"] - 1,
                            kernel_initializer="zeros", recurrent_initializer="zeros")
        if cfg["bidirectional"]:
            layer = keras.layers.Bidirectional(layer)
        x = layer(x)
    model = keras.Model(inp, x)
    return [(w.path, tuple(w.shape)) for w in model.weights], model.count_params()


def spatial_sizes(rng: random.Random, kernel: list[int], layers: int, padding: str) -> tuple[
        int, ...]:
    """Random small map sizes; with "valid" padding each layer shrinks the map by k - 1."""
    low = [1 if padding == "same" else layers * (k - 1) + 1 for k in kernel]
    return tuple(rng.randint(lo, lo + 4) for lo in low)


def random_config(rng: random.Random) -> tuple[str, dict[str, Any]]:
    cell = rng.choice(sorted(LAYERS))
    rank, _ = LAYERS[cell]
    kernel = [rng.randint(1, 5) for _ in range(rank)]
    return cell, {"in_channels": rng.randint(1, 9), "filters": rng.randint(1, 9),
                  "kernel": kernel, "num_layers": rng.randint(1, 2),
                  "bidirectional": rng.random() < 0.4, "bias": rng.random() < 0.7}


def derived_for(cell: str, cfg: dict[str, Any], **extra: Any) -> tuple[
        list[tuple[str, tuple[int, ...]]], int]:
    return derived(cell, "keras", in_channels=cfg["in_channels"], filters=cfg["filters"],
                   kernel_size="x".join(str(k) for k in cfg["kernel"]),
                   num_layers=cfg["num_layers"], bidirectional=cfg["bidirectional"],
                   bias=cfg["bias"], **extra)


def test_random_configurations() -> None:
    """240 seeded configurations over ConvLSTM1D/2D/3D, at random map sizes and padding."""
    rng = random.Random(2015)
    seen = set()
    for _ in range(240):
        cell, cfg = random_config(rng)
        padding = rng.choice(["same", "valid"])
        spatial = spatial_sizes(rng, cfg["kernel"], cfg["num_layers"], padding)
        want = derived_for(cell, cfg)
        assert want == actual(cell, cfg, spatial, padding), (cell, cfg, spatial, padding)
        seen.add((cell, cfg["bias"], cfg["num_layers"], cfg["bidirectional"]))
    assert len(seen) == 24  # every cell, with and without bias, stacked and bidirectional


@pytest.mark.parametrize("cell", sorted(LAYERS))
def test_map_size_changes_nothing(cell: str) -> None:
    """The same layers on two maps of different sizes (and derive told either size, or
    none) store the same tensors; so does a one-direction stack built channels_first."""
    rank, _ = LAYERS[cell]
    cfg = {"in_channels": 3, "filters": 5, "kernel": [3, 1, 2][:rank], "num_layers": 2,
           "bidirectional": True, "bias": True}
    keywords = {1: ["length"], 2: ["height", "width"], 3: ["depth", "height", "width"]}[rank]
    want = derived_for(cell, cfg)
    for spatial in [(5, 6, 7)[:rank], (40, 9, 11)[:rank]]:
        assert derived_for(cell, cfg, **dict(zip(keywords, spatial, strict=True))) == want
        assert actual(cell, cfg, spatial, "valid") == want
        one_way = {**cfg, "bidirectional": False}
        assert actual(cell, one_way, spatial, "same", "channels_first") == \
            derived_for(cell, one_way)


@pytest.mark.parametrize("cell", sorted(LAYERS))
def test_one_kernel_size_for_every_axis(cell: str) -> None:
    rank, _ = LAYERS[cell]
    cfg = {"in_channels": 2, "filters": 4, "kernel": [3] * rank, "num_layers": 1,
           "bidirectional": False, "bias": False}
    one = derived(cell, "keras", in_channels=2, filters=4, kernel_size=3, bias=False)
    assert one == derived_for(cell, cfg) == actual(cell, cfg, (4,) * rank, "same")
