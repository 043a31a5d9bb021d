"""Exact counts for a configuration, from a cell's compiled form.

Only the standard library and :mod:`derive.poly` run here: no parser, no SymPy. The
compiled form already holds every tensor's shape as a polynomial in the size symbols;
counting substitutes the sizes of each layer and direction and multiplies exact integers.
"""

from __future__ import annotations

import re

from derive.records import TYPE_CHECKING, record

if TYPE_CHECKING:
    from typing import Any

from derive import cache, catalog
from derive.errors import ConfigError
from derive.poly import Poly


@record
class Tensor:
    """One stored tensor: its framework name, shape and number of parameters."""

    name: str
    shape: tuple[int, ...]
    count: int
    layer: int
    direction: str  # "forward", "backward" or "both" (a leading directions axis)
    parts: tuple[str, ...]

    @property
    def shape_text(self) -> str:
        """The shape as Python prints a tuple: ``(1024, 512)``, ``(1024,)``."""
        return str(self.shape) if len(self.shape) != 1 else f"({self.shape[0]},)"


@record
class Count:
    """The parameters of a configured layer stack under one convention.

    (Records, not dataclasses: this module is on the ``derive count`` start-up path.)
    """

    cell: str
    framework: str
    config: dict[str, Any]
    total: int
    tensors: tuple[Tensor, ...]
    forms: dict[str, dict[str, Any]]  # layer, upper, total: text, ascii, latex, tree (JSON)
    title: str
    framework_title: str
    per_layer: Poly  # one layer and direction, in the input-size symbol
    input_symbol: str
    above: Poly  # what a layer above the first reads, in the symbol D
    stackable: bool
    requires: tuple[str, ...] = ()  # sizes the equations force equal, with the reason
    above_text: str = ""  # the same in words
    env: dict[str, int] = {}  # size symbol -> value  # noqa: RUF012 (a NamedTuple default)
    sizes: tuple[tuple[str, str], ...] = ()  # (symbol, keyword) in the cell's order

    @property
    def formula_text(self) -> str:
        """The closed form as derive prints it: ``D·(4·h·(d + h + 2) + …)``."""
        return str(self.forms["total"]["text"])

    @property
    def formula_latex(self) -> str:
        return str(self.forms["total"]["latex"])

    @property
    def layer_text(self) -> str:
        return str(self.forms["layer"]["text"])

    @property
    def upper_text(self) -> str:
        return str(self.forms.get("upper", {}).get("text", ""))

    def numbers(self) -> dict[str, int]:
        """The count of one layer and direction, of one layer above the first, and the total."""
        env = dict(self.env)
        dirs = 2 if self.config.get("bidirectional") else 1
        upper = self.above.evaluate({**env, DIRECTIONS: dirs})
        return {"layer": self.per_layer.evaluate(env),
                "upper": self.per_layer.evaluate({**env, self.input_symbol: upper}),
                "total": self.total}

    @property
    def formula(self) -> Any:
        """The closed form as a SymPy expression, with L and D symbolic."""
        from derive.closedform import closed_form

        return closed_form(self.per_layer, self.input_symbol, self.above, self.stackable)

    def to_json(self) -> dict[str, Any]:
        return {"cell": self.cell, "framework": self.framework, "config": self.config,
                "total": self.total,
                "tensors": [{"name": t.name, "shape": list(t.shape), "count": t.count,
                             "layer": t.layer, "direction": t.direction} for t in self.tensors],
                "formula": self.formula_text,
                "formulas": {k: {**v, "value": self.numbers()[k]} for k, v in self.forms.items()
                             if self.stackable or k == "layer"},
                "symbols": {sym: {"keyword": kw, "value": self.env.get(sym)}
                            for sym, kw in self.sizes}
                | ({"L": {"keyword": "num_layers", "value": self.config["num_layers"]},
                    "D": {"keyword": "directions",
                          "value": 2 if self.config["bidirectional"] else 1}}
                   if self.stackable else {}),
                "requires": list(self.requires)}


SUFFIXES = {"k": 3, "K": 3, "M": 6, "B": 9, "G": 9, "T": 12}
MAX_DIGITS = 100_000  # a size of more digits than this is a mistake, not a layer


