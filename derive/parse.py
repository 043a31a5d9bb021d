"""Cell files → the frozen model.

A cell file is line-oriented: top-level keywords start at column 1, the lines of a block
(``equations``, ``convention``, ``description``, ``bibtex``) are indented under it. Every
equation, size, declaration and tensor line is parsed by a Lark grammar (LALR), never by
``eval``: user text only ever reaches this parser.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from functools import lru_cache
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from derive.bibtex import check_bibtex as _check_bibtex
from derive.errors import CellSyntaxError, DeriveError, Loc
from derive.model import (
    Block,
    Call,
    Cell,
    Concat,
    Conv,
    Convention,
    Div,
    Equation,
    FunctionDecl,
    Hadamard,
    MatMul,
    Node,
    Norm,
    Num,
    ParamDecl,
    Power,
    Require,
    SizeDecl,
    SizeRef,
    Sum,
    TensorDecl,
    Transpose,
    Var,
    VarDecl,
    Variant,
)
from derive.poly import Poly

GRAMMAR = r"""
equation: (var | "[" var (";" var)+ "]") "=" expr label?
label: STRING

?expr: sum
sum: SIGN? hterm (SIGN hterm)*
hterm: jterm ((HAD | DIV) jterm)*
jterm: lead ((MATOP | CONV)? post)*
?lead: post
     | BAR expr BAR                  -> abs
?post: atom
     | post TRANSPOSE                -> transpose
     | post "^" pexp                 -> power
     | post SQUARE                   -> square
?pexp: INT                           -> pint
     | NAME                          -> name
     | "{" expr "}"                  -> group
?atom: NAME                          -> name
     | NUMBER                        -> number
     | "(" expr ")"                  -> group
     | "{" expr "}"                  -> group
     | "(" expr ("," expr)+ ")"      -> args
     | "(" expr ("," expr)* ";" NAME ("," NAME)* ")" -> normargs
     | "[" expr ((";" | ",") expr)* "]" -> concat
     | SQRT atom                     -> sqrt
var: NAME

vardecl: NAME size_spec? label?
size_spec: ("∈" | "in") ("ℝ" | "R") ("^" size_atom)?
         | ":" size_expr
?size_atom: NAME -> size_name
          | INT -> size_int
          | "{" size_expr (TIMES size_expr)* "}" -> size_axes

sizedecl: NAME "=" KEYWORD label?

size_expr: size_prod ("+" size_prod)*
size_prod: size_pow (("*" | "·")? size_pow)*
size_pow: (NAME | INT) ("^" INT)?

block: "[" brow (";" brow)* "]"
     | bleaf                         -> single
brow: bleaf ("," bleaf)*
bleaf: NAME TRANSPOSE?

require: size_expr CMP size_expr label

