"""The ``derive`` command. Errors become one message on stderr and exit status 2.

``derive count`` imports only the standard library and the count path: the engine runs
once per cell file and its result is cached (see :mod:`derive.cache`).
"""

from __future__ import annotations

import argparse
import sys

from derive.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

from derive import tables
from derive.errors import DeriveError, visible

FRAMEWORK_HELP = ("how a framework stores the cell: equations (the cell's own, the "
                  "default), pytorch, pytorch-cell, keras, onnx, tf1, ... (derive cells "
                  "lists each cell's)")
VERSION = "0.1.0"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter without its shutil import: the terminal's width from os."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        if kwargs.get("width") is None:
            import os

            try:
                kwargs["width"] = max(os.get_terminal_size().columns - 2, 40)
            except OSError:
                kwargs["width"] = int(os.environ.get("COLUMNS", "100")) - 2
        super().__init__(prog, **kwargs)


class _Parser(argparse.ArgumentParser):
    """Usage errors name the subcommand once: ``derive formula: unrecognized arguments``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(self.prog, f"{message} (see '{self.prog} --help')")


class UsageError(DeriveError):
    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


# Each subcommand: (one-line help, a description, examples, the function adding its options).
def _count_options(c: argparse.ArgumentParser) -> None:
    _config_options(c)
    c.add_argument("--json", action="store_true", help="one JSON object on stdout: the "
                   "tensors, the total, each formula (text, ASCII, LaTeX, a tree) and its value")
    c.add_argument("--ascii", action="store_true", help="formulas in ASCII (4*h*(d + h + 2)) "
                   "instead of 4·h·(d + h + 2)")


def _flops_options(c: argparse.ArgumentParser) -> None:
    _config_options(c)
    c.add_argument("--ascii", action="store_true", help="formulas in ASCII (4*h*(d + h + 2), "
                   "h^2) instead of 4·h·(d + h + 2), h²")
    c.add_argument("--convention", "-c", default="flops", metavar="NAME",
                   help="macs, flops (default), flops-products, macs-bias, "
                   "flops-no-activations, a peer tool's (torchinfo, thop, ptflops, calflops, "
                   "deepspeed), or 'all' for one table of every convention")
    c.add_argument("--batch-first", action="store_true", help="PyTorch's batch_first=True "
                   "input layout, (B, T, features); the default is (T, B, features). Only "
                   "what a peer tool prints depends on it")
    _sequence_options(c)


def _memory_options(c: argparse.ArgumentParser) -> None:
    _config_options(c)
    c.add_argument("--ascii", action="store_true", help="formulas in ASCII (4*h*(d + h + 2), "
                   "h^2) instead of 4·h·(d + h + 2), h²")
    c.add_argument("--dtype", default="fp32", help="bytes per value of the weights, state and "
                   "activations: fp64, fp32 (default), bf16, fp16, int8")
    c.add_argument("--optimizer", metavar="NAME", help="also the memory of a training step: "
                   "sgd, sgd-momentum, adam or adamw (weights, gradients, optimizer state, "
                   "activations)")
    c.add_argument("--master-weights", metavar="DTYPE", help="with --optimizer under mixed "
                   "precision: an fp32 master copy of the weights, which the optimizer steps")
    _sequence_options(c)


def _solve_options(c: argparse.ArgumentParser) -> None:
    _config_options(c)
    c.add_argument("--ascii", action="store_true", help="formulas in ASCII (4*h*(d + h + 2), "
                   "h^2) instead of 4·h·(d + h + 2), h²")
    c.add_argument("--budget", metavar="N", required=True, help="the number of parameters: "
                   "1000000, 1_000_000, 1e6, 1M, 2.5B (an exact integer)")
    c.add_argument("--for", dest="solve_for", default="hidden_size", metavar="KEYWORD",
                   help="the size to solve for (default hidden_size)")
    c.add_argument("--exact-root", action="store_true", help="also the root in closed form, "
                   "as SymPy solves it (slower: imports SymPy)")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _match_options(c: argparse.ArgumentParser) -> None:
    _config_options(c)
    c.add_argument("--ascii", action="store_true", help="formulas in ASCII (4*h*(d + h + 2), "
                   "h^2) instead of 4·h·(d + h + 2), h²")
    c.add_argument("--to", required=True, metavar="CELL[,CELL...]",
                   help="one or several cells (comma-separated) to size")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _formula_options(f: argparse.ArgumentParser) -> None:
    f.add_argument("cell", help="a catalog name (lstm, gru, ...) or a path to a .cell file")
    f.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP)
    f.add_argument("--format", choices=("text", "latex"), default="text",
                   help="text (default) or one LaTeX expression")
    f.add_argument("--no-bias", action="store_true", help="the count without bias vectors")
    f.add_argument("--ascii", action="store_true", help="text formulas in ASCII")


def _shapes_options(s: argparse.ArgumentParser) -> None:
    s.add_argument("cell", help="a catalog name (lstm, gru, ...) or a path to a .cell file")
    s.add_argument("param", nargs="*", help="only these parameters (e.g. W_hi)")
    s.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP
                   + "; also shows the stored tensors and what each packs")
    s.add_argument("--ascii", action="store_true", help="counts in ASCII")


def _cells_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--json", action="store_true", help="one JSON list on stdout")


def _table_options(t: argparse.ArgumentParser) -> None:
    t.add_argument("model", help="a shipped model (derive models) or a path to a .model file")
    t.add_argument("--row", action="append", default=[], metavar="SYM=N,...",
                   help="a configuration to count, e.g. --row n_c=1024,L=2 (repeatable); "
                   "without --row or --rows, the paper's rows")
    t.add_argument("--rows", metavar="FILE", help="configurations from a CSV file (a header "
                   "of symbols, optionally label and printed) or a JSON list of objects")
    t.add_argument("--format", choices=("text", "markdown", "latex", "json"), default="text",
                   help="text (default), markdown, latex (booktabs) or json")


def _latex_options(lx: argparse.ArgumentParser) -> None:
    lx.add_argument("cell", help="a catalog name (lstm, gru, ...) or a path to a .cell file")
    lx.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP)
    lx.add_argument("--notation", help="how sizes are named: d2l, pytorch, sak2014, or a "
                    ".toml file with a [symbols] table")
    lx.add_argument("--symbol", action="append", default=[], metavar="SYM=NAME",
                    help="print a size under another name, e.g. --symbol h=n_c")
    lx.add_argument("--parts", default="equations,shapes,count,bib", metavar="PARTS",
                    help="comma-separated, any of: equations, shapes, count, bib (default: all)")
    lx.add_argument("--standalone", action="store_true",
                    help="a complete document that compiles with pdflatex + bibtex")
    lx.add_argument("--format", choices=("latex", "text", "mathml", "json"), default="latex",
                    help="latex (default), text, mathml or json")
    lx.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def _bib_options(bb: argparse.ArgumentParser) -> None:
    bb.add_argument("cell", nargs="?", help="a catalog name or a path to a .cell file")
    bb.add_argument("--all", action="store_true", help="the BibTeX of the whole catalog")


def _completion_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("shell", choices=("bash", "zsh", "fish"), help="the shell to complete in")


def _site_options(site: argparse.ArgumentParser) -> None:
    site.add_argument("--cells", metavar="DIR", help="also render the .cell files in DIR")
    site.add_argument("--out", metavar="DIR", default="site",
                      help="where to build (default: site); never a folder derive did not build")


SUBCOMMANDS: dict[str, tuple[str, str, str, Any]] = {
    "count": ("parameters per tensor and in total",
              "Count a cell's parameters as a framework stores them: every tensor with its "
              "name and shape, the total, and the closed form with its symbols. Given a model "
              "(derive models, or a .model file), count the whole network: layer by layer, "
              "every tensor, and the closed form in the model's symbols (--size SYM=N).",
              "derive count lstm -f pytorch --input-size 512 --hidden-size 256 --bidirectional\n"
              "derive count gru -f keras --input-size 10 --hidden-size 20 --json\n"
              "derive count convlstm2d -f keras --size in_channels=3 --size filters=64 "
              "--size kernel_size=3x3\n"
              "derive count sak2014-lstmp --size n_c=2048 --size n_r=512 --size L=2",
              _count_options),
    "flops": ("compute over a sequence, under a named convention",
              "The operations of one step read off the equations, weighed by a compute "
              "convention (derive's own or a peer tool's), over T steps, B sequences, L layers "
              "and D directions; for a peer tool also what the tool prints.",
              "derive flops lstm -f pytorch --input-size 10 --hidden-size 20 -c all\n"
              "derive flops gru -f pytorch --input-size 512 --hidden-size 256 --seq-len 100 "
              "--batch 32 -c ptflops --batch-first", _flops_options),
    "memory": ("bytes of weights, state and activations",
               "Bytes of the weights in every dtype, the recurrent state carried between steps "
               "and the activations kept for backpropagation, with the assumptions stated.",
               "derive memory lstm -f pytorch --input-size 512 --hidden-size 256 --dtype bf16 "
               "--seq-len 100 --batch 32", _memory_options),
    "solve": ("the largest size within a parameter budget",
              "Solve the count for one size (hidden_size by default): the exact root, the "
              "largest size that fits, its count and the slack.",
              "derive solve lstm -f pytorch --budget 1M --input-size 512\n"
              "derive solve lstmp -f pytorch --budget 2.5e6 --input-size 80 --hidden-size 1024 "
              "--for proj_size", _solve_options),
    "match": ("the hidden size of other cells at an equal count",
              "For each other cell, the hidden size whose count is closest to this cell's.",
              "derive match lstm -f pytorch --to gru,rnn --input-size 512 --hidden-size 256",
              _match_options),
    "formula": ("the closed form, with L layers and D directions",
                "The count as a closed form in the cell's sizes, L layers and D directions.",
                "derive formula lstmp -f pytorch\nderive formula gru -f keras --format latex",
                _formula_options),
    "shapes": ("the derivation of every parameter's shape",
               "Why each parameter has its shape: for every axis, the chain of reasons from "
               "the equations to the declaration that fixed it.",
               "derive shapes lstm\nderive shapes lstm W_hi\nderive shapes gru -f pytorch",
               _shapes_options),
    "cells": ("list the catalog", "Every cell of the built-in catalog, with its conventions.",
              "derive cells\nderive cells --json", _cells_options),
    "models": ("list the shipped models (whole networks from papers)",
               "Every model of derive/models: whole networks as papers count them (layers "
               "around the cells, stacks, bidirectional merges, tied weights). Count one with "
               "derive count MODEL, compare it with its paper with derive table MODEL.",
               "derive models\nderive models --json", _cells_options),
    "table": ("a model's count at each configuration, beside the paper's numbers",
              "Count a model (a shipped one or a .model file) at the configurations of its "
              "paper's table, or at rows you give, and round each count as the paper prints "
              "it (13M, 607.8M) to say whether the paper's number is reproduced.",
              "derive table sak2014-lstmp\n"
              "derive table shi2015-convlstm-2 --format latex\n"
              "derive table xlstm-lstm-baseline --row d=1024,L=12 --row d=2048,L=24\n"
              "derive table my.model --rows sizes.csv --format markdown", _table_options),
    "latex": ("LaTeX for papers: equations, shapes, count, citation",
              "The cell's equations (labelled), a booktabs shape table, the count in a paper's "
              "notation and its BibTeX; --standalone compiles with pdflatex + bibtex.",
              "derive latex lstm -f pytorch --notation pytorch --standalone -o lstm.tex\n"
              "derive latex lstmp -f pytorch --notation sak2014 --parts count --format text",
              _latex_options),
    "bib": ("the BibTeX of a cell, or of the whole catalog",
            "The BibTeX entries a cell cites, or with --all those of the whole catalog.",
            "derive bib lstm\nderive bib --all", _bib_options),
    "site": ("build the reference site (MkDocs) into site/",
             "Render every cell (and the cells in --cells DIR) into an offline MkDocs site; "
             "the build is atomic and deterministic.",
             "derive site\nderive site --cells my-cells --out build/site", _site_options),
    "completion": ("a shell completion script (bash, zsh, fish)",
                   "Print a completion script generated from this command line by argcomplete; "
                   "source it from your shell's start-up file.",
                   "derive completion bash >> ~/.bashrc\n"
                   "derive completion fish > ~/.config/fish/completions/derive.fish",
                   _completion_options),
}


def _subparser(name: str, parent: Any = None) -> argparse.ArgumentParser:
    """The parser of one subcommand, with its description, examples and options."""
    short, description, examples, add = SUBCOMMANDS[name]
    kwargs = dict(description=description, formatter_class=_Formatter,
                  epilog="examples:\n" + "\n".join("  " + e for e in examples.splitlines()))
    sp = (parent.add_parser(name, help=short, **kwargs) if parent is not None
          else _Parser(prog=f"derive {name}", **kwargs))
    add(sp)
    return sp


def _parser() -> argparse.ArgumentParser:
    """The whole command line (``derive --help``, shell completion): every subcommand."""
    p = _Parser(prog="derive", description="Derive the shapes and exact parameter counts of "
                "recurrent cells from their gate equations.",
                epilog="Run 'derive COMMAND --help' for a command's options and examples.")
    p.add_argument("--version", action="version", version=f"derive {VERSION}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser,
                           metavar="COMMAND")
    for name in SUBCOMMANDS:
        _subparser(name, sub)
    return p


def parse(argv: list[str]) -> argparse.Namespace:
    """Only the chosen subcommand's parser is built (``derive count`` starts fast); options
    and positionals may come in any order (``derive shapes lstm -f pytorch W_hi``)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    if command not in SUBCOMMANDS:
        return _parser().parse_args(argv)
    rest = list(argv)
    rest.remove(command)
    args = _subparser(command).parse_intermixed_args(rest)
    args.command = command
    return args


