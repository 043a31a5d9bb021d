"""Model files: whole networks as papers count them, read into a frozen model.

A model file is a small TOML document (read by :mod:`tomllib`, never evaluated) that names
its hyperparameters as symbols and composes layers: recurrent layers from the catalog or
from cell files under any convention, each with its own sizes and repeated ``L`` times,
bidirectional wrappers with their merge mode, and the layers around them (embedding,
linear, convolution, layer norm, softmax). Sizes are expressions in the symbols
(``"2*n_c + 1"``), read by the small grammar of :func:`size_expr`. The input size of every
layer is inferred from what it reads, never typed. See ``docs``: ``derive models``.

Only the standard library and the count path run here (no SymPy, no parser of cells):
:mod:`derive.assemble` counts the model this module reads.
"""

from __future__ import annotations

import os
import re

from derive.errors import Loc, ModelError
from derive.poly import Poly
from derive.records import TYPE_CHECKING, record

if TYPE_CHECKING:
    from typing import Any

MODELS = os.path.join(os.path.dirname(os.path.realpath(__file__)), "models")
SUFFIX = ".model"
SYMBOL = re.compile(r"[A-Za-z](_[A-Za-z0-9]+)?")  # a letter and an optional subscript: n_c
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")

KINDS = ("recurrent", "embedding", "linear", "softmax", "conv", "layernorm", "rmsnorm")
MERGES = ("concat", "sum", "ave", "mul", "separate")
# How each framework wraps a bidirectional stack: the merge modes it has. PyTorch's and
# ONNX's layers concatenate the two directions; Keras's Bidirectional(merge_mode=...) has
# four modes; TF1's bidirectional_dynamic_rnn over a MultiRNNCell keeps two separate stacks
# (the outputs concatenated at the end), stack_bidirectional_dynamic_rnn concatenates
# between layers.
FRAMEWORK_MERGES = {"pytorch": ("concat",), "onnx": ("concat",),
                    "keras": ("concat", "sum", "ave", "mul"),
                    "tf1": ("separate", "concat"), "tf1-basic": ("separate", "concat"),
                    "equations": MERGES}
KEYS = {  # the keys of each kind of layer (besides kind, name, input, framework)
    "recurrent": {"cell", "sizes", "repeat", "bidirectional", "bias", "options", "stack",
                  "note"},
    "embedding": {"vocab", "size", "note"},
    "linear": {"out", "bias", "tie", "note"},
    "softmax": {"out", "bias", "tie", "note"},
    "conv": {"out", "kernel", "bias", "note"},
    "layernorm": {"bias", "note"},
    "rmsnorm": {"note"},
}
TOP_KEYS = {"model", "title", "citation", "cite", "description", "bibtex", "framework", "bias",
            "input", "symbols", "inputs", "layer", "paper", "notes"}


# ------------------------------------------------------------------ the frozen model


@record
class Symbol:
    name: str
    description: str
    value: int | None  # the value the paper fixes (n_i = 40), or None: given per row


@record
class Sub:
    """One cell of a recurrent layer, repeated: a stack is one or several of these."""

    cell: str  # catalog name or path, as written
    framework: str
    sizes: dict[str, Any]  # keyword -> Poly (or a tuple of Polys, one per kernel axis)
    options: dict[str, Any]  # literal options that choose a variant (reset_after=false)
    repeat: Poly
    loc: Loc


@record
class Layer:
    name: str
    kind: str
    inputs: tuple[str, ...]  # the layers or inputs read; () for an embedding
    wiring: str  # "previous", "concat", "sum", "none" (no input), "tokens" (an embedding)
    framework: str
    bias: bool
    params: dict[str, Any]  # kind-specific: out, vocab, size, kernel (Polys), tie (a name)
    subs: tuple[Sub, ...]  # a recurrent layer's cells, in stack order
    dirs: int
    merge: str  # the bidirectional merge mode ("concat" when one direction)
    note: str
    loc: Loc
    locs: dict[str, Loc]  # the line of each key the layer sets, for located errors


@record
class Row:
    """A configuration of a paper's table: the sizes and the value the paper printed."""

    config: dict[str, int]
    printed: str
    label: str
    source: str


