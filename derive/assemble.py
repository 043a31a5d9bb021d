"""Counting a whole network: the layers of a model file, composed, as closed forms and tensors.

A model (:mod:`derive.network`) names its hyperparameters; every layer's input size is
inferred from what it reads (the layer before it, a concatenation, a sum, or nothing).
Each recurrent layer is a compiled cell (the same cache ``derive count`` reads) whose size
symbols are replaced by polynomials in the model's symbols, so the whole network's count
is one exact polynomial, printed layer by layer and in total, and evaluated at a
configuration by two independent paths (the polynomial, and the sum of the stored tensors'
shapes) that must agree.

What the sizes force (a tied output layer's sizes, a sum of equal-sized inputs, a cell's
``d = h``, a convention's ``p < h``) is decided when the model is assembled if the
polynomials decide it (equal: nothing to check; unequal: an error) and otherwise kept as a
requirement checked at every configuration, never assumed.

Only the standard library and the count path run here (no SymPy).
"""

from __future__ import annotations

from derive import counting
from derive.errors import ConfigError, DeriveError, Loc, ModelError
from derive.network import Layer, Network, Sub, read_model
from derive.poly import Poly
from derive.records import TYPE_CHECKING, record

if TYPE_CHECKING:
    from typing import Any

ONE = Poly.const(1)
OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
       ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
       "|": lambda a, b: a != 0 and b % a == 0}


@record
class Requirement:
    """A condition on the model's symbols that the polynomials could not decide."""

    left: Poly
    op: str
    right: Poly
    why: str  # "layer 3 ('head') is tied to 'embed': its input must be the embedding size"
    loc: Loc | None

    @property
    def text(self) -> str:
        rule = f"{self.left} {self.op} {self.right}" if self.op != "|" else \
            f"{self.left} divides {self.right}"
        return f"{rule} ({self.why})"

    def holds(self, env: dict[str, int]) -> bool:
        return OPS[self.op](self.left.evaluate(env), self.right.evaluate(env))


@record
class Part:
    """One cell of a recurrent layer, in the model's symbols."""

    sub: Sub
    data: dict[str, Any]  # the compiled cell
    conv: dict[str, Any]  # its convention
    cell_env: dict[str, Poly]  # cell symbol -> polynomial in the model's symbols
    per_layer: Poly  # P(x): one layer and direction, in the cell's input symbol
    first: Poly  # P(what the first of these layers reads)
    upper: Poly  # P(what a layer above reads)
    reads: Poly  # what the first layer reads
    above: Poly  # what a layer above reads (D·o, or o)


@record
class Assembled:
    """A layer of the model with its sizes inferred and its count as a polynomial."""

    layer: Layer
    input: Poly  # the features it reads (0 for none, the vocabulary for an embedding)
    output: Poly  # the features it gives the next layer
    count: Poly  # its parameters, in the model's symbols
    tree: tuple  # the closed form as a printing tree
    parts: tuple[Part, ...]
    summary: str  # "lstm-peephole, L layers, bidirectional (concat), pytorch"


@record
class Model:
    """A model file assembled: every layer sized, the count a polynomial."""

    net: Network
    layers: tuple[Assembled, ...]
    total: Poly
    requires: tuple[Requirement, ...]

    @property
    def order(self) -> list[str]:
        return self.net.order

    def forms(self) -> dict[str, dict[str, Any]]:
        """The closed form layer by layer, and the total factored: text, ascii, latex, tree."""
        from derive.printing import forms, poly_tree

        names = {s: s for s in self.order}
        trees = [a.tree for a in self.layers if not a.count.is_zero]
        by_layer = trees[0] if len(trees) == 1 else ("add", trees) if trees else ("num", 0)
        return {"layers": forms(by_layer, names),
                "total": forms(poly_tree(self.total, self.order), names),
                **{a.layer.name: forms(a.tree, names) for a in self.layers}}


@record
class Tensor:
    name: str
    shape: tuple[int, ...]
    count: int
    layer: str
    note: str = ""  # "shared with embed.weight"

    @property
    def shape_text(self) -> str:
        return str(self.shape) if len(self.shape) != 1 else f"({self.shape[0]},)"


