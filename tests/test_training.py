"""Training memory against what PyTorch holds after one real optimizer step.

Each configuration builds a real nn.LSTM / nn.GRU / nn.RNN, runs a forward on a small
random input, a backward and ``opt.step()``, then adds up the bytes of the parameters,
their gradients, the optimizer's state tensors (the per-parameter buffers and, apart, the
0-dim ``step`` counters) and, for mixed precision, the fp32 master copy the optimizer
stepped; derive's closed forms must give exactly those numbers.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from derive import printing
from derive.costing import memory
from derive.counting import configure
from derive.errors import ConfigError, DeriveError
from derive.training import DTYPES, OPTIMIZERS, PARTS, training_memory

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}
TORCH_DTYPES = {"fp64": torch.float64, "fp32": torch.float32, "bf16": torch.bfloat16,
                "fp16": torch.float16}
# (optimizer, dtype, master_weights): every optimizer in every dtype, and mixed precision.
PRECISIONS = [("fp32", None), ("bf16", None), ("bf16", "fp32"), ("fp16", None),
              ("fp16", "fp32"), ("fp64", None)]
RECIPES = [(opt, dtype, master) for opt in OPTIMIZERS for dtype, master in PRECISIONS]


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Any:
    """Tiny modules: one intra-op thread is much faster than contended ones (restored)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _configs(n: int = 36, seed: int = 1729) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cell = ("lstm", "gru", "rnn")[i % 3]
        hidden = rng.randint(1, 32)
        cfg = {"cell": cell, "input_size": rng.randint(1, 24), "hidden_size": hidden,
               "num_layers": rng.randint(1, 3), "bidirectional": rng.random() < 0.5,
               "bias": rng.random() < 0.7, "seq_len": rng.randint(1, 5),
               "batch": rng.randint(1, 4), "seed": rng.randint(0, 10**6)}
        if cell == "lstm" and hidden > 1 and rng.random() < 0.3:
            cfg["proj_size"] = rng.randint(1, hidden - 1)
        out.append(cfg)
    return out


CONFIGS = _configs()


def _id(cfg: dict[str, Any]) -> str:
    extra = f"-p{cfg['proj_size']}" if "proj_size" in cfg else ""
    return (f"{cfg['cell']}-d{cfg['input_size']}-h{cfg['hidden_size']}{extra}-"
            f"L{cfg['num_layers']}{'-bi' if cfg['bidirectional'] else ''}"
            f"{'' if cfg['bias'] else '-nobias'}")


def _sizes(cfg: dict[str, Any]) -> dict[str, Any]:
    keys = ("input_size", "hidden_size", "num_layers", "bidirectional", "bias", "proj_size")
    return {k: cfg[k] for k in keys if k in cfg}


def _derived(cfg: dict[str, Any], optimizer: str, dtype: str, master: str | None) -> Any:
    return training_memory(cfg["cell"], "pytorch", optimizer=optimizer, dtype=dtype,
                           master_weights=master, seq_len=cfg["seq_len"], batch=cfg["batch"],
                           **_sizes(cfg))


def _nbytes(tensors: Any) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def _optimizer(name: str, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=1.0, momentum=0.0)
    if name == "sgd-momentum":
        return torch.optim.SGD(params, lr=1.0, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=1.0)
    assert name == "adamw"
    return torch.optim.AdamW(params, lr=1.0, weight_decay=0.01)


