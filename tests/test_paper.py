"""Formulas into papers: LaTeX compiled by a real pdflatex + bibtex, BibTeX read by a real
parser, every printed form read back and evaluated against the engine, golden LaTeX.

Regenerate the golden LaTeX after an intended change with:

    DERIVE_REGENERATE=1 .venv/bin/python -m pytest tests/test_paper.py -k golden
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import bibtexparser
import pytest

import derive
from derive import cache, catalog
from derive.network import builtin_names as builtin_models
from derive.network import read_model
from derive.paper import bib, bib_keys, forms, latex
from derive.poly import Poly
from derive.printing import evaluate, mathml_text, parse

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden"
ARTIFACTS = ROOT / "artifacts" / "latex"
TOOLS = "run scripts/install-test-tools.sh (pdflatex, bibtex, pdftoppm)"


def conventions(cell: str) -> list[str]:
    return list(cache.compiled(catalog.resolve(cell))["conventions"])


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert shutil.which(cmd[0]), f"{cmd[0]} is missing: {TOOLS}"
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False,
                          timeout=120)


@pytest.mark.parametrize("cell", derive.cells())
def test_standalone_compiles_without_warnings(cell: str, tmp_path: Path) -> None:
    framework = "pytorch" if "pytorch" in conventions(cell) else "equations"
    (tmp_path / "doc.tex").write_text(latex(cell, framework, standalone=True), encoding="utf-8")
    tex = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"]
    first = run(tex, tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    bibtex = run(["bibtex", "doc"], tmp_path)
    assert bibtex.returncode == 0, bibtex.stdout
    assert "Warning" not in (tmp_path / "doc.blg").read_text(), bibtex.stdout
    for _ in range(2):
        final = run(tex, tmp_path)
        assert final.returncode == 0, final.stdout[-3000:]
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    problems = [line for line in log.splitlines()
                if re.search(r"undefined|Citation .* undefined|There were|Rerun|Error", line)]
    assert problems == []
    keys = bib_keys(derive.load_cell(cell).bibtex)
    bbl = (tmp_path / "doc.bbl").read_text()
    assert all(f"\\bibitem{{{k}}}" in bbl for k in keys)
    if cell == "lstm":  # a picture of the page for a person to look at
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        png = run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile",
                   "doc.pdf", str(ARTIFACTS / "lstm-standalone")], tmp_path)
        assert png.returncode == 0, png.stderr
        assert (ARTIFACTS / "lstm-standalone.png").stat().st_size > 10_000


@pytest.mark.parametrize("model", builtin_models())
def test_model_document_compiles_without_warnings(model: str, tmp_path: Path) -> None:
    """derive latex MODEL --standalone: the labelled equation, the booktabs table of the
    paper's rows (derive table --format latex) and the citation, through pdflatex + bibtex."""
    from derive.tabulate import latex_document

    (tmp_path / "doc.tex").write_text(latex_document(model, standalone=True), encoding="utf-8")
    tex = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"]
    first = run(tex, tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    bibtex = run(["bibtex", "doc"], tmp_path)
    assert bibtex.returncode == 0, bibtex.stdout
    for _ in range(2):
        final = run(tex, tmp_path)
        assert final.returncode == 0, final.stdout[-3000:]
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    problems = [line for line in log.splitlines()
                if re.search(r"undefined|There were|Rerun|Error|Overfull", line)]
    assert problems == [] or all("Overfull" in p for p in problems), problems
    assert f"\\bibitem{{{read_model(model).cite}}}" in (tmp_path / "doc.bbl").read_text()
    text = (tmp_path / "doc.tex").read_text()
    assert f"\\label{{eq:model:{model}}}" in text and f"\\label{{tab:model:{model}}}" in text


def test_bibtex_parses_with_a_real_parser() -> None:
    library = bibtexparser.parse_string(bib(None, everything=True))
    assert library.failed_blocks == []
    keys = {e.key for e in library.entries}
    expected = {k for c in derive.cells() for k in bib_keys(derive.load_cell(c).bibtex)}
    assert keys == expected
    for entry in library.entries:
        fields = {f.key for f in entry.fields}
        assert {"author", "title", "year"} <= fields, entry.key


def _config(rng: random.Random, cell: str, framework: str) -> tuple[dict[str, int], dict]:
    data = cache.compiled(catalog.resolve(cell))
    env, sizes = {}, {}
    axes: dict[str, list[int]] = {}
    for s in data["sizes"]:
        env[s["symbol"]] = sizes[s["keyword"]] = rng.randint(1, 10**6)
        if "axes" in s:  # a kernel size: one value per spatial axis, given as "3x5x..."
            axes.setdefault(s["keyword"], []).append(env[s["symbol"]])
    sizes.update({k: "x".join(map(str, v)) for k, v in axes.items()})
    if "proj_size" in sizes:
        sizes["hidden_size"] = env["h"] = max(env["h"], 2)
        sizes["proj_size"] = env["p"] = rng.randint(1, env["h"] - 1)
    keyword = {s["symbol"]: s["keyword"] for s in data["sizes"]}
    for req in data["conventions"][framework]["requires"]:
        left, right = Poly.from_data(req["left"]), Poly.from_data(req["right"])
        if req["op"] == "|" and len(right.symbols) == 1 and len(right.terms) == 1:
            (sym,) = right.symbols  # a block count divides what it splits
            env[sym] = sizes[keyword[sym]] = left.evaluate(env) * rng.randint(1, 1000)
    for req in data["conventions"][framework]["requires"]:
        left, right = Poly.from_data(req["left"]), Poly.from_data(req["right"])
        if req["op"] == "==" and len(left.symbols) == 1:  # a size the convention ties
            (sym,) = left.symbols
            env[sym] = sizes[keyword[sym]] = right.evaluate(env)
    for r in data.get("derived", ()):  # sizes the equations force: not given
        sizes.pop(keyword[r["symbol"]], None)
        env[r["symbol"]] = Poly.from_data(r["right"]).evaluate(env)
    stack = data["conventions"][framework]["stackable"]
    env["L"] = rng.randint(1, 5) if stack else 1
    env["D"] = rng.choice([1, 2]) if stack else 1
    if any(r["symbol"] == data["input_symbol"] for r in data.get("derived", ())):
        env["D"] = 1 if env["L"] > 1 else env["D"]  # input = hidden: no 2h-wide layer above
    options = dict(num_layers=env["L"], bidirectional=env["D"] == 2)
    return env, {**sizes, **options}


def _from_json(node: dict, names: dict[str, str]) -> tuple:
    back = {v: k for k, v in names.items()}
    ((kind, value),) = node.items()
    if kind == "num":
        return ("num", value)
    if kind == "sym":
        return ("sym", back[value])
    if kind == "pow":
        return ("pow", _from_json(value[0], names), value[1])
    if kind == "div":
        return ("div", _from_json(value[0], names), _from_json(value[1], names))
    return (kind, [_from_json(v, names) for v in value])


@pytest.mark.parametrize("notation", [None, "pytorch", "sak2014"])
@pytest.mark.parametrize("cell", derive.cells())
def test_every_printed_form_reads_back_to_the_engines_count(cell: str,
                                                             notation: str | None) -> None:
    rng = random.Random(f"{cell}/{notation}")
    for framework in conventions(cell):
        f = forms(cell, framework, notation)
        names = f["names"]
        js = json.loads(latex(cell, framework, notation, fmt="json"))
        mml = latex(cell, framework, notation, fmt="mathml").splitlines()[-1]
        printed = {
            "mathml": parse(mathml_text(mml), names),
            "latex": parse(js["total"]["latex"], names),
            "text": parse(js["total"]["text"], names),
            "json": _from_json(js["total"]["tree"], names),
        }
        for _ in range(10):
            env, config = _config(rng, cell, framework)
            expected = derive.count(cell, framework, **config).total
            for how, tree in printed.items():
                assert evaluate(tree, env) == expected, (framework, how, env)


def test_notation_profiles_and_symbols() -> None:
    text = latex("lstmp", "pytorch", "sak2014", parts=("count",))
    assert "n_{i}" in text and "n_{c}" in text and "n_{r}" in text
    assert "N_{\\mathrm{layer}} = n_{c} \\left(4 n_{i} + 5 n_{r} + 8\\right)" in text
    custom = latex("lstm", "keras", None, {"h": "n_c", "input_size": "m"}, parts=("count",),
                   fmt="text")
    assert custom.splitlines()[0] == "one layer, one direction: 4·n_c·(m + n_c + 1)"


def test_notation_file(tmp_path: Path) -> None:
    path = tmp_path / "paper.toml"
    path.write_text('[symbols]\nhidden_size = "n_c"\nd = "m"\nL = "K"\n', encoding="utf-8")
    text = latex("lstm", "pytorch", str(path), parts=("count",), fmt="text")
    assert text.splitlines() == ["one layer, one direction: 4·n_c·(m + n_c + 2)",
                                 "L layers, D directions: D·(4·n_c·(m + n_c + 2) + "
                                 "4·(K − 1)·n_c·(D·n_c + n_c + 2))"]
    path.write_text('[symbols]\nh = "2x"\n', encoding="utf-8")
    with pytest.raises(derive.ConfigError, match=r"symbols\.h must be a letter"):
        latex("lstm", notation=str(path))


def test_labels_are_stable_and_unique() -> None:
    text = latex("lstm", parts=("equations", "count"))
    labels = re.findall(r"\\label\{([^}]*)\}", text)
    assert labels == ["eq:lstm:i", "eq:lstm:f", "eq:lstm:g", "eq:lstm:o", "eq:lstm:c",
                      "eq:lstm:h", "eq:lstm:count-layer", "eq:lstm:count"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: latex("lstm", notation="nope"), "unknown notation 'nope'; profiles: d2l, "
     "pytorch, sak2014"),
    (lambda: latex("lstm", symbols={"q": "x"}), "--symbol q=x: q is neither a size symbol "
     "nor a keyword of this cell (D, L, d, h)"),
    (lambda: latex("lstm", parts=("equations", "proof")), "unknown part 'proof'; parts are "
     "equations, shapes, count, bib"),
    (lambda: bib(None), "derive bib takes a cell, or --all"),
])
def test_error_messages(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(derive.DeriveError) as info:
        call()
    assert str(info.value) == message


@pytest.mark.parametrize(("name", "args"), [
    ("latex-lstm-pytorch.tex", ("lstm", "pytorch", "pytorch")),
    ("latex-gru-keras.tex", ("gru", "keras", "d2l")),
])
def test_golden_latex(name: str, args: tuple[str, str, str]) -> None:
    out = latex(*args, standalone=True)
    path = GOLDEN / name
    if os.environ.get("DERIVE_REGENERATE"):
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8"), (
        f"{name} changed; if intended, run DERIVE_REGENERATE=1 .venv/bin/python -m pytest "
        "tests/test_paper.py -k golden and review the diff")
