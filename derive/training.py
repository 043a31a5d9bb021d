"""Exact training memory for a configuration: weights, gradients, optimizer state,
master weights and the activations kept for backprop, each as bytes and as a closed form.

Like :mod:`derive.costing`, this runs on the fast path: the standard library,
:mod:`derive.poly`, :mod:`derive.counting` and :mod:`derive.costing` only (no SymPy, no
parser). The parameter count comes from :func:`derive.counting.evaluate`, the values kept
for backprop from :func:`derive.costing.memory`; this module multiplies them by what
PyTorch's optimizers keep per parameter, in the bytes of each dtype.
"""

from __future__ import annotations

from derive.records import TYPE_CHECKING, record

if TYPE_CHECKING:
    from typing import Any

from derive.costing import BATCH, STEPS, memory, stack_text
from derive.costing import DTYPES as costing_dtypes
from derive.counting import above, configure, evaluate
from derive.errors import ConfigError
from derive.poly import Poly

# Bytes per value of each training dtype: costing's, but int8 (no gradients in int8).
DTYPES = {name: size for name, size in costing_dtypes.items() if name != "int8"}
# Buffers of one parameter's size that each optimizer keeps (torch.optim's state entries).
OPTIMIZERS = {"sgd": (), "sgd-momentum": ("momentum_buffer",),
              "adam": ("exp_avg", "exp_avg_sq"), "adamw": ("exp_avg", "exp_avg_sq")}
# Optimizers that keep a `step` counter per parameter tensor: a 0-dim float32 tensor.
COUNTED_STEPS = frozenset({"adam", "adamw"})
STEP_BYTES = 4
MASTER_DTYPES = {"fp32": 4}
PARTS = ("weights", "gradients", "optimizer_state", "step_counters", "master_weights",
         "activations")

ASSUMPTIONS = (
    "weights: P parameters × bytes of the dtype the model computes in (with master "
    "weights: the low-precision copy the forward and backward use)",
    "gradients: one value per parameter in the dtype of its parameter (PyTorch's .grad "
    "has its parameter's dtype), held from backward until zero_grad(set_to_none=True) "
    "frees them",
    "optimizer state: what torch.optim keeps per parameter, in the dtype of the "
    "parameters it steps (the fp32 master copy if there is one, else the dtype): SGD "
    "without momentum nothing; SGD with momentum one momentum_buffer (made at the first "
    "step); Adam and AdamW exp_avg and exp_avg_sq (amsgrad=True would add max_exp_avg_sq, "
    "not modelled); the hyperparameters are Python numbers, not counted",
    "step counters: Adam and AdamW also keep a `step` per parameter tensor, a 0-dim "
    "float32 tensor (float64 if torch's default dtype is float64): counted as 4 bytes × "
    "the number of parameter tensors of the convention (the tensor list of derive count)",
    "master weights (mixed precision, master_weights='fp32'): an fp32 copy of the weights "
    "(P × 4) that the optimizer steps, its state in fp32; the gradients stay in the "
    "compute dtype: the fp32 copy of a gradient the optimizer reads is a temporary, not "
    "counted (recipes that keep fp32 gradients, e.g. Apex O2 or DeepSpeed's bf16 "
    "optimizer, add P × 4); torch.autocast (fp32 parameters, low-precision compute) is "
    "dtype fp32 here, without the weight copies autocast caches",
    "master_weights with dtype fp32 or fp64 is an error: fp32 weights are their own "
    "master copy, and an fp32 copy of fp64 weights would lose precision",
    "activations: derive memory's values kept for backprop (a plain autograd evaluation "
    "of the equations, every step of the sequence, the input sequence and the initial "
    "state not counted) × bytes of the dtype; a fused kernel (cuDNN, PyTorch's CPU LSTM) "
    "keeps its own reserve space instead",
    "not counted: temporary buffers of the forward, backward and optimizer step (foreach "
    "and fused implementations' intermediates included), the allocator's rounding and "
    "cache (PyTorch's CUDA allocator rounds blocks up to 512 bytes), cuDNN's workspace, "
    "loss-scaling scalars, the framework's own context; no activation checkpointing "
    "(which would trade kept values for recomputation)",
    "total: the sum of the parts, as if all were held at once: an upper bound on the peak "
    "of a training step (backward frees activations while it makes the gradients)",
    "int8 is not a training dtype: autograd computes gradients of floating-point tensors "
    "only (int8 is for quantized inference: derive memory --dtype int8)",
)