@record
class LayerCount:
    name: str
    kind: str
    summary: str
    input: int
    output: int
    count: int
    formula: dict[str, Any]


@record
class ModelCount:
    """A model at one configuration: its total, per layer and per stored tensor."""

    model: str
    title: str
    citation: str
    config: dict[str, int]
    total: int
    layers: tuple[LayerCount, ...]
    tensors: tuple[Tensor, ...]
    forms: dict[str, dict[str, Any]]
    requires: tuple[str, ...]
    symbols: tuple[tuple[str, str, int], ...]  # (symbol, description, value)
    bias: bool

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "title": self.title, "citation": self.citation,
                "config": self.config, "total": self.total,
                "layers": [{"name": lc.name, "kind": lc.kind, "summary": lc.summary,
                            "input": lc.input, "output": lc.output, "count": lc.count,
                            "formula": lc.formula} for lc in self.layers],
                "tensors": [{"name": t.name, "shape": list(t.shape), "count": t.count,
                             "layer": t.layer, **({"note": t.note} if t.note else {})}
                            for t in self.tensors],
                "formulas": {k: self.forms[k] for k in ("layers", "total")},
                "symbols": {s: {"description": d, "value": v} for s, d, v in self.symbols},
                "requires": list(self.requires)}


# ------------------------------------------------------------------ polynomials


def substitute(p: Poly, mapping: dict[str, Poly]) -> Poly:
    """Replace every symbol at once (``h → n_c, d → n_i`` never chains)."""
    out = Poly()
    for c, m in p.terms:
        term = Poly.const(c)
        for s, e in m:
            factor = mapping.get(s, Poly.symbol(s))
            if e < 0:
                try:
                    factor = factor.reciprocal()
                except ValueError:
                    raise ModelError(f"the count divides by {s}, given as {factor}; a size "
                                     "that divides is a single symbol or number here") from None
            for _ in range(abs(e)):
                term = term * factor
        out = out + term
    return out


def _decide(left: Poly, right: Poly) -> bool | None:
    """Equal (True), unequal at every size (False), or undecidable (None)."""
    diff = left - right
    if diff.is_zero:
        return True
    if diff.constant is not None:
        return False
    signs = {c > 0 for c, m in diff.terms if all(e > 0 for _, e in m)}
    if len(signs) == 1 and all(all(e > 0 for _, e in m) for _, m in diff.terms):
        return False  # every size is at least 1: 2·d − d = d is never 0
    return None


def _equal(left: Poly, right: Poly, why: str, loc: Loc | None,
           requires: list[Requirement]) -> None:
    verdict = _decide(left, right)
    if verdict is False:
        raise ModelError(f"{why}: {left} ≠ {right} at every size", loc)
    if verdict is None:
        requires.append(Requirement(left, "==", right, why, loc))


# ------------------------------------------------------------------ assembling


def assemble(ref: str | Network) -> Model:
    """Read (unless given) and size every layer of a model; the count as a polynomial."""
    net = read_model(ref) if isinstance(ref, str) else ref
    requires: list[Requirement] = []
    out: dict[str, Poly] = dict(net.inputs)
    done: list[Assembled] = []
    by_name = {layer.name: layer for layer in net.layers}
    for layer in _topological(net):
        k = net.layers.index(layer)
        if layer.wiring == "previous":
            reads = [net.layers[k - 1].name] if k else list(net.inputs)
        else:
            reads = list(layer.inputs)
        where = f"layer {k + 1} ('{layer.name}')"
        if layer.wiring in ("tokens", "none"):
            size = Poly()
        elif layer.wiring == "sum":
            size = out[reads[0]]
            for other in reads[1:]:
                _equal(out[other], size, f"{where} adds {reads[0]} and {other}: they must "
                       "have the same size", layer.locs.get("input", layer.loc), requires)
        else:
            size = sum((out[r] for r in reads), Poly())
        a = _assemble_layer(layer, where, size, net, by_name, out, requires)
        out[layer.name] = a.output
        done.append(a)
    order = {layer.name: i for i, layer in enumerate(net.layers)}
    done.sort(key=lambda a: order[a.layer.name])
    total = sum((a.count for a in done), Poly())
    return Model(net, tuple(done), total, tuple(_unique(requires)))


