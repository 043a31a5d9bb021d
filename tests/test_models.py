"""Whole networks: model files against the papers' tables, against PyTorch modules built from
real layers, and bad model files that must fail with one located error.

The PyTorch oracle builds ``nn.Embedding`` + ``nn.LSTM``/``nn.GRU`` stack + ``nn.Linear``
head (tied or untied) at seeded sizes and compares every state_dict entry's name and
shape, and the number of distinct parameters, with what derive counts from a model file
written for the same network.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from derive import assemble, printing, reported, tabulate
from derive.cli import main
from derive.errors import ConfigError, ModelError
from derive.network import builtin_names, read_model

# ------------------------------------------------------------------ the papers' own numbers


def sak_formula(n_i: int, n_c: int, n_r: int | None, n_o: int, layers: int) -> int:
    """Sak et al. (2014), section 2, as printed: N = n_c×n_c×4 + n_i×n_c×4 + n_c×n_o + n_c×3
    (LSTM) and N = n_c×n_r×4 + n_i×n_c×4 + n_r×n_o + n_c×n_r + n_c×3 (LSTMP), with a deep
    model's layers above the first reading n_c (or n_r) instead of n_i."""
    total = 0
    for k in range(layers):
        inputs = n_i if k == 0 else (n_r or n_c)
        if n_r is None:
            total += n_c * n_c * 4 + inputs * n_c * 4 + n_c * 3
        else:
            total += n_c * n_r * 4 + inputs * n_c * 4 + n_c * n_r + n_c * 3
    return total + (n_r or n_c) * n_o


def test_every_shipped_model_reads_and_has_paper_rows() -> None:
    names = builtin_names()
    assert {"sak2014-lstm", "sak2014-lstmp", "shi2015-convlstm", "shi2015-convlstm-2",
            "shi2015-convlstm-3", "shi2015-fc-lstm", "xlstm-lstm-baseline"} <= set(names)
    for name in names:
        net = read_model(name)
        assert net.rows and net.cite and net.description, name


@pytest.mark.parametrize("name", ["sak2014-lstm", "sak2014-lstmp"])
def test_sak_tables_follow_the_papers_formula(name: str) -> None:
    model = assemble.assemble(name)
    for row in model.net.rows:
        c = row.config
        want = sak_formula(40, c["n_c"], c.get("n_r"), 14247, c["L"])
        assert assemble.count(model, c).total == want, row


def test_paper_rows_reproduce_except_the_one_the_paper_truncates() -> None:
    """Every printed number is reproduced when rounded as printed, except Sak et al.'s
    840-cell, 5-layer LSTM: 37,516,080 by the paper's own formula, printed 37M."""
    misses = []
    for name in builtin_names():
        model = assemble.assemble(name)
        for line in tabulate.evaluate(model, list(model.net.rows)):
            assert line.matches is not None
            if not line.matches:
                misses.append((name, line.total, line.row.printed))
    assert misses == [("sak2014-lstm", 37_516_080, "37M")]


def test_shi_exact_counts() -> None:
    """Table 1 of Shi et al. prints exact counts: derive matches each digit."""
    for name in ("shi2015-convlstm", "shi2015-convlstm-2", "shi2015-convlstm-3",
                 "shi2015-fc-lstm"):
        model = assemble.assemble(name)
        for row in model.net.rows:
            assert f"{assemble.count(model, row.config).total:,}" == row.printed, row


def test_a_forecaster_without_input_has_no_input_to_state_kernels() -> None:
    result = assemble.count("shi2015-convlstm", {"K": 5, "k": 5, "F": 256})
    names = [t.name for t in result.tensors]
    assert "encoder.W_xi" in names and "forecaster.W_hi" in names
    assert not any(n.startswith("forecaster.W_x") for n in names)


@pytest.mark.parametrize(("text", "total", "shown", "ok"), [
    ("13M", 13_315_280, "13M", True), ("37M", 37_516_080, "38M", False),
    ("607.8M", 607_813_632, "607.8M", True), ("607.8M", 607_669_248, "607.7M", False),
    ("≈ 19.8 × 10^3", 19_812, "≈ 19.8 × 10^3", True), ("142,667,776", 142_667_776,
                                                       "142,667,776", True),
    ("0.5M", 450_000, "0.5M", True), ("0.5M", 449_999, "0.4M", False)])
def test_rounding_as_printed(text: str, total: int, shown: str, ok: bool) -> None:
    printed = reported.read(text)
    value = reported.round_like(total, printed)
    assert reported.show(value, printed) == shown
    assert (value == printed.value) is ok


