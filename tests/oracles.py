"""Shared helpers for the framework oracle tests: seeded configurations, comparisons."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import derive

EDGE_SIZES = [(1, 1), (1, 7), (7, 1), (3, 5), (13, 2), (2, 13), (97, 31)]


def configs(seed: int, n: int, max_size: int = 48) -> Iterator[dict[str, Any]]:
    """n seeded random configurations: sizes, layers 1–4, directions, bias."""
    rng = random.Random(seed)
    for _ in range(n):
        yield {
            "input_size": rng.randint(1, max_size),
            "hidden_size": rng.randint(1, max_size),
            "num_layers": rng.randint(1, 4),
            "bidirectional": rng.random() < 0.5,
            "bias": rng.random() < 0.7,
        }


def derived(cell: str, framework: str, **cfg: Any) -> tuple[list[tuple[str, tuple[int, ...]]], int]:
    result = derive.count(cell, framework, **cfg)
    assert result.total == sum(t.count for t in result.tensors)
    return [(t.name, t.shape) for t in result.tensors], result.total