SIGN.2: "+" | "-" | "−"
HAD.2: "⊙" | "*" | "∘" | "\\odot" | "\\circ"
CONV.2: "∗" | "⊛" | "\\ast" | "\\circledast"
DIV.2: "/" | "÷"
MATOP.2: "@" | "·" | "\\cdot"
TRANSPOSE.3: "^T" | "ᵀ" | "^\\top" | "^\\intercal"
SQUARE.2: "²"
SQRT.2: "√" | "\\sqrt"
BAR: "|"
TIMES.2: "×" | "\\times"
CMP.2: "<=" | ">=" | "==" | "<" | ">" | "≤" | "≥"
NAME: /\\?[^\W\d_ᵀ²][\u0300-\u036f]*([^\W_ᵀ²]|[\u0300-\u036f])*'*(_(\{[^{}]*\}|[^\W_ᵀ²]+))?/
NUMBER: /\d+(\.\d+)?/
INT: /\d+/
KEYWORD: /[A-Za-z][A-Za-z0-9_]*/
STRING: /"[^"]*"/
%import common.WS_INLINE
%ignore WS_INLINE
"""

FUNCTIONS = {
    "σ": "σ",
    "\\sigma": "σ",
    "sigma": "σ",
    "sigmoid": "σ",
    "tanh": "tanh",
    "\\tanh": "tanh",
    "relu": "relu",
    "ReLU": "relu",
    "exp": "exp",
    "\\exp": "exp",
    "log": "log",
    "\\log": "log",
    "softplus": "softplus",
    "sqrt": "sqrt",
    "abs": "abs",
    "max": "max",
    "\\max": "max",
    "min": "min",
    "\\min": "min",
    "gelu": "gelu",
    "GELU": "gelu",
    "silu": "silu",
    "SiLU": "silu",
    "swish": "silu",
}
# Functions of several arguments; all others take one.
MULTI_ARG = {"max", "min"}
NORMS = {"LN": "LN", "layernorm": "LN", "LayerNorm": "LN", "RMSNorm": "RMSNorm",
         "rmsnorm": "RMSNorm", "GN": "GN", "groupnorm": "GN", "GroupNorm": "GN"}
MAX_DEPTH = 64  # nesting of parentheses, brackets and bars in one equation
MAX_TREE_DEPTH = 150  # operations nested in one expression (the engine's rules recurse)
MAX_LINE = 20_000  # characters in one equation line

FAMILIES = ("elman", "lstm", "gru", "convolutional", "modern")

KEYWORDS = ("cell", "title", "family", "size", "kernel", "input", "state", "var", "param",
            "function", "output", "variant", "equations", "convention", "description", "bibtex")


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", start=["equation", "vardecl", "sizedecl", "size_expr",
                                                "block", "require"], propagate_positions=True)


def function_name(name: str) -> str | None:
    """The canonical activation for a name: σ, σ_g, \\sigma_c, sigmoid ... → 'σ'."""
    if name in FUNCTIONS:
        return FUNCTIONS[name]
    base = name.split("_", 1)[0]
    if "_" in name and base in ("σ", "\\sigma"):
        return "σ"
    return None


def split_name(raw: str) -> tuple[str, str | None]:
    """``h_{t-1}`` → (``h``, ``t-1``); ``W_{ii}`` → (``W_ii``, None); ``x_t`` → (``x``, ``t``)."""
    base, sep, sub = raw.partition("_")
    if not sep:
        return raw, None
    sub = sub.strip("{}").replace(" ", "").replace("−", "-")
    if sub == "t":
        return base, "t"
    m = re.fullmatch(r"t-([1-9]\d{0,2})", sub)
    if m:
        return base, f"t-{m[1]}"
    m = re.fullmatch(r"t-([^\W\d]\w*)\+1:t", sub)
    if m:
        return base, f"window:{m[1]}"
    return f"{base}_{sub}", None


class _Args(tuple):  # type: ignore[type-arg]
    """The parenthesised arguments ``(a, b)`` of a call (not a node of its own)."""

    loc: Loc


class _NormArgs(tuple):  # type: ignore[type-arg]
    """``(x, n; γ, β)``: a normalisation's operands and its parameters' names."""

    loc: Loc
    names: tuple[Token, ...]


def _is_call_name(name: str) -> bool:
    """A name that reads as a function when written against '(' : ``softsign(x)``."""
    return "_" not in name and len(name) >= 2 and name.isalpha()


class _Build(Transformer):
    """Lark tree → model nodes, with locations relative to the cell file."""

    def __init__(self, file: str, line_no: int, line: str, offset: int,
                 functions: frozenset[str] = frozenset(),
                 sizes: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.file, self.line_no, self.line, self.offset = file, line_no, line, offset
        self.functions, self.sizes = functions, sizes

    def loc(self, start: int, end: int) -> Loc:
        return Loc(self.file, self.line_no, start + self.offset, end + self.offset, self.line)

    def meta_loc(self, meta: Any) -> Loc:
        return self.loc(meta.column, meta.end_column)

    def tok_loc(self, tok: Token) -> Loc:
        assert tok.column is not None and tok.end_column is not None
        return self.loc(tok.column, tok.end_column)

    def span(self, first: Node, last: Node) -> Loc:
        return self.loc(first.loc.col - self.offset, last.loc.end_col - self.offset)

    # -- expressions
    @v_args(meta=True)
    def equation(self, meta: Any, children: list[Any]) -> tuple[tuple[Var, ...], Node, str]:
        label = children[-1] if isinstance(children[-1], str) else ""
        nodes = [c for c in children if not isinstance(c, str)]
        return tuple(nodes[:-1]), self.operand(nodes[-1]), label

    def label(self, children: list[Token]) -> str:
        return str(children[0])[1:-1]

    def var(self, children: list[Token]) -> Var:
        tok = children[0]
        name, time = split_name(str(tok))
        if time is None and re.search(r"_\{?t\s*\+", str(tok)):
            raise CellSyntaxError(f"{tok} is a future value: a recurrent cell reads the input "
                                  "and its states at t and before (t-1, t-2, ...), never after",
                                  self.tok_loc(tok))
        return Var(self.tok_loc(tok), name, time)

    def name(self, children: list[Token]) -> Node:
        tok = children[0]
        if str(tok) in self.sizes:
            return SizeRef(self.tok_loc(tok), str(tok))
        return self.var(children)

    def number(self, children: list[Token]) -> Num:
        tok = children[0]
        text = str(tok)
        whole, _, frac = text.partition(".")
        den = 10 ** len(frac)
        return Num(self.tok_loc(tok), int(whole + frac), den)

    def pint(self, children: list[Token]) -> Num:
        return Num(self.tok_loc(children[0]), int(children[0]), 1)

    @v_args(meta=True)
    def group(self, meta: Any, children: list[Node]) -> Node:
        # The node keeps the parentheses in its span: messages quote "(r_t ⊙ h_{t-1})" whole.
        return replace(children[0], loc=self.meta_loc(meta))

    @v_args(meta=True)
    def args(self, meta: Any, children: list[Node]) -> _Args:
        out = _Args(children)
        out.loc = self.meta_loc(meta)
        return out

    @v_args(meta=True)
    def normargs(self, meta: Any, children: list[Any]) -> _NormArgs:
        nodes = [c for c in children if not isinstance(c, Token)]
        out = _NormArgs(nodes)
        out.loc = self.meta_loc(meta)
        out.names = tuple(c for c in children if isinstance(c, Token))
        return out

    @v_args(meta=True)
    def abs(self, meta: Any, children: list[Any]) -> Call:
        arg = next(c for c in children if not isinstance(c, Token))
        return Call(self.meta_loc(meta), "abs", arg)

    @v_args(meta=True)
    def sqrt(self, meta: Any, children: list[Any]) -> Call:
        return Call(self.meta_loc(meta), "sqrt", children[-1])

    @v_args(meta=True)
    def transpose(self, meta: Any, children: list[Any]) -> Transpose:
        return Transpose(self.meta_loc(meta), children[0])

    @v_args(meta=True)
    def power(self, meta: Any, children: list[Any]) -> Power:
        return Power(self.meta_loc(meta), children[0], children[-1])

    @v_args(meta=True)
    def square(self, meta: Any, children: list[Any]) -> Power:
        tok = children[-1]
        return Power(self.meta_loc(meta), children[0], Num(self.tok_loc(tok), 2, 1))

    @v_args(meta=True)
    def concat(self, meta: Any, children: list[Node]) -> Concat:
        return Concat(self.meta_loc(meta), tuple(children))

    @v_args(meta=True)
    def sum(self, meta: Any, children: list[Any]) -> Node:
        terms: list[Node] = []
        signs: list[int] = []
        sign = 1
        for child in children:
            if isinstance(child, Token):
                sign = -1 if str(child) in ("-", "−") else 1
            else:
                terms.append(self.operand(child))
                signs.append(sign)
                sign = 1
        if len(terms) == 1 and signs[0] == 1:
            return terms[0]
        return Sum(self.meta_loc(meta), tuple(terms), tuple(signs))

    def operand(self, node: Any) -> Node:
        """A value, not an argument list: ``(a, b)`` alone is an error."""
        if isinstance(node, (_Args, _NormArgs)):
            raise CellSyntaxError("a list of arguments needs a function before it, e.g. "
                                  "max(a, b)", node.loc)
        return node  # type: ignore[no-any-return]

    @v_args(meta=True)
    def hterm(self, meta: Any, children: list[Any]) -> Node:
        # Runs of ⊙ are associative: built as a balanced tree, so a chain of a thousand
        # factors nests ten deep, not a thousand. Division groups to the left.
        groups: list[list[Node]] = [[self.operand(children[0])]]
        i = 1
        while i < len(children):
            op, right = children[i], self.operand(children[i + 1])
            if op.type == "DIV":
                groups.append([right])
            else:
                groups[-1].append(right)
            i += 2
        out = self.balanced(groups[0])
        for factors in groups[1:]:
            right = self.balanced(factors)
            out = Div(self.span(out, right), out, right)
        return out

    def balanced(self, factors: list[Node]) -> Node:
        if len(factors) == 1:
            return factors[0]
        mid = len(factors) // 2
        left, right = self.balanced(factors[:mid]), self.balanced(factors[mid:])
        return Hadamard(self.span(left, right), left, right)

    def call(self, atom: Var, arg: Any) -> Node:
        """``σ(x)``, ``max(a, b)``, ``LN(x; γ, β)``, ``GN(x, n; γ)``."""
        loc = self.loc(atom.loc.col - self.offset, arg.loc.end_col - self.offset)
        name = atom.name
        if name in NORMS:
            func = NORMS[name]
            if not isinstance(arg, _NormArgs):
                raise CellSyntaxError(
                    f"{name} carries parameters: name them after ';', e.g. {name}(x; γ, β) "
                    f"(gain and bias) or {name}(x; γ) (gain only)", loc)
            operands, names = list(arg), list(arg.names)
            groups: str | None = None
            if func == "GN":
                if len(operands) != 2 or not isinstance(operands[1], SizeRef):
                    raise CellSyntaxError("group norm takes the number of groups, a declared "
                                          "size: GN(x, n; γ, β)", loc)
                groups = operands[1].name
            elif len(operands) != 1:
                raise CellSyntaxError(f"{name} normalises one value: {name}(x; γ, β)", loc)
            limit = 1 if func == "RMSNorm" else 2
            if not 1 <= len(names) <= limit:
                raise CellSyntaxError(
                    f"{name} has {'a gain' if limit == 1 else 'a gain and an optional bias'}: "
                    f"{name}(x; γ{'' if limit == 1 else ', β'})", loc)
            params = []
            for tok in names:
                pname, time = split_name(str(tok))
                if time is not None:
                    raise CellSyntaxError(f"{tok} is a variable; a norm's gain and bias are "
                                          "parameters (no time index)", self.tok_loc(tok))
                params.append(Var(self.tok_loc(tok), pname, None))
            return Norm(loc, func, operands[0], groups, tuple(params))
        if isinstance(arg, _NormArgs):
            raise CellSyntaxError(f"only a normalisation ({', '.join(sorted(set(NORMS.values())))}"
                                  f") takes parameters after ';'", arg.loc)
        func = function_name(name) or name
        if name in self.functions:
            func = name
        operands = list(arg) if isinstance(arg, _Args) else [arg]
        if func in MULTI_ARG:
            if len(operands) < 2:
                raise CellSyntaxError(f"{func} takes two or more arguments: {func}(a, b)", loc)
        elif func not in self.functions and len(operands) != 1:
            raise CellSyntaxError(f"{name} takes one argument", loc)
        if len(operands) == 1:
            return Call(loc, func, operands[0])
        return Call(loc, func, operands[0], tuple(operands))

    def is_function(self, atom: Any, nxt: Any) -> bool:
        if not isinstance(atom, Var) or atom.time is not None:
            return False
        if function_name(atom.name) is not None or atom.name in self.functions \
                or atom.name in NORMS:
            return True
        touching = nxt is not None and nxt.loc.col == atom.loc.end_col and \
            self.line[nxt.loc.col - 1:nxt.loc.col] == "("
        if touching and _is_call_name(atom.name):
            known = [*sorted({*FUNCTIONS.values(), *NORMS.values()} - {"σ"}), "σ"]
            raise CellSyntaxError(
                f"unknown function {atom.name}; derive knows {', '.join(known)}; declare "
                f"others with 'function {atom.name} elementwise \"what it is\"'", atom.loc)
        return False

    @v_args(meta=True)
    def jterm(self, meta: Any, children: list[Any]) -> Node:
        # Items, with CONV tokens marking a convolution between two neighbours.
        atoms: list[Any] = []
        conv_before: list[bool] = []
        pending_conv = False
        for c in children:
            if isinstance(c, Token):
                if c.type == "CONV":
                    pending_conv = True
                continue
            atoms.append(c)
            conv_before.append(pending_conv)
            pending_conv = False
        # An activation name followed by an operand is a call: σ(x), tanh(c_t), max(a, b).
        items: list[Any] = []
        convs: list[bool] = []
        i = 0
        while i < len(atoms):
            atom = atoms[i]
            nxt = atoms[i + 1] if i + 1 < len(atoms) else None
            roots = 0  # √tanh(x) is √(tanh(x)): the root binds the name, the call its argument
            while isinstance(atom, Call) and atom.func == "sqrt" and nxt is not None \
                    and isinstance(atom.arg, (Var, Call)):
                inner = atom.arg
                named = isinstance(inner, Var) and self.is_function(inner, nxt)
                if not (named or (isinstance(inner, Call) and inner.func == "sqrt")):
                    break
                roots += 1
                atom = inner
            if roots and not (isinstance(atom, Var) and self.is_function(atom, nxt)):
                atom = atoms[i]  # not a root of a call after all
                roots = 0
            if self.is_function(atom, nxt) and not (nxt is not None and conv_before[i + 1]):
                if nxt is None:
                    raise CellSyntaxError(
                        f"the function {atom.text} needs an argument in parentheses", atom.loc)
                # σ(Λ)^{c r_t}: the power applies to σ(Λ), not to (Λ).
                wrappers: list[Node] = []
                while isinstance(nxt, (Power, Transpose)):
                    inner = nxt.base if isinstance(nxt, Power) else nxt.arg
                    assert inner is not None
                    wrappers.append(nxt)
                    nxt = inner
                out: Node = self.call(atom, nxt)
                for w in reversed(wrappers):
                    loc = self.span(out, w)
                    out = Power(loc, out, w.exponent) if isinstance(w, Power) else \
                        Transpose(loc, out)
                first = atoms[i]
                for _ in range(roots):
                    out = Call(self.loc(first.loc.col - self.offset,
                                        out.loc.end_col - self.offset), "sqrt", out)
                items.append(out)
                convs.append(conv_before[i])
                i += 2
            else:
                items.append(atom)
                convs.append(conv_before[i])
                i += 1
        for item in items:
            self.operand(item)
        # Convolutions bind their two neighbours first: W ∗ X_t.
        merged: list[Node] = []
        for item, is_conv in zip(items, convs, strict=True):
            if is_conv:
                left = merged.pop()
                merged.append(Conv(self.span(left, item), left, item))
            else:
                merged.append(item)
        # Juxtaposition is right-associative: W U x = W (U x).
        out = merged[-1]
        for left in reversed(merged[:-1]):
            out = MatMul(self.span(left, out), left, out)
        return out

    # -- declarations
    def vardecl(self, children: list[Any]) -> tuple[Token, tuple[Poly, ...] | None, str]:
        tok = children[0]
        shape: tuple[Poly, ...] | None = None
        label = ""
        for child in children[1:]:
            if isinstance(child, tuple):
                shape = child
            elif isinstance(child, str):
                label = child
        return tok, shape, label

    def size_spec(self, children: list[Any]) -> tuple[Poly, ...]:
        values = [c for c in children if isinstance(c, (Poly, tuple))]
        if not values:
            return ()  # ∈ ℝ: a scalar
        last = values[-1]
        return last if isinstance(last, tuple) else (last,)

    def size_axes(self, children: list[Any]) -> tuple[Poly, ...]:
        return tuple(c for c in children if isinstance(c, Poly))

    def size_name(self, children: list[Token]) -> Poly:
        return Poly.symbol(str(children[0]))

    def size_int(self, children: list[Token]) -> Poly:
        return Poly.const(int(children[0]))

    def sizedecl(self, children: list[Any]) -> tuple[Token, Token, str]:
        return children[0], children[1], (children[2] if len(children) > 2 else "")

    def size_expr(self, children: list[Poly]) -> Poly:
        out = Poly()
        for c in children:
            out = out + c
        return out

    def size_prod(self, children: list[Any]) -> Poly:
        out = Poly.const(1)
        for c in children:
            if isinstance(c, Poly):
                out = out * c
        return out

    def size_pow(self, children: list[Token]) -> Poly:
        tok = children[0]
        base = Poly.const(int(tok)) if tok.type == "INT" else Poly.symbol(str(tok))
        exp = int(children[1]) if len(children) > 1 else 1
        out = Poly.const(1)
        for _ in range(exp):
            out = out * base
        return out

    # -- tensors
    def bleaf(self, children: list[Token]) -> tuple[str, bool]:
        name, time = split_name(str(children[0]))
        if time is not None:
            raise CellSyntaxError(f"{children[0]} is a variable, not a parameter: only "
                                  "parameters are stored in tensors", self.tok_loc(children[0]))
        return name, len(children) > 1

    def brow(self, children: list[tuple[str, bool]]) -> tuple[tuple[str, bool], ...]:
        return tuple(children)

    @v_args(meta=True)
    def block(self, meta: Any, children: list[Any]) -> Block:
        return Block(tuple(children), self.meta_loc(meta))

    @v_args(meta=True)
    def single(self, meta: Any, children: list[Any]) -> Block:
        return Block(((children[0],),), self.meta_loc(meta))

    def require(self, children: list[Any]) -> tuple[Poly, str, Poly, str]:
        op = str(children[1]).replace("≤", "<=").replace("≥", ">=")
        return children[0], op, children[2], children[3]


def parse_fragment(start: str, text: str, file: str, line_no: int, line: str, offset: int,
                   functions: frozenset[str] = frozenset(),
                   sizes: frozenset[str] = frozenset()) -> Any:
    """Parse one fragment of a line (``offset``: columns before the fragment).

    ``functions``: names the cell declares elementwise; ``sizes``: its size symbols (a size
    symbol in an expression is a number)."""
    if len(text) > MAX_LINE:
        raise CellSyntaxError(f"this line has {len(text):,} characters; derive reads at most "
                              f"{MAX_LINE:,} in one line", Loc(file, line_no, 1, 2, line[:200]))
    depth = deepest = 0
    for ch in text:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise CellSyntaxError(f"the expression nests {deepest} levels of brackets; derive "
                              f"reads at most {MAX_DEPTH}", Loc(file, line_no, 1, 2, line[:200]))
    try:
        tree = _parser().parse(text, start=start)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text, file, line_no, line, offset) from None
    except RecursionError:
        raise CellSyntaxError("the expression nests too deeply for derive to read",
                              Loc(file, line_no, 1, 2, line[:200])) from None
    too_deep = CellSyntaxError(
        f"the expression nests more than {MAX_TREE_DEPTH} operations deep (√, |·|, ᵀ, powers, "
        "divisions and products included); derive reads at most that", Loc(file, line_no, 1,
                                                                            2, line[:200]))
    if _tree_depth(tree) > MAX_TREE_DEPTH:
        raise too_deep
    try:
        out = _Build(file, line_no, line, offset, functions, sizes).transform(tree)
    except VisitError as exc:  # Lark wraps what the transformer raises
        if isinstance(exc.orig_exc, DeriveError):
            raise exc.orig_exc from None
        if isinstance(exc.orig_exc, RecursionError):
            raise too_deep from None
        raise
    except RecursionError:
        raise too_deep from None
    if start == "equation" and _node_depth(out[1]) > MAX_TREE_DEPTH:
        raise too_deep  # a left-deep chain (W W W x, a / b / c) the grammar keeps flat
    return out


def _depth(root: Any, kids: Any) -> int:
    """The depth of a tree, without recursion; ``kids(node)`` gives a node's children."""
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((c, depth + 1) for c in kids(node))
    return deepest


