"""Framework conventions as mappings: which parameters each stored tensor packs, and how.

A convention names the framework's tensors and gives each a block expression over the
parameters of the framework's own equations: ``[W_ii; W_if; W_ig; W_io]`` stacks four
matrices (PyTorch ``weight_ih``), ``[W_i^T, W_f^T]`` puts transposed matrices side by side
(Keras ``kernel``), ``[b_z^T, b_r^T; c_z^T, c_r^T]`` makes a 2-row matrix of row vectors
(Keras GRU ``bias`` with ``reset_after``). The fused shape is computed from the inferred
shapes of the blocks, and the blocks must conform: no shape is typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from derive.errors import ConventionError
from derive.infer import Derivation, Parameter
from derive.model import Block, Cell, Convention, TensorDecl
from derive.poly import Poly


@dataclass(frozen=True)
class TensorSpec:
    """One stored tensor of one layer and direction, shapes in the cell's size symbols.

    ``shape`` is with every parameter; ``shape_no_bias`` without the bias vectors (None
    when the tensor holds only biases and disappears).
    """

    name: str
    parts: tuple[str, ...]
    roles: tuple[str, ...]
    shape: tuple[Poly, ...]
    shape_no_bias: tuple[Poly, ...] | None


@dataclass(frozen=True)
class _Piece:
    """A parameter as a block: its dims, the axis ``;`` stacks along (``row``) and the axis
    ``,`` puts side by side along (``col``; None for a plain vector)."""

    kind: str  # "vector" (n,), "row" (1, n), "matrix" (r, c), or an N-axis block
    dims: tuple[Poly, ...]
    row: int = 0
    col: int | None = 1


def _leaf(p: Parameter, transposed: bool) -> _Piece:
    shape = p.shape
    if p.kind == "scalar":
        shape = (Poly.const(1),)
    if len(shape) == 1:
        return _Piece("row", (Poly.const(1), shape[0])) if transposed else \
            _Piece("vector", shape, 0, None)
    if p.kind == "kernel":  # (out, in, k...) ; transposed: Keras's (k..., in, out)
        if transposed:
            dims = (*shape[2:], shape[1], shape[0])
            return _Piece("matrix", dims, len(dims) - 2, len(dims) - 1)
        return _Piece("matrix", shape, 0, 1)
    if p.blocks is not None:  # (blocks, rows, cols) of one block
        n, r, c = shape
        return _Piece("matrix", (n, c, r) if transposed else (n, r, c), 1, 2)
    if len(shape) == 2:
        rows, cols = shape
        return _Piece("matrix", (cols, rows) if transposed else (rows, cols))
    return _Piece("matrix", tuple(reversed(shape)) if transposed else shape)


def _as_2d(piece: _Piece) -> _Piece:
    if piece.kind == "vector":
        return _Piece("matrix", (piece.dims[0], Poly.const(1)), 0, 1)
    return piece


def _same(values: list[Poly]) -> bool:
    return all((v - values[0]).is_zero for v in values[1:])


def _total(values: list[Poly]) -> Poly:
    out = Poly()
    for v in values:
        out = out + v
    return out


def _others(piece: _Piece, axis: int) -> tuple[Poly, ...]:
    return tuple(d for k, d in enumerate(piece.dims) if k != axis)


def block_shape(decl: TensorDecl, params: dict[str, Parameter],
                keep: set[str] | None = None) -> tuple[Poly, ...] | None:
    """The shape of a block expression; leaves not in ``keep`` are left out."""
    block: Block = decl.block
    rows: list[_Piece] = []
    for brow in block.rows:
        pieces = [_leaf(params[name], t) for name, t in brow if keep is None or name in keep]
        if not pieces:
            continue
        names = [name for name, _ in brow if keep is None or name in keep]
        if len(pieces) == 1:
            rows.append(pieces[0])
            continue
        flat = [_as_2d(p) for p in pieces]
        first = flat[0]
        assert first.col is not None
        if any(len(p.dims) != len(first.dims) or p.col != first.col for p in flat):
            raise ConventionError(f"tensor {decl.name}: blocks side by side need the same "
                                  f"number of axes ({', '.join(names)})", decl.loc)
        heights = [p.dims[first.row] for p in flat]
        if not _same(heights) or any(_others(p, first.col) != _others(first, first.col)
                                     for p in flat[1:]):
            shown = ", ".join(f"{n} ({h})" for n, h in zip(names, heights, strict=False))
            raise ConventionError(
                f"tensor {decl.name}: blocks side by side need the same number of rows, "
                f"but the rows are {shown}", decl.loc)
        dims = list(first.dims)
        dims[first.col] = _total([p.dims[first.col] for p in flat])
        rows.append(_Piece("matrix", tuple(dims), first.row, first.col))
    if not rows:
        return None
    if len(rows) == 1:
        return rows[0].dims
    if all(r.kind == "vector" for r in rows):
        return (_total([r.dims[0] for r in rows]),)
    if any(r.kind == "vector" for r in rows):
        raise ConventionError(f"tensor {decl.name}: cannot stack a vector on a matrix; "
                              "transpose the vector (b^T) to make it a row", decl.loc)
    first = rows[0]
    if any(len(r.dims) != len(first.dims) or r.row != first.row for r in rows) or any(
            not all((a - b).is_zero for a, b in zip(_others(r, first.row),
                                                    _others(first, first.row), strict=True))
            for r in rows[1:]):
        widths = [r.dims[r.col] if r.col is not None else r.dims[-1] for r in rows]
        names = ["; ".join(",".join(n for n, _ in brow) for brow in block.rows)]
        raise ConventionError(
            f"tensor {decl.name}: stacked blocks need the same number of columns, but the "
            f"columns are {', '.join(str(w) for w in widths)} ({names[0]})", decl.loc)
    dims = list(first.dims)
    dims[first.row] = _total([r.dims[first.row] for r in rows])
    return tuple(dims)


def tensor_specs(cell: Cell, conv: Convention | None, derivation: Derivation) -> tuple[
        TensorSpec, ...]:
    """The tensors one layer and direction stores, under a convention (None: as written)."""
    params = {p.name: p for p in derivation.parameters}
    no_bias = {p.name for p in derivation.parameters if p.role != "bias"}
    if conv is None:
        return tuple(TensorSpec(p.name, (p.name,), (p.role,), p.shape,
                                None if p.role == "bias" else p.shape)
                     for p in derivation.parameters)
    used: dict[str, str] = {}
    out: list[TensorSpec] = []
    for decl in conv.tensors:
        parts: list[str] = []
        for brow in decl.block.rows:
            for name, _ in brow:
                if name not in params:
                    known = ", ".join(params)
                    raise ConventionError(
                        f"convention {conv.name}: tensor {decl.name} packs {name}, which is not "
                        f"a parameter of its equations ({known})", decl.loc)
                if name in used:
                    raise ConventionError(
                        f"convention {conv.name}: {name} is packed twice (in {used[name]} and "
                        f"{decl.name})", decl.loc)
                used[name] = decl.name
                parts.append(name)
        shape = block_shape(decl, params)
        assert shape is not None
        out.append(TensorSpec(decl.name, tuple(parts), tuple(params[n].role for n in parts),
                              shape, block_shape(decl, params, no_bias)))
    missing = [name for name in params if name not in used]
    if missing:
        raise ConventionError(f"convention {conv.name}: the parameters {', '.join(missing)} are "
                              "in no tensor; every parameter must be stored once", conv.loc)
    return tuple(out)


def gate_order(derivation: Derivation, parts: list[str]) -> list[str]:
    """The variable each packed parameter feeds, in packing order: ['i', 'f', 'g', 'o']."""
    targets = {e.number: "/".join(t.name for t in e.targets) for e in derivation.equations}
    params = {p.name: p for p in derivation.parameters}
    return [targets[params[name].equation] for name in parts]
