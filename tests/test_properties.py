"""Property tests: inferred shapes make the equations computable, and the parser is robust.

1. For every built-in cell, under its own equations and under every convention that has
   equations of its own, arrays of exactly the inferred shapes are allocated for random
   sizes, and the equations are evaluated numerically, in order, for a few time steps, by a
   small evaluator over the AST that refuses every non-conformable operation (including the
   broadcasts numpy would silently allow).
2. The check can fail: one dimension of one parameter grown by one is always caught.
3. Random well-formed equations, spelled in Unicode and in ASCII with random whitespace,
   parse to the expected AST (the same for both spellings), and inference gives every
   weight the columns of what it multiplies. Random garbage only ever raises DeriveError.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive.catalog import builtin_names
from derive.errors import CellSyntaxError, DeriveError, Loc
from derive.infer import Derivation, infer, walk
from derive.model import (
    Call,
    Cell,
    Concat,
    Conv,
    Div,
    Equation,
    Hadamard,
    MatMul,
    Node,
    Norm,
    Num,
    Power,
    SizeRef,
    Sum,
    Transpose,
    Var,
)
from derive.parse import load_cell, parse_cell
from derive.poly import Poly

FAST = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- the evaluator


class Mismatch(AssertionError):
    """The evaluator met two sizes that do not conform."""


def _log(v: Value) -> Value:
    return np.log(np.abs(v) + 1e-12)


ACTIVATIONS = {
    "σ": lambda v: 1.0 / (1.0 + np.exp(-np.clip(v, -50, 50))),
    "tanh": np.tanh,
    "relu": lambda v: np.maximum(v, 0.0),
    "exp": lambda v: np.exp(np.clip(v, -50, 50)),
    "log": _log,
    "softplus": lambda v: np.logaddexp(0.0, v),
    "sqrt": lambda v: np.sqrt(np.abs(v)),
    "abs": np.abs,
    "gelu": lambda v: v * 0.5 * (1.0 + np.tanh(0.8 * v)),
    "silu": lambda v: v / (1.0 + np.exp(-np.clip(v, -50, 50))),
}

Value = float | np.ndarray


def _arr(v: Value) -> np.ndarray:
    return np.asarray(v, dtype=float)


class Evaluator:
    """One time step of a cell's equations, with every shape checked explicitly: numpy's
    own broadcasting is never relied on (only a scalar, or a parameter the cell declares
    per-channel, spreads over another value)."""

    def __init__(self, params: dict[str, np.ndarray], inputs: list[dict[str, np.ndarray]],
                 history: list[dict[str, np.ndarray]], cell: Cell, env: dict[str, int]) -> None:
        self.params, self.inputs, self.history = params, inputs, history
        self.cell, self.env = cell, env
        self.now: dict[str, np.ndarray] = {}
        self.used: set[str] = set()

    def param(self, name: str) -> np.ndarray:
        if name not in self.params:
            raise Mismatch(f"no parameter {name} was allocated")
        self.used.add(name)
        return self.params[name]

    def matrix(self, name: str) -> np.ndarray:
        """A parameter that multiplies: a matrix, or the blocks of a block-diagonal one."""
        w = self.param(name)
        decl = self.cell.param_decl(name)
        if decl is not None and decl.what == "blockdiag":
            if w.ndim != 3:
                raise Mismatch(f"{name} is block-diagonal but has shape {w.shape}")
            n, r, c = w.shape
            full = np.zeros((n * r, n * c))
            for k in range(n):
                full[k * r:(k + 1) * r, k * c:(k + 1) * c] = w[k]
            return full
        if w.ndim != 2:
            raise Mismatch(f"{name} multiplies a vector but is not a matrix")
        return w

    def per_channel(self, node: Node) -> bool:
        if not (isinstance(node, Var) and node.time is None):
            return False
        decl = self.cell.param_decl(node.name)
        return decl is not None and decl.what == "per-channel"

    def spread(self, pairs: list[tuple[Node, Value]], what: str) -> list[Value]:
        """Operands of an elementwise operation, shapes checked and made equal."""
        arrays = [(n, v) for n, v in pairs if isinstance(v, np.ndarray) and v.ndim > 0
                  and not self.per_channel(n)]
        shapes = {v.shape for _, v in arrays}
        if len(shapes) > 1:
            raise Mismatch(f"{what}: operands of shapes {sorted(shapes)}")
        target = next(iter(shapes)) if shapes else None
        out: list[Value] = []
        for n, v in pairs:
            if self.per_channel(n) and isinstance(v, np.ndarray):
                if target is None or v.ndim != 1 or v.shape[0] != target[0]:
                    raise Mismatch(f"{what}: per-channel {v.shape} against {target}")
                v = v.reshape((v.shape[0],) + (1,) * (len(target) - 1))
            out.append(v)
        return out

    def value(self, name: str, lag: int) -> np.ndarray:
        if lag == 0:
            if name in self.now:
                return self.now[name]
            if name in self.inputs[-1]:
                return self.inputs[-1][name]
            raise Mismatch(f"{name}_t is used before it is computed")
        if name in self.inputs[-1]:
            return self.inputs[-1 - lag][name]
        if lag > len(self.history) or name not in self.history[-lag]:
            raise Mismatch(f"{name} at t-{lag} is not kept from earlier steps")
        return self.history[-lag][name]

    def ev(self, node: Node) -> Value:
        if isinstance(node, Num):
            return node.numerator / node.denominator
        if isinstance(node, SizeRef):
            return float(self.env[node.name])
        if isinstance(node, Var):
            if node.time is None:
                return self.param(node.name)
            if node.window is not None:
                k = self.env[node.window]
                items = [self.inputs[-1 - j][node.name] for j in reversed(range(k))]
                return np.concatenate(items)
            return self.value(node.name, node.lag)
        if isinstance(node, Call):
            args = [self.ev(a) for a in node.operands]
            if len(args) > 1:
                args = self.spread(list(zip(node.operands, args, strict=True)), node.func)
            if node.func in ("max", "min"):
                fn = np.maximum if node.func == "max" else np.minimum
                out = args[0]
                for a in args[1:]:
                    out = fn(out, a)
                return out
            if node.func in ACTIVATIONS:
                return ACTIVATIONS[node.func](args[0])
            # a function the cell declares elementwise: any elementwise value will do
            out = args[0]
            for a in args[1:]:
                out = out + a
            return np.tanh(out)
        if isinstance(node, Norm):
            assert node.arg is not None
            x = _arr(self.ev(node.arg))
            gain = self.param(node.params[0].name)
            bias = self.param(node.params[1].name) if len(node.params) > 1 else None
            if node.func == "GN":
                g = self.env[node.groups or ""]
                if x.shape[0] % g:
                    raise Mismatch(f"{g} groups do not divide {x.shape[0]} channels")
                parts = x.reshape((g, -1))
                y = ((parts - parts.mean(1, keepdims=True)) /
                     (parts.std(1, keepdims=True) + 1e-5)).reshape(x.shape)
                shape = (x.shape[0],) + (1,) * (x.ndim - 1)
                for p in (gain, bias):
                    if p is not None and p.shape != (x.shape[0],):
                        raise Mismatch(f"group-norm parameter {p.shape} for {x.shape}")
                gain = gain.reshape(shape)
                bias = bias.reshape(shape) if bias is not None else None
            else:
                y = (x - x.mean()) / (x.std() + 1e-5)
                for p in (gain, bias):
                    if p is not None and p.shape != x.shape:
                        raise Mismatch(f"norm parameter {p.shape} for {x.shape}")
            return y * gain + (bias if bias is not None else 0.0)
        if isinstance(node, Transpose):
            assert node.arg is not None
            v = _arr(self.ev(node.arg))
            if v.ndim == 1:
                return v.reshape(1, -1)
            if v.ndim > 2:
                raise Mismatch("only vectors and matrices have a transpose")
            return v.T
        if isinstance(node, Conv):
            assert isinstance(node.left, Var) and node.right is not None
            w = self.param(node.left.name)
            x = _arr(self.ev(node.right))
            if w.ndim != x.ndim + 1 or w.shape[1] != x.shape[0]:
                raise Mismatch(f"kernel {w.shape} cannot convolve {x.shape}")
            ks = w.shape[2:]
            pads = [((k - 1) // 2, k - 1 - (k - 1) // 2) for k in ks]
            xp = np.pad(x, [(0, 0), *pads])
            out = np.zeros((w.shape[0], *x.shape[1:]))
            for offset in np.ndindex(*ks):
                spans = [slice(o, o + n) for o, n in zip(offset, x.shape[1:], strict=True)]
                window = xp[(slice(None), *spans)]
                out += np.tensordot(w[(slice(None), slice(None), *offset)], window, axes=(1, 0))
            return out
        if isinstance(node, MatMul):
            assert node.left is not None and node.right is not None
            right = self.ev(node.right)
            left_node = node.left
            if isinstance(left_node, (Num, SizeRef)):
                return self.ev(left_node) * right
            if isinstance(left_node, Var) and left_node.time is None:
                decl = self.cell.param_decl(left_node.name)
                if decl is not None and decl.what == "scalar":
                    return self.param(left_node.name) * right
                w = self.matrix(left_node.name)
                r = _arr(right)
                if r.ndim == 0:
                    raise Mismatch(f"{left_node.name} multiplies a scalar")
                if w.shape[1] != r.shape[0]:
                    raise Mismatch(f"{left_node.name} is {w.shape}, the operand {r.shape}")
                return np.tensordot(w, r, axes=(1, 0))
            a, b = _arr(self.ev(left_node)), _arr(right)
            if a.ndim == 0 or b.ndim == 0:
                return a * b
            if a.ndim == 2 and b.ndim in (1, 2):
                if a.shape[1] != b.shape[0]:
                    raise Mismatch(f"{a.shape} times {b.shape}")
                out = a @ b
                return out[0] if a.shape[0] == 1 and b.ndim == 1 else out
            if a.ndim == 1 and b.ndim == 2:
                if b.shape[0] != 1:
                    raise Mismatch(f"outer product with {b.shape}")
                return np.outer(a, b[0])
            raise Mismatch(f"{a.shape} side by side with {b.shape}")
        if isinstance(node, (Hadamard, Div, Power)):
            pair = ((node.left, node.right) if not isinstance(node, Power)
                    else (node.base, node.exponent))
            assert pair[0] is not None and pair[1] is not None
            a, b = self.spread([(pair[0], self.ev(pair[0])), (pair[1], self.ev(pair[1]))],
                               type(node).__name__)
            if isinstance(node, Hadamard):
                return a * b
            if isinstance(node, Div):
                return a / (np.abs(b) + 0.5)
            return np.abs(a) ** np.clip(b, -3, 3)
        if isinstance(node, Sum):
            values = self.spread([(t, self.ev(t)) for t in node.terms], "sum")
            total: Value = 0.0
            for sign, v in zip(node.signs, values, strict=True):
                assert sign in (1, -1)
                total = total + sign * v
            return total
        if isinstance(node, Concat):
            items = [_arr(self.ev(i)) for i in node.items]
            if any(i.ndim == 0 for i in items) or len({i.shape[1:] for i in items}) > 1:
                raise Mismatch("only values of the same trailing shape can be stacked")
            return np.concatenate(items)
        raise AssertionError(f"unknown node {node!r}")

    def step(self, equations: tuple[Equation, ...],
             shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        for eq in equations:
            value = _arr(self.ev(eq.rhs))
            at = 0
            for t in eq.targets:  # a stacked left side takes consecutive rows
                want = shapes[t.name]
                part = value[at:at + want[0]] if eq.stacked else value
                at += want[0] if want else 1
                if part.shape != want:
                    raise Mismatch(f"{t.display} has shape {part.shape}, inference says {want}")
                self.now[t.name] = part
            if eq.stacked and at != len(value):
                raise Mismatch(f"{eq.lhs_display} takes {at} rows of {len(value)}")
        return self.now


# ---------------------------------------------------------------- running a derivation


def _dims(shape: tuple[Poly, ...], env: dict[str, int]) -> tuple[int, ...]:
    return tuple(p.evaluate(env) for p in shape)


def run(derivation: Derivation, env: dict[str, int], rng: np.random.Generator,
        grow: tuple[str, int] | None = None, steps: int = 3, finite: bool = True,
        cell: Cell | None = None) -> None:
    """Allocate the inferred shapes (``grow``: one dimension made one larger) and evaluate."""
    cell = cell if cell is not None else load_cell(derivation.cell)
    env = dict(env)
    for sym, value in derivation.substitution.items():
        env[sym] = value.evaluate(env)
    params: dict[str, np.ndarray] = {}
    for p in derivation.parameters:
        dims = list(_dims(p.shape, env))
        want = {"matrix": 3 if p.blocks else 2, "vector": 1, "scalar": 0}.get(p.kind)
        assert want is None or len(dims) == want, p
        assert all(n >= 1 for n in dims), (p.name, dims, env)
        if grow is not None and grow[0] == p.name:
            dims[grow[1]] += 1
        params[p.name] = rng.standard_normal(dims) * 0.3
    allocated = sum(a.size for a in params.values())
    if grow is None:
        assert derivation.count.evaluate(env) == allocated

    by_display = {v.name: v for v in derivation.variables}
    shapes = {t.name: _dims(by_display[t.display].shape, env)
              for eq in derivation.equations for t in eq.targets}
    inputs_decl = [v for v in derivation.variables if v.kind == "input"]
    states = [v.name[:-2] for v in derivation.variables if v.kind == "state"]
    assert states, "a recurrent cell has a state"
    lag = max([n.lag for e in derivation.equations for n, _ in walk(e.rhs)
               if isinstance(n, Var)] + [1])
    window = max([env[n.window] for e in derivation.equations for n, _ in walk(e.rhs)
                  if isinstance(n, Var) and n.window is not None] + [1])
    history = [{s: rng.standard_normal(shapes[s]) for s in shapes} for _ in range(lag)]
    inputs = [{v.name[:-2]: rng.standard_normal(_dims(v.shape, env)) for v in inputs_decl}
              for _ in range(max(lag, window))]
    for _ in range(steps):
        inputs.append({v.name[:-2]: rng.standard_normal(_dims(v.shape, env))
                       for v in inputs_decl})
        ev = Evaluator(params, inputs, history, cell, env)
        now = ev.step(derivation.equations, shapes)
        assert ev.used == set(params), "every inferred parameter is used"
        for s in states:
            if now[s].shape != history[-1][s].shape:
                raise Mismatch(f"state {s}: {history[-1][s].shape} became {now[s].shape}")
            assert not finite or np.all(np.isfinite(now[s]))
        history.append(dict(now))


def symbols(der: Derivation) -> list[str]:
    """The size symbols the derivation's shapes use (kernel axes k_1, k_2, ... included)."""
    out: set[str] = set()
    for p in der.parameters:
        for d in p.shape:
            out |= d.symbols
    for v in der.variables:
        for d in v.shape:
            out |= d.symbols
    for r in der.requirements:
        out |= r.left.symbols | r.right.symbols
    for e in der.equations:
        for n, _ in walk(e.rhs):
            if isinstance(n, SizeRef):
                out.add(n.name)
            if isinstance(n, Var) and n.window is not None:
                out.add(n.window)
            if isinstance(n, Norm) and n.groups is not None:
                out.add(n.groups)
    return sorted(out - der.substitution.keys())


