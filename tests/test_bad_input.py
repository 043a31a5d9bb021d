"""Bad input on the command line, as a table: every subcommand × every kind of bad value.

Each row runs ``derive.cli.main(argv)`` in-process and expects one of two outcomes:

* status 2 (bad input): stdout is empty, stderr holds one message whose first line starts
  with ``derive`` (``derive: error: ...``, or ``derive count: error: ...`` for a usage
  error), no other line starts with ``derive``, there is no ``Traceback``, and the text has
  no control characters (a binary file must not reach the terminal raw). A located
  message may add the caret block that :meth:`derive.errors.Loc.caret` draws (the source
  line and a line of carets, both indented); ``derive site`` may print its progress lines
  (``render pages ...``) before the message.
* status 0 (the input is fine): stdout has the result, nothing says "error".

Decisions, per case:

* zero, a negative number, a fraction ("1.5"), text ("abc") and the empty string are
  refused for every size, layer count, sequence length, batch and budget, except
  ``--proj-size 0``, which the help documents as "no projection" (status 0).
* a number of 5,001 digits is a positive integer, and derive counts exactly past Python's
  4,300-digit limit: sizes, sequence lengths, batches and budgets that large work
  (status 0), except where nothing fits (``solve`` with a 5,001-digit input size and a
  budget of 1,000: status 2). A layer count that large may be refused (a count lists
  every layer's tensors) or answered (status 0 or 2); either way, never a traceback and
  never a hang.
* a cell file with a UTF-8 byte-order mark, with CRLF line endings, or both, is a
  valid cell file (status 0): that is how editors on Windows save text.
* a cell file that is not UTF-8 (Latin-1 é), a binary file, an empty file, a directory
  (also one named ``x.cell``), a missing path and the empty string are refused (status 2);
  so is a UTF-8 cell file with an ANSI escape sequence in a line, and the message must
  not carry the escape to the terminal.
* conflicting options are refused (status 2), not silently resolved: two values for one
  size (``--hidden-size 4 --size hidden_size=5``), a size given to ``solve`` that it is
  asked to solve for, ``bib CELL --all``, ``latex --standalone --format json``, options of
  another cell (``--no-reset-after`` on an LSTM, ``--proj-size`` on an RNN), a single-cell
  convention with layers or directions, ``--no-bias`` where biases always exist.
* ``derive site --out`` never replaces a folder derive did not build, nor a file, nor the
  folder of ``--cells`` (the help: "never a folder derive did not build"); what was there
  is still there afterwards.

Every call runs under a SIGALRM (``HANG_SECONDS``, ``SITE_SECONDS`` for ``derive site``): a
hang is a failure, not a stuck run.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from derive.catalog import CELLS_DIR
from derive.cli import main
from derive.network import MODELS
from tests.limits import alarm

HANG_SECONDS = 10  # a call takes well under a second (latex: ~2 s on a cold cache) ...
SITE_SECONDS = 180  # ... but `derive site` builds the whole site (~15 s, more when loaded)
RNN = (CELLS_DIR / "rnn.cell").read_text(encoding="utf-8").replace("cell rnn\n", "cell user-rnn\n")
SAK = (Path(MODELS) / "sak2014-lstm.model").read_text(encoding="utf-8")
HUGE = "1" + "0" * 5000
BAD_NUMBERS = {"zero": "0", "negative": "-3", "fractional": "1.5", "non-numeric": "abc",
               "huge": HUGE, "empty": ""}


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # "{name}" is a path made by the fixture `paths`
    status: int | tuple[int, ...]  # 2: refused with one message; 0: works; (0, 2): either
    keeps: str = ""  # a path whose contents must survive the call


def _set(argv: list[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option`` set to ``value`` (replaced if present, else appended)."""
    out = list(argv)
    if option in out:
        out[out.index(option) + 1] = value
    else:
        out += [option, value]
    return out


# ---------------------------------------------------------------- numbers

