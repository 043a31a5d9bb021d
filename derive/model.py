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
    """A name: ``W_ii`` (no time index), ``x_t`` (time ``t``), ``h_{t-1}`` (``t-1``),
    ``x_{t-2}`` (``t-2``) or ``x_{t-k+1:t}`` (``window:k``: the last k values stacked)."""

    name: str = ""
    time: str | None = None  # None, "t", "t-1", "t-2", ... or "window:SYMBOL"

    @property
    def key(self) -> str:
        return self.name if self.time is None else f"{self.name}@{self.time}"

    @property
    def display(self) -> str:
        return display_name(self.name, self.time)

    @property
    def lag(self) -> int:
        """How many steps back: 0 for x_t, 1 for h_{t-1}; a window reaches back to t-1."""
        if self.time is None or self.time == "t":
            return 0
        if self.time.startswith("window:"):
            return 1
        return int(self.time[2:])

    @property
    def window(self) -> str | None:
        """The size symbol k of a window ``x_{t-k+1:t}``."""
        return self.time[7:] if self.time and self.time.startswith("window:") else None


def display_name(name: str, time: str | None) -> str:
    """``h`` at ``t-1`` → ``h_{t-1}``, as the cell file spells it."""
    if time is None:
        return name
    if time == "t":
        return f"{name}_t"
    if time.startswith("window:"):
        return f"{name}_{{t-{time[7:]}+1:t}}"
    return f"{name}_{{{time}}}"


@dataclass(frozen=True)
class SizeRef(Node):
    """A declared size symbol used as a number in an expression: ``W_k x_t / √d``."""

    name: str = ""


@dataclass(frozen=True)
class Num(Node):
    """A scalar constant, such as the 1 in ``1 - z_t``. Kept exact as numerator/denominator."""

    numerator: int = 0
    denominator: int = 1


@dataclass(frozen=True)
class Call(Node):
    """A function of one or more arguments: σ, tanh, relu, exp, log, max(a, b), |a|, ...

    Elementwise: the arguments broadcast (a scalar or a number against anything)."""

    func: str = ""
    arg: Node | None = None
    args: tuple[Node, ...] = ()

    @property
    def operands(self) -> tuple[Node, ...]:
        return self.args if self.args else ((self.arg,) if self.arg is not None else ())


@dataclass(frozen=True)
class Norm(Node):
    """A normalisation that carries parameters: ``LN(x; γ, β)``, ``RMSNorm(x; γ)``,
    ``GN(x, n; γ, β)`` (n groups, a size symbol). ``params`` are (gain, bias?)."""

    func: str = ""  # "LN", "RMSNorm" or "GN"
    arg: Node | None = None
    groups: str | None = None
    params: tuple[Var, ...] = ()


@dataclass(frozen=True)
class Conv(Node):
    """``W ∗ X``: a convolution with "same" padding; ``left`` is a kernel parameter."""

    left: Node | None = None
    right: Node | None = None


@dataclass(frozen=True)
class Transpose(Node):
    """``xᵀ``: a vector becomes a row (1×n), a matrix its transpose."""

    arg: Node | None = None


@dataclass(frozen=True)
class Div(Node):
    """``a / b``, elementwise (a scalar broadcasts)."""

    left: Node | None = None
    right: Node | None = None


@dataclass(frozen=True)
class Power(Node):
    """``a^{e}``, elementwise (a scalar broadcasts)."""

    base: Node | None = None
    exponent: Node | None = None


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
    """``i_t = σ(...)``, or a stacked left side ``[f_t; i_t; o_t; g_t] = ...`` (Ba et al.
    normalise the four gates' pre-activations together): the right side is the parts
    stacked, each part a variable of its own."""

    number: int
    targets: tuple[Var, ...]
    rhs: Node
    label: str
    loc: Loc = field(compare=False, repr=False)

    @property
    def source(self) -> str:
        return self.loc.text.strip()

    @property
    def target(self) -> Var:
        """The one variable the equation defines (see :attr:`targets` for a stacked one)."""
        if len(self.targets) != 1:
            raise ValueError(f"equation ({self.number}) defines {self.lhs_display}")
        return self.targets[0]

    @property
    def stacked(self) -> bool:
        return len(self.targets) > 1

    @property
    def lhs_display(self) -> str:
        """``h_t``, or ``[f_t; i_t; o_t; g_t]``."""
        if not self.stacked:
            return self.targets[0].display
        return "[" + "; ".join(t.display for t in self.targets) + "]"

    @property
    def key(self) -> str:
        """A name for the equation: its variable's, or the stacked ones' joined by '-'."""
        return "-".join(t.name for t in self.targets)