def whole_number(name: str, text: str) -> int:
    """``1000000``, ``1_000_000``, ``1e6``, ``1M``, ``2.5B`` → an exact integer (no float is
    ever made); ``1.5e0`` or ``2.5`` is an error that says why.

    >>> [whole_number("n", t) for t in ("1_000_000", "1e6", "1M", "2.5B", "3.2e3")]
    [1000000, 1000000, 1000000, 2500000000, 3200]
    """
    raw = text
    text = text.strip().replace("_", "").replace(",", "")
    m = re.fullmatch(r"([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?([kKMBGT])?", text)
    if not m or not (m[2] or m[3]) or len(text) > MAX_DIGITS:
        if len(text) > MAX_DIGITS:
            raise ConfigError(f"{name} has {len(text):,} characters; derive reads sizes of "
                              f"at most {MAX_DIGITS:,} digits")
        raise ConfigError(f"{name} must be a whole number (1000000, 1_000_000, 1e6, 1M, "
                          f"2.5B), got '{raw}'")
    sign, whole, frac = m[1], m[2] or "0", m[3] or ""
    exp = int(m[4] or 0) + SUFFIXES.get(m[5] or "", 0)
    if abs(exp) > MAX_DIGITS:
        raise ConfigError(f"{name}: the exponent of '{raw}' is too large")
    try:
        digits = int((whole + frac) or "0")
    except ValueError:  # Python's limit on converting long digit strings
        raise ConfigError(f"{name} has {len(whole + frac):,} digits, more than this Python "
                          "converts (sys.set_int_max_str_digits); the derive command lifts "
                          "the limit") from None
    shift = exp - len(frac)
    if shift >= 0:
        value = digits * 10**shift
    elif digits % 10**-shift:
        text = str(digits).rjust(1 - shift, "0")
        shown = (text[:shift] + "." + text[shift:]).rstrip("0")
        raise ConfigError(f"{name} must be a whole number, but '{raw}' is {sign}{shown}: sizes "
                          "and budgets are exact integers")
    else:
        value = digits // 10**-shift
    return -value if sign == "-" else value


def positive_int(name: str, value: Any, allow_zero: bool = False) -> int:
    """A size as the user gave it (int or text) → a positive int, or a clear error."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(value, str):
        value = whole_number(name, value)
    if not isinstance(value, int):
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{name} must be a positive integer, got {value}")
    return value


EXAMPLE_SIZES = {"input_size": 512, "hidden_size": 256, "proj_size": 128, "in_channels": 64,
                 "filters": 64, "kernel_size": 3, "input_kernel_size": 3, "num_heads": 4,
                 "num_groups": 4, "window": 2,
                 "height": 64, "width": 64, "depth": 16, "length": 64}


def example_sizes(data: dict[str, Any]) -> dict[str, int]:
    """Sizes to show a cell at, by keyword: the ones its count needs and a user sets
    (not those the equations force equal to others), at values people use."""
    derived = {r["symbol"] for r in data.get("derived", ())}
    out: dict[str, int] = {}
    for s in data["sizes"]:
        if s["symbol"] in derived or not s.get("needed", True):
            continue
        out[s["keyword"]] = EXAMPLE_SIZES.get(s["keyword"], 16)
    return out


def _is_axes(value: Any) -> bool:
    return isinstance(value, (tuple, list)) or (
        isinstance(value, str) and re.fullmatch(r"\s*\w+(\s*[x×]\s*\w+)+\s*", value) is not None)


def axes_values(keyword: str, value: Any, axes: int) -> list[int]:
    """A kernel size: ``3`` (every axis), ``"3x5"`` or ``(3, 5)`` (one per axis)."""
    if isinstance(value, str):
        parts: list[Any] = value.lower().replace("×", "x").split("x")
    elif isinstance(value, (tuple, list)):
        parts = list(value)
    else:
        parts = [value]
    values = [positive_int(keyword, v) for v in parts]
    if len(values) == 1:
        return values * axes
    if len(values) != axes:
        raise ConfigError(f"{keyword} has {axes} axes here, got {len(values)} values "
                          f"({value!r}); give one number per axis, or one for all")
    return values


def _keyword_poly(p: Poly, names: dict[str, str]) -> str:
    text = str(p)
    for sym in sorted(p.symbols, key=len, reverse=True):
        text = re.sub(rf"\b{re.escape(sym)}\b", names.get(sym, sym), text)
    return text


def _variant_applies(variant: dict[str, Any], options: dict[str, Any]) -> bool:
    option, want = variant["option"], variant["value"]
    if option not in options or options[option] is None:
        return False
    have = options[option]
    if want is None:
        return bool(have)
    if want in ("true", "false"):
        return bool(have) == (want == "true")
    return str(have) == want


def convention(data: dict[str, Any], framework: str, via: str = "") -> dict[str, Any]:
    """The compiled convention ``framework`` of a cell, or a clear error naming the others."""
    conv: dict[str, Any] | None = data["conventions"].get(framework)
    if conv is None:
        raise ConfigError(f"cell {data['cell']}{via} has no convention '{framework}'; it has "
                          f"{', '.join(data['conventions'])}")
    return conv


def load(ref: str, options: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The compiled cell ``ref`` names, after following the variants the options select.

    Also returns how the cell was reached (``""``, or e.g. ``" (chosen by reset_after=false)"``).
    """
    path = catalog.resolve(ref)
    data = cache.compiled(path)
    seen = {data["cell"]}
    via = ""
    while True:
        nxt = next((v for v in data["variants"] if _variant_applies(v, options)), None)
        if nxt is None:
            return data, via
        via = f" (chosen by {nxt['option']}" + (f"={nxt['value']})" if nxt["value"] else ")")
        if nxt["target"] in seen:
            raise ConfigError(f"the variants of cell {data['cell']} loop back to {nxt['target']}")
        path = catalog.resolve(nxt["target"], near=path)
        data = cache.compiled(path)
        seen.add(data["cell"])