def _torch_step(cfg: dict[str, Any], optimizer: str, dtype: str,
                master: str | None) -> dict[str, int]:
    """One real training step; the bytes torch holds right after ``opt.step()``."""
    torch.manual_seed(cfg["seed"])
    kwargs = {k: cfg[k] for k in ("num_layers", "bidirectional", "bias", "proj_size")
              if k in cfg}
    module = MODULES[cfg["cell"]](cfg["input_size"], cfg["hidden_size"], **kwargs)
    module = module.to(TORCH_DTYPES[dtype])
    params = list(module.parameters())
    x = torch.randn(cfg["seq_len"], cfg["batch"], cfg["input_size"],
                    dtype=TORCH_DTYPES[dtype])
    out, _ = module(x)
    out.float().square().sum().backward()
    if master is None:
        stepped = params
    else:  # the usual mixed-precision recipe: the optimizer steps an fp32 copy
        stepped = [p.detach().to(TORCH_DTYPES[master]).clone().requires_grad_(True)
                   for p in params]
    opt = _optimizer(optimizer, stepped)
    if master is not None:
        for s, p in zip(stepped, params, strict=True):
            s.grad = p.grad.to(s.dtype)  # a temporary: freed after the step
    before = [s.detach().clone() for s in stepped]
    opt.step()
    assert any(not torch.equal(b, s) for b, s in zip(before, stepped, strict=True))
    if master is not None:
        with torch.no_grad():
            for s, p in zip(stepped, params, strict=True):
                s.grad = None
                p.copy_(s)
    assert all(p.grad is not None and p.grad.dtype == p.dtype for p in params)
    buffers = steps = 0
    names = set(OPTIMIZERS[optimizer])
    for state in opt.state.values():
        for key, value in state.items():
            assert torch.is_tensor(value), (key, value)
            if key == "step":
                assert value.dim() == 0 and value.dtype == torch.float32
                steps += value.numel() * value.element_size()
            else:
                assert key in names, key
                assert value.dtype == stepped[0].dtype and value.dim() > 0
                buffers += value.numel() * value.element_size()
    return {"parameters": sum(p.numel() for p in params), "tensors": len(params),
            "weights": _nbytes(params), "gradients": _nbytes(p.grad for p in params),
            "optimizer_state": buffers, "step_counters": steps,
            "master_weights": _nbytes(stepped) if master is not None else 0}


def test_enough_configurations() -> None:
    assert len(CONFIGS) >= 30
    assert {c["cell"] for c in CONFIGS} == set(MODULES)
    assert any(c["bidirectional"] for c in CONFIGS) and any(not c["bias"] for c in CONFIGS)
    assert any(c["num_layers"] > 1 for c in CONFIGS) and any("proj_size" in c for c in CONFIGS)
    assert torch.get_default_dtype() == torch.float32  # Adam's step counters: float32


@pytest.mark.parametrize(("optimizer", "dtype", "master"), RECIPES,
                         ids=[f"{o}-{d}" + (f"-master-{m}" if m else "") for o, d, m in RECIPES])
@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_bytes_match_one_real_optimizer_step(cfg: dict[str, Any], optimizer: str, dtype: str,
                                             master: str | None) -> None:
    held = _torch_step(cfg, optimizer, dtype, master)
    m = _derived(cfg, optimizer, dtype, master)
    got = {"parameters": m.parameters, "tensors": m.tensors, **m.parts}
    del got["activations"]
    assert got == held
    assert m.total == sum(m.parts.values())
    assert m.total == m.bytes_per_parameter * m.parameters + m.step_counters + m.activations
    assert all(isinstance(v, int) for v in (*m.parts.values(), m.total, m.parameters))


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_activations_reuse_derive_memory(cfg: dict[str, Any]) -> None:
    kept = memory(cfg["cell"], "pytorch", seq_len=cfg["seq_len"], batch=cfg["batch"],
                  **_sizes(cfg))
    for dtype, size in DTYPES.items():
        m = _derived(cfg, "adam", dtype, None)
        assert m.activations == kept.kept_values * size
        if dtype in ("fp32", "bf16", "fp16"):
            with_dtype = memory(cfg["cell"], "pytorch", dtype=dtype, seq_len=cfg["seq_len"],
                                batch=cfg["batch"], **_sizes(cfg))
            assert m.activations == with_dtype.kept_bytes


@cache
def _parsed(text: str, symbols: tuple[str, ...]) -> Any:
    """The printed form read back (once per text: the forms repeat across sizes)."""
    return printing.parse(text, {s: s for s in symbols})


FORMULA_RECIPES = [("adam", "fp32", None), ("sgd-momentum", "bf16", "fp32"),
                   ("sgd", "fp16", None), ("adamw", "fp64", None)]


@pytest.mark.parametrize(("optimizer", "dtype", "master"), FORMULA_RECIPES)
@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_closed_forms_evaluate_to_the_bytes(cfg: dict[str, Any], optimizer: str, dtype: str,
                                            master: str | None) -> None:
    """Every printed closed form, read back, gives the exact bytes at these sizes."""
    m = _derived(cfg, optimizer, dtype, master)
    c = configure(cfg["cell"], "pytorch", **_sizes(cfg))
    sizes = c.data["sizes"]
    symbols = (*(s["symbol"] for s in sizes), *"LDBT")
    env = dict(c.env, L=c.layers, D=c.dirs, B=cfg["batch"], T=cfg["seq_len"])
    want = {**m.parts, "total": m.total}
    assert set(m.formulas) == {*PARTS, "total"}
    for part, text in m.formulas.items():
        assert printing.evaluate(_parsed(text, symbols), env) == want[part], (part, text)


