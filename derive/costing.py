"""Exact compute and memory for a configuration, from a cell's compiled form.

Like :mod:`derive.counting`, this runs on the fast path: standard library and
:mod:`derive.poly` only. The operations of one step were derived from the equations when
the cell was compiled (:mod:`derive.costs`); a compute convention (``compute.toml``) says
how much each kind of operation weighs, and the stack, batch and sequence length scale it.
"""

from __future__ import annotations

import os
from functools import lru_cache

from derive.records import TYPE_CHECKING, record

if TYPE_CHECKING:
    from typing import Any

from derive.counting import Config, above, configure, evaluate, positive_int
from derive.errors import ConfigError
from derive.poly import Poly

KINDS = ("mac", "dot", "bias", "add", "mul", "act")
KIND_TEXT = {  # what one operation of each kind is
    "mac": "multiply-accumulates of the matrix-vector products (rows × columns each)",
    "dot": "one per row of each product: the dot products (a convention may weigh it −1: "
           "c − 1 additions per row instead of c)",
    "bias": "additions of a bias vector",
    "add": "other elementwise additions (the terms of a sum, 1 − z_t)",
    "mul": "elementwise products (⊙)",
    "act": "function evaluations (σ, tanh, relu, ...)",
}
DTYPES = {"fp64": 8, "fp32": 4, "bf16": 2, "fp16": 2, "int8": 1}
BATCH, STEPS = "B", "T"


@lru_cache(maxsize=1)
def conventions() -> dict[str, dict[str, Any]]:
    """The compute conventions of ``compute.toml``, by name, in file order (parsed once and
    cached like a compiled cell: derive flops need not import tomllib)."""
    from derive import cache

    with open(os.path.join(os.path.dirname(__file__), "compute.toml"), "rb") as f:
        raw = f.read()
    key = cache.sha256(b"compute.toml\0" + raw).hexdigest()
    where = os.path.join(cache.cache_dir(), f"{key}.cache")
    data = cache.read_entry(where, key)
    if data is None:
        import tomllib

        data = tomllib.loads(raw.decode("utf-8"))
        cache.write_entry(where, key, data)
    return data


def compute_convention(name: str) -> dict[str, Any]:
    conv = conventions().get(name)
    if conv is not None and "same_as" in conv:
        base = conventions()[conv["same_as"]]
        conv = {**base, **conv, "bug": [*base.get("bug", []), *conv.get("bug", [])]}
    if conv is None:
        raise ConfigError(f"unknown compute convention '{name}'; conventions: "
                          f"{', '.join(conventions())}")
    return conv


def _weight(conv: dict[str, Any], op: dict[str, Any]) -> int:
    terms = conv.get("terms", {})
    if op["term"] in terms:  # a peer's own weight for one term, stated in compute.toml
        return int(terms[op["term"]])
    w = conv.get(op["kind"], 0)
    if isinstance(w, dict):
        w = w.get(op["operand"], w.get("*", 0))
    return int(w)


def step_poly(conv_ops: list[dict[str, Any]], compute: dict[str, Any], bias: bool,
              kinds: tuple[str, ...] = KINDS) -> Poly:
    """One step, one layer, one direction, one batch element, weighed by ``compute``."""
    total = Poly()
    for op in conv_ops:
        if op["kind"] not in kinds or (op["kind"] == "bias" and not bias):
            continue
        w = _weight(compute, op)
        if w:
            total = total + Poly.const(w) * Poly.from_data(op["count"])
    return total


def bug_poly(conv_ops: list[dict[str, Any]], compute: dict[str, Any], bias: bool) -> Poly:
    """What a peer's documented bugs add to one step (zero for derive's own conventions)."""
    total = Poly()
    for bug in compute.get("bug", []):
        total = total + step_poly(conv_ops, bug, bias)
    return total