@record
class Config:
    """A checked configuration: the compiled cell, its convention, and the sizes bound."""

    data: dict[str, Any]
    framework: str
    conv: dict[str, Any]
    env: dict[str, int]  # size symbol -> value
    config: dict[str, Any]  # as the user gave it, by keyword
    layers: int
    dirs: int
    bias: bool

    def stacked(self, per_layer: Poly) -> int:
        """A per-layer, per-direction polynomial summed over the stack.

        Layer 1 reads the input; a layer above reads what the layer below gives it (its D
        outputs concatenated, or one direction's output for separate stacks).
        """
        sym = self.data["input_symbol"]
        upper = self.upper_input()
        missing = sorted(per_layer.symbols - self.env.keys() - {sym})
        if missing:
            names = {s["symbol"]: s["keyword"] for s in self.data["sizes"]}
            keys = sorted({names.get(m, m) for m in missing})
            raise ConfigError(f"this needs {', '.join(keys)} of cell {self.data['cell']} "
                              f"(--size {keys[0]}=N), which its parameter count does not")
        first = per_layer.evaluate(self.env)  # the layers above the first are all alike
        rest = per_layer.evaluate({**self.env, sym: upper}) if self.layers > 1 else 0
        return self.dirs * (first + (self.layers - 1) * rest)

    def upper_input(self) -> int:
        """The features a layer above the first reads."""
        return above(self.conv).evaluate({**self.env, DIRECTIONS: self.dirs})


def stack_poly(per_layer: Poly, input_symbol: str, above: Poly, layers: Poly,
               dirs: Poly) -> Poly:
    """D·(P(d) + (L − 1)·P(a)) as a polynomial: ``layers`` and ``dirs`` may be numbers
    (``Poly.const``) or the symbols L and D; ``above`` (a) is in the symbol D."""
    upper = per_layer.subs(input_symbol, above.subs(DIRECTIONS, dirs))
    return dirs * (per_layer + (layers - Poly.const(1)) * upper)


DIRECTIONS = "D"
LAYERS = "L"


def above(conv: dict[str, Any]) -> Poly:
    """What a layer above the first reads under a compiled convention, in the symbol D."""
    return Poly.from_data(conv["above"])


def above_text(conv: dict[str, Any]) -> str:
    """What a layer above the first reads, in words."""
    if conv["separate_directions"]:
        return "one direction's output: the directions are separate stacks"
    return "D·output, the directions concatenated"


