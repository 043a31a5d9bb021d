"""Derived tensors against the ONNX operator schemas (``onnx.defs``).

Each schema documents its inputs' shapes in text, e.g. ``[num_directions,
4*hidden_size, input_size]``. The test reads those shapes from the installed ``onnx``
package, evaluates them for a configuration, and compares with derive's tensors, layer
by layer (ONNX has one operator node per layer).
"""

from __future__ import annotations

import re

import onnx.defs
import pytest

import derive
from tests.oracles import EDGE_SIZES, configs

OPS = {"lstm": ("LSTM", "WRB"), "lstm-peephole": ("LSTM", "WRBP"), "gru": ("GRU", "WRB"),
       "gru-reset-before": ("GRU", "WRB"), "rnn": ("RNN", "WRB")}


def schema_shapes(op: str) -> dict[str, list[str]]:
    """Input name → the shape expression the schema documents, as a list of factors."""
    out = {}
    for inp in onnx.defs.get_schema(op).inputs:
        m = re.search(r"shape (?:of )?`\[([^\]]*)\]`", inp.description)
        assert m, (op, inp.name)
        out[inp.name] = [s.strip() for s in m[1].split(",")]
    return out


def evaluate(dim: str, env: dict[str, int]) -> int:
    value = 1
    for factor in dim.split("*"):
        factor = factor.strip()
        value *= int(factor) if factor.isdigit() else env[factor]
    return value


def expected(cell: str, cfg: dict) -> list[tuple[int, str, tuple[int, ...]]]:
    op, inputs = OPS[cell]
    shapes = schema_shapes(op)
    dirs = 2 if cfg["bidirectional"] else 1
    out = []
    for k in range(cfg["num_layers"]):
        env = {"num_directions": dirs, "hidden_size": cfg["hidden_size"],
               "input_size": cfg["input_size"] if k == 0 else dirs * cfg["hidden_size"]}
        for name in inputs:
            if name == "B" and not cfg["bias"]:
                continue  # optional: "If not specified - assumed to be 0"
            out.append((k, name, tuple(evaluate(d, env) for d in shapes[name])))
    return out


def derived(cell: str, cfg: dict) -> list[tuple[int, str, tuple[int, ...]]]:
    result = derive.count(cell, "onnx", **cfg)
    return [(t.layer, t.name, t.shape) for t in result.tensors]


@pytest.mark.parametrize("cell", sorted(OPS))
def test_random_configurations(cell: str) -> None:
    for cfg in configs(seed=sum(map(ord, cell)), n=200):
        assert derived(cell, cfg) == expected(cell, cfg), cfg


@pytest.mark.parametrize("cell", sorted(OPS))
@pytest.mark.parametrize(("d", "h"), [*EDGE_SIZES, (10**9 + 7, 2**40 + 3)])
def test_edge_sizes(cell: str, d: int, h: int) -> None:
    cfg = dict(input_size=d, hidden_size=h, num_layers=3, bidirectional=True, bias=True)
    assert derived(cell, cfg) == expected(cell, cfg)


def test_peepholes_are_optional_and_cost_3h_per_direction() -> None:
    cfg = dict(input_size=10, hidden_size=20, num_layers=1, bidirectional=True)
    plain = derive.count("lstm", "onnx", **cfg).total
    peep = derive.count("lstm-peephole", "onnx", **cfg).total
    ((p_shape),) = [s for _, n, s in expected("lstm-peephole", {**cfg, "bias": True}) if n == "P"]
    assert peep - plain == p_shape[0] * p_shape[1] == 2 * 3 * 20
