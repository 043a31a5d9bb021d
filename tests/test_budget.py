"""derive solve / match, and the flops and memory commands' contracts."""

from __future__ import annotations

import json
import random

import pytest

from derive import count
from derive.budget import match, solve
from derive.cli import main
from derive.costing import DTYPES, conventions, flops, memory
from derive.errors import ConfigError

CELLS = [("lstm", "pytorch"), ("gru", "pytorch"), ("rnn", "keras"), ("gru-reset-before", "keras"),
         ("lstm-peephole", "onnx"), ("cifg", "equations"), ("lstm", "onnx")]


@pytest.mark.parametrize("seed", range(60))
def test_solve_fits_and_one_more_does_not(seed: int) -> None:
    rng = random.Random(seed)
    cell, fw = rng.choice(CELLS)
    opts = dict(input_size=rng.randint(1, 5000), num_layers=rng.randint(1, 4),
                bidirectional=rng.random() < 0.5, bias=rng.random() < 0.8)
    budget = rng.randint(10_000, 10**12)
    try:
        s = solve(cell, fw, budget=budget, **opts)
    except ConfigError as e:
        assert "too small" in str(e)
        assert count(cell, fw, hidden_size=1, **opts).total > budget
        return
    assert count(cell, fw, hidden_size=s.value, **opts).total == s.total <= budget
    assert count(cell, fw, hidden_size=s.value + 1, **opts).total == s.next_total > budget
    assert s.slack == budget - s.total


def test_solve_projection_and_other_size() -> None:
    s = solve("lstmp", "pytorch", budget=10_000_000, input_size=512, proj_size=128,
              num_layers=3, bidirectional=True)
    assert count("lstmp", "pytorch", input_size=512, hidden_size=s.value, proj_size=128,
                 num_layers=3, bidirectional=True).total <= 10_000_000
    p = solve("lstmp", "pytorch", budget=5_000_000, input_size=512, hidden_size=1024,
              solve_for="proj_size")
    fits = count("lstmp", "pytorch", input_size=512, hidden_size=1024, proj_size=p.value).total
    assert fits <= 5_000_000 < count("lstmp", "pytorch", input_size=512, hidden_size=1024,
                                     proj_size=p.value + 1).total


def test_solve_beyond_float_precision() -> None:
    budget = 10**40 + 7
    s = solve("lstm", "pytorch", budget=budget, input_size=3)
    assert s.total <= budget < s.next_total
    assert s.value > 2**53


@pytest.mark.parametrize("seed", range(30))
def test_match_is_the_closest_and_same_cell_is_identity(seed: int) -> None:
    rng = random.Random(seed)
    d, h = rng.randint(1, 2000), rng.randint(1, 2000)
    opts = dict(input_size=d, num_layers=rng.randint(1, 3), bidirectional=rng.random() < 0.5)
    target, rows = match("lstm", ["gru", "rnn", "lstm"], "pytorch", hidden_size=h, **opts)
    assert target == count("lstm", "pytorch", hidden_size=h, **opts).total
    by = {m.cell: m for m in rows}
    assert by["lstm"].value == h and by["lstm"].difference == 0
    for m in rows:
        here = abs(count(m.cell, "pytorch", hidden_size=m.value, **opts).total - target)
        for other in (m.value - 1, m.value + 1):
            if other >= 1:
                there = abs(count(m.cell, "pytorch", hidden_size=other, **opts).total - target)
                assert here <= there
    # symmetric sanity: sizing the GRU back to an LSTM lands next to where it started
    _, (back,) = match("gru", ["lstm"], "pytorch", hidden_size=by["gru"].value, **opts)
    assert abs(back.value - h) <= 1
    assert by["rnn"].value > by["gru"].value > h  # fewer gates, more units at equal count


def test_flops_cli_and_json() -> None:
    assert main(["flops", "lstm", "-f", "pytorch", "--input-size", "10", "--hidden-size", "20",
                 "-c", "macs", "--seq-len", "7", "--batch", "3", "--json"]) == 0


def test_flops_scale_with_batch_steps_layers(capsys: pytest.CaptureFixture[str]) -> None:
    base = flops("gru", "pytorch", "flops", input_size=30, hidden_size=40).total
    assert flops("gru", "pytorch", "flops", input_size=30, hidden_size=40, seq_len=5,
                 batch=3).total == 15 * base
    two = flops("gru", "pytorch", "macs", input_size=30, hidden_size=40, num_layers=2,
                bidirectional=True).total
    assert two == 2 * (3 * 40 * (30 + 40)) + 2 * (3 * 40 * (80 + 40))
    main(["flops", "gru", "-f", "pytorch", "--input-size", "30", "--hidden-size", "40",
          "-c", "all", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert [r["convention"] for r in out] == list(conventions())


def test_memory_is_exact_and_scales() -> None:
    m = memory("lstm", "pytorch", input_size=512, hidden_size=256, bidirectional=True,
               seq_len=100, batch=32, dtype="bf16")
    assert m.parameters == 1_576_960
    assert m.weights == {k: 1_576_960 * v for k, v in DTYPES.items()}
    assert m.state_values == 32 * 2 * (256 + 256)  # c_t and h_t, both directions
    assert m.kept_values == 100 * 32 * 2 * 7 * 256  # i f g o c h tanh(c)
    assert m.kept_bytes == 2 * m.kept_values
    p = memory("lstmp", "pytorch", input_size=10, hidden_size=20, proj_size=5)
    assert p.state_values == 20 + 5


@pytest.mark.parametrize("argv, message", [
    (["flops", "lstm", "--input-size", "3", "--hidden-size", "4", "-c", "gflops"],
     "unknown compute convention 'gflops'; conventions: macs, flops"),
    (["memory", "lstm", "--input-size", "3", "--hidden-size", "4", "--dtype", "fp8"],
     "unknown dtype 'fp8'; dtypes: fp64, fp32, bf16, fp16, int8"),
    (["flops", "lstm", "--input-size", "3", "--hidden-size", "4", "--seq-len", "0"],
     "seq_len must be a positive integer, got 0"),
    (["solve", "lstm", "--budget", "100", "--input-size", "512"],
     "a budget of 100 parameters is too small for lstm (equations): hidden_size=1 already "
     "needs 2,056"),
    (["solve", "lstm", "--budget", "100000"],
     "cell lstm needs input_size (--input-size) to solve for hidden_size"),
    (["solve", "lstm", "--budget", "100000", "--input-size", "3", "--for", "units"],
     "cell lstm has no size units to solve for (its sizes: input_size, hidden_size)"),
    (["match", "lstm", "--to", "lstm-peephole", "-f", "pytorch", "--input-size", "3",
      "--hidden-size", "4"], "cell lstm-peephole has no convention 'pytorch'"),
])
def test_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("derive: error: ") and message in err and "Traceback" not in err


def test_the_exact_root_is_sympys_when_asked() -> None:
    from derive.budget import solve

    plain = solve("lstm", "pytorch", budget=1_000_000, input_size=512)
    exact = solve("lstm", "pytorch", budget=1_000_000, input_size=512, exact=True)
    assert plain.value == exact.value == 305
    assert plain.root == "≈ 305.182354757"
    assert exact.root == "= -257 + sqrt(316049) ≈ 305.182354757"
