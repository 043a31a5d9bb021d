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
    c.add_argument("--json", action="store_true", help="one JSON object on stdout")

    f = sub.add_parser("formula", help="the closed form, with L layers and D directions")
    f.add_argument("cell")
    f.add_argument("--framework", "-f", default="equations", help=FRAMEWORK_HELP)
    f.add_argument("--format", choices=("text", "latex"), default="text")
    f.add_argument("--no-bias", action="store_true")

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
             f"config: {cfg}", ""]
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
    lines.append(f"one layer, one direction: {result.layer_text}")
    if result.upper_text and result.config.get("num_layers", 1) > 1:
        lines.append(f"each layer above the first (input D·output): {result.upper_text}")
    lines.append(f"total, L layers, D directions: {result.formula_text}")
    print("\n".join(lines))
    return 0


def cmd_formula(args: argparse.Namespace) -> int:
    from derive.counting import convention, load

    data, _ = load(args.cell, {})
    conv = convention(data, args.framework)
    forms = conv["formula"]["no_bias" if args.no_bias else "bias"]
    key = args.format
    if key == "text":
        syms = ", ".join(f"{s['symbol']} = {s['keyword']}" for s in data["sizes"])
        print(f"{data['cell']} ({args.framework}): {syms}, L = num_layers, D = directions")
        print(f"one layer, one direction: {forms['layer']['text']}")
        if conv["stackable"]:
            print(f"each layer above the first: {forms['upper']['text']}")
        print(f"total: {forms['total']['text']}")
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


COMMANDS = {"count": cmd_count, "formula": cmd_formula, "cells": cmd_cells,
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