def _tree_depth(tree: Any) -> int:
    """A Lark tree's depth."""
    return _depth(tree, lambda n: [c for c in getattr(n, "children", ()) if hasattr(c, "data")])


def _node_depth(node: Node) -> int:
    """A model expression's depth."""
    from derive.infer import children

    return _depth(node, children)


_TOKEN_NAMES = {"SIGN": "'+' or '-'", "HAD": "'⊙'", "MATOP": "'@'", "NAME": "a name",
                "NUMBER": "a number", "INT": "an integer", "STRING": 'a "label"',
                "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "EQUAL": "'='",
                "CMP": "a comparison", "TRANSPOSE": "'^T'", "SEMICOLON": "';'", "COMMA": "','",
                "COLON": "':'", "CIRCUMFLEX": "'^'", "LBRACE": "'{'", "RBRACE": "'}'",
                "BAR": "'|'", "SQRT": "'√'", "CONV": "'∗'", "DIV": "'/'", "SQUARE": "'²'",
                "TIMES": "'×'"}


def _syntax_error(exc: UnexpectedInput, text: str, file: str, line_no: int, line: str,
                  offset: int) -> CellSyntaxError:
    col = getattr(exc, "column", None)
    if isinstance(exc, UnexpectedEOF) or col is None or col < 1:
        col = len(text) + 1
    expected: set[str] = set()
    if isinstance(exc, UnexpectedToken):
        expected = set(exc.expected)
        found = f"'{exc.token}'" if exc.token.type != "$END" else "the end of the line"
    elif isinstance(exc, UnexpectedCharacters):
        found = f"'{text[col - 1]}'" if col <= len(text) else "the end of the line"
        expected = set(exc.allowed or ())
    else:
        found = "the end of the line"
        expected = set(getattr(exc, "expected", ()) or ())
    names = sorted({_TOKEN_NAMES.get(e, e.lower()) for e in expected if not e.startswith("__")})
    want = f"; expected {', '.join(names)}" if names else ""
    width = 1
    loc = Loc(file, line_no, col + offset, col + offset + width, line)
    return CellSyntaxError(f"unexpected {found}{want}", loc)