def _unique(requires: list[Requirement]) -> list[Requirement]:
    seen, out = set(), []
    for r in requires:
        key = (r.left, r.op, r.right)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def _topological(net: Network) -> list[Layer]:
    """The layers in an order where each comes after what it reads (the file checked
    there is no cycle)."""
    names = [layer.name for layer in net.layers]
    placed: set[str] = set(net.inputs)
    out: list[Layer] = []
    pending = list(net.layers)
    while pending:
        for layer in pending:
            k = names.index(layer.name)
            reads = ([names[k - 1]] if k else []) if layer.wiring == "previous" else \
                list(layer.inputs)
            if all(r in placed for r in reads):
                out.append(layer)
                placed.add(layer.name)
                pending.remove(layer)
                break
        else:  # pragma: no cover - network._check_wiring refuses cycles
            raise ModelError("the layers read each other in a cycle")
    return out


def _assemble_layer(layer: Layer, where: str, size: Poly, net: Network,
                    by_name: dict[str, Layer], out: dict[str, Poly],
                    requires: list[Requirement]) -> Assembled:
    from derive.printing import poly_tree

    order = net.order
    p = layer.params
    b = ONE if layer.bias else Poly()
    if layer.kind == "embedding":
        count = p["vocab"] * p["size"]
        return Assembled(layer, p["vocab"], p["size"], count, poly_tree(count, order), (),
                         f"embedding, {p['vocab']} tokens × {p['size']}")
    if layer.kind in ("linear", "softmax"):
        if "out" not in p:
            return Assembled(layer, size, size, Poly(), ("num", 0), (), "softmax (no weights)")
        weights = size * p["out"]
        summary = f"{'linear' if layer.kind == 'linear' else 'linear + softmax'}, " \
                  f"{size} → {p['out']}" + ("" if layer.bias else ", no bias")
        if "tie" in p:
            target = by_name.get(p["tie"])
            loc = layer.locs.get("tie", layer.loc)
            if target is None or target.kind != "embedding":
                raise ModelError(f"{where} is tied to '{p['tie']}', which is not an embedding "
                                 "layer of the model", loc)
            why = f"{where} shares its weight with '{p['tie']}'"
            _equal(p["out"], target.params["vocab"], f"{why}: its output size must be the "
                   "vocabulary", loc, requires)
            _equal(size, target.params["size"], f"{why}: its input size must be the "
                   "embedding size", loc, requires)
            weights = Poly()
            summary += f", weight tied to {p['tie']}"
        count = weights + b * p["out"]
        return Assembled(layer, size, p["out"], count, poly_tree(count, order), (), summary)
    if layer.kind == "conv":
        window = Poly.product(p["kernel"])
        count = p["out"] * size * window + b * p["out"]
        shown = "×".join(str(k) for k in p["kernel"])
        return Assembled(layer, size, p["out"], count, poly_tree(count, order), (),
                         f"convolution {shown}, {size} → {p['out']} channels"
                         + ("" if layer.bias else ", no bias"))
    if layer.kind == "layernorm":
        count = size + b * size
        return Assembled(layer, size, size, count, poly_tree(count, order), (),
                         "layer norm (scale" + (" and shift)" if layer.bias else ")"))
    if layer.kind == "rmsnorm":
        return Assembled(layer, size, size, size, poly_tree(size, order), (),
                         "RMS norm (scale)")
    return _recurrent(layer, where, size, net, requires)