NUMERIC: dict[str, tuple[list[str], list[str]]] = {  # base command line, its number options
    "count": (["count", "lstm", "--input-size", "3", "--hidden-size", "4"],
              ["--input-size", "--hidden-size", "--num-layers", "--proj-size"]),
    "flops": (["flops", "lstm", "--input-size", "3", "--hidden-size", "4"],
              ["--input-size", "--hidden-size", "--num-layers", "--seq-len", "--batch"]),
    "memory": (["memory", "lstm", "--input-size", "3", "--hidden-size", "4"],
               ["--input-size", "--hidden-size", "--num-layers", "--seq-len", "--batch"]),
    "solve": (["solve", "lstm", "--budget", "1000", "--input-size", "3"],
              ["--budget", "--input-size", "--num-layers"]),
    "match": (["match", "lstm", "--to", "gru", "--input-size", "3", "--hidden-size", "4"],
              ["--input-size", "--hidden-size", "--num-layers"]),
}


def _expected(option: str, what: str) -> int | tuple[int, ...]:
    if what == "huge":
        return (0, 2) if option == "--num-layers" else 0
    if option == "--proj-size" and what == "zero":  # documented: 0 means none
        return 0
    return 2


def _numeric_cases() -> Iterator[Case]:
    for command, (base, options) in NUMERIC.items():
        yield Case(f"{command}-ok", tuple(base), 0)
        for option in options:
            for what, value in BAD_NUMBERS.items():
                status = _expected(option, what)
                if command == "solve" and option == "--input-size" and what == "huge":
                    status = 2  # no hidden size fits 1,000 parameters
                yield Case(f"{command}{option}-{what}", tuple(_set(base, option, value)),
                           status)
    conv = ["count", "convlstm2d", "--size", "in_channels=3", "--size", "filters=4"]
    yield Case("count--size-ok", (*conv, "--size", "kernel_size=3x3"), 0)
    for what, value in BAD_NUMBERS.items():
        yield Case(f"count--size-kernel_size-{what}", (*conv, "--size", f"kernel_size={value}"),
                   _expected("--size", what))


# ---------------------------------------------------------------- cell files

CELL_COMMANDS: dict[str, list[str]] = {  # CELL is "{cell}"
    "count": ["count", "{cell}", "--input-size", "3", "--hidden-size", "4"],
    "flops": ["flops", "{cell}", "--input-size", "3", "--hidden-size", "4"],
    "memory": ["memory", "{cell}", "--input-size", "3", "--hidden-size", "4"],
    "solve": ["solve", "{cell}", "--budget", "1000", "--input-size", "3"],
    "match": ["match", "{cell}", "--to", "gru", "--input-size", "3", "--hidden-size", "4"],
    "match-to": ["match", "lstm", "--to", "{cell}", "--input-size", "3", "--hidden-size", "4"],
    "formula": ["formula", "{cell}"],
    "shapes": ["shapes", "{cell}"],
    "latex": ["latex", "{cell}"],
    "bib": ["bib", "{cell}"],
}
CELL_FILES = {  # placeholder: status
    "dir": 2, "dir_named_cell": 2, "binary": 2, "latin1": 2, "missing": 2, "empty_file": 2,
    "empty_string": 2, "escape_sequence": 2, "bom": 0, "crlf": 0, "bom_crlf": 0,
}


def _file_cases() -> Iterator[Case]:
    for command, argv in CELL_COMMANDS.items():
        for name, status in CELL_FILES.items():
            cell = "" if name == "empty_string" else "{" + name + "}"
            yield Case(f"{command}-cell-{name}",
                       tuple(a.replace("{cell}", cell) for a in argv), status)


# ---------------------------------------------------------------- options

