"""The ``derive`` command as a user runs it: output, JSON, exit status, import hygiene."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from derive.cli import main
from derive.printing import evaluate

ROOT = Path(__file__).resolve().parent.parent
SEED = ["--input-size", "512", "--hidden-size", "256", "--bidirectional"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "derive.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ}, check=False)


def tuple_tree(node: dict) -> tuple:
    ((kind, value),) = node.items()
    if kind in ("num", "sym"):
        return (kind, value)
    if kind == "pow":
        return ("pow", tuple_tree(value[0]), value[1])
    if kind == "div":
        return ("div", tuple_tree(value[0]), tuple_tree(value[1]))
    return (kind, [tuple_tree(v) for v in value])


def test_count_json_is_one_object_with_the_documented_keys(capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    assert main(["count", "lstm", "--framework", "keras", *SEED, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert list(data) == ["cell", "framework", "config", "total", "tensors", "formula",
                          "formulas", "symbols", "requires"]
    assert data["total"] == 1_574_912
    # the formula as text, as ASCII, as LaTeX and as a tree a script reads without parsing
    total = data["formulas"]["total"]
    assert set(total) == {"text", "ascii", "latex", "tree", "value"}
    assert total["text"] == data["formula"] == "D·(4·h·(d + h + 1) + 4·(L − 1)·h·(D·h + h + 1))"

    assert total["ascii"] == "D*(4*h*(d + h + 1) + 4*(L - 1)*h*(D*h + h + 1))"
    assert total["value"] == data["total"]
    assert evaluate(tuple_tree(total["tree"]), {"d": 512, "h": 256, "L": 1, "D": 2}) == \
        data["total"]
    assert data["formulas"]["layer"]["value"] == 4 * 256 * (512 + 256 + 1)
    assert data["symbols"]["h"] == {"keyword": "hidden_size", "value": 256}
    assert data["config"] == {"input_size": 512, "hidden_size": 256, "num_layers": 1,
                              "bidirectional": True, "bias": True}
    assert [t["name"] for t in data["tensors"]][:3] == [
        "bidirectional/forward_lstm/lstm_cell/kernel",
        "bidirectional/forward_lstm/lstm_cell/recurrent_kernel",
        "bidirectional/forward_lstm/lstm_cell/bias"]
    assert data["tensors"][0]["shape"] == [512, 1024]


def test_counts_are_exact_past_64_bits(capsys: pytest.CaptureFixture[str]) -> None:
    h = 2**40
    assert main(["count", "lstm", "--input-size", str(h), "--hidden-size", str(h), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 4 * h * (h + h + 1)


def test_no_bias_and_no_reset_after(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "gru", "-f", "keras", "--input-size", "5", "--hidden-size", "3",
                 "--no-reset-after", "--no-bias", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cell"] == "gru-reset-before"
    assert [t["name"] for t in data["tensors"]] == ["gru/gru_cell/kernel",
                                                     "gru/gru_cell/recurrent_kernel"]
    assert data["total"] == 72


def test_user_cell_file(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(ROOT / "tests" / "cells" / "concat.cell")
    assert main(["count", path, "--input-size", "3", "--hidden-size", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tensors"][0] == {"name": "W_f", "shape": [5, 8], "count": 40, "layer": 0,
                                  "direction": "forward"}


def test_cells_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["cells", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = [r["name"] for r in rows]
    assert names == sorted(p.stem for p in (ROOT / "derive" / "cells").glob("*.cell"))
    by_name = {r["name"]: r for r in rows}
    assert by_name["lstm"]["conventions"][:5] == ["equations", "pytorch", "pytorch-cell",
                                                  "keras", "onnx"]


def test_formula_text_and_latex(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["formula", "lstmp", "-f", "pytorch"]) == 0
    out = capsys.readouterr().out
    assert "one layer, one direction: h·(4·d + 5·p + 8)" in out
    assert main(["formula", "lstmp", "-f", "pytorch", "--ascii"]) == 0
    assert "one layer, one direction: h*(4*d + 5*p + 8)" in capsys.readouterr().out
    assert main(["formula", "gru", "--format", "latex", "--framework", "keras"]) == 0
    assert capsys.readouterr().out.strip() == (
        r"D \left(3 h \left(d + h + 2\right) + 3 \left(L - 1\right) h \left(D h + h + 2\right)"
        r"\right)")


def test_shapes_prints_the_derivation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["shapes", "lstm"]) == 0
    out = capsys.readouterr().out
    assert "  W_hi ∈ ℝ^{h×h}  (weight, multiplies h_{t-1}; first used in (1))" in out
    assert "      the columns of W_hi = the size of h_{t-1}: W_hi multiplies h_{t-1} in (1)" in out


@pytest.mark.parametrize("args", [
    ["count", "lstm", "--input-size", "3", "--hidden-size", "0"],
    ["count", "nope", "--input-size", "3", "--hidden-size", "3"],
    ["count", "tests/cells/syntax.cell", "--input-size", "3", "--hidden-size", "3"],
    ["count", "tests/cells/mismatch.cell", "--input-size", "3", "--hidden-size", "4"],
    ["count", "lstm", "--input-size", "3"],
    ["count", "--bogus"],
    ["formula", "lstm", "--framework", "tf"],
    ["shapes", "tests/cells/undetermined.cell"],
])
def test_bad_input_is_one_message_and_status_2(args: list[str]) -> None:
    proc = run(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    # a usage error names its subcommand once; every other error is derive's
    assert proc.stderr.startswith(("derive: error: ", f"derive {args[0]}: error: "))
    assert "derive: error: derive" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_usage_errors_name_the_subcommand_once() -> None:
    proc = run("formula", "lstm", "--bidirectional")
    assert proc.returncode == 2 and proc.stderr == (
        "derive formula: error: unrecognized arguments: --bidirectional (see 'derive formula "
        "--help')\n")
    assert run("--version").stdout.startswith("derive ")


def test_every_subcommand_explains_itself() -> None:
    """A description, at least one example and help on every option, in every --help."""
    from derive.cli import SUBCOMMANDS, _subparser

    for name in SUBCOMMANDS:
        parser = _subparser(name)
        text = parser.format_help()
        assert parser.description and "examples:\n  derive " + name in text, name
        for action in parser._actions:
            assert action.help, (name, action.dest)


def test_count_path_imports_neither_sympy_nor_the_parser() -> None:
    """Warm cache: count, flops, memory (training too), solve and match must not pay for
    SymPy or Lark."""
    code = ("import sys; from derive.cli import main; "
            "main(['count', 'lstm', '-f', 'pytorch', '--input-size', '4', '--hidden-size', '3']); "
            "main(['flops', 'lstm', '-f', 'pytorch', '--input-size', '4', '--hidden-size', '3', "
            "'-c', 'all']); "
            "main(['memory', 'gru', '--input-size', '4', '--hidden-size', '3', '--optimizer', "
            "'adam']); "
            "main(['solve', 'lstm', '-f', 'pytorch', '--budget', '1M', '--input-size', '512']); "
            "main(['match', 'lstm', '--to', 'gru,rnn', '--input-size', '8', '--hidden-size', '9']);"
            "main(['count', 'sak2014-lstmp', '--size', 'n_c=8', '--size', 'n_r=4', '--size', "
            "'L=2']); main(['table', 'shi2015-convlstm-2']);"
            " print(sorted(m for m in ('sympy', 'lark', 'numpy') if m in sys.modules))")
    run_ = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    # The first call may derive (and cache); a fresh process must then stay light.
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=ROOT, check=True)
    assert run_.returncode == 0
    assert fresh.stdout.strip().splitlines()[-1] == "[]"


def test_cache_is_invalidated_by_the_cell_text(tmp_path: Path) -> None:
    src = (ROOT / "tests" / "cells" / "concat.cell").read_text()
    cell = tmp_path / "mine.cell"
    cell.write_text(src)
    import derive

    assert derive.count(str(cell), input_size=3, hidden_size=5).total == 180
    cell.write_text(src.replace("  o_t = σ(W_o [h_{t-1}, x_t] + b_o)\n",
                                "  o_t = σ(W_o [h_{t-1}, x_t])\n"))
    assert derive.count(str(cell), input_size=3, hidden_size=5).total == 175


def test_cache_key_covers_every_module_the_engine_runs() -> None:
    """A change to any module compile_cell imports must invalidate the cached forms."""
    from derive.cache import ENGINE

    code = ("import sys, derive.compile, derive.parse; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('derive.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         check=True).stdout.split()
    modules = {m.split(".", 1)[1] + ".py" for m in out} - {"cache.py", "catalog.py"}
    assert modules <= set(ENGINE), sorted(modules - set(ENGINE))


def test_proj_size_zero_from_the_command_line_means_no_projection(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "lstmp-peephole", "-f", "tf1", "--input-size", "3", "--hidden-size",
                 "5", "--proj-size", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cell"] == "lstm-peephole"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_is_generated_from_the_parser(shell: str) -> None:
    assert run("completion", shell).stdout.strip()
    line = "derive count lstm --hid"
    env = {**os.environ, "_ARGCOMPLETE": "1", "_ARGCOMPLETE_IFS": " ", "COMP_LINE": line,
           "COMP_POINT": str(len(line)), "_ARGCOMPLETE_SHELL": shell}
    proc = subprocess.run(f"{sys.executable} -m derive.cli 8>&1 9>/dev/null", shell=True,
                          capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    assert "--hidden-size" in proc.stdout


def test_a_poisoned_or_truncated_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    from hashlib import sha256

    from derive import cache, catalog

    env = {**os.environ, "DERIVE_CACHE_DIR": str(tmp_path)}
    args = [sys.executable, "-m", "derive.cli", "count", "gru", *SEED, "--json"]
    good = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
    (entry,) = tmp_path.glob("*.cache")
    blob = entry.read_bytes()
    magic, key, digest, payload = cache.MAGIC, blob[15:79], blob[79:143], blob[143:]
    assert blob.startswith(magic) and len(magic) == 15
    poisoned = payload.replace(b"weight", b"wEight", 1)
    for bad in (blob[: len(blob) // 2], magic + key + digest + poisoned,
                magic + b"0" * 64 + digest + payload, magic + key + b"0" * 64 + payload,
                b"", b"\xff\xfe garbage", magic + key + sha256(b"x").hexdigest().encode() + b"x"):
        entry.write_bytes(bad)
        out = subprocess.run(args, capture_output=True, text=True, env=env, check=True).stdout
        assert out == good
        assert entry.read_bytes() == blob  # rebuilt, byte for byte
    assert cache.compiled(catalog.resolve("gru"))["cell"] == "gru"


def test_twenty_concurrent_counts_on_an_empty_cache(tmp_path: Path) -> None:
    env = {**os.environ, "DERIVE_CACHE_DIR": str(tmp_path / "cache")}
    args = [sys.executable, "-m", "derive.cli", "count", "lstm", "-f", "pytorch", *SEED]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env) for _ in range(20)]
    outs = [p.communicate() for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs if e]
    assert len({o for o, _ in outs}) == 1 and "1,576,960" in outs[0][0]
    assert not list((tmp_path / "cache").glob("*.tmp"))  # no half-written entry is left


def test_ascii_for_scripts_in_every_formula_command(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["flops", "lstm", "--input-size", "3", "--hidden-size", "4"],
                 ["memory", "lstm", "--input-size", "3", "--hidden-size", "4"],
                 ["solve", "lstm", "--budget", "1M", "--input-size", "512"],
                 ["count", "lstm", "--input-size", "3", "--hidden-size", "4"],
                 ["shapes", "lstm", "W_hi"], ["formula", "lstm"]):
        assert main([*argv, "--ascii"]) == 0
        out = capsys.readouterr().out
        assert not set(out) & set("·−²³"), (argv, out)


def test_the_flops_breakdown_says_what_each_column_holds(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["flops", "lstmp", "-f", "pytorch", "--input-size", "10", "--hidden-size", "20",
                 "--proj-size", "5", "-c", "calflops"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("kind"))
    assert header.split() == ["kind", "operations", "×", "weight", "=", "calflops", "what",
                              "it", "is"]
    dot = next(line for line in lines if line.startswith("dot"))
    assert dot.split()[:4] == ["dot", "165", "-1", "-165"] and "c − 1 additions" in dot