@record
class Network:
    name: str
    title: str
    citation: str
    cite: str  # a BibTeX key: the model's own bibtex, or a cell's in the catalog
    description: str
    bibtex: str
    symbols: tuple[Symbol, ...]
    inputs: dict[str, Poly]  # named external inputs and their sizes
    layers: tuple[Layer, ...]  # in file order
    rows: tuple[Row, ...]
    paper_note: str
    notes: str
    path: str
    text: str

    @property
    def order(self) -> list[str]:
        return [s.name for s in self.symbols]


# ------------------------------------------------------------------ where the models are


def builtin_names() -> list[str]:
    if not os.path.isdir(MODELS):
        return []
    return sorted(n[: -len(SUFFIX)] for n in os.listdir(MODELS) if n.endswith(SUFFIX))


def is_model(ref: str) -> bool:
    """Whether ``ref`` names a model (a ``.model`` path or a shipped model) and not a cell."""
    return ref.endswith(SUFFIX) or ref in builtin_names()


def resolve(ref: str) -> str:
    if ref.endswith(SUFFIX) or os.sep in ref or "/" in ref:
        if os.path.isdir(ref):
            raise ModelError(f"{ref} is a directory, not a model file")
        if not os.path.isfile(ref):
            raise ModelError(f"no model file at {ref}")
        return ref
    path = os.path.join(MODELS, ref + SUFFIX)
    if not os.path.isfile(path):
        raise ModelError(f"unknown model '{ref}'; 'derive models' lists the shipped models "
                         f"({', '.join(builtin_names())}), or give the path to a .model file")
    return path


def display(path: str) -> str:
    real = os.path.realpath(path)
    if real.startswith(MODELS + os.sep):
        return "derive/models/" + os.path.relpath(real, MODELS).replace(os.sep, "/")
    return path


# ------------------------------------------------------------------ size expressions

_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)?)|(\*\*|[-+*·×^()]))")