@st.composite
def random_sizes(draw: st.DrawFn, der: Derivation) -> dict[str, int]:
    """Sizes for every symbol, made to satisfy what inference requires (a block count
    divides what it splits)."""
    env = {s: draw(st.integers(1, 5 if s[0] in "kHWDLT" or "_" in s else 9), label=s)
           for s in symbols(der)}
    for r in der.requirements:
        if r.op == "|" and len(r.right.symbols) == 1 and len(r.left.symbols) == 1:
            (sym,) = r.right.symbols
            (blocks,) = r.left.symbols
            if sym not in der.substitution:
                env[sym] = env[blocks] * draw(st.integers(1, 3), label=f"{sym}/{blocks}")
    return env


# ---------------------------------------------------------------- 1. every built-in cell


LANG = sorted(str(p) for p in (Path(__file__).parent / "cells" / "lang").glob("*.cell"))


def _cases() -> list[tuple[str, str]]:
    out = []
    for name in [*builtin_names(), *LANG]:
        out.append((name, "equations"))
        out.extend((name, c.name) for c in load_cell(name).conventions if c.equations is not None)
    return out


CASES = _cases()


@cache
def derivation(name: str, convention: str) -> tuple[Cell, Derivation]:
    cell = load_cell(name)
    return cell, infer(cell, convention)


