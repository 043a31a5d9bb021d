"""A seeded fuzzer over the shipped model files: a mutated model only ever counts or raises
DeriveError (a located message), never another exception.

Lines are deleted, duplicated and swapped; values are replaced by other values of the
format (sizes, names, kinds, merge modes, tables) or by junk; characters are deleted and
inserted. Each mutant is read, assembled and counted at its paper's rows (or at sizes 3).
"""

from __future__ import annotations

import random
import traceback
from pathlib import Path

from derive import assemble
from derive.errors import DeriveError
from derive.network import MODELS, TOP_KEYS, builtin_names

TEXTS = {n: (Path(MODELS) / f"{n}.model").read_text(encoding="utf-8") for n in builtin_names()}
VALUES = ['"n_c"', '"L"', '"2*n_c + 1"', '"n_c - n_c"', '"(n_c"', '"x"', "0", "-1", "1",
          "true", "false", '"none"', '["lstm1", "x"]', '{ sum = ["a"] }', '"concat"', '"sum"',
          '"separate"', '"lstm"', '"gru"', '"convlstm"', '"embedding"', '"conv"', '"1x1"',
          '"3x3x3x3"', '"nope.cell"', '"pytorch"', '"keras"', '"tf1"', "[]", "{}",
          '{ hidden_size = "n" }', '"10^999"', '"n_c^50"', '"\\u0000"', '"ℝ"', "1e3", '"2n_c"']
LINES = ["[[layer]]", 'kind = "linear"', 'kind = "softmax"', 'input = "none"', 'tie = "embed"',
         "[paper]", "[[paper.row]]", "[symbols]", 'bidirectional = "mul"', "repeat = 3",
         'stack = [{ cell = "lstm" }]', "bias = false", 'framework = "tf1"', "x = 1",
         "inputs = [1]", "[inputs]", 'a = "n_c"', "row = 3", "paper = 1", "layer = 2",
         "symbols = []", 'note = 3', 'options = { reset_after = false }', "options = 3",
         'sizes = 3', 'sizes = { hidden_size = [1, 2] }', 'kernel = [0]', 'kernel = []',
         'out = "n_c*0"', 'vocab = 0', 'size = "L"', 'repeat = "n_c - L"', "title = 3",
         'bibtex = "\\input{x}"', 'cite = 1', 'printed = "12Q"', 'config = { L = "2" }',
         'config = { L = 0 }', 'model = "a b"', 'input = ["none"]', 'input = { sum = [] }',
         'cell = "derive/cells/lstm.cell"', 'cell = "/etc/passwd"', 'cell = ".."']


def mutate(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        i = rng.randrange(len(lines))
        if op == 0 and len(lines) > 1:
            del lines[i]
        elif op == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == 3 and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            lines[i] = f"{key}= {rng.choice(VALUES)}"
        elif op == 4:
            lines.insert(i, rng.choice(LINES))
        elif lines[i]:
            k = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:k] + rng.choice(["", "\"", "[", "]", "{", "=", "_", "·"]) \
                + lines[i][k + 1:]
    return "\n".join(lines)


JUNK = ["[1]", '["a"]', "{}", "{ a = 1 }", "{ a = [1] }", "3", "-1", "true", "1.5", '""',
        "[[1]]", "[{ a = 1 }]", "1979-05-27"]


def _outcome(path: Path) -> str:
    """'counted' or 'refused' (a DeriveError); any other exception propagates."""
    try:
        model = assemble.assemble(str(path))
        rows = [r.config for r in model.net.rows] or [{}]
        for config in rows[:2]:
            sizes = {s: v for s, v in config.items() if s in model.order}
            sizes |= {s.name: 3 for s in model.net.symbols
                      if s.value is None and s.name not in sizes}
            assemble.count(model, sizes)
    except DeriveError as exc:
        assert str(exc).strip()
        return "refused"
    return "counted"


def test_every_top_level_key_of_any_type_is_counted_or_refused(tmp_path: Path) -> None:
    """Each key of the format's top level, set to a value of each TOML type."""
    text = TEXTS["sak2014-lstm"]
    path = tmp_path / "m.model"
    failures = []
    for key in sorted(TOP_KEYS):
        drop = {key, "input"} if key == "inputs" else {key}  # one or the other, not both
        rest = "\n".join(line for line in text.split("\n")
                         if line.split("=", 1)[0].strip() not in drop)
        for junk in JUNK:
            path.write_text(f"{key} = {junk}\n{rest}", encoding="utf-8")
            try:
                _outcome(path)
            except Exception:
                failures.append((key, junk, traceback.format_exc(limit=-3)))
    assert not failures, failures[:3]


def test_mutated_model_files_raise_only_derive_errors(tmp_path: Path) -> None:
    """2,000 seeded mutants of the shipped model files."""
    rng = random.Random("models/fuzz")
    failures = []
    outcomes = {"counted": 0, "refused": 0}
    for i in range(2000):
        name = rng.choice(sorted(TEXTS))
        text = mutate(TEXTS[name], rng)
        path = tmp_path / f"m{i % 50}.model"
        path.write_text(text, encoding="utf-8")
        try:
            model = assemble.assemble(str(path))
            rows = [r.config for r in model.net.rows] or [{}]
            for config in rows[:2]:
                sizes = {s: v for s, v in config.items() if s in model.order}
                sizes |= {s.name: 3 for s in model.net.symbols
                          if s.value is None and s.name not in sizes}
                assemble.count(model, sizes)
            outcomes["counted"] += 1
        except DeriveError as exc:
            assert str(exc).strip(), text
            outcomes["refused"] += 1
        except Exception:
            failures.append((name, text, traceback.format_exc(limit=-3)))
    assert not failures, failures[:3]
    assert outcomes["counted"] > 100 and outcomes["refused"] > 100, outcomes