def size_expr(text: str, symbols: set[str], where: str, loc: Loc | None = None) -> Poly:
    """``"n_c"``, ``"2*n_c + 1"``, ``"4·n_c·(n_i + n_c)"``, ``"L - 1"``, ``"k^2"`` → a
    polynomial in the model's symbols (integers, names, + − * · × ^ and parentheses;
    juxtaposition multiplies: ``2n_c``). Never evaluated: a recursive-descent parser."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    stripped = text.rstrip()
    while pos < len(stripped):
        m = _TOKEN.match(stripped, pos)
        if not m or m.end() == pos:
            raise ModelError(f"{where}: cannot read the size '{text}' at '{stripped[pos:]}' "
                             "(a size is integers and symbols with + − * ^ and parentheses)",
                             loc)
        kind = "int" if m[1] else "name" if m[2] else "op"
        tokens.append((kind, m[1] or m[2] or m[3]))
        pos = m.end()
    if not tokens:
        raise ModelError(f"{where}: the size is empty", loc)
    at = 0

    def peek() -> tuple[str, str] | None:
        return tokens[at] if at < len(tokens) else None

    def take() -> tuple[str, str]:
        nonlocal at
        tok = tokens[at]
        at += 1
        return tok

    def fail(msg: str) -> ModelError:
        return ModelError(f"{where}: cannot read the size '{text}': {msg}", loc)

    def expr() -> Poly:
        out = term()
        while (tok := peek()) is not None and tok[1] in "+-" and tok[0] == "op":
            take()
            out = out + term() if tok[1] == "+" else out - term()
        return out

    def term() -> Poly:
        out = power()
        while (tok := peek()) is not None and (tok[1] in ("*", "·", "×") or tok[0] != "op"
                                               or tok[1] == "("):
            if tok[0] == "op" and tok[1] != "(":
                take()
            out = out * power()
        return out

    def power() -> Poly:
        base = atom()
        tok = peek()
        if tok is not None and tok[1] in ("^", "**"):
            take()
            exp = take() if peek() is not None else ("", "")
            if exp[0] != "int":
                raise fail("an exponent is a whole number")
            return Poly.product([base] * int(exp[1]))
        return base

    def atom() -> Poly:
        if peek() is None:
            raise fail("it ends too early")
        kind, value = take()
        if kind == "int":
            return Poly.const(int(value))
        if kind == "name":
            if value not in symbols:
                known = ", ".join(sorted(symbols)) or "none"
                raise ModelError(f"{where}: '{value}' is not a symbol of the model (its "
                                 f"symbols: {known}); declare it under [symbols]", loc)
            return Poly.symbol(value)
        if value == "(":
            inner = expr()
            if peek() is None or take()[1] != ")":
                raise fail("a parenthesis is not closed")
            return inner
        if value == "-":
            return -atom()
        raise fail(f"unexpected '{value}'")

    out = expr()
    if peek() is not None:
        raise fail(f"unexpected '{peek()[1]}'")  # type: ignore[index]
    return out


# ------------------------------------------------------------------ locations


class _Lines:
    """Finds the line of a key in the TOML text, for located errors (tomllib keeps none)."""

    def __init__(self, text: str, file: str) -> None:
        self.lines = text.split("\n")
        self.file = file
        self.headers = [i for i, line in enumerate(self.lines)
                        if re.match(r"\s*\[\[\s*layer\s*\]\]", line)]

    def loc(self, index: int) -> Loc:
        text = self.lines[index] if 0 <= index < len(self.lines) else ""
        col = len(text) - len(text.lstrip()) + 1
        return Loc(self.file, index + 1, col, max(len(text.rstrip()) + 1, col + 1), text)

    def key(self, key: str, layer: int | None = None, table: str | None = None) -> Loc:
        """The line setting ``key`` at the top level, in [table], or in layer ``layer``."""
        if layer is not None and layer < len(self.headers):
            start = self.headers[layer]
            end = next((i for i in range(start + 1, len(self.lines))
                        if re.match(r"\s*\[", self.lines[i])), len(self.lines))
        elif table is not None:
            start = next((i for i, line in enumerate(self.lines)
                          if re.match(rf"\s*\[{re.escape(table)}\]", line)), -1)
            if start < 0:
                return self.loc(0)
            end = next((i for i in range(start + 1, len(self.lines))
                        if re.match(r"\s*\[", self.lines[i])), len(self.lines))
        else:
            start, end = -1, next((i for i, line in enumerate(self.lines)
                                   if re.match(r"\s*\[", line)), len(self.lines))
        for i in range(start + 1, end):
            if re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", self.lines[i]):
                return self.loc(i)
        if layer is not None and layer < len(self.headers):
            return self.loc(self.headers[layer])
        return self.loc(max(start, 0))


# ------------------------------------------------------------------ reading


def _toml(text: str, file: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        if m:
            line, col = int(m[1]), int(m[2])
            lines = text.split("\n")
            src = lines[line - 1] if line <= len(lines) else ""
            loc = Loc(file, line, col, col + 1, src)
            raise ModelError(f"not a TOML document: {msg[: m.start()].strip()}", loc) from None
        raise ModelError(f"{file}: not a TOML document: {msg}") from None


def _text(value: Any, what: str, loc: Loc) -> str:
    if not isinstance(value, str):
        raise ModelError(f"{what} is text (in quotes), got {value!r}", loc)
    return value


def _size(value: Any, symbols: set[str], where: str, loc: Loc) -> Poly:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ModelError(f"{where} is a size: a whole number or an expression in the model's "
                         f"symbols in quotes (\"n_c\", \"2*n_c\"), got {value!r}", loc)
    if isinstance(value, int):
        if value < 0:
            raise ModelError(f"{where} must not be negative, got {value}", loc)
        return Poly.const(value)
    return size_expr(value, symbols, where, loc)


def _bool(value: Any, what: str, loc: Loc) -> bool:
    if not isinstance(value, bool):
        raise ModelError(f"{what} is true or false, got {value!r}", loc)
    return value


def _unknown_keys(got: dict[str, Any], allowed: set[str], what: str, loc: Loc) -> None:
    extra = sorted(set(got) - allowed)
    if extra:
        raise ModelError(f"{what} has no key '{extra[0]}' (its keys: "
                         f"{', '.join(sorted(allowed))})", loc)


def _read_text(path: str, what: str) -> str:
    """A file's UTF-8 text (a byte-order mark and CRLF are fine), or a ModelError saying
    why not (missing, a directory, binary, not UTF-8)."""
    from derive import catalog
    from derive.errors import ConfigError

    try:
        return catalog.read(path)
    except ConfigError as exc:  # catalog's errors say "cell file"
        raise ModelError(str(exc).replace("cell file", what)) from None


def read_model(ref: str) -> Network:
    """Read and check a model file (``derive/models/NAME.model`` or a path)."""

    path = resolve(ref)
    file = display(path)
    raw = _read_text(path, "model file")
    doc = _toml(raw, file)
    lines = _Lines(raw, file)
    top = lines.loc(0)
    _unknown_keys(doc, TOP_KEYS, "a model file", lines.key(sorted(set(doc) - TOP_KEYS)[0])
                  if set(doc) - TOP_KEYS else top)
    for key in ("model", "title"):
        if key not in doc:
            raise ModelError(f"a model file starts with 'model = \"NAME\"' and 'title = "
                             f"\"...\"'; {key} is missing", top)
    name = _text(doc["model"], "model", lines.key("model"))
    if not NAME.fullmatch(name):
        raise ModelError(f"the model's name '{name}' is letters, digits, - and _",
                         lines.key("model"))
    # symbols
    symbols: list[Symbol] = []
    table = doc.get("symbols", {})
    if not isinstance(table, dict):
        raise ModelError("[symbols] is a table: 'n_c = \"memory cells\"'", lines.key("symbols"))
    for sym, spec in table.items():
        loc = lines.key(sym, table="symbols")
        if not SYMBOL.fullmatch(sym) or sym in ("D",):
            raise ModelError(f"the symbol '{sym}' is a letter with an optional subscript "
                             "(n_c, d_model), and not D", loc)
        if isinstance(spec, str):
            symbols.append(Symbol(sym, spec, None))
            continue
        if not isinstance(spec, dict):
            raise ModelError(f"symbol {sym}: a description in quotes, or a table "
                             "{ description = \"...\", value = N }", loc)
        _unknown_keys(spec, {"description", "value"}, f"symbol {sym}", loc)
        value = spec.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ModelError(f"symbol {sym}: value is a positive whole number, got {value!r}",
                             loc)
        symbols.append(Symbol(sym, _text(spec.get("description", ""), f"symbol {sym}", loc),
                              value))
    names = {s.name for s in symbols}
    # inputs
    inputs: dict[str, Poly] = {}
    if "input" in doc and "inputs" in doc:
        raise ModelError("a model has 'input = SIZE' (one input) or an [inputs] table, not "
                         "both", lines.key("input"))
    if "input" in doc:
        inputs["input"] = _size(doc["input"], names, "input", lines.key("input"))
    table = doc.get("inputs", {})
    if not isinstance(table, dict):
        raise ModelError("[inputs] is a table of named inputs: 'frames = \"d\"'",
                         lines.key("inputs"))
    for key, value in table.items():
        if not NAME.fullmatch(key):
            raise ModelError(f"the input name '{key}' is letters, digits, - and _",
                             lines.key(key, table="inputs"))
        inputs[key] = _size(value, names, f"input {key}", lines.key(key, table="inputs"))
    framework = _text(doc.get("framework", "equations"), "framework", lines.key("framework"))
    bias = _bool(doc.get("bias", True), "bias", lines.key("bias"))
    raw_layers = doc.get("layer", [])
    if not isinstance(raw_layers, list) or not raw_layers:
        raise ModelError("a model has one or more [[layer]] tables", top)
    layers: list[Layer] = []
    seen = set(inputs)
    for i, spec in enumerate(raw_layers):
        layer = _layer(spec, i, names, framework, bias, lines)
        if layer.name in seen:
            raise ModelError(f"two layers (or a layer and an input) are named '{layer.name}'",
                             lines.key("name", i))
        seen.add(layer.name)
        layers.append(layer)
    rows, paper_note = _paper(doc.get("paper"), symbols, lines)
    net = Network(name, _text(doc["title"], "title", lines.key("title")),
                  _text(doc.get("citation", ""), "citation", lines.key("citation")),
                  _text(doc.get("cite", ""), "cite", lines.key("cite")),
                  _text(doc.get("description", ""), "description", lines.key("description")),
                  _text(doc.get("bibtex", ""), "bibtex", lines.key("bibtex")),
                  tuple(symbols), inputs, tuple(layers), rows, paper_note,
                  _text(doc.get("notes", ""), "notes", lines.key("notes")), path, raw)
    _check_wiring(net, lines)
    if net.bibtex:
        from derive.bibtex import check_bibtex

        first = lines.key("bibtex").line + 1  # the text starts on the line after 'bibtex = """'
        check_bibtex([(first + j, line) for j, line in enumerate(net.bibtex.split("\n"))],
                     file, ModelError)
    return net