@record
class Flops:
    cell: str
    framework: str
    convention: str
    convention_title: str
    summary: str
    config: dict[str, Any]
    total: int  # the whole sequence, batch and stack
    per_step: int  # one time step of the whole stack and batch
    by_kind: dict[str, int]  # weighed, whole sequence
    step: Poly  # one step, layer 1, one direction, one batch element
    printed: int  # what the tool prints: the total with its bugs (= total for derive's own)
    bugs: list[tuple[str, int]]  # each documented bug and what it adds to the total
    input_symbol: str
    above: Poly  # what a layer above the first reads, in the symbol D
    stackable: bool
    sizes: list[dict[str, str]]
    raw_by_kind: dict[str, int] = {}  # noqa: RUF012 - each kind counted once, unweighed

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "framework": self.framework,
                "convention": self.convention, "config": self.config, "total": self.total,
                "per_step": self.per_step, "by_kind": self.by_kind,
                "operations_by_kind": self.raw_by_kind,
                "formula": formula_text(self), "tool_prints": self.printed,
                "bugs": [{"bug": text, "adds": delta} for text, delta in self.bugs]}


def _scale(batch: Any, seq_len: Any) -> tuple[int, int]:
    return positive_int("batch", batch), positive_int("seq_len", seq_len)


def flops(cell: str, framework: str = "equations", convention: str = "flops", *,
          seq_len: int = 1, batch: int = 1, batch_first: bool = False,
          **options: Any) -> Flops:
    """Operations of ``cell`` over a sequence, under a named compute convention.

    ``batch_first`` is PyTorch's input layout, (B, T, features) instead of (T, B,
    features): derive's numbers do not depend on it, but what ptflops prints does.

    >>> flops("lstm", "pytorch", "macs", input_size=10, hidden_size=20).total
    2400
    """
    compute = compute_convention(convention)
    cfg = configure(cell, framework, **options)
    b, t = _scale(batch, seq_len)
    ops = cfg.conv["ops"]
    by_kind = {k: b * t * cfg.stacked(step_poly(ops, compute, cfg.bias, (k,))) for k in KINDS}
    unit = dict.fromkeys(KINDS, 1)  # every operation once: what the weights multiply
    raw_by_kind = {k: b * t * cfg.stacked(step_poly(ops, unit, cfg.bias, (k,))) for k in KINDS}
    step = step_poly(ops, compute, cfg.bias)
    per_step = b * cfg.stacked(step)
    if not isinstance(batch_first, bool):
        raise ConfigError("batch_first is true or false")
    config = dict(cfg.config, batch=b, seq_len=t, batch_first=batch_first)
    bugs = [(bug["text"], b * t * cfg.stacked(step_poly(ops, bug, cfg.bias)))
            for bug in compute.get("bug", []) if "divide" not in bug]
    printed = per_step * t + sum(delta for _, delta in bugs)
    for bug in compute.get("bug", []):
        if bug.get("divide") == "dim0":  # ptflops: "per sample" is per input[0].shape[0]
            whole, dim0 = printed, (b if batch_first else t)
            printed = whole // dim0
            bugs.append((bug["text"], printed - whole))
    return Flops(cfg.data["cell"], framework, convention, compute.get("title", convention),
                 compute.get("summary", ""), config, per_step * t, per_step, by_kind, step,
                 printed, bugs,
                 cfg.data["input_symbol"], above(cfg.conv), cfg.conv["stackable"],
                 cfg.data["sizes"], raw_by_kind)


def _names(f: Flops) -> dict[str, str]:
    return {s["symbol"]: s["symbol"] for s in f.sizes} | {k: k for k in ("L", "D", BATCH, STEPS)}


def step_text(f: Flops) -> str:
    """One step, layer 1, one direction, one batch element, factored."""
    from derive import printing

    return printing.to_text(printing.poly_tree(f.step, [s["symbol"] for s in f.sizes]),
                            _names(f))


def stack_text(per_layer: Poly, input_symbol: str, upper: Poly, stackable: bool,
               sizes: list[dict[str, str]], factors: tuple[str, ...], scale: int = 1) -> str:
    """scale·factors·D·(P(d) + (L − 1)·P(a)) printed with derive's printer (no SymPy)."""
    from derive import printing

    order = [s["symbol"] for s in sizes]
    tree = printing.closed_form_tree(per_layer, input_symbol, upper, order, stackable)
    lead = [("num", scale)] if scale != 1 else []
    if factors or lead:
        tree = ("mul", [*lead, *(("sym", f) for f in factors), tree])
    names = {s["symbol"]: s["symbol"] for s in sizes} | {k: k for k in ("L", "D", *factors)}
    return printing.to_text(tree, names)


