"""The ``derive`` command. Errors become one message on stderr and exit status 2.

``derive count`` imports only the standard library and the count path: the engine runs
once per cell file and its result is cached (see :mod:`derive.cache`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from derive.errors import DeriveError

FRAMEWORK_HELP = "equations (default), pytorch, pytorch-cell, keras, onnx, or any the cell defines"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise DeriveError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="derive", description="Derive the shapes and exact parameter counts of "
                "recurrent cells from their gate equations.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    cells = sub.add_parser("cells", help="list the catalog")
    cells.add_argument("--json", action="store_true")

    c = sub.add_parser("count", help="parameters per tensor and in total")
    _config_options(c)
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")
    c.add_argument("--ascii", action="store_true", help="formulas in ASCII (4*h*(d + h + 2)) "
                   "instead of 4·h·(d + h + 2)")

    fl = sub.add_parser("flops", help="compute over a sequence, under a named convention")
    _config_options(fl)
    fl.add_argument("--convention", "-c", default="flops",
                    help="macs, flops, flops-products, a peer tool's (torchinfo, thop, ...), "
                    "or 'all' (see derive flops --list)")
    _sequence_options(fl)

    me = sub.add_parser("memory", help="bytes of weights, state and activations")
    _config_options(me)
    me.add_argument("--dtype", default="fp32", help="of the state and activations: fp32 "
                    "(default), bf16, fp16, int8")
    _sequence_options(me)

    so = sub.add_parser("solve", help="the largest hidden size within a parameter budget")
    _config_options(so)
    so.add_argument("--budget", metavar="N", required=True, help="the number of parameters")
    so.add_argument("--for", dest="solve_for", default="hidden_size", metavar="KEYWORD",
                    help="the size to solve for (default hidden_size)")
    so.add_argument("--json", action="store_true")

    ma = sub.add_parser("match", help="the hidden size of other cells at an equal count")
    _config_options(ma)
    ma.add_argument("--to", required=True, metavar="CELL[,CELL...]",
                    help="one or several cells (comma-separated) to size")
    ma.add_argument("--json", action="store_true")

    f = sub.add_parser("formula", help="the closed form, with L layers and D directions")
    f.add_argument("cell")
    f.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP)
    f.add_argument("--format", choices=("text", "latex"), default="text")
    f.add_argument("--no-bias", action="store_true")
    f.add_argument("--ascii", action="store_true", help="text formulas in ASCII")

    s = sub.add_parser("shapes", help="the derivation of every parameter's shape")
    s.add_argument("cell")
    s.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP)
    lx = sub.add_parser("latex", help="LaTeX for papers: equations, shapes, count, citation")
    lx.add_argument("cell")
    lx.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP)
    lx.add_argument("--notation",
                    help="d2l, pytorch, sak2014, or a .toml file with a [symbols] table")
    lx.add_argument("--symbol", action="append", default=[], metavar="SYM=NAME",
                    help="print a size under another name, e.g. --symbol h=n_c")
    lx.add_argument("--parts", default="equations,shapes,count,bib")
    lx.add_argument("--standalone", action="store_true", help="a complete document")
    lx.add_argument("--format", choices=("latex", "text", "mathml", "json"), default="latex")
    lx.add_argument("-o", "--output", metavar="FILE")

    bb = sub.add_parser("bib", help="the BibTeX of a cell, or of the whole catalog")
    bb.add_argument("cell", nargs="?")
    bb.add_argument("--all", action="store_true")

    site = sub.add_parser("site", help="build the reference site (MkDocs) into site/")
    site.add_argument("--cells", metavar="DIR", help="also render the .cell files in DIR")
    site.add_argument("--out", metavar="DIR", default="site", help="default: site")
    return p


def _config_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("cell", help="a catalog name (lstm, gru, ...) or a path to a .cell file")
    c.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP)
    c.add_argument("--input-size", metavar="N")
    c.add_argument("--hidden-size", metavar="N")
    c.add_argument("--proj-size", metavar="N", help="LSTM projection (PyTorch proj_size); "
                   "selects the cell lstmp, 0 means none")
    c.add_argument("--size", action="append", default=[], metavar="KEYWORD=N",
                   help="any other size the cell declares, e.g. --size kernel_size=3")
    c.add_argument("--num-layers", metavar="L", default="1")
    c.add_argument("--bidirectional", action="store_true")
    c.add_argument("--no-bias", action="store_true", help="drop every bias vector")
    c.add_argument("--no-reset-after", action="store_true",
                   help="Keras's name for the cell gru-reset-before")


def _sequence_options(c: argparse.ArgumentParser) -> None:
    c.add_argument("--seq-len", metavar="T", default="1")
    c.add_argument("--batch", metavar="B", default="1")
    c.add_argument("--json", action="store_true")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    """The configuration keywords of counting.configure, from the shared options."""
    return dict(num_layers=args.num_layers, bidirectional=args.bidirectional,
                bias=not args.no_bias, reset_after=False if args.no_reset_after else None,
                **_sizes(args))


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

    return [line(header), *[line(r) for r in rows]]


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
        sizes[key.strip()] = value
    return sizes


def _group(n: int) -> str:
    return f"{n:,}"


def cmd_count(args: argparse.Namespace) -> int:
    from derive.counting import count

    result = count(args.cell, args.framework, num_layers=args.num_layers,
                   bidirectional=args.bidirectional, bias=not args.no_bias,
                   reset_after=False if args.no_reset_after else None, **_sizes(args))
    if args.json:
        print(json.dumps(result.to_json(), ensure_ascii=False))
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
    from derive.costing import KINDS, conventions, flops, formula_text, step_text

    names = list(conventions()) if args.convention == "all" else [args.convention]
    results = [flops(args.cell, args.framework, name, seq_len=args.seq_len, batch=args.batch,
                     **_options(args)) for name in names]
    if args.json:
        out = [r.to_json() for r in results]
        print(json.dumps(out if args.convention == "all" else out[0], ensure_ascii=False))
        return 0
    first = results[0]
    lines = [f"{first.cell}, convention {first.framework}", _config_line(first.config), ""]
    if args.convention == "all":
        rows = [(r.convention, _group(r.total),
                 _group(r.printed) if r.printed != r.total else "", r.summary)
                for r in results]
        lines += _table(("compute convention", "total", "tool prints", "what it counts"), rows,
                        {1, 2})
        print("\n".join(lines))
        return 0
    lines.append(f"{first.convention}: {first.summary}")
    rows = [(k, _group(first.by_kind[k])) for k in KINDS if first.by_kind[k]]
    rows.append(("total", _group(first.total)))
    lines += _table(("operations", "count"), rows, {1})
    lines += ["", f"per time step: {_group(first.per_step)}",
              f"one step, layer 1, one direction, one batch element: {step_text(first)}",
              f"total: {formula_text(first)}"]
    if first.bugs:
        lines += ["", f"what the tool prints: {_group(first.printed)}; its documented bugs:"]
        lines += [f"  - {text}" + (f" ({delta:+,} here)" if delta else "")
                  for text, delta in first.bugs]
    print("\n".join(lines))
    return 0


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{_group(n)} bytes ({n / size:.2f} {unit})"
    return f"{_group(n)} bytes"


def cmd_memory(args: argparse.Namespace) -> int:
    from derive.costing import ASSUMPTIONS, memory

    m = memory(args.cell, args.framework, dtype=args.dtype, seq_len=args.seq_len,
               batch=args.batch, **_options(args))
    if args.json:
        print(json.dumps(m.to_json(), ensure_ascii=False))
        return 0
    lines = [f"{m.cell}, convention {m.framework}", _config_line(m.config), "",
             f"weights: {_group(m.parameters)} parameters"]
    lines += ["  " + r for r in _table(("dtype", "bytes"), [(k, _bytes(v))
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
              "", "assumptions:"] + [f"  - {a}" for a in ASSUMPTIONS]
    print("\n".join(lines))
    return 0


def cmd_solve(args: argparse.Namespace) -> int:
    from derive.budget import solve

    opts = _options(args)
    r = solve(args.cell, args.framework, budget=args.budget, solve_for=args.solve_for, **opts)
    if args.json:
        print(json.dumps(r.to_json(), ensure_ascii=False))
        return 0
    sym = args.solve_for
    fixed = {k: v for k, v in r.config.items() if k != sym}
    print("\n".join([
        f"{r.cell}, convention {r.framework}, budget {_group(r.budget)} parameters",
        _config_line(fixed), "",
        f"count as a function of {sym}: {r.polynomial}",
        f"count = budget at {sym} = {r.root}",
        f"largest {sym} that fits: {r.value} ({_group(r.total)} parameters, slack "
        f"{_group(r.slack)})",
        f"{sym} = {r.value + 1} would need {_group(r.next_total)}"]))
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    from derive.budget import match

    opts = _options(args)
    opts.pop("reset_after")
    others = [c.strip() for c in args.to.split(",") if c.strip()]
    target, rows = match(args.cell, others, args.framework, **opts)
    if args.json:
        print(json.dumps({"cell": args.cell, "framework": args.framework, "count": target,
                          "matches": [m.to_json() for m in rows]}, ensure_ascii=False))
        return 0
    lines = [f"{args.cell}, convention {args.framework}: {_group(target)} parameters",
             _config_line({k: v for k, v in opts.items() if v is not None}), ""]
    lines += _table(("cell", "hidden_size", "count", "difference"),
                    [(m.cell, str(m.value), _group(m.total), f"{m.difference:+,}")
                     for m in rows], {1, 2, 3})
    print("\n".join(lines))
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
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    w = max(len(r["name"]) for r in rows)
    for r in rows:
        print(f"{r['name']:<{w}}  {r['title']}  [{', '.join(r['conventions'])}]")
    return 0


def cmd_shapes(args: argparse.Namespace) -> int:
    from derive.trace import render_text

    print(render_text(args.cell, args.framework))
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
    text = latex(args.cell, args.framework, args.notation, symbols,
                 tuple(p.strip() for p in args.parts.split(",") if p.strip()),
                 args.standalone, args.format)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_bib(args: argparse.Namespace) -> int:
    from derive.paper import bib

    sys.stdout.write(bib(args.cell, args.all))
    return 0


COMMANDS = {"count": cmd_count, "flops": cmd_flops, "memory": cmd_memory,
            "solve": cmd_solve, "match": cmd_match, "formula": cmd_formula, "cells": cmd_cells,
            "shapes": cmd_shapes, "latex": cmd_latex, "bib": cmd_bib, "site": cmd_site}


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except DeriveError as exc:
        print(f"derive: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # pragma: no cover - `derive count ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
