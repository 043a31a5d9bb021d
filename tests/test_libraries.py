"""Derived tensors against the reference libraries of recent cells, on the CPU: the official
``xlstm`` (sLSTM layer, vanilla backend), ``sru`` (its first import compiles a C++
extension), ``mingru-scans`` and lucidrains' ``minGRU-pytorch``. Every configuration
compares each parameter's name and shape, and the total."""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch
from mingru import MinGRU
from minGRU_pytorch import minGRU
from minGRU_pytorch.minLSTM import minLSTM
from xlstm.blocks.slstm.layer import sLSTMLayer, sLSTMLayerConfig

import derive
from tests.oracles import derived


def actual(module: torch.nn.Module) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    params = list(module.named_parameters())
    return [(n, tuple(p.shape)) for n, p in params], sum(p.numel() for _, p in params)


def same(mine: tuple[list[Any], int], theirs: tuple[list[Any], int]) -> bool:
    return sorted(mine[0]) == sorted(theirs[0]) and mine[1] == theirs[1]


def test_xlstm_slstm_layer() -> None:
    """60 seeded sLSTMLayer configurations: heads 1–4, head sizes 1–6."""
    rng = random.Random("xlstm")
    for _ in range(60):
        heads, head = rng.randint(1, 4), rng.randint(1, 6)
        e = heads * head
        layer = sLSTMLayer(sLSTMLayerConfig(embedding_dim=e, num_heads=heads,
                                            conv1d_kernel_size=0, backend="vanilla"))
        mine = derived("slstm", "xlstm", input_size=e, hidden_size=e, num_heads=heads)
        assert same(mine, actual(layer)), (e, heads)


def test_xlstm_needs_equal_sizes_and_whole_heads() -> None:
    with pytest.raises(derive.DeriveError, match="xlstm needs input_size = hidden_size"):
        derive.count("slstm", "xlstm", input_size=8, hidden_size=12, num_heads=4)
    with pytest.raises(derive.DeriveError, match="n_h must divide h"):
        derive.count("slstm", "xlstm", input_size=10, hidden_size=10, num_heads=4)


@pytest.fixture(scope="module")
def sru_module() -> Any:
    import sru  # compiles its CPU extension on first import (about a minute on 2 cores)

    return sru


def test_sru_cell(sru_module: Any) -> None:
    """50 seeded SRUCell(n, n) configurations (input size = hidden size, as the paper)."""
    rng = random.Random("sru")
    for _ in range(50):
        n = rng.randint(1, 40)
        mine = derived("sru", "sru", hidden_size=n)
        assert same(mine, actual(sru_module.SRUCell(n, n))), n


def test_sru_with_another_input_size_is_not_the_paper(sru_module: Any) -> None:
    """With input_size ≠ hidden_size the library adds a fourth projection; the paper's
    highway term forces the sizes equal, and derive says so instead of counting."""
    _, theirs = actual(sru_module.SRUCell(5, 7))
    assert theirs == 5 * 4 * 7 + 4 * 7
    with pytest.raises(derive.DeriveError, match="requires input_size = hidden_size"):
        derive.count("sru", "sru", input_size=5, hidden_size=7)


def test_mingru_scans() -> None:
    """60 seeded MinGRU(input_size, hidden_size, bias) configurations."""
    rng = random.Random("mingru-scans")
    for _ in range(60):
        d, h, bias = rng.randint(1, 40), rng.randint(1, 40), rng.random() < 0.5
        mine = derived("mingru", "mingru-scans", input_size=d, hidden_size=h, bias=bias)
        assert same(mine, actual(MinGRU(d, h, bias=bias))), (d, h, bias)


@pytest.mark.parametrize(("cell", "module"), [("mingru", minGRU), ("minlstm", minLSTM)])
def test_mingru_pytorch(cell: str, module: Any) -> None:
    """50 seeded minGRU(dim) / minLSTM(dim) configurations."""
    rng = random.Random(cell)
    for _ in range(50):
        dim = rng.randint(1, 64)
        mine = derived(cell, "mingru-pytorch", input_size=dim, hidden_size=dim)
        assert same(mine, actual(module(dim))), dim