@record
class TrainingMemory:
    """Bytes held by one training step (NamedTuple: on the fast path, like Memory)."""

    cell: str
    framework: str
    config: dict[str, Any]  # the sizes as configured, with batch and seq_len
    optimizer: str
    dtype: str
    master_weights: str | None
    parameters: int  # P
    tensors: int  # parameter tensors (one `step` counter each for Adam and AdamW)
    weights: int  # bytes
    gradients: int
    optimizer_state: int  # the per-parameter buffers, without the step counters
    step_counters: int
    master: int  # the fp32 master copy (0 without master weights)
    activations: int  # kept for backprop over the whole sequence, batch and stack
    total: int
    bytes_per_parameter: int  # weights + gradients + state + master, per parameter
    formulas: dict[str, str]  # part (PARTS, "total") -> closed form in L, D, B, T, sizes
    assumptions: tuple[str, ...]

    @property
    def parts(self) -> dict[str, int]:
        """Bytes by part, in the order of :data:`PARTS`."""
        return {"weights": self.weights, "gradients": self.gradients,
                "optimizer_state": self.optimizer_state, "step_counters": self.step_counters,
                "master_weights": self.master, "activations": self.activations}

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "framework": self.framework, "config": self.config,
                "optimizer": self.optimizer, "dtype": self.dtype,
                "master_weights": self.master_weights, "parameters": self.parameters,
                "parameter_tensors": self.tensors,
                "bytes": {**self.parts, "total": self.total},
                "bytes_per_parameter": self.bytes_per_parameter,
                "formulas": dict(self.formulas), "assumptions": list(self.assumptions)}


def _check(optimizer: str, dtype: str, master_weights: str | None) -> None:
    if optimizer not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer '{optimizer}'; optimizers: "
                          f"{', '.join(OPTIMIZERS)}")
    if dtype == "int8":
        raise ConfigError("int8 is not a training dtype: autograd computes gradients of "
                          "floating-point tensors only (int8 is for quantized inference: "
                          "derive memory --dtype int8); train in "
                          f"{', '.join(DTYPES)}")
    if dtype not in DTYPES:
        raise ConfigError(f"unknown training dtype '{dtype}'; dtypes: {', '.join(DTYPES)}")
    if master_weights is None:
        return
    if master_weights not in MASTER_DTYPES:
        raise ConfigError(f"master_weights is 'fp32' (an fp32 copy the optimizer steps) or "
                          f"None, got {master_weights!r}")
    if DTYPES[dtype] >= MASTER_DTYPES[master_weights]:
        why = ("fp32 weights are their own master copy: a second fp32 copy would be "
               "pointless" if dtype == master_weights else
               f"an {master_weights} copy of {dtype} weights would lose precision")
        raise ConfigError(f"master_weights='{master_weights}' with dtype {dtype}: {why}; "
                          "master weights go with bf16 or fp16 (or drop master_weights)")