def configure(cell: str, framework: str = "equations", *, num_layers: int = 1,
              bidirectional: bool = False, bias: bool = True, reset_after: bool | None = None,
              **sizes: Any) -> Config:
    """Check a configuration of ``cell`` and bind its sizes (see :func:`count`)."""
    options: dict[str, Any] = {k: v for k, v in sizes.items()}
    for key, value in options.items():
        if value is not None and not _is_axes(value):
            options[key] = positive_int(key, value, allow_zero=True)
    options["reset_after"] = reset_after
    data, via = load(cell, options)
    known_flags = {v["option"] for v in data["variants"]}
    if reset_after is not None and "reset_after" not in known_flags:
        raise ConfigError(f"reset_after does not apply to cell {data['cell']} (it is an option "
                          "of the GRU cells)")
    keywords = {s["keyword"]: s["symbol"] for s in data["sizes"]}
    env: dict[str, int] = {}
    config: dict[str, Any] = {}
    for key in sizes:
        value = options[key]
        if key not in keywords:
            if value in (None, 0):
                continue  # an option turned off, e.g. proj_size=0 (also "0" from the CLI)
            have = ", ".join(keywords)
            raise ConfigError(f"cell {data['cell']} has no size {key} (its sizes: {have})")
    derived = {r["symbol"]: r for r in data.get("derived", ())}
    for s in data["sizes"]:
        value = options.get(s["keyword"])
        if value is None:
            if s["symbol"] in derived or not s.get("needed", True):
                continue
            flag = "--" + s["keyword"].replace("_", "-")
            raise ConfigError(f"cell {data['cell']} needs {s['keyword']} ({flag}): "
                              f"{s['description']}")
        if "axes" in s:
            values = axes_values(s["keyword"], value, s["axes"])
            env[s["symbol"]] = values[s["axis"] - 1]
            config[s["keyword"]] = "x".join(str(v) for v in values) if len(set(values)) > 1 \
                else values[0]
            continue
        if _is_axes(value):
            raise ConfigError(f"{s['keyword']} is one number, got {value!r}")
        env[s["symbol"]] = positive_int(s["keyword"], value)
        config[s["keyword"]] = env[s["symbol"]]
    names = {s["symbol"]: s["keyword"] for s in data["sizes"]}
    for sym, r in derived.items():
        need = Poly.from_data(r["right"])
        missing = sorted(need.symbols - env.keys())
        if missing:
            raise ConfigError(f"cell {data['cell']} needs {names.get(missing[0], missing[0])}")
        want = need.evaluate(env)
        if sym in env and env[sym] != want:
            raise ConfigError(
                f"cell {data['cell']} requires {names.get(sym, sym)} = "
                f"{_keyword_poly(need, names)}, forced by its equations "
                f"({r['message']}); got {names.get(sym, sym)}={env[sym]} and "
                + ", ".join(f"{names.get(k, k)}={env[k]}" for k in sorted(need.symbols)),
                None, r["detail"])
        env[sym] = want
        config.setdefault(names.get(sym, sym), want)
    layers = positive_int("num_layers", num_layers)
    if not isinstance(bidirectional, bool) or not isinstance(bias, bool):
        raise ConfigError("bidirectional and bias are true or false")
    conv = convention(data, framework, via)
    if not bias and not conv["bias_optional"]:
        raise ConfigError(f"{framework} ({conv['title']}) always stores its biases: it has no "
                          "option to leave them out (--no-bias does not apply)")
    if not conv["stackable"] and (layers != 1 or bidirectional):
        raise ConfigError(f"{framework} ({conv['title']}) is a single cell: num_layers must be "
                          "1 and bidirectional off")
    for req in conv["requires"]:
        left = Poly.from_data(req["left"]).evaluate(env)
        right = Poly.from_data(req["right"]).evaluate(env)
        ok = {"<": left < right, "<=": left <= right, ">": left > right,
              ">=": left >= right, "==": left == right,
              "|": right % left == 0 if left else False}[req["op"]]
        if not ok:
            shown = ", ".join(f"{names[k]}={v}" for k, v in env.items() if k in names)
            if req["op"] == "==":  # two sizes that must be equal under this convention
                raise ConfigError(
                    f"{framework} needs {_keyword_poly(Poly.from_data(req['left']), names)} = "
                    f"{_keyword_poly(Poly.from_data(req['right']), names)}: {req['message']} "
                    f"(got {shown})", None, req.get("detail", ""))
            rule = (f"{Poly.from_data(req['left'])} {req['op']} {Poly.from_data(req['right'])}"
                    if req["op"] != "|" else
                    f"{Poly.from_data(req['left'])} divides {Poly.from_data(req['right'])}")
            who = f"{framework} requires" if "detail" not in req else "the equations require"
            raise ConfigError(f"{req['message']} ({who} {rule}; got {shown})")
    sym = data["input_symbol"]
    if sym in derived and layers > 1:
        reads = above(conv).evaluate({**env, DIRECTIONS: 2 if bidirectional else 1})
        if reads != env[sym]:
            concat = bidirectional and DIRECTIONS in above(conv).symbols
            raise ConfigError(
                f"cell {data['cell']} requires {names.get(sym, sym)} = "
                f"{_keyword_poly(Poly.from_data(derived[sym]['right']), names)}, but a layer "
                f"above the first reads {reads} features"
                + (" (both directions concatenated)" if concat else ""))
    config.update(num_layers=layers, bidirectional=bidirectional, bias=bias)
    if reset_after is not None:
        config["reset_after"] = reset_after
    return Config(data, framework, conv, env, config, layers, 2 if bidirectional else 1, bias)