# ------------------------------------------------------------------ file structure


class _Lines:
    """The cell file's lines, comments dropped, with their numbers."""

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.items: list[tuple[int, str]] = []
        for no, raw in enumerate(text.splitlines(), start=1):
            self.items.append((no, raw.rstrip()))
        self.pos = 0

    def loc(self, no: int, line: str, col: int = 1, end: int | None = None) -> Loc:
        return Loc(self.file, no, col, end if end is not None else len(line) + 1, line)


def _strip_comment(line: str) -> str:
    """Drop a ``#`` comment (outside quotes) from a structural line."""
    out, quoted = [], False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        if ch == "#" and not quoted and (i == 0 or line[i - 1].isspace()):
            break
        out.append(ch)
    return "".join(out).rstrip()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_cell(text: str, file: str = "<cell>") -> Cell:
    """Parse the text of a cell file into a :class:`~derive.model.Cell`."""
    lines = _Lines(text, file)
    fields: dict[str, Any] = {"name": None, "title": "", "family": "", "description": "",
                              "bibtex": "",
                              "output": None}
    sizes: list[SizeDecl] = []
    decls: list[VarDecl] = []
    variants: list[Variant] = []
    params: list[ParamDecl] = []
    functions: list[FunctionDecl] = []
    equations: tuple[Equation, ...] = ()
    conventions: list[Convention] = []
    items = lines.items
    ctx = _context(items)
    i = 0
    while i < len(items):
        no, raw = items[i]
        line = _strip_comment(raw)
        if not line.strip():
            i += 1
            continue
        if _indent(line) > 0:
            raise CellSyntaxError("an indented line outside any block", lines.loc(no, raw))
        word, _, rest = line.partition(" ")
        rest_off = len(word) + 1 + (len(rest) - len(rest.lstrip()))
        rest = rest.strip()
        block, j = _block(items, i + 1)
        if word not in KEYWORDS:
            raise CellSyntaxError(f"unknown keyword '{word}'; expected one of "
                                  f"{', '.join(KEYWORDS)}", lines.loc(no, raw, 1, len(word) + 1))
        if word in ("description", "bibtex"):
            fields[word] = _text_block(block) or rest
            if word == "bibtex":
                _check_bibtex(block, file)
            i = j
            continue
        if word == "equations":
            equations = _equations(block, file, ctx)
            i = j
            continue
        if word == "convention":
            conventions.append(_convention(no, raw, rest, rest_off, block, file, conventions,
                                           ctx))
            i = j
            continue
        if block:
            bno, braw = block[0]
            raise CellSyntaxError(f"'{word}' takes no indented block", lines.loc(bno, braw))
        if word == "cell":
            if fields["name"] is not None:
                raise CellSyntaxError(f"a second 'cell' line: this file already names its cell "
                                      f"{fields['name']}; one cell per file",
                                      lines.loc(no, raw, 1, len(word) + 1))
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", rest):
                raise CellSyntaxError("a cell name is lower-case letters, digits, '-' and '_'",
                                      lines.loc(no, raw, rest_off + 1))
            fields["name"] = rest
        elif word == "title":
            fields["title"] = rest.strip('"')
        elif word == "family":
            if rest not in FAMILIES:
                raise CellSyntaxError(f"unknown family '{rest}'; families: {', '.join(FAMILIES)}",
                                      lines.loc(no, raw, rest_off + 1))
            fields["family"] = rest
        elif word == "output":
            name, time = split_name(rest)
            fields["output"] = (name, lines.loc(no, raw, rest_off + 1))
        elif word in ("size", "kernel"):
            tok_name, tok_kw, label = parse_fragment("sizedecl", rest, file, no, raw, rest_off)
            sizes.append(SizeDecl(str(tok_name), str(tok_kw), label,
                                  lines.loc(no, raw, rest_off + 1), kernel=word == "kernel"))
        elif word == "param":
            params.append(_param_decl(rest, lines.loc(no, raw, rest_off + 1)))
        elif word == "function":
            m = re.fullmatch(r'(\S+)\s+elementwise\s*(?:"([^"]*)")?', rest)
            if not m:
                raise CellSyntaxError('expected \'function NAME elementwise "what it is"\'',
                                      lines.loc(no, raw, rest_off + 1))
            functions.append(FunctionDecl(m[1], m[2] or "", lines.loc(no, raw, rest_off + 1)))
        elif word in ("input", "state", "var"):
            tok, size, label = parse_fragment("vardecl", rest, file, no, raw, rest_off)
            name, time = split_name(str(tok))
            if time != "t":
                raise CellSyntaxError(f"declare the {word} at time t, e.g. '{name}_t'",
                                      lines.loc(no, raw, rest_off + 1, rest_off + 1 + len(tok)))
            kind = "intermediate" if word == "var" else word
            decls.append(VarDecl(kind, name, size, label, lines.loc(no, raw, rest_off + 1)))
        elif word == "variant":
            m = re.fullmatch(r"([A-Za-z_]\w*)(?:\s*=\s*(\w+))?\s*->\s*([a-z0-9][a-z0-9_-]*)", rest)
            if not m:
                raise CellSyntaxError("expected 'variant OPTION[=VALUE] -> CELL'",
                                      lines.loc(no, raw, rest_off + 1))
            variants.append(Variant(m[1], m[2], m[3], lines.loc(no, raw, rest_off + 1)))
        i = j
    if not fields["name"]:
        first = items[0][1] if items else ""
        raise CellSyntaxError("the file has no 'cell NAME' line", Loc(file, 1, 1, 2, first))
    if not equations:
        raise CellSyntaxError(f"cell {fields['name']} has no 'equations' block",
                              Loc(file, 1, 1, 2, items[0][1] if items else ""))
    output = fields["output"]
    states = [d for d in decls if d.kind == "state"]
    if output is None:
        if len(states) != 1:
            where = states[1].loc if states else Loc(file, 1, 1, 2, items[0][1])
            raise CellSyntaxError(f"the cell has {len(states)} states; say which is the layer's "
                                  "output, e.g. 'output h_t'", where)
        output_name = states[0].name
    else:
        output_name = output[0]
        defined = {t.name for e in equations for t in e.targets}
        if output_name not in {d.name for d in states} | defined:
            raise CellSyntaxError(f"the output {output_name} is neither a declared state nor "
                                  "defined by an equation", output[1])
    inputs = [d for d in decls if d.kind == "input"]
    first = inputs[0].shape[0] if inputs and inputs[0].shape else None
    if first is None or len(first.terms) != 1 or first.terms[0][0] != 1 or \
            len(first.terms[0][1]) != 1 or first.terms[0][1][0][1] != 1:
        loc = inputs[0].loc if inputs else Loc(file, 1, 1, 2, items[0][1])
        raise CellSyntaxError("a cell's first input is declared with a size symbol: "
                              "'input x_t ∈ ℝ^d' (or a feature map 'input X_t ∈ ℝ^{C×H×W}', "
                              "channels first)", loc)
    for extra in inputs[1:]:
        if extra.shape is None:
            raise CellSyntaxError(f"declare the size of the side input {extra.name}_t, e.g. "
                                  f"'input {extra.name}_t ∈ ℝ' for a scalar", extra.loc)
    return Cell(
        name=fields["name"], title=fields["title"] or fields["name"], family=fields["family"],
        description=fields["description"],
        bibtex=fields["bibtex"], sizes=tuple(sizes), decls=tuple(decls), output=output_name,
        equations=equations, conventions=tuple(conventions), variants=tuple(variants),
        source=file, digest=hashlib.sha256(text.encode()).hexdigest(), params=tuple(params),
        functions=tuple(functions))