def _layer(spec: Any, i: int, symbols: set[str], framework: str, bias: bool,
           lines: _Lines) -> Layer:
    where = f"layer {i + 1}"
    head = lines.key("kind", i)
    if not isinstance(spec, dict):
        raise ModelError(f"{where} is a table", head)
    kind = spec.get("kind", "recurrent" if "cell" in spec or "stack" in spec else None)
    if kind is None:
        raise ModelError(f"{where} needs a kind ({', '.join(KINDS)}), or a cell", head)
    if kind == "dense":
        kind = "linear"
    if kind not in KINDS:
        raise ModelError(f"{where}: unknown layer kind '{kind}'; the kinds are "
                         f"{', '.join(KINDS)} (and dense, for linear)", lines.key("kind", i))
    name = spec.get("name", f"{kind}{i + 1}")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ModelError(f"{where}: a layer's name is letters, digits, - and _, got {name!r}",
                         lines.key("name", i))
    where = f"layer {i + 1} ('{name}')"
    _unknown_keys(spec, KEYS[kind] | {"kind", "name", "input", "framework"}, f"{where}, a "
                  f"{kind} layer,", head)
    fw = _text(spec.get("framework", framework), f"{where}: framework",
               lines.key("framework", i))
    has_bias = _bool(spec.get("bias", bias), f"{where}: bias", lines.key("bias", i))
    note = _text(spec.get("note", ""), f"{where}: note", lines.key("note", i))
    # what it reads
    wiring, inputs = "previous", ()
    if kind == "embedding":
        if "input" in spec:
            raise ModelError(f"{where}: an embedding reads token ids, not another layer's "
                             "output (drop its input)", lines.key("input", i))
        wiring = "tokens"
    elif "input" in spec:
        value = spec["input"]
        loc = lines.key("input", i)
        if value == "none":
            if kind != "recurrent":
                raise ModelError(f"{where}: only a recurrent layer can have no input (it "
                                 "then has no input-to-state weights)", loc)
            wiring = "none"
        elif isinstance(value, str):
            wiring, inputs = "one", (value,)
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            wiring, inputs = "concat", tuple(value)
        elif (isinstance(value, dict) and set(value) == {"sum"} and isinstance(value["sum"], list)
              and value["sum"] and all(isinstance(v, str) for v in value["sum"])):
            wiring, inputs = "sum", tuple(value["sum"])
        else:
            raise ModelError(f"{where}: input is a layer or input name, a list of them "
                             "(concatenated), {{ sum = [...] }} (added), or \"none\"; got "
                             f"{value!r}", loc)
    params: dict[str, Any] = {}
    subs: tuple[Sub, ...] = ()
    dirs, merge = 1, "concat"
    if kind == "embedding":
        for key in ("vocab", "size"):
            if key not in spec:
                raise ModelError(f"{where}: an embedding needs {key} (vocab = \"V\", "
                                 "size = \"e\")", head)
            params[key] = _size(spec[key], symbols, f"{where}: {key}", lines.key(key, i))
    elif kind in ("linear", "softmax", "conv"):
        if "out" in spec:
            params["out"] = _size(spec["out"], symbols, f"{where}: out", lines.key("out", i))
        elif kind != "softmax":
            raise ModelError(f"{where}: a {kind} layer needs out (its output size)", head)
        if "tie" in spec:
            params["tie"] = _text(spec["tie"], f"{where}: tie", lines.key("tie", i))
            if "out" not in params:
                raise ModelError(f"{where}: a tied output layer needs out", head)
        if kind == "conv":
            if "kernel" not in spec:
                raise ModelError(f"{where}: a conv layer needs kernel (\"3x3\", [\"k\", "
                                 "\"k\"], one size per spatial axis)", head)
            params["kernel"] = _kernel(spec["kernel"], symbols, f"{where}: kernel",
                                       lines.key("kernel", i))
    elif kind == "recurrent":
        subs = _subs(spec, where, fw, symbols, lines, i)
        value = spec.get("bidirectional", False)
        loc = lines.key("bidirectional", i)
        if value is True:
            value = "separate" if fw in ("tf1", "tf1-basic") else "concat"
        if value is not False:
            if value not in MERGES:
                raise ModelError(f"{where}: bidirectional is false, true or a merge mode "
                                 f"({', '.join(MERGES)}), got {value!r}", loc)
            have = FRAMEWORK_MERGES.get(fw, ("concat",))
            if value not in have:
                raise ModelError(f"{where}: {fw} has no bidirectional merge '{value}' (it has "
                                 f"{', '.join(have)}); write the layers separately", loc)
            dirs, merge = 2, value
    return Layer(name, kind, inputs, wiring, fw, has_bias, params, subs, dirs, merge, note,
                 head, {key: lines.key(key, i) for key in spec})


