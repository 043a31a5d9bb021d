"""Derived tensors against real PyTorch modules: every name, every shape, the total.

Modules are built on the meta device: real names and shapes, no memory allocated.
"""

from __future__ import annotations

import random

import pytest
import torch
from torch import nn

from tests.oracles import EDGE_SIZES, configs, derived

MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
CELL_MODULES = {"lstm": nn.LSTMCell, "gru": nn.GRUCell, "rnn": nn.RNNCell}


def actual(module: nn.Module) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    params = list(module.named_parameters())
    return [(n, tuple(p.shape)) for n, p in params], sum(p.numel() for _, p in params)


def build(cell: str, cfg: dict, proj: int = 0) -> nn.Module:
    kwargs = dict(num_layers=cfg["num_layers"], bidirectional=cfg["bidirectional"],
                  bias=cfg["bias"], device="meta")
    if proj:
        kwargs["proj_size"] = proj
    return MODULES[cell](cfg["input_size"], cfg["hidden_size"], **kwargs)


@pytest.mark.parametrize("cell", sorted(MODULES))
def test_random_layer_stacks(cell: str) -> None:
    for cfg in configs(seed=sum(map(ord, cell)), n=200):
        assert derived(cell, "pytorch", **cfg) == actual(build(cell, cfg)), cfg


@pytest.mark.parametrize("cell", sorted(MODULES))
@pytest.mark.parametrize(("d", "h"), [*EDGE_SIZES, (4096, 4096), (100_003, 65_537)])
def test_edge_sizes(cell: str, d: int, h: int) -> None:
    for layers, bidir in [(1, False), (4, True)]:
        cfg = dict(input_size=d, hidden_size=h, num_layers=layers, bidirectional=bidir,
                   bias=True)
        assert derived(cell, "pytorch", **cfg) == actual(build(cell, cfg))


def test_lstm_with_projection() -> None:
    rng = random.Random(7)
    n = 0
    while n < 200:
        cfg = next(configs(seed=rng.randint(0, 10**6), n=1))
        if cfg["hidden_size"] < 2:
            continue
        proj = rng.randint(1, cfg["hidden_size"] - 1)
        assert derived("lstm", "pytorch", proj_size=proj, **cfg) == \
            actual(build("lstm", cfg, proj)), (cfg, proj)
        assert derived("lstmp", "pytorch", proj_size=proj, **cfg) == \
            actual(build("lstm", cfg, proj))
        n += 1


def test_proj_size_zero_is_no_projection() -> None:
    cfg = dict(input_size=10, hidden_size=20, num_layers=2, bidirectional=True, bias=True)
    assert derived("lstm", "pytorch", proj_size=0, **cfg) == actual(build("lstm", cfg))
    assert derived("lstmp", "pytorch", proj_size=0, **cfg) == actual(build("lstm", cfg))


@pytest.mark.parametrize("cell", sorted(CELL_MODULES))
def test_single_cells(cell: str) -> None:
    for cfg in configs(seed=11, n=200):
        module = CELL_MODULES[cell](cfg["input_size"], cfg["hidden_size"], bias=cfg["bias"],
                                    device="meta")
        assert derived(cell, "pytorch-cell", input_size=cfg["input_size"],
                       hidden_size=cfg["hidden_size"], bias=cfg["bias"]) == actual(module)


def test_relu_rnn_has_the_same_tensors() -> None:
    module = nn.RNN(9, 4, nonlinearity="relu", num_layers=2, device="meta")
    assert derived("rnn", "pytorch", input_size=9, hidden_size=4, num_layers=2) == \
        actual(module)


def test_pytorch_rejects_what_derive_rejects() -> None:
    """derive's pytorch constraint is the one torch enforces."""
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(5, 3, proj_size=3)
    import derive

    with pytest.raises(derive.ConfigError, match="proj_size has to be smaller than hidden_size"):
        derive.count("lstm", "pytorch", input_size=5, hidden_size=3, proj_size=3)


def test_torch_is_the_pinned_cpu_build() -> None:
    assert torch.__version__.startswith("2.13.0")