def _recurrent(layer: Layer, where: str, size: Poly, net: Network,
               requires: list[Requirement]) -> Assembled:
    order = net.order
    dirs = Poly.const(layer.dirs)
    parts: list[Part] = []
    reads = size
    count = Poly()
    trees: list[tuple] = []
    for j, sub in enumerate(layer.subs):
        here = where if len(layer.subs) == 1 else f"{where}, stack entry {j + 1}"
        part = _part(sub, here, reads, layer, requires, allow_empty=(j == 0 and
                                                                     layer.wiring == "none"))
        parts.append(part)
        count = count + dirs * (part.first + (sub.repeat - ONE) * part.upper)
        trees.append(_stack_tree(part, sub.repeat, order))
        reads = part.above
    inner = trees[0] if len(trees) == 1 else ("add", trees)
    tree = inner if layer.dirs == 1 else ("mul", [("num", layer.dirs), inner])
    last = parts[-1]
    o = Poly.from_data(last.data["output_size"])
    o = substitute(o, last.cell_env)
    output = dirs * o if layer.merge in ("concat", "separate") else o
    cells = " + ".join(
        f"{p.data['cell']}" + ("" if p.sub.repeat == ONE else f" ×{p.sub.repeat}")
        for p in parts)
    summary = f"{cells}, {layer.framework}" + (
        f", bidirectional ({layer.merge})" if layer.dirs == 2 else "") + (
        ", no input" if layer.wiring == "none" else "") + ("" if layer.bias else ", no bias")
    return Assembled(layer, size, output, count, tree, tuple(parts), summary)


def _stack_tree(part: Part, repeat: Poly, order: list[str]) -> tuple:
    """P(in) + (R − 1)·P(a), with P factored, as the paper writes a stack."""
    from derive.printing import poly_tree

    first = poly_tree(part.first, order)
    if repeat == ONE:
        return first
    if repeat.constant is not None:  # two layers: P(in) + P(a); four: P(in) + 3·P(a)
        rest = poly_tree((repeat - ONE) * part.upper, order)
        return rest if part.first.is_zero else ("add", [first, rest])
    upper = poly_tree(part.upper, order)
    factors = list(upper[1]) if upper[0] == "mul" else [upper]
    lead = 1 if factors and factors[0][0] == "num" else 0
    factors.insert(lead, poly_tree(repeat - ONE, order))
    if part.first.is_zero:
        return ("mul", factors)
    return ("add", [first, ("mul", factors)])


