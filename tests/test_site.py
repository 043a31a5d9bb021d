"""The site build: deterministic, atomic, user cells rendered like built-in ones, golden pages.

Regenerate the golden Markdown after an intended change with:

    DERIVE_REGENERATE=1 .venv/bin/python -m pytest tests/test_site.py -k golden
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import shutil
from pathlib import Path

import pytest

import derive
from derive.site import build, environment, render_docs

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("built") / "site"
    build(out, quiet=True)
    return out


def test_pages_exist(built: Path) -> None:
    for page in ["index.html", "questions.html", "conventions.html", "compare.html",
                 *(f"cells/{name}.html" for name in derive.cells())]:
        assert (built / page).is_file(), page


def test_two_builds_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "site"
    build(again, quiet=True)
    assert tree_digest(again) == tree_digest(built)


def test_pages_load_nothing_from_outside(built: Path) -> None:
    """No script, stylesheet, font, image or frame of any page points off the site.

    (The browser tests check the requests a real browser makes; this is the static half.)
    """
    pattern = re.compile(r"<(script|link|img|iframe|source)\b[^>]*\b(src|href)=[\"'](https?:)?//",
                         re.I)
    offenders = [(str(p.relative_to(built)), m[0]) for p in built.rglob("*.html")
                 for m in pattern.finditer(p.read_text(encoding="utf-8"))]
    assert offenders == []
    assert "fonts.googleapis" not in (built / "index.html").read_text(encoding="utf-8")


def test_seed_numbers_are_the_engines(built: Path) -> None:
    text = (built / "questions.html").read_text(encoding="utf-8")
    for framework in ("pytorch", "keras"):
        total = derive.count("lstm", framework, input_size=512, hidden_size=256,
                             bidirectional=True).total
        assert f'data-key="seed-{framework}">{total:,}</span>' in text


def test_user_cells_are_rendered_like_builtin_ones(tmp_path: Path) -> None:
    cells = tmp_path / "cells"
    cells.mkdir()
    shutil.copy(HERE / "cells" / "concat.cell", cells / "concat.cell")
    out = tmp_path / "site"
    build(out, cells_dir=cells, quiet=True)
    page = (out / "cells" / "concat.html").read_text(encoding="utf-8")
    assert "Derivation of every shape" in page and "<math" in page
    assert "W_f" in page


def test_a_failed_build_leaves_the_previous_site_intact(tmp_path: Path) -> None:
    cells = tmp_path / "cells"
    cells.mkdir()
    shutil.copy(HERE / "cells" / "concat.cell", cells / "ok.cell")
    out = tmp_path / "site"
    build(out, cells_dir=cells, quiet=True)
    before = tree_digest(out)
    shutil.copy(HERE / "cells" / "contradiction.cell", cells / "zz-broken.cell")
    with pytest.raises(derive.ShapeError, match="size mismatch"):
        build(out, cells_dir=cells, quiet=True)
    assert tree_digest(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells", "site"]  # no leftovers


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "docs"
    render_docs(environment(), out)
    return out


# one page per family (elman, lstm, gru, convolutional, modern) and the overview
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "convlstm2d", "slstm", "index"])
def test_golden_markdown(cell: str, docs: Path) -> None:
    page = docs / ("index.md" if cell == "index" else f"cells/{cell}.md")
    out = page.read_text(encoding="utf-8")
    path = GOLDEN / f"site-{cell}.md"
    if os.environ.get("DERIVE_REGENERATE"):
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8"), (
        f"the rendered page of {cell} changed; if intended, run DERIVE_REGENERATE=1 "
        ".venv/bin/python -m pytest tests/test_site.py -k golden and review the diff")


EVIL = '''cell evil
title "<script>alert(1)</script> {{ 7*7 }} \\input{/etc/passwd} $x$ & 100%"
family elman
size d = input_size "<img src=x onerror=alert(2)> \\write18{rm -rf /}"
size h = hidden_size "units {% raw %}"
input x_t ∈ ℝ^d "<b>bold</b>"
state h_t ∈ ℝ^h "```\\n<script>alert(3)</script>"
equations
  h_t = tanh(W x_t + U h_{t-1} + b)    "<iframe src=//evil>"

description
  A description with <script>alert(4)</script>, {{ config }}, ``` and \\input{x}.
  ```
  <script>alert(5)</script>

bibtex
  @misc{evil2026,
    title = {Evil {\\"u}ber},
    note = {</code><script>alert(6)</script>}
  }
'''


def test_user_text_reaches_html_and_latex_escaped(tmp_path: Path) -> None:
    """Planted markup in a user's cell: the site and the standalone LaTeX show it as text."""
    cells = tmp_path / "cells"
    cells.mkdir()
    (cells / "evil.cell").write_text(EVIL, encoding="utf-8")
    out = tmp_path / "site"
    build(out, cells_dir=cells, quiet=True)
    page = (out / "cells" / "evil.html").read_text(encoding="utf-8")
    for planted in ("<script>alert", "<img src=x", "<iframe", "<b>bold</b>"):
        assert planted not in page, planted
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "{{ 7*7 }}" in page and "{{ config }}" in page  # shown, never evaluated
    from derive.paper import latex

    tex = latex(str(cells / "evil.cell"), standalone=True)
    assert "\\input{/etc/passwd}" not in tex and "\\write18" not in tex
    assert "\\textbackslash{}input\\{/etc/passwd\\}" in tex