UNKNOWN_OPTION = [
    Case(f"{argv[0]}-unknown-option", (*argv, "--bogus"), 2) for argv in [
        ["cells"], ["count", "lstm", "--input-size", "3", "--hidden-size", "4"],
        ["flops", "lstm", "--input-size", "3", "--hidden-size", "4"],
        ["memory", "lstm", "--input-size", "3", "--hidden-size", "4"],
        ["solve", "lstm", "--budget", "1000", "--input-size", "3"],
        ["match", "lstm", "--to", "gru", "--input-size", "3", "--hidden-size", "4"],
        ["formula", "lstm"], ["shapes", "lstm"], ["latex", "lstm"], ["bib", "lstm"],
        ["site", "--out", "{site}"], ["completion", "bash"]]
] + [
    Case("completion-ok", ("completion", "bash"), 0),
    Case("completion-unknown-shell", ("completion", "tcsh"), 2),
    Case("completion-no-shell", ("completion",), 2),
    Case("no-command", (), 2),
    Case("unknown-command", ("nope",), 2),
    Case("unknown-option-alone", ("--bogus",), 2),
    Case("cells-extra-argument", ("cells", "lstm"), 2),
    Case("cells-ok", ("cells",), 0),
    Case("count-framework-without-value", ("count", "lstm", "-f"), 2),
    Case("count-unknown-framework", ("count", "lstm", "-f", "tf", "--input-size", "3",
                                     "--hidden-size", "4"), 2),
    Case("count-unknown-size", ("count", "lstm", "--input-size", "3", "--hidden-size", "4",
                                "--size", "bogus=3"), 2),
    Case("count-size-without-keyword", ("count", "lstm", "--input-size", "3",
                                        "--hidden-size", "4", "--size", "=3"), 2),
    Case("count-missing-size", ("count", "lstm", "--input-size", "3"), 2),
    Case("flops-unknown-convention", ("flops", "lstm", "--input-size", "3", "--hidden-size",
                                      "4", "-c", "bogus"), 2),
    Case("memory-unknown-dtype", ("memory", "lstm", "--input-size", "3", "--hidden-size", "4",
                                  "--dtype", "fp8"), 2),
    Case("solve-unknown-size", ("solve", "lstm", "--budget", "1000", "--input-size", "3",
                                "--for", "bogus"), 2),
    Case("match-to-empty", ("match", "lstm", "--to", "", "--input-size", "3",
                            "--hidden-size", "4"), 2),
    Case("match-to-commas", ("match", "lstm", "--to", ",", "--input-size", "3",
                             "--hidden-size", "4"), 2),
    Case("match-to-unknown", ("match", "lstm", "--to", "nope", "--input-size", "3",
                              "--hidden-size", "4"), 2),
    Case("formula-bad-format", ("formula", "lstm", "--format", "html"), 2),
    Case("formula-ok", ("formula", "lstm"), 0),
    Case("shapes-unknown-parameter", ("shapes", "lstm", "W_nope"), 2),
    Case("shapes-ok", ("shapes", "lstm", "W_hi"), 0),
    Case("latex-ok", ("latex", "lstm", "--parts", "count", "--format", "text"), 0),
    Case("latex-unknown-part", ("latex", "lstm", "--parts", "bogus"), 2),
    Case("latex-empty-parts", ("latex", "lstm", "--parts", ""), 2),
    Case("latex-bad-symbol", ("latex", "lstm", "--symbol", "h="), 2),
    Case("latex-unknown-notation", ("latex", "lstm", "--notation", "bogus"), 2),
    Case("latex-missing-notation-file", ("latex", "lstm", "--notation", "{missing_toml}"), 2),
    Case("latex-binary-notation-file", ("latex", "lstm", "--notation", "{binary_toml}"), 2),
    Case("latex-output-is-a-directory", ("latex", "lstm", "-o", "{dir}"), 2),
    Case("latex-output-in-a-missing-directory", ("latex", "lstm", "-o", "{missing_dir_tex}"),
         2),
    Case("latex-output-ok", ("latex", "lstm", "-o", "{tex}"), 0),
    Case("bib-nothing", ("bib",), 2),
    Case("bib-ok", ("bib", "lstm"), 0),
]