def test_json_table_has_the_issue_shape(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["table", "xlstm-lstm-baseline", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "xlstm-lstm-baseline" and data["cite"] == "beck2024xlstm"
    (row,) = data["rows"]
    assert row["config"] == {"d": 1536, "L": 24} and row["total"] == 607_813_632
    assert row["rounded"] == row["paper"] == "607.8M"


def test_rows_from_csv_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "rows.csv"
    csv.write_text("label,n_c,n_r,L,printed\nbig,2048,512,2,22M\nsmall,600,350,2,\n")
    assert main(["table", "sak2014-lstmp", "--rows", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "22,314,496" in out and "8,026,050" in out and "big" in out
    js = tmp_path / "rows.json"
    js.write_text('[{"n_c": 2048, "n_r": 512, "L": 2}]')
    assert main(["table", "sak2014-lstmp", "--rows", str(js), "--format", "markdown"]) == 0
    assert "| 2,048 | 512 | 2 | 22,314,496 |" in capsys.readouterr().out


# ------------------------------------------------------------------ PyTorch, from real layers


def torch_configs(n: int) -> list[dict[str, Any]]:
    rng = random.Random("models/pytorch")
    out = []
    for i in range(n):
        cell = rng.choice(["lstm", "lstm", "gru"])
        h = rng.randint(1, 24)
        p = rng.choice([0, 0, rng.randint(1, h - 1)]) if cell == "lstm" and h > 1 else 0
        dirs = rng.choice([1, 2])
        tie = i % 3 == 0
        o = dirs * (p or h)
        out.append({"cell": cell, "V": rng.randint(1, 60), "e": o if tie else rng.randint(1, 24),
                    "h": h, "p": p, "L": rng.randint(1, 4), "dirs": dirs, "tie": tie,
                    "bias": rng.random() < 0.8, "head_bias": rng.random() < 0.6})
    return out


def torch_model(cfg: dict[str, Any]) -> nn.Module:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(cfg["V"], cfg["e"])
            kind = nn.LSTM if cfg["cell"] == "lstm" else nn.GRU
            extra = {"proj_size": cfg["p"]} if cfg["cell"] == "lstm" else {}
            self.rnn = kind(cfg["e"], cfg["h"], num_layers=cfg["L"], bias=cfg["bias"],
                            bidirectional=cfg["dirs"] == 2, **extra)
            self.head = nn.Linear(cfg["dirs"] * (cfg["p"] or cfg["h"]), cfg["V"],
                                  bias=cfg["head_bias"])
            if cfg["tie"]:
                self.head.weight = self.embed.weight

    return Net()


def model_text(cfg: dict[str, Any], symbolic_layers: bool) -> str:
    sizes = '{ hidden_size = "h"' + (', proj_size = "p"' if cfg["p"] else "") + " }"
    return "\n".join([
        'model = "oracle"', 'title = "an oracle network"', 'framework = "pytorch"',
        "[symbols]", 'V = "vocabulary"', 'e = "embedding size"', 'h = "hidden size"',
        'p = "projection"', 'L = "layers"',
        "[[layer]]", 'name = "embed"', 'kind = "embedding"', 'vocab = "V"', 'size = "e"',
        "[[layer]]", 'name = "rnn"', f'cell = "{cfg["cell"]}"', f"sizes = {sizes}",
        "repeat = " + ('"L"' if symbolic_layers else str(cfg["L"])),
        f"bidirectional = {'true' if cfg['dirs'] == 2 else 'false'}",
        f"bias = {'true' if cfg['bias'] else 'false'}",
        "[[layer]]", 'name = "head"', 'kind = "linear"', 'out = "V"',
        f"bias = {'true' if cfg['head_bias'] else 'false'}",
        *(['tie = "embed"'] if cfg["tie"] else []), ""])


def test_pytorch_networks(tmp_path: Path) -> None:
    """120 seeded networks (a third tied): names, shapes and the count of distinct
    parameters; the closed form, printed and read back, gives the same number."""
    torch.manual_seed(0)
    for i, cfg in enumerate(torch_configs(120)):
        path = tmp_path / f"oracle{i}.model"
        path.write_text(model_text(cfg, symbolic_layers=i % 2 == 0))
        model = assemble.assemble(str(path))
        sizes = {k: cfg[k] for k in ("V", "e", "h", "L")} | ({"p": cfg["p"]} if cfg["p"] else {})
        result = assemble.count(model, sizes)
        net = torch_model(cfg)
        want = [(k, tuple(v.shape)) for k, v in net.state_dict().items()]
        assert [(t.name, t.shape) for t in result.tensors] == want, cfg
        assert result.total == sum(p.numel() for p in net.parameters()), cfg
        tree = printing.parse(result.forms["total"]["text"], {s: s for s in model.order})
        assert printing.evaluate(tree, result.config) == result.total, cfg
        by_layer = printing.parse(result.forms["layers"]["text"], {s: s for s in model.order})
        assert printing.evaluate(by_layer, result.config) == result.total, cfg


def test_closed_form_at_random_sizes_matches_pytorch(tmp_path: Path) -> None:
    """One model file, many sizes: the polynomial in V, e, h, L against nn.Module counts."""
    cfg = {"cell": "lstm", "p": 0, "dirs": 2, "tie": False, "bias": True, "head_bias": True,
           "V": 1, "e": 1, "h": 1, "L": 1}
    path = tmp_path / "bi.model"
    path.write_text(model_text(cfg, symbolic_layers=True))
    model = assemble.assemble(str(path))
    rng = random.Random("models/closed-form")
    for _ in range(30):
        cfg.update(V=rng.randint(1, 99), e=rng.randint(1, 40), h=rng.randint(1, 40),
                   L=rng.randint(1, 5))
        env = {k: cfg[k] for k in ("V", "e", "h", "L")}
        want = sum(p.numel() for p in torch_model(cfg).parameters())
        assert model.total.evaluate(env) == want, cfg


def test_xlstm_baseline_is_a_real_pytorch_model() -> None:
    """The shipped model against the network Beck et al. describe, built in PyTorch at a
    smaller width (the closed form carries the rest)."""
    cfg = {"cell": "lstm", "p": 0, "dirs": 1, "tie": False, "bias": True, "head_bias": False,
           "V": 50304, "e": 64, "h": 64, "L": 3}
    result = assemble.count("xlstm-lstm-baseline", {"d": 64, "L": 3})
    net = torch_model(cfg)
    assert result.total == sum(p.numel() for p in net.parameters())
    names = {k.replace("rnn.", "lstm.").replace("embed.", "embedding."): tuple(v.shape)
             for k, v in net.state_dict().items()}
    assert {t.name: t.shape for t in result.tensors} == names


# ------------------------------------------------------------------ bad model files

GOOD = """model = "m"
title = "a model"
input = "n"
[symbols]
n = "input"
h = "hidden"
V = "vocabulary"
"""

BAD = {
    "no input to infer": (GOOD.replace('input = "n"\n', "") +
                          '[[layer]]\ncell = "lstm"\nsizes = { hidden_size = "h" }\n',
                          "its input size cannot be inferred", 7),
    "cycle": (GOOD + '[[layer]]\nname = "a"\ncell = "lstm"\ninput = "b"\n'
              'sizes = { hidden_size = "h" }\n[[layer]]\nname = "b"\ncell = "lstm"\n'
              'input = "a"\nsizes = { hidden_size = "h" }\n', "cycle: a → b → a", 11),
    "unknown kind": (GOOD + '[[layer]]\nkind = "attention"\n', "unknown layer kind 'attention'",
                     9),
    "tied sizes disagree": (GOOD.replace('input = "n"\n', "") +
                            '[[layer]]\nname = "emb"\nkind = "embedding"\nvocab = 10\n'
                            'size = "h"\n[[layer]]\nkind = "linear"\nout = 12\n'
                            'tie = "emb"\n', "its output size must be the vocabulary: 12 ≠ 10",
                            15),
    "tied sizes disagree at this configuration": (
        GOOD.replace('input = "n"\n', "") + '[[layer]]\nname = "emb"\nkind = "embedding"\n'
        'vocab = "V"\nsize = "h"\n[[layer]]\nkind = "linear"\nout = "h + 2"\ntie = "emb"\n',
        "needs h + 2 == V, got h=4, V=5", 15),
    "tied input is not the embedding": (
        GOOD + '[[layer]]\nname = "emb"\nkind = "embedding"\nvocab = "V"\nsize = 5\n'
        '[[layer]]\nkind = "linear"\ninput = "input"\nout = "V"\ntie = "emb"\n',
        "its input size must be the embedding size: needs n == 5, got n=3", 17),
    "tied to twice its size": (
        GOOD.replace('input = "n"\n', "") + '[[layer]]\nname = "emb"\nkind = "embedding"\n'
        'vocab = "V"\nsize = "h"\n[[layer]]\ncell = "lstm"\nbidirectional = true\n'
        'sizes = { hidden_size = "h" }\n[[layer]]\nkind = "linear"\nout = "V"\n'
        'tie = "emb"\n', "its input size must be the embedding size: 2·h ≠ h at every size",
        19),
    "unknown reference": (GOOD + '[[layer]]\ncell = "lstm"\ninput = "encoder"\n'
                          'sizes = { hidden_size = "h" }\n', "reads 'encoder', which is", 10),
    "unknown symbol": (GOOD + '[[layer]]\ncell = "lstm"\nsizes = { hidden_size = "n_c" }\n',
                       "'n_c' is not a symbol of the model", 10),
    "size expression": (GOOD + '[[layer]]\ncell = "lstm"\nsizes = { hidden_size = "h +" }\n',
                        "cannot read the size 'h +'", 10),
    "unknown cell": (GOOD + '[[layer]]\ncell = "lstmx"\nsizes = { hidden_size = "h" }\n',
                     "lstmx", 10),
    "unknown convention": (GOOD + '[[layer]]\ncell = "lstm"\nframework = "mxnet"\n'
                           'sizes = { hidden_size = "h" }\n', "no convention 'mxnet'", 11),
    "keras has no separate stacks": (GOOD + '[[layer]]\ncell = "lstm"\nframework = "keras"\n'
                                     'bidirectional = "separate"\n'
                                     'sizes = { hidden_size = "h" }\n',
                                     "keras has no bidirectional merge 'separate'", 11),
    "not TOML": (GOOD + "[[layer]\n", "not a TOML document", 8),
    "a size of another cell": (GOOD + '[[layer]]\ncell = "gru"\n'
                               'sizes = { hidden_size = "h", proj_size = "h" }\n',
                               "has no size proj_size", 10),
    "symbolic proj that may be 0": (GOOD + '[[layer]]\ncell = "lstm"\nframework = "pytorch"\n'
                                    'sizes = { hidden_size = "h", proj_size = "h - n" }\n',
                                    "may be 0", 11),
    "sum of unequal sizes": (GOOD + '[[layer]]\nname = "a"\nkind = "linear"\nout = "h"\n'
                             '[[layer]]\nname = "b"\nkind = "linear"\ninput = "input"\n'
                             'out = "h + 1"\n[[layer]]\nkind = "linear"\n'
                             'input = { sum = ["a", "b"] }\nout = 2\n',
                             "they must have the same size: h + 1 ≠ h", 19),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_model_files(case: str, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    text, message, line = BAD[case]
    path = tmp_path / "bad.model"
    path.write_text(text)
    code = main(["count", str(path), "--size", "n=3", "--size", "h=4", "--size", "V=5"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"derive: error: {path}:{line}:"), err
    assert message in err, err


def test_requirements_are_checked_at_every_configuration(tmp_path: Path) -> None:
    """A tie the polynomials cannot decide (2·p = e) is checked, never assumed."""
    path = tmp_path / "tied.model"
    cfg = {"cell": "lstm", "p": 3, "dirs": 2, "tie": True, "bias": True, "head_bias": True}
    path.write_text(model_text(cfg, symbolic_layers=True))
    model = assemble.assemble(str(path))
    assert [r.text.split(" (")[0] for r in model.requires] == ["p < h", "2·p == e"]
    assemble.count(model, {"V": 9, "e": 6, "h": 5, "p": 3, "L": 2})
    with pytest.raises(ConfigError, match="needs 2·p == e, got e=7, p=3"):
        assemble.count(model, {"V": 9, "e": 7, "h": 5, "p": 3, "L": 2})
    with pytest.raises(ConfigError, match="needs p < h"):
        assemble.count(model, {"V": 9, "e": 10, "h": 5, "p": 5, "L": 2})


def test_a_model_says_which_symbols_it_needs() -> None:
    with pytest.raises(ConfigError, match=r"needs n_c \(memory cells per layer\), n_r"):
        assemble.count("sak2014-lstmp", {"L": 2})
    with pytest.raises(ConfigError, match="has no symbol n_x"):
        assemble.count("sak2014-lstmp", {"n_x": 2})


def test_cell_options_are_refused_for_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "sak2014-lstm", "--num-layers", "2", "--size", "n_c=4",
                 "--size", "L=1"]) == 2
    assert "--num-layers is an option of a cell" in capsys.readouterr().err


def test_model_error_is_a_derive_error() -> None:
    from derive.errors import DeriveError

    assert issubclass(ModelError, DeriveError)


def test_the_readme_model_counts(tmp_path: Path) -> None:
    """The model file the README shows is a working model (its tie is a requirement)."""
    import re

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", readme, re.S)
    path = tmp_path / "readme.model"
    path.write_text(block)
    model = assemble.assemble(str(path))
    assert [r.text.split(" (")[0] for r in model.requires] == ["2·h == d"]
    result = assemble.count(model, {"d": 8, "h": 4, "L": 2})
    embed = 32000 * 8
    lstm = 2 * (4 * 4 * (8 + 4 + 2) + 4 * 4 * (2 * 4 + 4 + 2))  # PyTorch: 4h(d + h + 2)
    assert result.total == embed + lstm + 32000  # the head adds only its bias
