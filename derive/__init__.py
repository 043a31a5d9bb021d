"""derive: shapes and exact parameter counts of recurrent cells, derived from their equations.

The pipeline, one direction::

    cell file --parse--> Cell --infer--> Derivation --conventions--> tensors
              --compile/cache--> count (exact ints) and closedform (SymPy)

Public API (imports are lazy, so ``import derive`` stays cheap):

>>> import derive
>>> derive.count("lstm", framework="pytorch", input_size=512, hidden_size=256,
...              bidirectional=True).total
1576960
>>> derive.count("lstm", framework="keras", input_size=512, hidden_size=256,
...              bidirectional=True).total
1574912
>>> print(derive.formula("lstm", framework="pytorch"))
D*(4*h*(L - 1)*(D*h + h + 2) + 4*h*(d + h + 2))
"""

from __future__ import annotations

from derive.errors import (
    CellSyntaxError,
    ConfigError,
    ConventionError,
    DeriveError,
    ModelError,
    ShapeError,
    UndeterminedError,
)
from derive.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from derive.counting import Count
    from derive.infer import Derivation
    from derive.model import Cell

__version__ = "0.1.0"
__all__ = [
    "CellSyntaxError",
    "ConfigError",
    "ConventionError",
    "DeriveError",
    "ModelError",
    "ShapeError",
    "UndeterminedError",
    "cells",
    "count",
    "count_model",
    "flops",
    "formula",
    "load_cell",
    "match",
    "memory",
    "model",
    "models",
    "shapes",
    "solve",
]


def count(cell: str, framework: str = "equations", **config: Any) -> Count:
    """Exact parameter count of ``cell`` as ``framework`` stores it.

    Keywords as PyTorch spells them: ``input_size``, ``hidden_size``, ``proj_size``,
    ``num_layers``, ``bidirectional``, ``bias``; and Keras's ``reset_after``.
    """
    from derive.counting import count as _count

    return _count(cell, framework, **config)


def flops(cell: str, framework: str = "equations", convention: str = "flops",
          **config: Any) -> Any:
    """Operations over a sequence under a compute convention (``macs``, ``flops``,
    ``torchinfo``, ``thop``, ...); also takes ``seq_len`` and ``batch``."""
    from derive.costing import flops as _flops

    return _flops(cell, framework, convention, **config)


def memory(cell: str, framework: str = "equations", **config: Any) -> Any:
    """Bytes of weights per dtype, the carried state and the activations kept for backprop."""
    from derive.costing import memory as _memory

    return _memory(cell, framework, **config)


def solve(cell: str, framework: str = "equations", **config: Any) -> Any:
    """The largest ``hidden_size`` (or ``solve_for``) whose count fits ``budget``."""
    from derive.budget import solve as _solve

    return _solve(cell, framework, **config)


def match(cell: str, to: list[str], framework: str = "equations", **config: Any) -> Any:
    """The hidden size of each cell of ``to`` whose count is closest to ``cell``'s."""
    from derive.budget import match as _match

    return _match(cell, to, framework, **config)


def formula(cell: str, framework: str = "equations", bias: bool = True) -> Any:
    """The closed form (SymPy) of the count, with L layers and D directions symbolic."""
    from derive.closedform import closed_form
    from derive.counting import above, convention, load
    from derive.poly import Poly

    data, _ = load(cell, {})
    conv = convention(data, framework)
    per_layer = Poly.from_data(conv["per_layer"]["bias" if bias else "no_bias"])
    return closed_form(per_layer, data["input_symbol"], above(conv), conv["stackable"])


def shapes(cell: str, framework: str = "equations") -> Derivation:
    """The inferred shape of every parameter, with the trace of reasons."""
    from derive.trace import derivation

    return derivation(cell, framework)


def load_cell(ref: str) -> Cell:
    """Parse a catalog cell name or a path to a ``.cell`` file."""
    from derive.parse import load_cell as _load

    return _load(ref)


def cells() -> list[str]:
    """The names of the built-in catalog."""
    from derive.catalog import builtin_names

    return builtin_names()


def model(ref: str) -> Any:
    """A shipped model (``derive.models()``) or a ``.model`` file, assembled: every layer
    sized, the count a polynomial in the model's symbols (``.total``, ``.forms()``)."""
    from derive.assemble import assemble

    return assemble(ref)


def count_model(ref: str, **sizes: Any) -> Any:
    """A whole network's parameters at the given symbols: per layer, per tensor, in total.

    >>> count_model("sak2014-lstmp", n_c=2048, n_r=512, L=2).total
    22314496
    """
    from derive.assemble import count as _count

    return _count(ref, sizes)


def models() -> list[str]:
    """The names of the shipped models."""
    from derive.network import builtin_names

    return builtin_names()