def _kernel(value: Any, symbols: set[str], where: str, loc: Loc) -> tuple[Poly, ...]:
    if isinstance(value, str) and re.fullmatch(r"\s*\w+(\s*[x×]\s*\w+)*\s*", value):
        parts: list[Any] = re.split(r"\s*[x×]\s*", value.strip())
    elif isinstance(value, list):
        parts = value
    else:
        parts = [value]
    if not 1 <= len(parts) <= 3:
        raise ModelError(f"{where}: a kernel has 1 to 3 spatial axes, got {value!r}", loc)
    return tuple(_size(p, symbols, where, loc) for p in parts)


def _subs(spec: dict[str, Any], where: str, framework: str, symbols: set[str],
          lines: _Lines, i: int) -> tuple[Sub, ...]:
    if "stack" in spec:
        entries = spec["stack"]
        loc = lines.key("stack", i)
        if not isinstance(entries, list) or not entries or not all(
                isinstance(e, dict) for e in entries):
            raise ModelError(f"{where}: stack is a list of tables, one per cell of the stack "
                             "({ cell = \"lstm\", sizes = { hidden_size = \"n_1\" } }, ...)",
                             loc)
        for key in ("sizes", "repeat", "options"):
            if key in spec:
                raise ModelError(f"{where}: with a stack, each entry has its own {key}",
                                 lines.key(key, i))
    else:
        entries, loc = [spec], lines.key("cell", i)
    out = []
    for j, e in enumerate(entries):
        here = where if "stack" not in spec else f"{where}, stack entry {j + 1}"
        if "stack" in spec:
            _unknown_keys(e, {"cell", "sizes", "repeat", "options"}, here, loc)
        cell = e.get("cell", spec.get("cell"))
        if cell is None:
            raise ModelError(f"{here}: a recurrent layer needs a cell (a catalog name or a "
                             ".cell path)", loc)
        cell = _text(cell, f"{here}: cell", loc)
        sizes: dict[str, Any] = {}
        table = e.get("sizes", {})
        sloc = loc if "stack" in spec else lines.key("sizes", i)
        if not isinstance(table, dict):
            raise ModelError(f"{here}: sizes is a table of the cell's keywords "
                             "({ hidden_size = \"n_c\" })", sloc)
        for key, value in table.items():
            if isinstance(value, list) or (isinstance(value, str) and re.search(r"[x×]",
                                                                                value)):
                sizes[key] = _kernel(value, symbols, f"{here}: sizes.{key}", sloc)
            else:
                sizes[key] = _size(value, symbols, f"{here}: sizes.{key}", sloc)
        options = e.get("options", {})
        if not isinstance(options, dict) or not all(
                isinstance(v, (bool, int, str)) for v in options.values()):
            raise ModelError(f"{here}: options is a table of literal values "
                             "({ reset_after = false })", sloc)
        rloc = loc if "stack" in spec else lines.key("repeat", i)
        repeat = _size(e.get("repeat", 1), symbols, f"{here}: repeat", rloc)
        if repeat.constant == 0:
            raise ModelError(f"{here}: repeat is at least 1", rloc)
        if cell.endswith(".cell") and not os.path.isabs(cell):
            cell = os.path.join(os.path.dirname(lines.file), cell) if os.path.isfile(
                os.path.join(os.path.dirname(lines.file), cell)) else cell
        out.append(Sub(cell, framework, sizes, dict(options), repeat, sloc))
    return tuple(out)