def _config_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("cell", help="a catalog name (lstm, gru, ...) or a path to a .cell file")
    c.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP)
    c.add_argument("--input-size", metavar="N", help="features of the input x_t (d)")
    c.add_argument("--hidden-size", metavar="N", help="units: the size of the hidden state (h)")
    c.add_argument("--proj-size", metavar="N", help="LSTM projection (PyTorch proj_size, TF1 "
                   "num_proj); selects lstmp or lstmp-peephole, 0 means none")
    c.add_argument("--size", action="append", default=[], metavar="KEYWORD=N",
                   help="any other size the cell declares, e.g. --size num_heads=4, "
                   "--size kernel_size=3x5 (one value per axis, or one for every axis)")
    c.add_argument("--num-layers", metavar="L", default="1",
                   help="layers stacked (default 1)")
    c.add_argument("--bidirectional", action="store_true",
                   help="two directions (D = 2) in every layer")
    c.add_argument("--no-bias", action="store_true", help="drop every bias vector")
    c.add_argument("--no-reset-after", action="store_true",
                   help="Keras's GRU reset_after=False: selects the cell gru-reset-before")


def _sequence_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--seq-len", metavar="T", default="1", help="time steps (default 1)")
    c.add_argument("--batch", metavar="B", default="1",
                   help="sequences in the batch (default 1)")
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration keywords of counting.configure, from the shared options."""
    return dict(num_layers=args.num_layers, bidirectional=args.bidirectional,
                bias=not args.no_bias, reset_after=False if args.no_reset_after else None,
                **_sizes(args))


def _sizes(args: argparse.Namespace) -> dict[str, Any]:
    sizes: dict[str, Any] = {}
    for key in ("input_size", "hidden_size", "proj_size"):
        value = getattr(args, key, None)
        if value is not None:
            sizes[key] = value
    for item in args.size:
        key, eq, value = item.partition("=")
        if not eq or not key.strip().isidentifier():
            raise DeriveError(f"--size takes KEYWORD=N, got '{item}'")
        if key.strip() in sizes:
            raise DeriveError(f"{key.strip()} is given twice (--size {item} and "
                              f"{sizes[key.strip()]!r} before it)")
        sizes[key.strip()] = value
    return sizes


_SUPERSCRIPT = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-", strict=True))


def ascii_text(text: str) -> str:
    """A formula printed by derive, in ASCII: · → *, − → -, h² → h^2."""
    import re

    text = text.replace("·", "*").replace("−", "-")
    return re.sub("[⁰¹²³⁴⁵⁶⁷⁸⁹⁻]+",
                  lambda m: "^" + "".join(_SUPERSCRIPT[c] for c in m[0]), text)


def _emit(lines: list[str], args: argparse.Namespace) -> None:
    text = "\n".join(lines)
    print(ascii_text(text) if getattr(args, "ascii", False) else text)


def _json(data: Any, **_: Any) -> str:
    """One JSON document (json is imported only for --json: derive count starts fast)."""
    import json

    return json.dumps(data, ensure_ascii=False)


def _group(n: int) -> str:
    return f"{n:,}"


def _is_model(ref: str) -> bool:
    from derive.network import is_model

    return is_model(ref)


def _model_sizes(args: argparse.Namespace, command: str) -> dict[str, str]:
    """--size SYM=N for a model; the cell options do not apply to a whole network."""
    cell_only = [flag for flag, on in (
        ("--framework", getattr(args, "framework", "equations") != "equations"),
        ("--input-size", getattr(args, "input_size", None) is not None),
        ("--hidden-size", getattr(args, "hidden_size", None) is not None),
        ("--proj-size", getattr(args, "proj_size", None) is not None),
        ("--num-layers", getattr(args, "num_layers", "1") != "1"),
        ("--bidirectional", getattr(args, "bidirectional", False)),
        ("--no-reset-after", getattr(args, "no_reset_after", False))) if on]
    if cell_only:
        raise DeriveError(f"derive {command} {args.cell}: {cell_only[0]} is an option of a "
                          "cell; a model sets its layers in its file and takes its symbols "
                          "as --size SYM=N")
    sizes: dict[str, str] = {}
    for item in args.size:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise DeriveError(f"--size takes SYMBOL=N, got '{item}'")
        if key.strip() in sizes:
            raise DeriveError(f"{key.strip()} is given twice")
        sizes[key.strip()] = value
    return sizes


def _without_bias(net: Any) -> Any:
    return net._replace(layers=tuple(layer._replace(bias=False) for layer in net.layers))


def cmd_count_model(args: argparse.Namespace) -> int:
    from derive import assemble
    from derive.network import read_model

    sizes = _model_sizes(args, "count")
    net = read_model(args.cell)
    if args.no_bias:
        net = _without_bias(net)
    result = assemble.count(assemble.assemble(net), sizes)
    if args.json:
        print(_json(result.to_json()))
        return 0
    form = "ascii" if args.ascii else "text"
    lines = [f"{result.model}: {result.title}"]
    if result.citation:
        lines.append(f"source: {result.citation}")
    lines.append("config: " + " ".join(f"{k}={v}" for k, v in result.config.items()))
    lines += [f"requires: {r}" for r in result.requires]
    lines.append("")
    rows = [(lc.name, lc.summary, _group(lc.input), _group(lc.output), _group(lc.count))
            for lc in result.layers]
    rows.append(("total", "", "", "", _group(result.total)))
    lines += tables.text(("layer", "what", "reads", "gives", "count"), rows, {2, 3, 4})
    lines.append("")
    rows = [(t.name, t.shape_text, _group(t.count), t.note) for t in result.tensors]
    lines += tables.text(("tensor", "shape", "count", ""), rows, {2})
    lines.append("")
    lines.append("symbols: " + ", ".join(
        f"{s} = {v:,}" + (f" ({d})" if d else "") for s, d, v in result.symbols))
    for lc in result.layers:
        if lc.count:
            lines.append(f"{lc.name}: {lc.formula[form]} = {_group(lc.count)}")
    lines.append(f"total: {result.forms['total'][form]} = {_group(result.total)}")
    _emit(lines, args)
    return 0


def cmd_count(args: argparse.Namespace) -> int:
    from derive.counting import count

    if _is_model(args.cell):
        return cmd_count_model(args)

    result = count(args.cell, args.framework, num_layers=args.num_layers,
                   bidirectional=args.bidirectional, bias=not args.no_bias,
                   reset_after=False if args.no_reset_after else None, **_sizes(args))
    if args.json:
        print(_json(result.to_json(), ensure_ascii=False))
        return 0
    cfg = " ".join(f"{k}={v}" for k, v in result.config.items())
    lines = [f"{result.cell}: {result.title}",
             f"convention: {result.framework} ({result.framework_title})",
             f"config: {cfg}"]
    lines += [f"requires: {r}" for r in result.requires]
    lines.append("")
    layered = result.config.get("num_layers", 1) > 1 and len(
        {t.name for t in result.tensors}) < len(result.tensors)
    rows = [((f"{t.name} (layer {t.layer + 1})" if layered else t.name),
             t.shape_text, _group(t.count)) for t in result.tensors]
    w0 = max([len("tensor")] + [len(r[0]) for r in rows])
    w1 = max([len("shape")] + [len(r[1]) for r in rows])
    w2 = max([len("count"), len(_group(result.total))] + [len(r[2]) for r in rows])
    lines.append(f"{'tensor':<{w0}}  {'shape':<{w1}}  {'count':>{w2}}")
    lines += [f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}" for a, b, c in rows]
    lines.append(f"{'total':<{w0}}  {'':<{w1}}  {_group(result.total):>{w2}}")
    lines.append("")
    legend = [f"{sym} = {kw} = {result.env[sym]:,}" for sym, kw in result.sizes]
    if result.stackable:
        legend += [f"L = num_layers = {result.config['num_layers']}",
                   f"D = directions = {2 if result.config['bidirectional'] else 1}"]
    lines.append("symbols: " + ", ".join(legend))
    form = "ascii" if args.ascii else "text"
    numbers = result.numbers()
    lines.append(f"one layer, one direction: {result.forms['layer'][form]} = "
                 f"{_group(numbers['layer'])}")
    if result.stackable:
        if result.config.get("num_layers", 1) > 1:
            lines.append(f"each layer above the first (input {result.above_text}): "
                         f"{result.forms['upper'][form]} = {_group(numbers['upper'])}")
        lines.append(f"total, L layers, D directions: {result.forms['total'][form]} = "
                     f"{_group(result.total)}")
    print("\n".join(lines))
    return 0


def _config_line(config: dict[str, Any]) -> str:
    return "config: " + " ".join(f"{k}={v}" for k, v in config.items())


def cmd_flops(args: argparse.Namespace) -> int:
    from derive.costing import KIND_TEXT, KINDS, conventions, flops, formula_text, step_text

    names = list(conventions()) if args.convention == "all" else [args.convention]
    results = [flops(args.cell, args.framework, name, seq_len=args.seq_len, batch=args.batch,
                     batch_first=args.batch_first, **_options(args)) for name in names]
    if args.json:
        out = [r.to_json() for r in results]
        print(_json(out if args.convention == "all" else out[0], ensure_ascii=False))
        return 0
    first = results[0]
    lines = [f"{first.cell}, convention {first.framework}", _config_line(first.config), ""]
    if args.convention == "all":
        rows = [(r.convention, _group(r.total),
                 _group(r.printed) if r.printed != r.total else "", r.summary)
                for r in results]
        lines += tables.text(("compute convention", "total", "tool prints", "what it counts"), rows,
                        {1, 2})
        _emit(lines, args)
        return 0
    lines.append(f"{first.convention}: {first.summary}")
    rows = []
    for k in KINDS:
        raw, weighed = first.raw_by_kind.get(k, 0), first.by_kind[k]
        if raw or weighed:
            weight = "" if not raw else (f"{weighed // raw}" if weighed % raw == 0 else "mixed")
            rows.append((k, _group(raw), weight, _group(weighed), KIND_TEXT[k]))
    rows.append(("total", "", "", _group(first.total), f"under {first.convention}"))
    lines += tables.text(("kind", "operations", "× weight", f"= {first.convention}", "what it is"),
                    rows, {1, 2, 3})
    lines += ["", f"per time step: {_group(first.per_step)}",
              f"one step, layer 1, one direction, one batch element: {step_text(first)}",
              f"total: {formula_text(first)}"]
    if first.bugs:
        lines += ["", f"what the tool prints: {_group(first.printed)}; its documented bugs:"]
        lines += [f"  - {text}" + (f" ({delta:+,} here)" if delta else "")
                  for text, delta in first.bugs]
    _emit(lines, args)
    return 0


def _bytes(n: int) -> str:
    """``1,576,960 bytes (1.50 MiB)``: exact integers, the unit rounded in integers too."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            hundredths = (n * 100 + size // 2) // size
            return f"{_group(n)} bytes ({_group(hundredths // 100)}.{hundredths % 100:02d} {unit})"
    return f"{_group(n)} bytes"


