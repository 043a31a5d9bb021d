"""Error messages are API: each bad input has its message pinned here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import derive
from derive.catalog import builtin_names
from derive.compile import compile_cell
from derive.infer import infer
from derive.parse import parse_cell

CELLS = Path(__file__).parent / "cells"
OK = dict(input_size=3, hidden_size=4)

HEADER = """cell t
size d = input_size
size h = hidden_size
input x_t ∈ ℝ^d
state h_t ∈ ℝ^h

equations
"""


def cell_error(equations: str, exc: type[derive.DeriveError] = derive.DeriveError) -> str:
    with pytest.raises(exc) as info:
        infer(parse_cell(HEADER + equations, "t.cell"))
    return str(info.value)


def count_error(*args: object, **kwargs: object) -> str:
    with pytest.raises(derive.DeriveError) as info:
        derive.count(*args, **kwargs)  # type: ignore[arg-type]
    return str(info.value)


def test_unknown_cell() -> None:
    n = len(builtin_names())
    message = count_error("lstn", **OK)
    assert message.startswith("unknown cell 'lstn'; did you mean lstm or ")
    assert message.endswith(f"? 'derive cells' lists the catalog's {n} cells, or give the path "
                            "to a .cell file")
    assert count_error("qwerty", **OK) == (
        f"unknown cell 'qwerty'; 'derive cells' lists the catalog's {n} cells, or give the "
        "path to a .cell file")


def test_unknown_framework() -> None:
    assert count_error("lstm-peephole", "pytorch", **OK) == (
        "cell lstm-peephole has no convention 'pytorch'; it has equations, onnx, tf1")


def test_framework_of_a_variant() -> None:
    assert count_error("gru", "pytorch", reset_after=False, **OK) == (
        "cell gru-reset-before (chosen by reset_after=false) has no convention 'pytorch'; "
        "it has equations, keras, onnx, tf1")


@pytest.mark.parametrize(("value", "shown"), [(0, "0"), (-4, "-4"), (2.5, "2.5"),
                                              (True, "True")])
def test_sizes_must_be_positive_integers(value: object, shown: str) -> None:
    assert count_error("lstm", input_size=3, hidden_size=value) == (
        f"hidden_size must be a positive integer, got {shown}")


def test_layers_must_be_positive() -> None:
    assert count_error("lstm", num_layers=0, **OK) == (
        "num_layers must be a positive integer, got 0")


def test_missing_size() -> None:
    assert count_error("lstm", hidden_size=4) == (
        "cell lstm needs input_size (--input-size): features of the input x_t")


def test_unknown_size() -> None:
    assert count_error("lstm", kernel_size=3, **OK) == (
        "cell lstm has no size kernel_size (its sizes: input_size, hidden_size)")


def test_pytorch_projection_must_be_smaller() -> None:
    assert count_error("lstm", "pytorch", input_size=3, hidden_size=4, proj_size=4) == (
        "proj_size has to be smaller than hidden_size (pytorch requires p < h; got "
        "input_size=3, hidden_size=4, proj_size=4)")


def test_reset_after_only_for_gru() -> None:
    assert count_error("lstm", reset_after=False, **OK) == (
        "reset_after does not apply to cell lstm (it is an option of the GRU cells)")


def test_single_cell_api_has_no_layers() -> None:
    assert count_error("lstm", "pytorch-cell", num_layers=2, **OK) == (
        "pytorch-cell (PyTorch torch.nn.LSTMCell) is a single cell: num_layers must be 1 "
        "and bidirectional off")


def test_missing_cell_file() -> None:
    assert count_error("nowhere/my.cell", **OK) == "no cell file at nowhere/my.cell"


def test_sizes_forced_equal_are_a_requirement_with_its_reasons() -> None:
    message = count_error(str(CELLS / "mismatch.cell"), input_size=3, hidden_size=4)
    first, *chain = message.splitlines()
    assert first == ("cell mismatch requires input_size = hidden_size, forced by its equations "
                     "(h_t is defined by (1)); got input_size=3 and hidden_size=4")
    assert chain == [
        "  the size of h_t = h:",
        "    the size of h_t = h: h_t is declared ∈ ℝ^h (mismatch.cell, line 5)",
        "  the rows of W = d:",
        "    the rows of W = the size of x_t: W x_t and x_t are terms of the same sum in (1)",
        "    the size of x_t = d: x_t is declared ∈ ℝ^d (mismatch.cell, line 4)",
    ]
    # under the requirement, the count is given (input_size follows hidden_size)
    assert derive.count(str(CELLS / "mismatch.cell"), hidden_size=4).total == 32
    assert derive.count(str(CELLS / "mismatch.cell"), input_size=4, hidden_size=4).total == 32
    assert count_error(str(CELLS / "mismatch.cell"), hidden_size=4, num_layers=2,
                       bidirectional=True) == (
        "cell mismatch requires input_size = hidden_size, but a layer above the first reads 8 "
        "features (both directions concatenated)")


def test_contradiction_is_a_located_error() -> None:
    message = count_error(str(CELLS / "contradiction.cell"), **OK)
    first, caret_line, _caret, *chain = message.splitlines()
    assert first.endswith("contradiction.cell:8:3: size mismatch: h_t is defined by (1), so "
                          "the size of h_t must equal the rows of W, but they are h and 2·h")
    assert caret_line == "      h_t = tanh(W x_t + [h_{t-1}; h_{t-1}])"
    assert chain[-1] == ("    the size of [h_{t-1}; h_{t-1}] = 2·h: the size of "
                         "[h_{t-1}; h_{t-1}] is the sum of the sizes of its parts")


def test_undetermined_dimension_asks_for_a_declaration() -> None:
    message = count_error(str(CELLS / "undetermined.cell"), **OK)
    assert message.splitlines()[0].endswith(
        "undetermined.cell:8:11: cannot determine the rows of W_a: nothing in the equations "
        "fixes it; it is the size of a_t: declare one, e.g. 'var a_t ∈ ℝ^n'")


def test_syntax_error_is_located() -> None:
    message = count_error(str(CELLS / "syntax.cell"), **OK)
    assert message.splitlines() == [
        f"{CELLS / 'syntax.cell'}:8:22: unexpected '+'; expected '(', '[', '{{', '|', '√', a "
        "name, a number",
        "      h_t = tanh(W x_t + + U h_{t-1})",
        "                         ^",
    ]


def test_juxtaposed_vectors() -> None:
    assert cell_error("  h_t = tanh(h_{t-1} x_t)").splitlines()[0] == (
        "t.cell:8:13: (h_{t-1} x_t): writing two factors side by side is a matrix product, and "
        "h_{t-1} is a vector; write h_{t-1} ⊙ x_t for an elementwise product or h_{t-1}ᵀ x_t "
        "for a dot product")


def test_undeclared_variable() -> None:
    assert cell_error("  h_t = tanh(W y_t)").splitlines()[0] == (
        "t.cell:8:16: y_t is neither an input nor defined by an equation; declare it "
        "('input y_t ∈ ℝ^n') or add an equation for it")


def test_use_before_definition() -> None:
    assert cell_error("  h_t = tanh(W x_t + a_t)\n  a_t = σ(U x_t)").splitlines()[0] == (
        "t.cell:8:22: a_t is used in (1) before its equation (2)")


def test_parameter_used_as_matrix_and_vector() -> None:
    assert cell_error("  h_t = tanh(W x_t + W)").splitlines()[0] == (
        "t.cell:8:22: W is used as a vector here, but it multiplies a vector in (1) "
        "h_t = tanh(W x_t + W)")


def test_state_without_time_index() -> None:
    assert cell_error("  h_t = tanh(W x_t + h)").splitlines()[0] == (
        "t.cell:8:22: h is a variable; write h_t or h_{t-1}")


def test_unknown_keyword() -> None:
    with pytest.raises(derive.CellSyntaxError) as info:
        parse_cell("cell t\nsizes d = input_size\n", "t.cell")
    assert str(info.value).splitlines()[0] == (
        "t.cell:2:1: unknown keyword 'sizes'; expected one of cell, title, family, size, kernel, "
        "input, state, var, param, function, output, variant, equations, convention, "
        "description, bibtex")


def test_undeclared_size_symbol() -> None:
    text = HEADER.replace("size h = hidden_size\n", "") + "  h_t = tanh(W x_t)\n"
    with pytest.raises(derive.CellSyntaxError) as info:
        compile_cell(parse_cell(text, "t.cell"))
    assert str(info.value).splitlines()[0] == (
        "t.cell:4:7: the size symbol h is not declared; add a line 'size h = KEYWORD \"meaning\"'")


def test_convention_must_store_every_parameter() -> None:
    text = HEADER + "  h_t = tanh(W x_t + U h_{t-1})\n\nconvention f\n  tensor kernel = W^T\n"
    with pytest.raises(derive.ConventionError) as info:
        compile_cell(parse_cell(text, "t.cell"))
    assert str(info.value).splitlines()[0] == (
        "t.cell:10:1: convention f: the parameters U are in no tensor; every parameter must be "
        "stored once")


def test_fused_blocks_must_conform() -> None:
    text = HEADER + "  h_t = tanh(W x_t + U h_{t-1})\n\nconvention f\n  tensor k = [W; U]\n"
    with pytest.raises(derive.ConventionError) as info:
        compile_cell(parse_cell(text, "t.cell"))
    assert str(info.value).splitlines()[0] == (
        "t.cell:11:3: tensor k: stacked blocks need the same number of columns, but the "
        "columns are d, h (W; U)")


# ---------------------------------------------------------------- the family's constructs

LANG = CELLS / "lang"


def test_unknown_function_names_the_known_ones() -> None:
    assert cell_error("  h_t = softsign(W x_t + U h_{t-1})").splitlines()[0] == (
        "t.cell:8:9: unknown function softsign; derive knows GN, LN, RMSNorm, abs, exp, gelu, "
        "log, max, min, relu, silu, softplus, sqrt, tanh, σ; declare others with 'function "
        "softsign elementwise \"what it is\"'")


def test_a_declared_function_is_elementwise() -> None:
    text = HEADER.replace("equations\n", 'function softsign elementwise "x/(1+|x|)"\n\n'
                          "equations\n") + "  h_t = softsign(W x_t + U h_{t-1})\n"
    der = infer(parse_cell(text, "t.cell"))
    assert [str(p.count) for p in der.parameters] == ["d·h", "h²"]


def test_a_convolution_needs_a_feature_map() -> None:
    text = HEADER.replace("equations\n", 'kernel k = kernel_size "extent"\n\nequations\n')
    with pytest.raises(derive.ShapeError) as info:
        infer(parse_cell(text + "  h_t = tanh(K ∗ x_t + U h_{t-1})\n", "t.cell"))
    assert str(info.value).splitlines()[0] == (
        "t.cell:10:14: K ∗ x_t: a convolution needs a feature map (channels × spatial axes), "
        "but x_t is a vector; declare the input as 'input X_t ∈ ℝ^{C×H×W}'")


def test_a_convolution_needs_a_kernel_size() -> None:
    assert cell_error("  h_t = tanh(K ∗ x_t + U h_{t-1})").splitlines()[0] == (
        "t.cell:8:14: K ∗ x_t: a convolution needs a kernel size; declare one, e.g. 'kernel k "
        "= kernel_size \"the extent of every kernel\"'")


def test_a_head_count_that_does_not_divide() -> None:
    assert count_error(str(LANG / "slstm.cell"), input_size=8, hidden_size=12,
                       num_heads=5) == (
        "n_h must divide h: GN(y_t, n_h; γ) in (11) splits h channels into n_h groups (the "
        "equations require n_h divides h; got input_size=8, hidden_size=12, num_heads=5)")
    assert derive.count(str(LANG / "slstm.cell"), input_size=8, hidden_size=12,
                        num_heads=4).total == 4 * 8 * 12 + 5 * 12 + 4 * 12 * 12 // 4


def test_a_norm_names_its_parameters() -> None:
    assert cell_error("  h_t = tanh(LN(W x_t) + U h_{t-1})").splitlines()[0] == (
        "t.cell:8:14: LN carries parameters: name them after ';', e.g. LN(x; γ, β) (gain and "
        "bias) or LN(x; γ) (gain only)")


def test_blocks_are_a_declared_size() -> None:
    text = HEADER.replace("equations\n", 'param U blockdiag n "heads"\n\nequations\n')
    with pytest.raises(derive.ShapeError) as info:
        infer(parse_cell(text + "  h_t = tanh(W x_t + U h_{t-1})\n", "t.cell"))
    assert str(info.value).splitlines()[0] == (
        "t.cell:7:7: the number of blocks n is not a declared size; add 'size n = KEYWORD "
        "\"meaning\"'")


def test_a_window_is_taken_of_an_input() -> None:
    text = HEADER.replace("equations\n", 'size k = window "steps"\n\nequations\n')
    with pytest.raises(derive.ShapeError) as info:
        infer(parse_cell(text + "  h_t = tanh(W x_t + U h_{t-k+1:t})\n", "t.cell"))
    assert str(info.value).splitlines()[0] == (
        "t.cell:10:24: h_{t-k+1:t}: a window of past values is taken of an input")


def test_kernel_size_has_one_value_per_axis() -> None:
    cell = str(LANG / "convlstm2d-per-channel.cell")
    assert count_error(cell, in_channels=3, filters=4, kernel_size="3x5x7") == (
        "kernel_size has 2 axes here, got 3 values ('3x5x7'); give one number per axis, or one "
        "for all")
    a = derive.count(cell, in_channels=3, filters=4, kernel_size="3x5").total
    assert a == derive.count(cell, in_channels=3, filters=4, kernel_size=(3, 5)).total
    assert a == 4 * (3 + 4) * 4 * 15 + 7 * 4
    # spatial sizes never enter a count unless a parameter is spatial
    assert derive.count(cell, in_channels=3, filters=4, kernel_size=3, height=7,
                        width=9).total == 4 * (3 + 4) * 4 * 9 + 7 * 4
    spatial = str(LANG / "conv1d-spatial.cell")
    assert count_error(spatial, in_channels=3, filters=4, kernel_size=3) == (
        "cell lang-conv1d-spatial needs length (--length): positions of the 1-D map")
    assert derive.count(spatial, in_channels=3, filters=4, kernel_size=3,
                        length=10).total == 2 * 3 * 4 * 3 + 2 * 4 * 4 * 3 + 4 * 10 + 4


def test_a_stacked_left_side_needs_its_parts_fixed() -> None:
    first = cell_error("  [a_t; b_t] = W x_t + U h_{t-1}\n  h_t = σ(a_t) ⊙ h_{t-1}\n")
    assert first.splitlines()[0] == (
        "t.cell:8:3: cannot decide the shape of [a_t; b_t] in (1): the shapes of its operands "
        "are not fixed; declare the size of a variable it uses")
    assert cell_error("  [a_t; a_t] = W x_t\n  h_t = σ(a_t) ⊙ h_{t-1}\n").splitlines()[0] == (
        "t.cell:8:4: a_t is defined twice")
    # declared, the part fixes the whole: W has the rows of both parts
    der = infer(parse_cell(HEADER.replace("equations", "var b_t ∈ ℝ^d\n\nequations")
                           + "  [a_t; b_t] = W x_t + U h_{t-1}\n  h_t = σ(a_t) ⊙ h_{t-1}"
                           " + U_b b_t\n", "t.cell"))
    w = der.parameter("W")
    assert w is not None and str(w.shape[0]) == "d + h"


def test_a_scalar_broadcasts_and_leaves_the_other_shape_to_inference() -> None:
    """t_t - s with a scalar timestamp: s takes the shape the rest of the equations give
    (Phased LSTM's per-unit shift); wᵀx + b with nothing else: b is a scalar (mLSTM's gates)."""
    head = HEADER.replace("state h_t", "input τ_t ∈ ℝ\nstate h_t")
    der = infer(parse_cell(head + "  a_t = (τ_t - s) / p\n  h_t = a_t ⊙ h_{t-1} + W x_t\n",
                           "t.cell"))
    assert [(p.name, tuple(map(str, p.shape))) for p in der.parameters] == [
        ("s", ("h",)), ("p", ("h",)), ("W", ("h", "d"))]
    der = infer(parse_cell(HEADER + "  f_t = σ(wᵀ x_t + b)\n  h_t = f_t h_{t-1}\n", "t.cell"))
    assert [(p.name, p.kind) for p in der.parameters] == [("w", "vector"), ("b", "scalar")]


@pytest.mark.parametrize(("text", "value"), [("1_000_000", 10**6), ("1e6", 10**6), ("1M", 10**6),
                                             ("2.5B", 2_500_000_000), ("1.25k", 1250),
                                             ("3E2", 300)])
def test_numbers_read_as_people_write_them(text: str, value: int) -> None:
    assert derive.count("rnn", input_size=text, hidden_size=1).total == value + 2


def test_sizes_past_pythons_digit_limit() -> None:
    """10^4400 is past the 4,300 digits Python converts by default; the count is exact."""
    assert derive.count("rnn", input_size="1e4400", hidden_size=1).total == 10**4400 + 2
    proc = subprocess.run([sys.executable, "-m", "derive.cli", "count", "rnn", "--input-size",
                           "1e4400", "--hidden-size", "1", "--json"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and '"total": 1' + "0" * 4399 + "2" in proc.stdout


@pytest.mark.parametrize(("text", "message"), [
    ("1.5e0", "input_size must be a whole number, but '1.5e0' is 1.5: sizes and budgets are "
              "exact integers"),
    ("2.5", "input_size must be a whole number, but '2.5' is 2.5: sizes and budgets are exact "
            "integers"),
    ("abc", "input_size must be a whole number (1000000, 1_000_000, 1e6, 1M, 2.5B), got 'abc'"),
    ("0x10", "input_size is one number, got '0x10'"),  # it reads as kernel axes (3x5)
    ("-3", "input_size must be a positive integer, got -3"),
])
def test_numbers_that_are_not_whole(text: str, message: str) -> None:
    assert count_error("rnn", input_size=text, hidden_size=1) == message


def test_a_future_value_is_refused() -> None:
    assert cell_error("  h_t = tanh(W x_{t+1} + U h_{t-1})\n").splitlines()[0] == (
        "t.cell:8:16: x_{t+1} is a future value: a recurrent cell reads the input and its "
        "states at t and before (t-1, t-2, ...), never after")


def test_one_cell_per_file() -> None:
    with pytest.raises(derive.CellSyntaxError) as info:
        parse_cell("cell a\ncell b\n" + HEADER.split("\n", 1)[1] + "  h_t = U h_{t-1}\n",
                   "t.cell")
    assert str(info.value).splitlines()[0] == (
        "t.cell:2:1: a second 'cell' line: this file already names its cell a; one cell per "
        "file")


def test_too_deep_an_expression_is_a_located_error() -> None:
    message = cell_error("  h_t = " + "√" * 200 + "tanh(W x_t + U h_{t-1})\n")
    assert message.splitlines()[0] == (
        "t.cell:8:1: the expression nests more than 150 operations deep (√, |·|, ᵀ, powers, "
        "divisions and products included); derive reads at most that")


def test_a_root_binds_the_call_after_it() -> None:
    """√tanh(x) is √(tanh(x)), not √tanh times (x)."""
    (eq,) = parse_cell(HEADER + "  h_t = √tanh(W x_t + U h_{t-1})\n", "t.cell").equations
    assert eq.rhs.func == "sqrt" and eq.rhs.arg.func == "tanh"  # type: ignore[attr-defined]


MAPS = """cell t
size C = in_channels
size F = filters
kernel K = input_kernel_size "input-to-state"
kernel k = kernel_size "state-to-state"
input X_t ∈ ℝ^{C×H×W}
state H_t ∈ ℝ^{F×H×W}
"""


def maps_error(decls: str, equation: str) -> str:
    with pytest.raises(derive.ShapeError) as info:
        infer(parse_cell(MAPS + decls + "\nequations\n  " + equation + "\n", "t.cell"))
    return str(info.value).splitlines()[0]


def test_two_kernel_sizes_need_a_choice_per_kernel() -> None:
    eq = "H_t = tanh(W_x ∗ X_t + W_h ∗ H_{t-1})"
    assert maps_error("", eq) == (
        "t.cell:10:14: W_x: the cell declares 2 kernel sizes (K, k); say which one W_x has: "
        "'param W_x kernel K \"why\"'")
    assert maps_error('param W_x kernel q "input"\n', eq) == (
        "t.cell:8:7: W_x is declared 'kernel q', but q is not a kernel size of the cell (its "
        "kernel sizes: K, k)")
    assert maps_error('param W_x kernel K "in"\nparam W_h kernel k "rec"\nparam U kernel k\n',
                      "H_t = tanh(W_x ∗ X_t + W_h ∗ H_{t-1} + U ⊙ H_{t-1})") == (
        "t.cell:10:7: U is declared a kernel of size k, but it convolves nothing (write it "
        "left of ∗)")


def test_each_kernel_takes_its_own_extents() -> None:
    cell = parse_cell(MAPS + 'size H = height\nsize W = width\nparam W_x kernel K "in"\n'
                      'param W_h kernel k "rec"\n\nequations\n'
                      "  H_t = tanh(W_x ∗ X_t + W_h ∗ H_{t-1})\n", "t.cell")
    shapes = {p.name: [str(d) for d in p.shape] for p in infer(cell).parameters}
    assert shapes == {"W_x": ["F", "C", "K_1", "K_2"], "W_h": ["F", "F", "k_1", "k_2"]}