@dataclass(frozen=True)
class SizeDecl:
    """``size h = hidden_size "..."``: a size symbol and the keyword that sets it.

    ``kernel k = kernel_size "..."`` declares a kernel size (``kernel`` is True): one
    symbol per spatial axis, ``k_1, k_2, ...``, as many as the convolutions need."""

    symbol: str
    keyword: str
    description: str
    loc: Loc = field(compare=False, repr=False)
    kernel: bool = False


@dataclass(frozen=True)
class ParamDecl:
    """``param p_i, p_f per-channel "why"``: what a parameter is, never its size.

    ``what`` is ``per-channel`` (one weight per channel, broadcast over the spatial axes),
    ``blockdiag`` (block-diagonal with ``blocks`` blocks, a size symbol), ``scalar``, or
    ``kernel`` (a convolution kernel whose extents are the kernel size ``blocks`` names, for a
    cell with several kernel sizes: Shi et al.'s input-to-state and state-to-state kernels)."""

    names: tuple[str, ...]
    what: str
    blocks: str | None
    description: str
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class FunctionDecl:
    """``function κ elementwise "why"``: a function derive does not know, elementwise."""

    name: str
    description: str
    loc: Loc = field(compare=False, repr=False)


@dataclass(frozen=True)
class VarDecl:
    """``input x_t ∈ ℝ^d``, ``state c_t`` or ``var a_t ∈ ℝ^h`` (sizes may be left to inference).

    ``shape`` has one entry per axis: ``ℝ^d`` is (d,), ``ℝ^{C×H×W}`` (C, H, W) (channels,
    then the spatial axes), ``ℝ^{h×h}`` a matrix, ``ℝ`` a scalar (); None if undeclared."""

    kind: str  # "input", "state" or "intermediate"
    name: str
    shape: tuple[Poly, ...] | None
    description: str
    loc: Loc = field(compare=False, repr=False)

    @property
    def size(self) -> Poly | None:
        """The size of a vector declaration (its one axis); None otherwise."""
        return self.shape[0] if self.shape is not None and len(self.shape) == 1 else None


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
    # names for a stack of more layers (TF1's MultiRNNCell names its cells cell_0, cell_1..)
    names_stacked: tuple[str, ...] = ()
    names_stacked_bidirectional: tuple[str, ...] = ()
    # TF1's bidirectional_dynamic_rnn over a MultiRNNCell: two separate stacks, so a layer
    # above the first reads one direction's output, not both concatenated
    separate_directions: bool = False
    bias_optional: bool = True  # False: the framework has no switch to drop the biases (TF1)


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
    params: tuple[ParamDecl, ...] = ()
    functions: tuple[FunctionDecl, ...] = ()

    @property
    def inputs(self) -> tuple[VarDecl, ...]:
        return tuple(d for d in self.decls if d.kind == "input")

    @property
    def input_symbol(self) -> str:
        """The size symbol of the first input's first axis (its features or channels): what
        changes from layer to layer. Further inputs are side inputs (timestamps, ...)."""
        (first,) = self.inputs[:1]
        assert first.shape is not None and first.shape
        ((_, monomial),) = first.shape[0].terms
        ((sym, _),) = monomial
        return sym

    def param_decl(self, name: str) -> ParamDecl | None:
        return next((p for p in self.params if name in p.names), None)

    def convention(self, name: str) -> Convention | None:
        for conv in self.conventions:
            if conv.name == name:
                return conv
        return None