def count(cell: str, framework: str = "equations", *, num_layers: int = 1,
          bidirectional: bool = False, bias: bool = True, reset_after: bool | None = None,
          **sizes: Any) -> Count:
    """Count the parameters of ``cell`` as ``framework`` stores them.

    Sizes are passed by the keywords the cell declares (``input_size``, ``hidden_size``,
    ``proj_size``, ...). ``proj_size=0`` means no projection, as in PyTorch.

    >>> count("lstm", "pytorch", input_size=512, hidden_size=256, bidirectional=True).total
    1576960
    """
    cfg = configure(cell, framework, num_layers=num_layers, bidirectional=bidirectional,
                    bias=bias, reset_after=reset_after, **sizes)
    return evaluate(cfg)


def _name(template: str, tensor: str, k: int) -> str:
    values = {"t": tensor, "k": str(k), "k1": str(k + 1), "k_": "" if k == 0 else f"_{k}"}
    return re.sub(r"\{(t|k|k1|k_)\}", lambda m: values[m[1]], template)


MAX_LISTED_LAYERS = 100_000


def evaluate(cfg: Config) -> Count:
    """The tensors and total of a checked configuration."""
    data, framework, conv, env = cfg.data, cfg.framework, cfg.conv, cfg.env
    config, layers, dirs, bias = cfg.config, cfg.layers, cfg.dirs, cfg.bias
    if layers > MAX_LISTED_LAYERS:
        raise ConfigError(f"num_layers={layers:,}: derive lists every layer's tensors, at "
                          f"most {MAX_LISTED_LAYERS:,} layers (the closed form of derive "
                          "formula holds for any L)")
    sym = data["input_symbol"]
    upper = cfg.upper_input()
    specs = []
    for t in conv["tensors"]:
        shape = t["shape"] if bias else t["shape_no_bias"]
        if shape is not None:
            specs.append((t["name"], tuple(t["parts"]), [Poly.from_data(d) for d in shape]))
    tensors: list[Tensor] = []
    for k in range(layers):
        layer_env = dict(env)
        layer_env[sym] = env[sym] if k == 0 else upper
        one, two = (("names_stacked", "names_stacked_bidirectional") if layers > 1 else
                    ("names", "names_bidirectional"))
        if conv["direction_axis"]:
            groups = [("both", conv[one][0], (dirs,))]
        elif dirs == 1:
            groups = [("forward", conv[one][0], ())]
        else:
            groups = [("forward", conv[two][0], ()), ("backward", conv[two][1], ())]
        for direction, template, lead in groups:
            for name, parts, dims in specs:
                shape = lead + tuple(d.evaluate(layer_env) for d in dims)
                n = 1
                for s in shape:
                    n *= s
                tensors.append(Tensor(_name(template, name, k), shape, n, k, direction, parts))
    key = "bias" if bias else "no_bias"
    forms = conv["formula"][key]
    return Count(
        cell=data["cell"], framework=framework, config=config,
        total=sum(t.count for t in tensors), tensors=tuple(tensors),
        forms=forms, title=data["title"], framework_title=conv["title"],
        per_layer=Poly.from_data(conv["per_layer"][key]), input_symbol=sym,
        above=above(conv), stackable=conv["stackable"],
        requires=forced_text(data), above_text=above_text(conv), env=dict(env),
        sizes=tuple((s["symbol"], s["keyword"]) for s in data["sizes"] if s["symbol"] in env))


def forced_text(data: dict[str, Any]) -> tuple[str, ...]:
    """``input_size = hidden_size (forced by the equations: ...)``, one per forced size."""
    names = {s["symbol"]: s["keyword"] for s in data["sizes"]}
    return tuple(f"{names.get(r['symbol'], r['symbol'])} = "
                 f"{_keyword_poly(Poly.from_data(r['right']), names)} (forced by the "
                 f"equations: {r['message']}; see derive shapes)"
                 for r in data.get("derived", ()))