def test_cases_cover_the_catalog() -> None:
    assert {name for name, _ in CASES} == set(builtin_names()) | set(LANG)
    assert ("lstmp", "pytorch") in CASES and ("gru", "onnx") in CASES


@pytest.mark.parametrize(("name", "convention"), CASES)
@FAST
@given(data=st.data())
def test_inferred_shapes_evaluate(name: str, convention: str, data: st.DataObject) -> None:
    cell, der = derivation(name, convention)
    env = data.draw(random_sizes(der), label="sizes")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    run(der, env, np.random.default_rng(seed), cell=cell)


# ---------------------------------------------------------------- 2. the check can fail


def _growable(der: Derivation) -> list[tuple[str, int]]:
    """(parameter, axis) pairs that conformability fixes: every axis but a kernel's extents
    (a larger kernel still convolves with "same" padding) and a learned exponent's."""
    out = []
    for p in der.parameters:
        axes = range(2) if p.kind == "kernel" else range(len(p.shape))
        out.extend((p.name, a) for a in axes)
    return out


@FAST
@given(data=st.data())
def test_a_grown_dimension_is_caught(data: st.DataObject) -> None:
    name, convention = data.draw(st.sampled_from(CASES), label="case")
    cell, der = derivation(name, convention)
    env = data.draw(random_sizes(der), label="sizes")
    param, axis = data.draw(st.sampled_from(_growable(der)), label="parameter and axis")
    with pytest.raises((Mismatch, ValueError)):
        run(der, env, np.random.default_rng(0), grow=(param, axis), cell=cell)