def cmd_memory(args: argparse.Namespace) -> int:
    from derive.costing import ASSUMPTIONS, memory

    m = memory(args.cell, args.framework, dtype=args.dtype, seq_len=args.seq_len,
               batch=args.batch, **_options(args))
    train = None
    if args.optimizer is not None or args.master_weights is not None:
        from derive.training import training_memory

        train = training_memory(args.cell, args.framework, optimizer=args.optimizer or "adam",
                                dtype=args.dtype, master_weights=args.master_weights,
                                seq_len=args.seq_len, batch=args.batch, **_options(args))
    if args.json:
        out = m.to_json()
        if train is not None:
            out["training"] = train.to_json()
        print(_json(out, ensure_ascii=False))
        return 0
    lines = [f"{m.cell}, convention {m.framework}", _config_line(m.config), "",
             f"weights: {_group(m.parameters)} parameters"]
    lines += ["  " + r for r in tables.text(("dtype", "bytes"), [(k, _bytes(v))
                                                           for k, v in m.weights.items()], set())]
    states = " + ".join(f"{n} ({s})" for n, s in m.state_terms)
    lines += ["", f"recurrent state carried between steps ({states} per layer, direction and "
              f"batch element): {_group(m.state_values)} values, {_bytes(m.state_bytes)} "
              f"in {m.dtype}",
              f"  values: {m.state_formula}",
              f"activations kept for backprop: {_group(m.kept_per_step)} values per time step, "
              f"{_group(m.kept_values)} for the sequence, {_bytes(m.kept_bytes)} in {m.dtype}",
              "  per step, layer, direction and batch element: "
              + ", ".join(f"{w} ({s})" for w, s, _ in m.kept_terms),
              f"  values: {m.kept_formula}",
              f"total for inference with activations kept (weights, state, activations, "
              f"{m.dtype}): {_bytes(m.weights[m.dtype] + m.state_bytes + m.kept_bytes)}",
              "", "assumptions:"] + [f"  - {a}" for a in ASSUMPTIONS]
    if train is not None:
        master = ", fp32 master weights" if train.master_weights else ""
        lines += ["", f"training step ({train.optimizer}, {train.dtype}{master}):"]
        names = {"weights": "weights", "gradients": "gradients",
                 "optimizer_state": "optimizer state", "step_counters": "step counters",
                 "master_weights": "master weights", "activations": "activations"}
        rows = [(names[k], _bytes(v), train.formulas[k]) for k, v in train.parts.items()
                if v or k in ("weights", "gradients")]
        rows.append(("total", _bytes(train.total), train.formulas["total"]))
        lines += ["  " + r for r in tables.text(("part", "bytes", "closed form (bytes)"), rows,
                                           {1})]
        lines += ["assumptions:"] + [f"  - {a}" for a in train.assumptions]
    _emit(lines, args)
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from derive.budget import solve

    opts = _options(args)
    r = solve(args.cell, args.framework, budget=args.budget, solve_for=args.solve_for,
              exact=args.exact_root, **opts)
    if args.json:
        print(_json(r.to_json(), ensure_ascii=False))
        return 0
    sym = args.solve_for
    fixed = {k: v for k, v in r.config.items() if k != sym}
    _emit([
        f"{r.cell}, convention {r.framework}, budget {_group(r.budget)} parameters",
        _config_line(fixed), "",
        f"count as a function of {sym}: {r.polynomial}",
        f"count = budget at {sym} {r.root}",
        f"largest {sym} that fits: {r.value} ({_group(r.total)} parameters, slack "
        f"{_group(r.slack)})",
        f"{sym} = {r.value + 1} would need {_group(r.next_total)}"], args)
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    from derive.budget import match

    opts = _options(args)
    opts.pop("reset_after")
    others = [c.strip() for c in args.to.split(",") if c.strip()]
    if not others:
        raise DeriveError("--to takes one or more cells, separated by commas")
    target, rows = match(args.cell, others, args.framework, **opts)
    if args.json:
        print(_json({"cell": args.cell, "framework": args.framework, "count": target,
                          "matches": [m.to_json() for m in rows]}, ensure_ascii=False))
        return 0
    lines = [f"{args.cell}, convention {args.framework}: {_group(target)} parameters",
             _config_line({k: v for k, v in opts.items() if v is not None}), ""]
    lines += tables.text(("cell", "hidden_size", "count", "difference"),
                    [(m.cell, str(m.value), _group(m.total), f"{m.difference:+,}")
                     for m in rows], {1, 2, 3})
    _emit(lines, args)
    return 0