def test_formulas_are_the_stacked_count_times_bytes() -> None:
    m = training_memory("lstm", "pytorch", optimizer="adam", input_size=512, hidden_size=256)
    stacked = "D·(4·h·(d + h + 2) + 4·(L − 1)·h·(D·h + h + 2))"
    assert m.formulas["weights"] == "4·" + stacked
    assert m.formulas["gradients"] == "4·" + stacked
    assert m.formulas["optimizer_state"] == "8·" + stacked
    assert m.formulas["step_counters"] == "16·L·D"
    assert m.formulas["master_weights"] == "0"
    assert m.formulas["activations"] == "4·B·T·D·(7·h + 7·(L − 1)·h)"
    assert m.formulas["total"] == "16·" + stacked + " + 16·L·D + 4·B·T·D·(7·h + 7·(L − 1)·h)"
    mixed = training_memory("lstm", "pytorch", optimizer="adamw", dtype="bf16",
                            master_weights="fp32", input_size=512, hidden_size=256)
    assert [mixed.formulas[k] for k in ("weights", "optimizer_state", "master_weights")] == \
        ["2·" + stacked, "8·" + stacked, "4·" + stacked]
    assert mixed.bytes_per_parameter == 2 + 2 + 8 + 4
    sgd = training_memory("gru", "pytorch", optimizer="sgd", input_size=8, hidden_size=8)
    assert sgd.optimizer_state == sgd.step_counters == 0
    assert sgd.formulas["optimizer_state"] == sgd.formulas["step_counters"] == "0"
    json.dumps(mixed.to_json(), ensure_ascii=False)


def test_assumptions_say_what_is_not_counted() -> None:
    text = " ".join(training_memory("rnn", "pytorch", input_size=3, hidden_size=4).assumptions)
    for phrase in ("exp_avg_sq", "momentum_buffer", "step", "temporary", "allocator",
                   "cuDNN", "checkpointing", "int8"):
        assert phrase in text, phrase
    mixed = training_memory("rnn", "pytorch", dtype="bf16", master_weights="fp32",
                            input_size=3, hidden_size=4)
    assert any("compute dtype" in a for a in mixed.assumptions)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dtype": "int8"}, "int8 is not a training dtype: autograd computes gradients of "
                        "floating-point tensors only"),
    ({"dtype": "fp8"}, "unknown training dtype 'fp8'; dtypes: fp64, fp32, bf16, fp16"),
    ({"optimizer": "rmsprop"}, "unknown optimizer 'rmsprop'; optimizers: sgd, sgd-momentum, "
                               "adam, adamw"),
    ({"dtype": "bf16", "master_weights": "fp16"}, "master_weights is 'fp32'"),
    ({"master_weights": "fp32"}, "master_weights='fp32' with dtype fp32: fp32 weights are "
                                 "their own master copy: a second fp32 copy would be "
                                 "pointless"),
    ({"dtype": "fp64", "master_weights": "fp32"}, "an fp32 copy of fp64 weights would lose "
                                                  "precision"),
    ({"seq_len": 0}, "seq_len must be a positive integer, got 0"),
    ({"batch": "x"}, "batch must be a whole number (1000000, 1_000_000, 1e6, 1M, 2.5B), got 'x'"),
])
def test_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        training_memory("lstm", "pytorch", input_size=4, hidden_size=3, **kwargs)
    assert message in str(err.value)
    assert isinstance(err.value, DeriveError)


def test_bad_sizes_are_counting_errors() -> None:
    with pytest.raises(ConfigError, match="hidden_size"):
        training_memory("gru", "pytorch", input_size=4)


def test_fast_path_imports_neither_sympy_nor_the_parser() -> None:
    code = ("import sys; from derive.training import training_memory; "
            "m = training_memory('lstm', 'pytorch', dtype='bf16', master_weights='fp32', "
            "input_size=4, hidden_size=3, num_layers=2, seq_len=5); m.formulas['total']; "
            "print(sorted(m for m in ('sympy', 'lark', 'numpy', 'torch') if m in sys.modules)); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('derive'))))")
    for _ in range(2):  # the first run may derive and cache; the second must stay light
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             cwd=ROOT, check=True).stdout.splitlines()
    assert out[-2] == "[]"
    allowed = {"derive", "derive.training", "derive.costing", "derive.counting", "derive.poly",
               "derive.errors", "derive.cache", "derive.catalog", "derive.printing",
               "derive.records"}
    assert set(out[-1].split()) <= allowed, out[-1]