@pytest.mark.parametrize(("name", "convention"), CASES)
def test_every_axis_of_every_parameter_is_checked(name: str, convention: str) -> None:
    cell, der = derivation(name, convention)
    env = {s: 3 for s in symbols(der)}
    for r in der.requirements:
        if r.op == "|":
            env.update({s: 6 for s in r.right.symbols})
    for param, axis in _growable(der):
        with pytest.raises((Mismatch, ValueError)):
            run(der, env, np.random.default_rng(1), grow=(param, axis), cell=cell, steps=1)


# ---------------------------------------------------------------- 3. generated equations

NOWHERE = Loc("<expected>", 0, 0, 0, "")
H, D = Poly.symbol("h"), Poly.symbol("d")
X_T = Var(NOWHERE, "x", "t")
H_PREV = Var(NOWHERE, "h", "t-1")
NUMBERS = ["1", "2", "3", "0.5", "0.25", "1.0", "2.50"]
FUNCS = ["σ", "tanh", "relu", "exp", "softplus"]


def number(text: str) -> Num:
    whole, _, frac = text.partition(".")
    return Num(NOWHERE, int(whole + frac), 10 ** len(frac))


@dataclass
class Gen:
    """Fresh names and what inference must find for each parameter."""

    intermediates: list[str] = field(default_factory=list)
    columns: dict[str, Poly] = field(default_factory=dict)  # matrix -> its column count
    vectors: set[str] = field(default_factory=set)

    def matrix(self, cols: Poly) -> Var:
        name = f"W_{len(self.columns) + 1}"
        self.columns[name] = cols
        return Var(NOWHERE, name, None)

    def vector(self) -> Var:
        name = f"b_{len(self.vectors) + 1}"
        self.vectors.add(name)
        return Var(NOWHERE, name, None)