CONFLICTS = [
    Case("count-size-given-twice", ("count", "lstm", "--input-size", "3", "--hidden-size", "4",
                                    "--size", "hidden_size=5"), 2),
    Case("count-reset-after-on-lstm", ("count", "lstm", "--input-size", "3", "--hidden-size",
                                       "4", "--no-reset-after"), 2),
    Case("count-proj-size-on-rnn", ("count", "rnn", "--input-size", "3", "--hidden-size", "4",
                                    "--proj-size", "2"), 2),
    Case("count-single-cell-layers", ("count", "lstm", "-f", "pytorch-cell", "--input-size",
                                      "3", "--hidden-size", "4", "--num-layers", "2"), 2),
    Case("count-single-cell-bidirectional", ("count", "lstm", "-f", "pytorch-cell",
                                             "--input-size", "3", "--hidden-size", "4",
                                             "--bidirectional"), 2),
    Case("count-no-bias-where-biases-always-exist", ("count", "lstm", "-f", "tf1",
                                                     "--input-size", "3", "--hidden-size", "4",
                                                     "--no-bias"), 2),
    Case("solve-for-a-given-size", ("solve", "lstm", "--budget", "1000", "--input-size", "3",
                                    "--hidden-size", "4"), 2),
    Case("solve-for-input-size-given", ("solve", "lstm", "--budget", "1000", "--input-size",
                                        "3", "--hidden-size", "4", "--for", "input_size"), 2),
    Case("bib-cell-and-all", ("bib", "lstm", "--all"), 2),
    Case("latex-standalone-json", ("latex", "lstm", "--standalone", "--format", "json"), 2),
]

SITE = [
    Case("site-ok-bom-and-crlf-cells", ("site", "--out", "{site}", "--cells", "{cells_ok}"), 0),
    Case("site-cells-missing", ("site", "--out", "{site}", "--cells", "{missing}"), 2),
    Case("site-cells-is-a-file", ("site", "--out", "{site}", "--cells", "{crlf}"), 2),
    Case("site-cells-binary", ("site", "--out", "{site}", "--cells", "{cells_binary}"), 2),
    Case("site-cells-latin1", ("site", "--out", "{site}", "--cells", "{cells_latin1}"), 2),
    Case("site-out-foreign-folder", ("site", "--out", "{foreign}"), 2, keeps="{foreign}"),
    Case("site-out-is-a-file", ("site", "--out", "{crlf}"), 2, keeps="{crlf}"),
    Case("site-out-is-the-cells-folder", ("site", "--out", "{cells_ok}", "--cells",
                                          "{cells_ok}"), 2, keeps="{cells_ok}"),
]


# ---------------------------------------------------------------- models

MODEL_COMMANDS: dict[str, list[str]] = {  # MODEL is "{model}"
    "count": ["count", "{model}", "--size", "n_c=8", "--size", "L=2"],
    "table": ["table", "{model}", "--row", "n_c=8,L=2"],
    "latex": ["latex", "{model}"],
}
MODEL_FILES = {  # placeholder: status
    "model_dir": 2, "model_binary": 2, "model_latin1": 2, "model_missing": 2,
    "model_empty": 2, "model_escape": 2, "model_bom": 0, "model_crlf": 0,
}


def _model_cases() -> Iterator[Case]:
    for command, argv in MODEL_COMMANDS.items():
        for name, status in MODEL_FILES.items():
            yield Case(f"{command}-model-{name}",
                       tuple(a.replace("{model}", "{" + name + "}") for a in argv), status)
    count = ["count", "sak2014-lstm", "--size", "n_c=8", "--size", "L=2"]
    yield Case("count-model-ok", tuple(count), 0)
    yield Case("table-ok", ("table", "sak2014-lstmp"), 0)
    for what, value in BAD_NUMBERS.items():
        status = 0 if what == "huge" else 2
        yield Case(f"count-model--size-{what}", tuple(_set(count, "--size", f"n_c={value}")),
                   status)
        yield Case(f"table-row-{what}", ("table", "sak2014-lstm", "--row", f"n_c={value},L=2"),
                   status)