def cmd_formula(args: argparse.Namespace) -> int:
    from derive.counting import convention, load

    data, _ = load(args.cell, {})
    conv = convention(data, args.framework)
    forms = conv["formula"]["no_bias" if args.no_bias else "bias"]
    key = "ascii" if args.ascii else "text"
    if args.format == "text":
        syms = ", ".join(f"{s['symbol']} = {s['keyword']}" for s in data["sizes"])
        print(f"{data['cell']} ({args.framework}): {syms}, L = num_layers, D = directions")
        print(f"one layer, one direction: {forms['layer'][key]}")
        if conv["stackable"]:
            print(f"each layer above the first: {forms['upper'][key]}")
        print(f"total: {forms['total'][key]}")
    else:
        print(forms["total"]["latex"])
    return 0


def cmd_cells(args: argparse.Namespace) -> int:
    from derive import cache, catalog

    rows = []
    for name in catalog.builtin_names():
        data = cache.compiled(catalog.resolve(name))
        rows.append({"name": name, "title": data["title"],
                     "conventions": list(data["conventions"])})
    if args.json:
        print(_json(rows, ensure_ascii=False))
        return 0
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{w}}  {r['title']}  [{', '.join(r['conventions'])}]")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from derive.network import builtin_names, read_model

    nets = [read_model(name) for name in builtin_names()]
    if args.json:
        print(_json([{"name": n.name, "title": n.title, "citation": n.citation, "cite": n.cite,
                      "symbols": {s.name: {"description": s.description, "value": s.value}
                                  for s in n.symbols},
                      "layers": [layer.name for layer in n.layers], "rows": len(n.rows)}
                     for n in nets]))
        return 0
    print("\n".join(tables.text(("model", "title", "cites", "paper rows"),
                                [(n.name, n.title, n.cite, str(len(n.rows))) for n in nets],
                                {3})))
    return 0