class _Context:
    """What the expressions of a cell need to know before they are parsed."""

    def __init__(self, functions: frozenset[str], sizes: frozenset[str]) -> None:
        self.functions, self.sizes = functions, sizes


def _context(items: list[tuple[int, str]]) -> _Context:
    """The declared functions and size symbols, read ahead of the equations. A size symbol
    that is also a variable's name (h and h_t) stays a name: ``h`` alone is then an error
    asking for a time index, not a number."""
    functions, sizes, variables = set(), set(), set()
    for _no, raw in items:
        m = re.match(r"(?:input|state|var)\s+([^\s_]+)_", raw) or \
            re.match(r"\s+([^\s_=\[]+)_(?:t|\{t\})\s*=", raw)
        if m:
            variables.add(m[1])
        m = re.match(r"\s+\[([^\]=]*)\]\s*=", raw)  # a stacked left side [f_t; i_t] =
        if m:
            variables.update(re.findall(r"([^\s_;]+)_(?:t|\{t\})", m[1]))
        m = re.match(r"function\s+(\S+)\s+elementwise", raw)
        if m:
            functions.add(m[1])
        m = re.match(r"(?:size|kernel)\s+(\S+)\s*=", raw)
        if m:
            sizes.add(m[1])
    return _Context(frozenset(functions), frozenset(sizes - variables))