@st.composite
def expr(draw: st.DrawFn, gen: Gen, depth: int, anchored: bool) -> Node:
    """An h-sized expression. ``anchored``: its size is fixed by what it contains (it holds
    h_{t-1} or an earlier variable where inference can reach it), not only by its context."""
    leaves = ["prev"] + (["inter"] if gen.intermediates else [])
    if not anchored:
        leaves += ["bias", "matmul", "matmul"]
    kinds = leaves + (["sum", "sum", "hadamard", "call", "scale", "one_minus"] if depth > 0
                      else [])
    kind = draw(st.sampled_from(kinds))
    sub = depth - 1
    if kind == "prev":
        return H_PREV
    if kind == "inter":
        return Var(NOWHERE, draw(st.sampled_from(gen.intermediates)), "t")
    if kind == "bias":
        return gen.vector()
    if kind == "matmul":
        choice = draw(st.sampled_from(["x", "x", "h", "inter", "cat", "expr"]))
        operand: Node
        if choice == "x":
            operand, cols = X_T, D
        elif choice == "h" or (choice == "inter" and not gen.intermediates):
            operand, cols = H_PREV, H
        elif choice == "inter":
            operand, cols = Var(NOWHERE, draw(st.sampled_from(gen.intermediates)), "t"), H
        elif choice == "cat":
            n = draw(st.integers(2, 3))
            parts = [draw(st.sampled_from(["x", "h"])) for _ in range(n)]
            operand = Concat(NOWHERE, tuple(X_T if p == "x" else H_PREV for p in parts))
            cols = Poly()
            for p in parts:
                cols = cols + (D if p == "x" else H)
        else:
            operand, cols = draw(expr(gen, max(sub, 0), True)), H
        return MatMul(NOWHERE, gen.matrix(cols), operand)
    if kind == "sum":
        n = draw(st.integers(2, 4))
        fixed = draw(st.integers(0, n - 1)) if anchored else -1
        terms = tuple(draw(expr(gen, sub, i == fixed)) for i in range(n))
        signs = tuple(draw(st.sampled_from([1, -1])) for _ in range(n))
        return Sum(NOWHERE, terms, signs)
    if kind == "hadamard":
        left_fixed = draw(st.booleans())
        left = draw(expr(gen, sub, anchored and left_fixed))
        right = draw(expr(gen, sub, anchored and not left_fixed))
        return Hadamard(NOWHERE, left, right)
    if kind == "call":
        return Call(NOWHERE, draw(st.sampled_from(FUNCS)), draw(expr(gen, sub, anchored)))
    if kind == "scale":
        return MatMul(NOWHERE, number(draw(st.sampled_from(NUMBERS))),
                      draw(expr(gen, sub, anchored)))
    assert kind == "one_minus"
    return Sum(NOWHERE, (number(draw(st.sampled_from(NUMBERS))), draw(expr(gen, sub, anchored))),
               (1, -1))