def _part(sub: Sub, where: str, reads: Poly, layer: Layer, requires: list[Requirement],
          allow_empty: bool) -> Part:
    options: dict[str, Any] = dict(sub.options)
    for key, value in sub.sizes.items():  # a size can choose a variant (proj_size → lstmp)
        if isinstance(value, Poly) and value.constant is not None:
            options[key] = value.constant
        elif isinstance(value, Poly) and all(c > 0 for c, _ in value.terms):
            options[key] = 1  # at least 1 at every configuration: "given", not 0
        elif isinstance(value, Poly):
            options[key] = None
    try:
        data, via = counting.load(sub.cell, options)
        conv = counting.convention(data, sub.framework, via)
    except DeriveError as exc:
        raise ModelError(f"{where}: {exc.message}", sub.loc, exc.detail) from None
    if not conv["stackable"]:
        raise ModelError(f"{where}: the {sub.framework} convention of {data['cell']} is a "
                         "single cell, not a layer; use the layer's convention", sub.loc)
    if not layer.bias and not conv["bias_optional"]:
        raise ModelError(f"{where}: {sub.framework} ({conv['title']}) always stores its "
                         "biases; the model's bias = false cannot apply to it", sub.loc)
    variant_keys = {v["option"] for v in data["variants"]}
    keywords = {s["keyword"] for s in data["sizes"]}
    for key in options:
        if key in sub.sizes and key not in keywords and options[key] != 0:
            # a size the chosen cell does not have would be ignored: never silently
            raise ModelError(
                f"{where}: cell {data['cell']}{via} has no size {key}" + (
                    f"; {key} = {sub.sizes[key]} may be 0, and 0 and a positive value choose "
                    "different cells: give a number or an expression that is positive"
                    if options[key] is None else ""), sub.loc)
        if key not in keywords and key not in variant_keys and key not in sub.sizes:
            have = ", ".join(dict.fromkeys(s["keyword"] for s in data["sizes"]))
            raise ModelError(f"{where}: cell {data['cell']} has no size or option '{key}' "
                             f"(its sizes: {have})", sub.loc)
    sym = data["input_symbol"]
    env: dict[str, Poly] = {}
    names = {s["symbol"]: s["keyword"] for s in data["sizes"]}
    for s in data["sizes"]:
        value = sub.sizes.get(s["keyword"])
        if s["symbol"] == sym:
            if value is not None:
                _equal(value if isinstance(value, Poly) else value[0], reads,
                       f"{where}: {s['keyword']} is given, but the layer reads {reads} "
                       "features", sub.loc, requires)
            env[sym] = reads
            continue
        if value is None:
            continue
        if "axes" in s:
            axes = value if isinstance(value, tuple) else (value,)
            if len(axes) not in (1, s["axes"]):
                raise ModelError(f"{where}: {s['keyword']} has {s['axes']} axes in "
                                 f"{data['cell']}, got {len(axes)} values", sub.loc)
            env[s["symbol"]] = axes[s["axis"] - 1] if len(axes) > 1 else axes[0]
        elif isinstance(value, tuple):
            raise ModelError(f"{where}: {s['keyword']} of {data['cell']} is one size, got "
                             f"{len(value)}", sub.loc)
        else:
            env[s["symbol"]] = value
    for key, value in sub.sizes.items():
        if isinstance(value, Poly) and key in variant_keys and key in keywords and \
                value.constant is None:
            v = next(v for v in data["variants"] if v["option"] == key)
            positive = all(c > 0 for c, _ in value.terms)  # ≥ 1 when its symbols are
            if v["value"] not in (None, "true", "false") and not (positive and
                                                                  int(v["value"]) < 1):
                requires.append(Requirement(value, "!=", Poly.const(int(v["value"])),
                                            f"{where}: {key} = {v['value']} is another cell "
                                            f"({v['target']})", sub.loc))
    for r in data.get("derived", ()):
        need = substitute(Poly.from_data(r["right"]), env)
        missing = sorted(need.symbols - _model_symbols(env))
        target = r["symbol"]
        why = f"{where}: {data['cell']} forces {names.get(target, target)} = " \
              f"{counting._keyword_poly(Poly.from_data(r['right']), names)} ({r['message']})"
        if target in env:
            _equal(env[target], need, why, sub.loc, requires)
        elif not missing:
            env[target] = need
    for s in data["sizes"]:
        if s["symbol"] not in env and s.get("needed", True):
            raise ModelError(f"{where}: cell {data['cell']} needs {s['keyword']} "
                             f"({s['description']}); give it under sizes", sub.loc)
    for req in conv["requires"]:
        left = substitute(Poly.from_data(req["left"]), env)
        right = substitute(Poly.from_data(req["right"]), env)
        why = f"{where}: {req['message']}"
        if req["op"] == "==":
            _equal(left, right, why, sub.loc, requires)
            continue
        if left.constant is not None and right.constant is not None:
            if not OPS[req["op"]](left.constant, right.constant):
                raise ModelError(f"{why} ({left} {req['op']} {right} does not hold)", sub.loc)
            continue
        requires.append(Requirement(left, req["op"], right, why, sub.loc))
    bias = "bias" if layer.bias else "no_bias"
    per_layer = Poly.from_data(conv["per_layer"][bias])
    missing = sorted(per_layer.symbols - env.keys() - {sym})
    if missing:
        raise ModelError(f"{where}: the count of {data['cell']} needs "
                         f"{', '.join(names.get(m, m) for m in missing)}; give it under sizes",
                         sub.loc)
    o = substitute(Poly.from_data(data["output_size"]), env)
    dirs = Poly.const(layer.dirs)
    above = dirs * o if layer.merge == "concat" else o
    if not allow_empty and reads.is_zero:
        raise ModelError(f"{where} reads nothing (0 features)", sub.loc)
    first = substitute(per_layer, {**env, sym: reads})
    upper = substitute(per_layer, {**env, sym: above})
    if sym in {r["symbol"] for r in data.get("derived", ())} and sub.repeat != ONE:
        _equal(above, reads, f"{where}: {data['cell']} forces {names[sym]} and a layer above "
               "the first reads the layer below", sub.loc, requires)
    return Part(sub, data, conv, env, per_layer, first, upper, reads, above)


def _model_symbols(env: dict[str, Poly]) -> frozenset[str]:
    out: frozenset[str] = frozenset()
    for p in env.values():
        out |= p.symbols
    return out


# ------------------------------------------------------------------ evaluating


