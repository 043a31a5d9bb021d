"""The frozen model in the middle: a cell, its equations and its conventions, as data.

Parsing produces these objects; inference, counting and every export read them.
Expression nodes keep their source location so that errors can point at a term.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from derive.errors import Loc
from derive.poly import Poly

# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Node:
    loc: Loc = field(compare=False, repr=False)

    @property
    def text(self) -> str:
        """The node as the cell file spells it."""
        return self.loc.snippet


@dataclass(frozen=True)
class Var(Node):
    """A name: ``W_ii`` (no time index), ``x_t`` (time ``t``) or ``h_{t-1}`` (time ``t-1``)."""

    name: str = ""
    time: str | None = None  # None, "t" or "t-1"

    @property
    def key(self) -> str:
        return self.name if self.time is None else f"{self.name}@{self.time}"

    @property
    def display(self) -> str:
        if self.time is None:
            return self.name
        return f"{self.name}_t" if self.time == "t" else f"{self.name}_{{t-1}}"


@dataclass(frozen=True)
class Num(Node):
    """A scalar constant, such as the 1 in ``1 - z_t``. Kept exact as numerator/denominator."""

    numerator: int = 0
    denominator: int = 1


@dataclass(frozen=True)
class Call(Node):
    """An elementwise function: σ, tanh, relu, ..."""

    func: str = ""
    arg: Node | None = None


@dataclass(frozen=True)
class MatMul(Node):
    """Juxtaposition ``W x``: a matrix-vector product (or a scalar times a vector)."""

    left: Node | None = None
    right: Node | None = None


@dataclass(frozen=True)
class Hadamard(Node):
    """Elementwise product ``a ⊙ b``."""

    left: Node | None = None
    right: Node | None = None


@dataclass(frozen=True)
class Sum(Node):
    """A signed sum of terms; ``signs[i]`` is +1 or -1."""

    terms: tuple[Node, ...] = ()
    signs: tuple[int, ...] = ()


@dataclass(frozen=True)
class Concat(Node):
    """``[a; b]``: the vector a stacked on the vector b."""

    items: tuple[Node, ...] = ()


# ---------------------------------------------------------------- cells


@dataclass(frozen=True)
class Equation:
    number: int
    target: Var
    rhs: Node
    label: str
    loc: Loc = field(compare=False, repr=False)

    @property
    def source(self) -> str:
        return self.loc.text.strip()


@dataclass(frozen=True)
class SizeDecl:
    """``size h = hidden_size "..."``: a size symbol and the keyword that sets it."""

    symbol: str
    keyword: str
    description: str
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class VarDecl:
    """``input x_t ∈ ℝ^d``, ``state c_t`` or ``var a_t ∈ ℝ^h`` (sizes may be left to inference)."""

    kind: str  # "input", "state" or "intermediate"
    name: str
    size: Poly | None
    description: str
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class Variant:
    """``variant proj_size -> lstmp``: with that option the cell is another catalog cell."""

    option: str
    value: str | None  # None: the option is given and non-zero
    target: str
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class Block:
    """A block expression that packs parameters into one stored tensor.

    ``rows`` is a grid: ``[A, B; C, D]`` is ((A, B), (C, D)). A leaf is a parameter name,
    ``transposed`` when written ``A^T``.
    """

    rows: tuple[tuple[tuple[str, bool], ...], ...]
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class TensorDecl:
    name: str
    block: Block
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class Require:
    """``require p < h "message"``: a condition on the sizes a framework imposes."""

    left: Poly
    op: str
    right: Poly
    message: str
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class Convention:
    """How one framework stores the cell: its own equations and its fused tensors."""

    name: str
    title: str
    equations: tuple[Equation, ...] | None  # None: the cell's own equations
    tensors: tuple[TensorDecl, ...]
    names: tuple[str, ...]  # name template for one direction
    names_bidirectional: tuple[str, ...]  # two templates: forward, backward
    direction_axis: bool  # ONNX: one tensor with a leading num_directions axis
    stackable: bool  # False for single-cell APIs (nn.LSTMCell)
    requires: tuple[Require, ...]
    note: str
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class Cell:
    name: str
    title: str
    description: str
    bibtex: str
    sizes: tuple[SizeDecl, ...]
    decls: tuple[VarDecl, ...]
    output: str
    equations: tuple[Equation, ...]
    conventions: tuple[Convention, ...]
    variants: tuple[Variant, ...]
    source: str
    digest: str = field(compare=False)
    family: str = ""  # elman, lstm, gru, convolutional or modern (the site groups by it)

    @property
    def inputs(self) -> tuple[VarDecl, ...]:
        return tuple(d for d in self.decls if d.kind == "input")

    @property
    def input_symbol(self) -> str:
        """The size symbol of the (single) input: what changes from layer to layer."""
        (first,) = self.inputs[:1]
        assert first.size is not None
        ((_, monomial),) = first.size.terms
        ((sym, _),) = monomial
        return sym

    def convention(self, name: str) -> Convention | None:
        for conv in self.conventions:
            if conv.name == name:
                return conv
        return None