def _uses_x(node: Node) -> bool:
    if isinstance(node, Var):
        return node.name == "x" and node.time == "t"
    if isinstance(node, Call):
        return node.arg is not None and _uses_x(node.arg)
    if isinstance(node, MatMul | Hadamard):
        return any(_uses_x(n) for n in (node.left, node.right) if n is not None)
    if isinstance(node, Sum):
        return any(_uses_x(n) for n in node.terms)
    if isinstance(node, Concat):
        return any(_uses_x(n) for n in node.items)
    return False


@dataclass(frozen=True)
class Spelling:
    """How one rendering spells each token; every choice is drawn per occurrence."""

    unicode: bool

    def funcs(self, func: str) -> list[str]:
        if func == "σ":
            return ["σ", "σ_g"] if self.unicode else ["sigmoid", "sigma", "\\sigma", "\\sigma_g"]
        return {"tanh": ["tanh", "\\tanh"], "relu": ["relu", "ReLU"], "exp": ["exp", "\\exp"],
                "softplus": ["softplus"]}[func]

    @property
    def had(self) -> list[str]:
        return ["⊙", "∘"] if self.unicode else ["*", "\\odot", "\\circ"]

    @property
    def minus(self) -> list[str]:
        return ["−"] if self.unicode else ["-"]

    @property
    def matop(self) -> list[str]:
        return ["", "", "·"] if self.unicode else ["", "", "@", "\\cdot"]

    @property
    def prev(self) -> list[str]:
        return ["{t−1}", "{t − 1}"] if self.unicode else ["{t-1}", "{t - 1}"]


WS0 = st.sampled_from(["", " ", "  ", "\t"])
WS1 = st.sampled_from([" ", "  ", "\t", " \t "])