def configure(model: Model, sizes: dict[str, Any] | None = None) -> dict[str, int]:
    """The model's symbols at a configuration: the paper's fixed values, then ``sizes``
    (symbol → number or text such as ``1M``); every requirement checked."""
    env: dict[str, int] = {s.name: s.value for s in model.net.symbols if s.value is not None}
    known = {s.name for s in model.net.symbols}
    for key, value in (sizes or {}).items():
        if key not in known:
            raise ConfigError(f"model {model.net.name} has no symbol {key} (its symbols: "
                              f"{', '.join(model.order)})")
        env[key] = counting.positive_int(key, value)
    need = set(model.total.symbols)
    for a in model.layers:
        need |= a.output.symbols | a.input.symbols
        for p in a.parts:
            need |= p.sub.repeat.symbols
    for r in model.requires:
        need |= r.left.symbols | r.right.symbols
    missing = [s for s in model.order if s in need and s not in env]
    if missing:
        desc = {s.name: s.description for s in model.net.symbols}
        raise ConfigError(f"model {model.net.name} needs " + ", ".join(
            f"{m} ({desc[m]})" if desc[m] else m for m in missing) + f" (--size {missing[0]}=N)")
    for r in model.requires:
        if not r.holds(env):
            shown = ", ".join(f"{s}={env[s]}" for s in model.order
                              if s in r.left.symbols | r.right.symbols)
            raise ConfigError(f"{r.why}: needs {r.left} {r.op} {r.right}, got {shown}", r.loc)
    return env


def count(model: Model | str, sizes: dict[str, Any] | None = None) -> ModelCount:
    """The model's parameters at a configuration, layer by layer and tensor by tensor.

    >>> count("sak2014-lstmp", {"n_c": 2048, "n_r": 512, "L": 2, "n_o": 14247}).total > 0
    True
    """
    m = assemble(model) if isinstance(model, str) else model
    env = configure(m, sizes)
    tensors: list[Tensor] = []
    rows: list[LayerCount] = []
    forms = m.forms()
    for a in m.layers:
        mine = list(_tensors(a, env, m))
        tensors += mine
        value = a.count.evaluate(env)
        listed = sum(t.count for t in mine)
        if listed != value:  # two paths to one number: they must agree
            raise DeriveError(f"internal error: layer {a.layer.name}'s tensors sum to "
                              f"{listed:,} but its closed form gives {value:,}; please report")
        if a.input.evaluate(env) < 0 or a.output.evaluate(env) < 1:
            raise ConfigError(f"layer {a.layer.name} would have {a.output.evaluate(env)} "
                              "output features")
        rows.append(LayerCount(a.layer.name, a.layer.kind, a.summary, a.input.evaluate(env),
                               a.output.evaluate(env), value, forms[a.layer.name]))
    total = m.total.evaluate(env)
    used = set(m.total.symbols)
    config = {s: env[s] for s in m.order if s in env}
    return ModelCount(m.net.name, m.net.title, m.net.citation, config, total, tuple(rows),
                      tuple(tensors), forms, tuple(r.text for r in m.requires),
                      tuple((s.name, s.description, env[s.name]) for s in m.net.symbols
                            if s.name in env and (s.name in used or s.value is None)),
                      all(a.layer.bias for a in m.layers))


def _joined(layer: str, name: str) -> str:
    return f"{layer}{'/' if '/' in name else '.'}{name}"


def _shape(dims: list[Poly], env: dict[str, int]) -> tuple[int, ...]:
    return tuple(d.evaluate(env) for d in dims)