PARAM_KINDS = ("per-channel", "blockdiag", "scalar", "kernel")


def _param_decl(rest: str, loc: Loc) -> ParamDecl:
    m = re.fullmatch(r'([^"]+?)\s+(per-channel|scalar|(?:blockdiag|kernel)\s+(\S+))\s*'
                     r'(?:"([^"]*)")?', rest)
    if not m:
        raise CellSyntaxError("expected 'param NAME[, NAME...] per-channel|scalar|blockdiag N|"
                              "kernel K \"why\"' (a parameter's kind, never its size)", loc)
    names = tuple(n.strip() for n in m[1].split(","))
    for n in names:
        if split_name(n)[1] is not None or not re.fullmatch(r"\\?[^\W\d_][^\W]*'*", n):
            raise CellSyntaxError(f"'{n}' is not a parameter name", loc)
    what = m[2].split()[0]
    return ParamDecl(names, what, m[3], m[4] or "", loc)


def _block(items: list[tuple[int, str]], start: int) -> tuple[list[tuple[int, str]], int]:
    """The indented (or blank) lines following a keyword line."""
    j = start
    while j < len(items) and (not items[j][1].strip() or _indent(items[j][1]) > 0):
        j += 1
    block = list(items[start:j])
    while block and not block[-1][1].strip():
        block.pop()
    return block, j