@st.composite
def render(draw: st.DrawFn, node: Node, sp: Spelling, level: str = "sum") -> str:
    """Text that parses back to ``node``. ``level``: the grammar rule the text must fit
    (``sum``: anything, ``hterm``: an operand of ⊙ or a term, ``atom``: a juxtaposed factor)."""
    w0, w1 = lambda: draw(WS0), lambda: draw(WS1)

    def paren(text: str) -> str:
        return f"({w0()}{text}{w0()})"

    if isinstance(node, Var):
        if node.time is None:
            base, _, sub = node.name.partition("_")
            return draw(st.sampled_from([node.name, f"{base}_{{{sub}}}"]))
        if node.time == "t":
            return draw(st.sampled_from([f"{node.name}_t", f"{node.name}_{{t}}"]))
        return f"{node.name}_{draw(st.sampled_from(sp.prev))}"
    if isinstance(node, Num):
        k = len(str(node.denominator)) - 1
        digits = str(node.numerator).rjust(k + 1, "0")
        return digits if k == 0 else f"{digits[:-k]}.{digits[-k:]}"
    if isinstance(node, Call):
        assert node.arg is not None
        name = draw(st.sampled_from(sp.funcs(node.func)))
        return f"{name}{w0()}{paren(draw(render(node.arg, sp)))}"
    if isinstance(node, Concat):
        seps = [f"{w0()}{draw(st.sampled_from([';', ',']))}{w0()}" for _ in node.items[1:]]
        body = draw(render(node.items[0], sp))
        for sep, item in zip(seps, node.items[1:], strict=True):
            body += sep + draw(render(item, sp))
        return f"[{w0()}{body}{w0()}]"
    if isinstance(node, MatMul):
        assert node.left is not None and node.right is not None
        text = draw(render(node.left, sp, "atom")) + w1() + draw(st.sampled_from(sp.matop))
        right = draw(render(node.right, sp, "atom"))
        if isinstance(node.right, MatMul) and draw(st.booleans()):
            right = paren(right)  # W (U x) and W U x are the same product
        return text + w1() + right
    if isinstance(node, Hadamard):
        assert node.left is not None and node.right is not None
        if level == "atom":
            return paren(draw(render(node, sp)))
        left = draw(render(node.left, sp, "hterm"))
        right = draw(render(node.right, sp, "hterm"))
        if isinstance(node.right, Hadamard):
            right = paren(right)  # ⊙ is left-associative
        return f"{left}{w0()}{draw(st.sampled_from(sp.had))}{w0()}{right}"
    if isinstance(node, Sum):
        if level != "sum":
            return paren(draw(render(node, sp)))
        text = ""
        for i, (sign, term) in enumerate(zip(node.signs, node.terms, strict=True)):
            op = draw(st.sampled_from(sp.minus)) if sign < 0 else "+"
            if i == 0 and sign > 0:
                op = draw(st.sampled_from(["", "+"]))  # a leading + is optional
            text += f"{w0()}{op}{w0()}{draw(render(term, sp, 'hterm'))}"
        return text.strip()
    raise AssertionError(node)


def cell_text(lines: list[str], unicode: bool) -> str:
    decl = "∈ ℝ" if unicode else "in R"
    return "\n".join(["cell prop", "size d = input_size", "size h = hidden_size",
                      f"input x_t {decl}^d", f"state h_t {decl}^h", "", "equations",
                      *("  " + line for line in lines)]) + "\n"


@dataclass
class Generated:
    gen: Gen
    equations: list[tuple[str, Node]]  # target name, expected right side
    texts: dict[bool, str]  # unicode? -> the cell file


def factors(node: Node) -> object:
    """A tree with every chain of ⊙ flattened to its factors in order: ⊙ is associative,
    and the parser builds long chains balanced, so a ⊙ b ⊙ c may nest either way."""
    if isinstance(node, Hadamard):
        assert node.left is not None and node.right is not None
        out = []
        for side in (node.left, node.right):
            f = factors(side)
            out.extend(f[1] if isinstance(f, tuple) and f[:1] == ("⊙",) else [f])
        return ("⊙", tuple(out))
    if isinstance(node, MatMul):
        return ("@", factors(node.left), factors(node.right))  # type: ignore[arg-type]
    if isinstance(node, Sum):
        return ("+", node.signs, tuple(factors(t) for t in node.terms))
    if isinstance(node, Call):
        return (node.func, factors(node.arg))  # type: ignore[arg-type]
    if isinstance(node, Concat):
        return ("[]", tuple(factors(i) for i in node.items))
    return node


@st.composite
def generated_cells(draw: st.DrawFn) -> Generated:
    gen = Gen()
    targets = [*["u", "v"][: draw(st.integers(0, 2))], "h"]
    equations: list[tuple[str, Node]] = []
    for target in targets:
        rhs = draw(expr(gen, draw(st.integers(0, 3)), True))
        equations.append((target, rhs))
        if target != "h":
            gen.intermediates.append(target)
    if not any(_uses_x(rhs) for _, rhs in equations):
        target, rhs = equations[-1]
        equations[-1] = (target, Sum(NOWHERE, (rhs, MatMul(NOWHERE, gen.matrix(D), X_T)),
                                     (1, 1)))
    texts = {}
    for unicode in (True, False):
        sp = Spelling(unicode)
        lines = []
        for target, rhs in equations:
            lhs = draw(st.sampled_from([f"{target}_t", f"{target}_{{t}}"]))
            lines.append(f"{lhs}{draw(WS0)}={draw(WS0)}{draw(render(rhs, sp))}")
        texts[unicode] = cell_text(lines, unicode)
    return Generated(gen, equations, texts)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(g=generated_cells(), sizes=st.fixed_dictionaries({"d": st.integers(1, 9),
                                                          "h": st.integers(1, 9)}))