def training_memory(cell: str, framework: str = "equations", *, optimizer: str = "adam",
                    dtype: str = "fp32", master_weights: str | None = None,
                    seq_len: int = 1, batch: int = 1, **options: Any) -> TrainingMemory:
    """Bytes of one training step of ``cell``: weights, gradients, optimizer state (and
    Adam's step counters), the fp32 master copy, the activations kept for backprop.

    ``optimizer``: sgd, sgd-momentum, adam or adamw (as torch.optim keeps them);
    ``dtype``: fp64, fp32, bf16 or fp16; ``master_weights="fp32"``: mixed precision with
    an fp32 copy the optimizer steps. Sizes and options as for :func:`derive.count`.

    >>> m = training_memory("lstm", "pytorch", input_size=10, hidden_size=20)
    >>> m.parameters, m.weights, m.gradients, m.optimizer_state, m.step_counters
    (2560, 10240, 10240, 20480, 16)
    >>> m.bytes_per_parameter, m.activations, m.total
    (16, 560, 41536)
    >>> print(m.formulas["optimizer_state"])
    8·D·(4·h·(d + h + 2) + 4·(L − 1)·h·(D·h + h + 2))
    >>> mixed = training_memory("gru", "pytorch", dtype="bf16", master_weights="fp32",
    ...                         input_size=10, hidden_size=20, seq_len=100, batch=8)
    >>> mixed.bytes_per_parameter, mixed.master == 4 * mixed.parameters
    (16, True)
    >>> print(mixed.formulas["total"])
    16·D·(3·h·(d + h + 2) + 3·(L − 1)·h·(D·h + h + 2)) + 16·L·D + 2·B·T·D·(6·h + 6·(L − 1)·h)
    """
    _check(optimizer, dtype, master_weights)
    cfg = configure(cell, framework, **options)
    count = evaluate(cfg)
    kept = memory(cell, framework, dtype="fp32", seq_len=seq_len, batch=batch, **options)
    p = count.total
    size = DTYPES[dtype]
    master = MASTER_DTYPES[master_weights] if master_weights is not None else 0
    state = len(OPTIMIZERS[optimizer]) * (master or size)
    per_param = size + size + state + master
    conv, data = cfg.conv, cfg.data
    groups = 1 if conv["direction_axis"] else cfg.dirs
    tensors = len(count.tensors)
    counters = STEP_BYTES * tensors if optimizer in COUNTED_STEPS else 0
    activations = kept.kept_values * size

    args = (data["input_symbol"], above(conv), conv["stackable"], data["sizes"])

    def text(poly: Poly, factor: int, symbols: tuple[str, ...] = ()) -> str:
        """factor·symbols·D·(X(d) + (L − 1)·X(a)); a single cell: the factor folded in."""
        if not factor or poly.is_zero:
            return "0"
        if not conv["stackable"] or factor == 1:
            return stack_text(Poly.const(factor) * poly, *args, symbols)
        return stack_text(poly, *args, symbols, scale=factor)

    kept_poly = Poly()
    for _, poly, _ in kept.kept_terms:
        kept_poly = kept_poly + poly
    per_stack, rest = divmod(tensors, cfg.layers * groups)  # tensors per layer (direction)
    assert not rest, (tensors, cfg.layers, groups)
    lead = Poly.const(per_stack)
    if conv["stackable"]:  # L·D tensors of each kind, or L with a leading directions axis
        lead = lead * Poly.symbol("L")
        if not conv["direction_axis"]:
            lead = lead * Poly.symbol("D")
    counters_text = (stack_text(Poly.const(STEP_BYTES) * lead, args[0], args[1], False,
                                args[3], ()) if counters else "0")
    formulas = {"weights": text(count.per_layer, size),
                "gradients": text(count.per_layer, size),
                "optimizer_state": text(count.per_layer, state),
                "step_counters": counters_text,
                "master_weights": text(count.per_layer, master),
                "activations": text(kept_poly, size, (BATCH, STEPS))}
    formulas["total"] = " + ".join(
        t for t in (text(count.per_layer, per_param), counters_text, formulas["activations"])
        if t != "0")

    assumptions = [a for a in ASSUMPTIONS
                   if master_weights is not None or not a.startswith("master weights")]
    return TrainingMemory(
        count.cell, framework, kept.config, optimizer, dtype, master_weights, p, tensors,
        p * size, p * size, p * state, counters, p * master, activations,
        p * per_param + counters + activations, per_param, formulas, tuple(assumptions))