def test_bibtex_commands_that_could_run_something_are_refused(tmp_path: Path) -> None:
    bad = EVIL.replace("note = {", "note = {\\input{/etc/passwd} ")
    path = tmp_path / "bad.cell"
    path.write_text(bad, encoding="utf-8")
    with pytest.raises(derive.CellSyntaxError, match=r"the BibTeX uses \\input, which derive "
                       r"does not pass to LaTeX"):
        derive.load_cell(str(path))


def test_out_never_replaces_a_folder_derive_did_not_build(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(derive.DeriveError, match="is not empty and was not built by derive"):
        build(precious, quiet=True)
    assert (precious / "notes.txt").read_text(encoding="utf-8") == "keep me"
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    with pytest.raises(derive.DeriveError, match="is a file"):
        build(tmp_path / "a-file", quiet=True)


def test_out_replaces_its_own_build(built: Path) -> None:
    assert (built / ".derive-site").is_file()  # so a rebuild may replace it


def _arith(node: ast.AST, env: dict[str, int]) -> int:
    """Integer arithmetic over s["name"]: the subset of JavaScript the calculator uses."""
    import operator

    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return env[node.slice.value]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_arith(node.operand, env)
    ops = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Pow: operator.pow, ast.FloorDiv: operator.floordiv}
    assert isinstance(node, ast.BinOp) and type(node.op) in ops, ast.dump(node)
    left, right = _arith(node.left, env), _arith(node.right, env)
    if isinstance(node.op, ast.FloorDiv):
        assert left % right == 0, "the calculator's division is exact"
    return ops[type(node.op)](left, right)


def test_the_calculators_javascript_is_the_exact_polynomial() -> None:
    """Every per-layer count of every catalog cell and convention, printed as BigInt
    JavaScript, evaluates (read back as Python integers) to the engine's exact value."""
    import random
    import re

    from derive import cache, catalog
    from derive.jscode import poly_js
    from derive.poly import Poly

    rng = random.Random(7)
    checked = 0
    for name in catalog.builtin_names():
        for conv in cache.compiled(catalog.resolve(name))["conventions"].values():
            for key in ("bias", "no_bias"):
                poly = Poly.from_data(conv["per_layer"][key])
                env = {s: rng.randint(1, 40) for s in poly.symbols}
                blocks = {s for c, m in poly.terms for s, e in m if e < 0}
                env.update({s: env[s] * 6 for s in env if s not in blocks})  # divisible
                env.update({s: 2 for s in blocks})
                text = re.sub(r"(\d+)n\b", r"\1", poly_js(poly)).replace(" / ", " // ")
                value = _arith(ast.parse(text, mode="eval").body, env)  # parsed, never run
                assert value == poly.evaluate(env), (name, str(poly), text)
                checked += 1
    assert checked > 100


def test_every_cell_page_has_its_diagram(built: Path) -> None:
    for name in derive.cells():
        page = (built / "cells" / f"{name}.html").read_text(encoding="utf-8")
        assert '<figure class="derive-diagram"><svg' in page, name