def _text_block(block: list[tuple[int, str]]) -> str:
    if not block:
        return ""
    lines = [raw for _, raw in block]
    cut = min(_indent(line) for line in lines if line.strip())
    return "\n".join(line[cut:] for line in lines).strip("\n")


def _equations(block: list[tuple[int, str]], file: str, ctx: _Context) -> tuple[Equation, ...]:
    out: list[Equation] = []
    for no, raw in block:
        line = _strip_comment(raw)
        if not line.strip():
            continue
        off = _indent(line)
        targets, rhs, label = parse_fragment("equation", line[off:], file, no, raw, off,
                                             ctx.functions, ctx.sizes)
        for target in targets:
            if target.time != "t":
                raise CellSyntaxError(f"the left side of an equation is a variable at time t, "
                                      f"e.g. '{target.name}_t'", target.loc)
        out.append(Equation(len(out) + 1, targets, rhs, label, Loc(file, no, off + 1,
                                                                   len(line) + 1, raw)))
    return tuple(out)


def _convention(no: int, raw: str, rest: str, rest_off: int, block: list[tuple[int, str]],
                file: str, earlier: list[Convention], ctx: _Context) -> Convention:
    head_loc = Loc(file, no, 1, len(raw) + 1, raw)
    m = re.fullmatch(r'([a-z0-9][a-z0-9_-]*)\s*(?:"([^"]*)")?\s*(?:from\s+([a-z0-9][a-z0-9_-]*))?',
                     rest)
    if not m:
        raise CellSyntaxError('expected \'convention NAME "Title" [from BASE]\'', head_loc)
    name, title, base_name = m[1], m[2] or m[1], m[3]
    values: dict[str, Any] = {"equations": None, "tensors": (), "names": ("{t}",),
                              "names_bidirectional": ("{t}", "{t}"), "direction_axis": False,
                              "stackable": True, "requires": (), "note": "",
                              "names_stacked": (), "names_stacked_bidirectional": (),
                              "separate_directions": False, "bias_optional": True}
    if base_name is not None:
        base = next((c for c in earlier if c.name == base_name), None)
        if base is None:
            raise CellSyntaxError(f"convention {base_name} is not defined above", head_loc)
        for key in values:
            values[key] = getattr(base, key)
    tensors: list[TensorDecl] = []
    requires: list[Require] = list(values["requires"])
    k = 0
    while k < len(block):
        bno, braw = block[k]
        line = _strip_comment(braw)
        k += 1
        if not line.strip():
            continue
        off = _indent(line)
        word, _, tail = line.strip().partition(" ")
        tail_off = off + len(word) + 1 + (len(tail) - len(tail.lstrip()))
        tail = tail.strip()
        loc = Loc(file, bno, off + 1, len(line) + 1, braw)
        if word == "equations":
            sub: list[tuple[int, str]] = []
            while k < len(block) and (not block[k][1].strip() or _indent(block[k][1]) > off):
                sub.append(block[k])
                k += 1
            if tail == "same":
                values["equations"] = None
            else:
                values["equations"] = _equations(sub, file, ctx)
        elif word == "tensor":
            tname, eq, expr = tail.partition("=")
            if not eq or not re.fullmatch(r"[\w{}./-]+", tname.strip()):
                raise CellSyntaxError("expected 'tensor NAME = [A; B]'", loc)
            expr_off = tail_off + len(tname) + 1 + (len(expr) - len(expr.lstrip()))
            blk = parse_fragment("block", expr.strip(), file, bno, braw, expr_off)
            tensors.append(TensorDecl(tname.strip(), blk, loc))
        elif word == "name":
            templates = re.findall(r'"([^"]*)"', tail)
            m = re.match(r"(stacked\s+)?(bidirectional\s+)?\"", tail)
            if not m:
                raise CellSyntaxError("expected 'name [stacked] [bidirectional] \"TEMPLATE\"'",
                                      loc)
            key = "names_stacked" if m[1] else "names"
            line_kind = " ".join(["name", *(w.strip() for w in (m[1], m[2]) if w)])
            if m[2]:
                if len(templates) != 2:
                    raise CellSyntaxError(f"'{line_kind}' takes two templates: forward and "
                                          "backward", loc)
                values[key + "_bidirectional"] = tuple(templates)
            else:
                if len(templates) != 1:
                    raise CellSyntaxError(f"'{line_kind}' takes one template in quotes", loc)
                values[key] = tuple(templates)
            for t in templates:
                for ph in re.findall(r"\{([^}]*)\}", t):
                    if ph not in ("t", "k", "k1", "k_"):
                        raise CellSyntaxError(f"unknown placeholder {{{ph}}} in a name "
                                              "template; use {t}, {k}, {k1} or {k_}", loc)
        elif word == "directions" and tail == "axis":
            values["direction_axis"] = True
        elif word == "directions" and tail == "separate":
            values["separate_directions"] = True
        elif word == "bias" and tail == "always":
            values["bias_optional"] = False
        elif word == "single-cell":
            values["stackable"] = False
        elif word == "note":
            values["note"] = tail.strip('"')
        elif word == "require":
            left, op, right, message = parse_fragment("require", tail, file, bno, braw, tail_off)
            requires.append(Require(left, op, right, message, loc))
        else:
            raise CellSyntaxError(f"unknown convention line '{word}'; expected equations, "
                                  "tensor, name, directions axis, directions separate, "
                                  "bias always, single-cell, require or note", loc)
    if not tensors:  # a derived convention keeps its base's tensors unless it lists its own
        tensors = list(values["tensors"])
    if not tensors:
        raise CellSyntaxError(f"convention {name} declares no tensor", head_loc)
    values["tensors"] = tuple(tensors)
    values["requires"] = tuple(requires)
    return Convention(name=name, title=title, loc=head_loc, **values)


def load_cell(ref: str) -> Cell:
    """Parse a catalog cell (``"lstm"``) or a cell file (``"path/to/my.cell"``)."""
    from derive.catalog import display, read, resolve

    path = resolve(ref)
    return parse_cell(read(path), display(path))