def formula_text(f: Flops) -> str:
    """B·T·D·(C(d) + (L − 1)·C(D·o))."""
    return stack_text(f.step, f.input_symbol, f.above, f.stackable, f.sizes,
                      (BATCH, STEPS))


@record
class Memory:
    cell: str
    framework: str
    config: dict[str, Any]
    dtype: str
    parameters: int
    weights: dict[str, int]  # bytes per dtype
    state_values: int  # carried between steps, whole stack and batch
    kept_per_step: int  # values kept for backprop per time step, whole stack and batch
    state_terms: list[tuple[str, Poly]]
    kept_terms: list[tuple[str, Poly, str]]
    state_formula: str  # values, B·D·(S + (L − 1)·S)
    kept_formula: str  # values over the sequence, B·T·D·(K(d) + (L − 1)·K(D·o))

    @property
    def size(self) -> int:
        return DTYPES[self.dtype]

    @property
    def state_bytes(self) -> int:
        return self.state_values * self.size

    @property
    def kept_values(self) -> int:
        return self.kept_per_step * int(self.config["seq_len"])

    @property
    def kept_bytes(self) -> int:
        return self.kept_values * self.size

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "framework": self.framework, "config": self.config,
                "dtype": self.dtype, "parameters": self.parameters,
                "weights_bytes": self.weights, "state_values": self.state_values,
                "state_bytes": self.state_bytes, "state_formula": self.state_formula,
                "activations_per_step": self.kept_per_step,
                "activations_formula": self.kept_formula,
                "activations_values": self.kept_values, "activations_bytes": self.kept_bytes,
                "assumptions": list(ASSUMPTIONS)}


ASSUMPTIONS = (
    "weights: parameters × bytes per value of the dtype (int8: the quantization scales "
    "are not counted)",
    "state: the states the equations read at t−1, per layer, direction and batch element",
    "activations: a plain autograd evaluation of the equations keeps, per step, every "
    "equation's result, and every function value and product operand inside an equation "
    "that is not a variable; σ, tanh and relu differentiate from their outputs, so no "
    "pre-activation is kept; the input sequence is not counted",
)


def memory(cell: str, framework: str = "equations", *, dtype: str = "fp32", seq_len: int = 1,
           batch: int = 1, **options: Any) -> Memory:
    """Bytes of the weights, the carried state and the activations kept for backprop."""
    if dtype not in DTYPES:
        raise ConfigError(f"unknown dtype '{dtype}'; dtypes: {', '.join(DTYPES)}")
    b, t = _scale(batch, seq_len)
    cfg: Config = configure(cell, framework, **options)
    params = evaluate(cfg).total
    state_poly = Poly()
    for s in cfg.conv["states"]:
        state_poly = state_poly + Poly.from_data(s["size"])
    kept_poly = Poly()
    for k in cfg.conv["kept"]:
        kept_poly = kept_poly + Poly.from_data(k["size"])
    config = dict(cfg.config, batch=b, seq_len=t)
    data = cfg.data
    args = (data["input_symbol"], above(cfg.conv), cfg.conv["stackable"], data["sizes"])
    return Memory(cfg.data["cell"], framework, config, dtype, params,
                  {name: params * size for name, size in DTYPES.items()},
                  b * cfg.stacked(state_poly), b * cfg.stacked(kept_poly),
                  [(s["name"], Poly.from_data(s["size"])) for s in cfg.conv["states"]],
                  [(k["what"], Poly.from_data(k["size"]), k["reason"])
                   for k in cfg.conv["kept"]],
                  stack_text(state_poly, *args, (BATCH,)),
                  stack_text(kept_poly, *args, (BATCH, STEPS)))