def _product(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


STYLES = {  # how a framework names and lays out the weights of the layers around the cells
    "pytorch": {"embedding": "weight", "weight": "weight", "bias": "bias", "norm": ("weight",
                                                                                 "bias"),
                "transpose": False},
    "keras": {"embedding": "embeddings", "weight": "kernel", "bias": "bias",
              "norm": ("gamma", "beta"), "transpose": True},
}


def _style(framework: str) -> dict[str, Any]:
    return STYLES["keras" if framework in ("keras", "tf1", "tf1-basic") else "pytorch"]


def _tensors(a: Assembled, env: dict[str, int], m: Model) -> Any:
    layer, p = a.layer, a.layer.params
    st = _style(layer.framework)
    name = layer.name
    if layer.kind == "embedding":
        shape = (p["vocab"].evaluate(env), p["size"].evaluate(env))
        yield Tensor(_joined(name, st["embedding"]), shape, _product(shape), name)
        return
    if layer.kind in ("linear", "softmax", "conv"):
        if "out" not in p:
            return
        n_in, n_out = a.input.evaluate(env), p["out"].evaluate(env)
        if layer.kind == "conv":
            kernel = tuple(k.evaluate(env) for k in p["kernel"])
            shape = (*kernel, n_in, n_out) if st["transpose"] else (n_out, n_in, *kernel)
        else:
            shape = (n_in, n_out) if st["transpose"] else (n_out, n_in)
        if "tie" in p:
            tied = next(x for x in m.net.layers if x.name == p["tie"])
            yield Tensor(_joined(name, st["weight"]), shape, 0, name,
                         f"shared with {_joined(tied.name, _style(tied.framework)['embedding'])}")
        else:
            yield Tensor(_joined(name, st["weight"]), shape, _product(shape), name)
        if layer.bias:
            yield Tensor(_joined(name, st["bias"]), (n_out,), n_out, name)
        return
    if layer.kind in ("layernorm", "rmsnorm"):
        n = a.input.evaluate(env)
        keys = st["norm"] if layer.kind == "layernorm" and layer.bias else st["norm"][:1]
        for key in keys:
            yield Tensor(_joined(name, key), (n,), n, name)
        return
    yield from _recurrent_tensors(a, env)


def _recurrent_tensors(a: Assembled, env: dict[str, int]) -> Any:
    layer = a.layer
    repeats = [p.sub.repeat.evaluate(env) for p in a.parts]
    if any(r < 1 for r in repeats):
        raise ConfigError(f"layer {layer.name}: the number of layers must be at least 1, got "
                          f"{min(repeats)}")
    if sum(repeats) > counting.MAX_LISTED_LAYERS:
        raise ConfigError(f"layer {layer.name} has {sum(repeats):,} layers; derive lists "
                          f"at most {counting.MAX_LISTED_LAYERS:,}")
    stacked = sum(repeats) > 1
    k = 0
    for part, repeat in zip(a.parts, repeats, strict=True):
        conv = part.conv
        cell_env = {s: v.evaluate(env) for s, v in part.cell_env.items()
                    if s != part.data["input_symbol"]}
        for s, v in cell_env.items():
            if v < 1:
                raise ConfigError(f"layer {layer.name}: {s} of {part.data['cell']} would be "
                                  f"{v}; sizes are at least 1")
        sym = part.data["input_symbol"]
        specs = []
        for t in conv["tensors"]:
            shape = t["shape"] if layer.bias else t["shape_no_bias"]
            if shape is not None:
                specs.append((t["name"], [Poly.from_data(d) for d in shape]))
        for r in range(repeat):
            reads = part.reads if r == 0 else part.above
            layer_env = {**cell_env, sym: reads.evaluate(env)}
            templates = _templates(conv, layer, stacked)
            for _direction, template, lead in templates:
                for tname, dims in specs:
                    shape = lead + _shape(dims, layer_env)
                    n = _product(shape)
                    if n == 0:
                        continue  # a layer with no input has no input-to-state weights
                    yield Tensor(_joined(layer.name, counting._name(template, tname, k)),
                                 shape, n, layer.name)
            k += 1


def _templates(conv: dict[str, Any], layer: Layer,
               stacked: bool) -> list[tuple[str, str, tuple[int, ...]]]:
    one, two = (("names_stacked", "names_stacked_bidirectional") if stacked else
                ("names", "names_bidirectional"))
    if conv["direction_axis"]:
        return [("both", conv[one][0], (layer.dirs,))]
    if layer.dirs == 1:
        return [("forward", conv[one][0], ())]
    fw, bw = conv[two]
    if layer.merge == "concat" and conv["separate_directions"]:
        # TF1's stack_bidirectional_dynamic_rnn: one bidirectional_dynamic_rnn per layer
        fw = "stack_bidirectional_rnn/cell_{k}/" + conv["names_bidirectional"][0]
        bw = "stack_bidirectional_rnn/cell_{k}/" + conv["names_bidirectional"][1]
    return [("forward", fw, ()), ("backward", bw, ())]