MODELS = [*_model_cases(),
          Case("models-ok", ("models",), 0),
          Case("models-json-ok", ("models", "--json"), 0),
          Case("models-extra-argument", ("models", "lstm"), 2),
          Case("models-unknown-option", ("models", "--bogus"), 2),
          Case("table-unknown-option", ("table", "sak2014-lstm", "--bogus"), 2),
          Case("table-unknown-model", ("table", "nope"), 2),
          Case("table-a-cell", ("table", "lstm"), 2),
          Case("table-bad-format", ("table", "sak2014-lstm", "--format", "html"), 2),
          Case("table-row-unknown-symbol", ("table", "sak2014-lstm", "--row", "bogus=3"), 2),
          Case("table-row-without-value", ("table", "sak2014-lstm", "--row", "n_c"), 2),
          Case("table-row-commas", ("table", "sak2014-lstm", "--row", ","), 2),
          Case("table-row-missing-symbol", ("table", "sak2014-lstm", "--row", "n_c=8"), 2),
          Case("table-rows-missing", ("table", "sak2014-lstm", "--rows", "{missing}"), 2),
          Case("table-rows-dir", ("table", "sak2014-lstm", "--rows", "{dir}"), 2),
          Case("table-rows-binary", ("table", "sak2014-lstm", "--rows", "{binary}"), 2),
          Case("table-rows-bad-json", ("table", "sak2014-lstm", "--rows", "{rows_bad_json}"),
               2),
          Case("table-rows-csv-ok", ("table", "sak2014-lstm", "--rows", "{rows_csv}"), 0),
          Case("count-model-missing-size", ("count", "sak2014-lstm", "--size", "n_c=8"), 2),
          Case("count-model-unknown-size", ("count", "sak2014-lstm", "--size", "n_c=8",
                                            "--size", "L=2", "--size", "bogus=3"), 2),
          Case("count-model-cell-option", ("count", "sak2014-lstm", "--size", "n_c=8",
                                           "--size", "L=2", "--hidden-size", "3"), 2),
          Case("count-model-framework", ("count", "sak2014-lstm", "-f", "pytorch", "--size",
                                         "n_c=8", "--size", "L=2"), 2),
          Case("latex-model-output-is-a-directory", ("latex", "sak2014-lstm", "-o", "{dir}"),
               2),
          Case("latex-model-output-ok", ("latex", "sak2014-lstm", "-o", "{tex}"), 0),
          Case("latex-model-standalone-ok", ("latex", "sak2014-lstm", "--standalone"), 0)]

CASES = [*_numeric_cases(), *_file_cases(), *UNKNOWN_OPTION, *CONFLICTS, *SITE, *MODELS]


def test_the_table_covers_every_subcommand() -> None:
    from derive.cli import COMMANDS

    assert {c.argv[0] for c in CASES if c.argv} >= set(COMMANDS)
    assert len({c.id for c in CASES}) == len(CASES)


# ---------------------------------------------------------------- the files


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, str]:
    """Every "{name}" of the table, made in tmp_path."""
    def write(name: str, data: bytes) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    binary = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) + b"\x1b[2J\n"
    latin1 = RNN.replace('title "', 'title "Caf\u00e9 ').encode("latin-1", "replace")
    (tmp_path / "adir").mkdir()
    (tmp_path / "folder.cell").mkdir()
    out = {
        "dir": str(tmp_path / "adir"),
        "dir_named_cell": str(tmp_path / "folder.cell"),
        "binary": write("binary.cell", binary),
        "latin1": write("latin1.cell", latin1),
        "missing": str(tmp_path / "missing.cell"),
        "empty_file": write("empty.cell", b""),
        "escape_sequence": write("escape.cell", RNN.replace(  # UTF-8, one ANSI colour code
            "cell user-rnn\n", "cell user-rnn\x1b[31m\n").encode()),
        "bom": write("bom.cell", b"\xef\xbb\xbf" + RNN.encode()),
        "crlf": write("crlf.cell", RNN.replace("\n", "\r\n").encode()),
        "bom_crlf": write("bom-crlf.cell", b"\xef\xbb\xbf" + RNN.replace("\n", "\r\n").encode()),
        "missing_toml": str(tmp_path / "missing.toml"),
        "binary_toml": write("binary.toml", binary),
        "missing_dir_tex": str(tmp_path / "no" / "such" / "dir" / "out.tex"),
        "tex": str(tmp_path / "out.tex"),
        "site": str(tmp_path / "site"),
        "model_dir": str(tmp_path / "folder.model"),
        "model_binary": write("binary.model", binary),
        "model_latin1": write("latin1.model", SAK.replace('title = "', 'title = "Caf\u00e9 ')
                              .encode("latin-1", "replace")),
        "model_missing": str(tmp_path / "missing.model"),
        "model_empty": write("empty.model", b""),
        "model_escape": write("escape.model", SAK.replace(
            'model = "sak2014-lstm"', 'model = "sak2014-lstm\x1b[31m"').encode()),
        "model_bom": write("bom.model", b"\xef\xbb\xbf" + SAK.encode()),
        "model_crlf": write("crlf.model", SAK.replace("\n", "\r\n").encode()),
        "rows_bad_json": write("rows.json", b'[{"n_c": 8, "L": ]'),
        "rows_csv": write("rows.csv", b"n_c,L\n8,2\n16,3\n"),
    }
    (tmp_path / "folder.model").mkdir()
    for folder, files in {
        "cells_ok": {"user-bom.cell": b"\xef\xbb\xbf" + RNN.replace(
            "cell user-rnn", "cell user-bom").encode(),
            "user-crlf.cell": RNN.replace("cell user-rnn", "cell user-crlf").replace(
                "\n", "\r\n").encode()},
        "cells_binary": {"binary.cell": binary},
        "cells_latin1": {"latin1.cell": latin1},
        "foreign": {"keep.txt": b"not derive's\n"},
    }.items():
        (tmp_path / folder).mkdir()
        for name, data in files.items():
            (tmp_path / folder / name).write_bytes(data)
        out[folder] = str(tmp_path / folder)
    return out