def test_generated_equations(g: Generated, sizes: dict[str, int]) -> None:
    cells = {u: parse_cell(text, "gen.cell") for u, text in g.texts.items()}
    uni, asc = cells[True], cells[False]
    # (a) both spellings parse, to the AST they were rendered from
    expected = tuple((Var(NOWHERE, t, "t"), factors(rhs)) for t, rhs in g.equations)
    for cell in (uni, asc):
        got = tuple((e.target, factors(e.rhs)) for e in cell.equations)
        assert got == expected, g.texts
    # (b) Unicode and ASCII spellings are the same equations
    assert uni.equations == asc.equations
    assert uni.decls == asc.decls
    # (c) every weight has the columns of what it multiplies; all rows and vectors are h
    der = infer(asc)
    shapes = {p.name: p.shape for p in der.parameters}
    assert set(shapes) == set(g.gen.columns) | g.gen.vectors
    for name, cols in g.gen.columns.items():
        rows, got = shapes[name]
        assert (rows - H).is_zero and (got - cols).is_zero, (name, str(rows), str(got))
    for p in der.parameters:
        if p.multiplies in ("x_t", "x_{t}"):
            assert (p.shape[1] - D).is_zero, p.name
        elif p.multiplies.startswith("h_"):
            assert (p.shape[1] - H).is_zero, p.name
    for name in g.gen.vectors:
        assert len(shapes[name]) == 1 and (shapes[name][0] - H).is_zero
    # and the generated cell computes, like the built-in ones
    with np.errstate(all="ignore"):  # nested exp() may overflow: only sizes matter here
        run(der, sizes, np.random.default_rng(sizes["d"] * 31 + sizes["h"]), steps=2,
            finite=False, cell=asc)


# ---------------------------------------------------------------- garbage in

HEADER_LINES = cell_text(["u_t = σ(W_1 x_t + b_1)"], True)
GRAMMAR_CHARS = st.lists(st.sampled_from(
    [*"σ⊙∘·−+-*@()[];,{}^_=\"\\ \t0123456789.Wbxht'ℝ∈#",
     "tanh", "sigmoid", "x_t", "h_{t-1}", "W ", "\\odot", "_t", "_{t-1}"]),
    max_size=30).map("".join)
ANY_TEXT = st.text(max_size=60)


def only_derive_errors(text: str) -> None:
    """Parse and infer ``text``: success, or a DeriveError, nothing else."""
    with contextlib.suppress(DeriveError):
        infer(parse_cell(text, "garbage.cell"))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(garbage=st.one_of(ANY_TEXT, GRAMMAR_CHARS), prefix=st.sampled_from(["", "h_t = "]))
def test_garbage_equation_line(garbage: str, prefix: str) -> None:
    only_derive_errors(HEADER_LINES + "  " + prefix + garbage + "\n")


@settings(max_examples=150, deadline=None, derandomize=True)
@given(garbage=st.one_of(ANY_TEXT, GRAMMAR_CHARS))
def test_garbage_tensor_line(garbage: str) -> None:
    text = HEADER_LINES + "  h_t = tanh(W_2 x_t + W_3 h_{t-1})\nconvention c\n  tensor T = "
    only_derive_errors(text + garbage + "\n")


def test_garbage_is_a_syntax_error() -> None:
    with pytest.raises(CellSyntaxError):
        parse_cell(HEADER_LINES + "  h_t = W_2 x_t +\n")


# Errors raised inside the Lark transformer reach the caller as CellSyntaxError, not as
# lark's VisitError (a regression: they once escaped as a traceback).
@pytest.mark.parametrize("tail", [
    "  h_t = W_2 x_t + σ\n",
    "  h_t = tanh(W_2 x_t + W_3 h_{t-1})\nconvention c\n  tensor T = [W_2; x_t]\n",
])
def test_function_without_argument(tail: str) -> None:
    with pytest.raises(CellSyntaxError):
        parse_cell(HEADER_LINES + tail)