def _rows(args: argparse.Namespace, net: Any) -> list[Any]:
    from derive.network import Row, read_rows

    rows = []
    for item in args.row:
        config: dict[str, Any] = {}
        for part in item.split(","):
            key, eq, value = part.partition("=")
            if not eq or not key.strip():
                raise DeriveError(f"--row takes SYM=N,SYM=N, got '{item}'")
            config[key.strip()] = value.strip()
        rows.append(Row(config, "", "", "--row"))
    if args.rows:
        rows += read_rows(args.rows)
    return rows or list(net.rows)


def cmd_table(args: argparse.Namespace) -> int:
    from derive import assemble, tabulate

    model = assemble.assemble(args.model)
    rows = _rows(args, model.net)
    if not rows:
        raise DeriveError(f"model {model.net.name} has no paper rows; give configurations "
                          "with --row SYM=N,... or --rows FILE")
    print(tabulate.render(model, tabulate.evaluate(model, rows), args.format))
    return 0


def cmd_shapes(args: argparse.Namespace) -> int:
    from derive.trace import render_text

    print(render_text(args.cell, args.framework, tuple(args.param), args.ascii))
    return 0


def cmd_site(args: argparse.Namespace) -> int:
    from pathlib import Path

    from derive.site import build

    build(Path(args.out), Path(args.cells) if args.cells else None)
    return 0