def _snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------- the check


def run(argv: list[str]) -> int:
    """``main(argv)``; a SystemExit (argparse's --help, --version) gives its code."""
    with alarm(SITE_SECONDS if argv[:1] == ["site"] else HANG_SECONDS,
               "derive did not return in time"):
        try:
            return main(argv)
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 1


def _control(text: str) -> list[str]:
    return sorted({repr(ch) for ch in text if ch != "\n" and unicodedata.category(ch) == "Cc"})


def _is_progress(line: str) -> bool:
    """A progress line of derive site: 'render pages ...' or 'render pages: 1.23 s'."""
    return line.endswith(" ...") or (line.endswith(" s") and ": " in line)


def check_refused(command: str, err: str, out: str) -> None:
    assert "Traceback" not in err, err
    assert out == "", f"output on stdout although the input is refused: {out[:300]!r}"
    lines = err.splitlines()
    if command == "site":
        lines = [line for line in lines if not _is_progress(line)]
    assert lines, "no message on stderr"
    assert lines[0].startswith("derive"), f"the message does not start with 'derive': {err!r}"
    assert ": error: " in lines[0], err
    assert lines[0].split(": error: ", 1)[1].strip(), f"an empty message: {err!r}"
    starting = [line for line in lines if line.startswith("derive")]
    assert len(starting) == 1, f"{len(starting)} messages: {err!r}"
    rest = lines[1:]
    located = (len(rest) == 2 and rest[0].startswith("    ") and rest[1].strip()
               and set(rest[1].strip()) == {"^"})
    assert not rest or located, f"{len(lines)} lines on stderr: {err[:2000]!r}"
    assert not _control(err), f"control characters on stderr: {_control(err)}: {err[:500]!r}"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, paths: dict[str, str], capsys: pytest.CaptureFixture[str]
                   ) -> None:
    def fill(arg: str) -> str:
        for name, path in paths.items():
            arg = arg.replace("{" + name + "}", path)
        return arg

    argv = [fill(a) for a in case.argv]
    kept = fill(case.keeps)
    before = _snapshot(Path(kept)) if kept else None
    status = run(argv)
    out, err = capsys.readouterr()
    shown = " ".join(a if len(a) < 60 else a[:20] + "..." for a in argv)
    allowed = case.status if isinstance(case.status, tuple) else (case.status,)
    assert status in allowed, (f"derive {shown}: status {status}, expected "
                               f"{' or '.join(map(str, allowed))}; stdout {out[:300]!r}, "
                               f"stderr: {err[-3000:]}")
    if status == 0:
        assert "Traceback" not in err and "error" not in err.lower(), err
        assert out.strip() or "--out" in argv or "-o" in argv, "no output"
    else:
        check_refused(argv[0] if argv else "", err, out)
    if before is not None:
        assert _snapshot(Path(kept)) == before, f"derive {shown} changed {kept}"