def _check_wiring(net: Network, lines: _Lines) -> None:
    """Every name a layer reads exists; there is no cycle; a first layer has an input."""
    known = set(net.inputs) | {layer.name for layer in net.layers}
    for i, layer in enumerate(net.layers):
        for ref in layer.inputs:
            if ref not in known:
                raise ModelError(f"layer {i + 1} ('{layer.name}') reads '{ref}', which is "
                                 f"neither a layer nor an input of the model (they are "
                                 f"{', '.join(sorted(known))})", lines.key("input", i))
        if layer.wiring == "previous" and i == 0 and len(net.inputs) != 1:
            raise ModelError(
                f"layer 1 ('{layer.name}'): its input size cannot be inferred: no layer comes "
                "before it and the model has " + ("no input; give one ('input = \"n_i\"' at "
                                                  "the top)" if not net.inputs else
                                                  "several inputs; say which it reads "
                                                  "(input = \"NAME\")"), layer.loc)
    # cycles: follow what each layer reads
    reads = {layer.name: _reads(net, k) for k, layer in enumerate(net.layers)}
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2 or name in net.inputs:
            return
        if state.get(name) == 1:
            cycle = [*path[path.index(name):], name]
            k = next(j for j, layer in enumerate(net.layers) if layer.name == name)
            raise ModelError(f"the layers read each other in a cycle: {' → '.join(cycle)} "
                             "(a layer's input must come from layers that do not read it)",
                             lines.key("input", k))
        state[name] = 1
        for ref in reads[name]:
            visit(ref, [*path, name])
        state[name] = 2

    for layer in net.layers:
        visit(layer.name, [])