def cmd_latex(args: argparse.Namespace) -> int:
    from derive.paper import latex
    from derive.printing import SYMBOL_NAME

    symbols = {}
    for item in args.symbol:
        key, eq, value = item.partition("=")
        if not eq or not key.strip() or not SYMBOL_NAME.fullmatch(value):
            raise DeriveError(f"--symbol takes SYM=NAME with NAME a letter and an optional "
                              f"subscript (n_c), got '{item}'")
        symbols[key.strip()] = value
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if _is_model(args.cell):
        from derive.tabulate import latex_document

        if args.framework != "equations" or args.notation or symbols or args.format != "latex":
            raise DeriveError(f"derive latex {args.cell}: a model is printed in its own "
                              "symbols, as LaTeX (--framework, --notation, --symbol and "
                              "--format are options of a cell)")
        text = latex_document(args.cell, args.standalone)
        parts = ()
    elif not parts:
        raise DeriveError("--parts takes one or more of equations, shapes, count, bib")
    if args.standalone and args.format != "latex":
        raise DeriveError(f"--standalone makes a LaTeX document; --format {args.format} "
                          "prints the parts alone (drop one of the two)")
    if parts:
        text = latex(args.cell, args.framework, args.notation, symbols, parts, args.standalone,
                     args.format)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as exc:
            raise DeriveError(f"cannot write {args.output}: {exc.strerror}") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_bib(args: argparse.Namespace) -> int:
    from derive.paper import bib

    if args.cell and args.all:
        raise DeriveError("derive bib takes a cell or --all, not both")
    sys.stdout.write(bib(args.cell, args.all))
    return 0


def cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    print(argcomplete.shellcode(["derive"], shell=args.shell), end="")
    return 0


COMMANDS = {"count": cmd_count, "flops": cmd_flops, "memory": cmd_memory,
            "solve": cmd_solve, "match": cmd_match, "formula": cmd_formula, "cells": cmd_cells,
            "models": cmd_models, "table": cmd_table,
            "shapes": cmd_shapes, "latex": cmd_latex, "bib": cmd_bib, "site": cmd_site,
            "completion": cmd_completion}


def main(argv: list[str] | None = None) -> int:
    if argv is None and "_ARGCOMPLETE" in __import__("os").environ:  # a shell asks: complete
        import argcomplete

        argcomplete.autocomplete(_parser())
    argv = sys.argv[1:] if argv is None else argv
    if hasattr(sys, "set_int_max_str_digits"):
        sys.set_int_max_str_digits(0)  # exact integers at any size: 10^4400 parameters print
    try:
        args = parse(argv)
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"{exc.prog}: error: {visible(str(exc))}", file=sys.stderr)
        return 2
    except DeriveError as exc:
        print(f"derive: error: {visible(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # pragma: no cover - `derive count ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