def _reads(net: Network, k: int) -> tuple[str, ...]:
    layer = net.layers[k]
    if layer.wiring == "previous":
        return (net.layers[k - 1].name,) if k else tuple(net.inputs)
    return layer.inputs


def _paper(spec: Any, symbols: list[Symbol], lines: _Lines) -> tuple[tuple[Row, ...], str]:
    if spec is None:
        return (), ""
    loc = lines.key("paper")
    if not isinstance(spec, dict):
        raise ModelError("[paper] is a table with a note and [[paper.row]] entries", loc)
    _unknown_keys(spec, {"row", "note"}, "[paper]", loc)
    names = {s.name for s in symbols}
    rows = []
    for j, r in enumerate(spec.get("row", [])):
        here = f"paper row {j + 1}"
        if not isinstance(r, dict) or "config" not in r or "printed" not in r:
            raise ModelError(f"{here}: a row has config = {{ SYMBOL = N, ... }} and printed = "
                             "\"13M\" (the value as the paper prints it)", loc)
        _unknown_keys(r, {"config", "printed", "label", "source"}, here, loc)
        if not isinstance(r["config"], dict):
            raise ModelError(f"{here}: config is a table {{ SYMBOL = N, ... }}, got "
                             f"{r['config']!r}", loc)
        config = {}
        for key, value in r["config"].items():
            if key not in names:
                raise ModelError(f"{here}: '{key}' is not a symbol of the model", loc)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ModelError(f"{here}: {key} is a whole number, got {value!r}", loc)
            config[key] = value
        rows.append(Row(config, _text(r["printed"], f"{here}: printed", loc),
                        _text(r.get("label", ""), f"{here}: label", loc),
                        _text(r.get("source", ""), f"{here}: source", loc)))
    return tuple(rows), _text(spec.get("note", ""), "[paper] note", loc)


def read_rows(path: str) -> list[Row]:
    """Configurations to count: a CSV file (a header of symbols, and optionally label,
    printed and source) or a JSON list of objects with the same keys."""
    special = ("label", "printed", "source")
    text = _read_text(path, "rows file")
    records: list[tuple[int, dict[str, Any]]] = []
    if path.endswith(".json"):
        import json

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise ModelError(f"{path}: a JSON list of objects, one per row "
                             "([{\"n_c\": 1024, \"L\": 2}, ...])")
        records = [(i + 1, r) for i, r in enumerate(data)]
    else:
        import csv

        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            raise ModelError(f"{path}: empty; a CSV file starts with a header of symbols")
        records = [(reader.line_num, dict(r)) for r in reader]
    rows = []
    for no, r in records:
        if None in r:
            raise ModelError(f"{path}:{no}: more values than the header has columns")
        config = {k.strip(): v for k, v in r.items() if k.strip() not in special and
                  v not in ("", None)}
        for key, value in config.items():
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                raise ModelError(f"{path}:{no}: {key} is a whole number, got {value!r}")
        rows.append(Row(config, str(r.get("printed") or ""), str(r.get("label") or ""),
                        str(r.get("source") or path)))
    if not rows:
        raise ModelError(f"{path} has no rows")
    return rows
