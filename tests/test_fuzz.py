"""A seeded fuzzer over the catalog: mutated cell files only ever raise DeriveError.

Every catalog cell file (``derive/cells/*.cell``) is mutated, deterministically
(``derandomize=True``): characters, tokens and lines deleted, duplicated, swapped and
replaced by tokens of the language; Unicode lookalikes (Cyrillic а for a, fullwidth
parentheses, NBSP, zero-width joiners, combining marks, other line separators); deep
nesting and very long lines. Each mutant goes through ``parse_cell``, ``infer`` and
``compile_cell`` and must either succeed or raise :class:`derive.errors.DeriveError` with a
non-empty message, never another exception, and within ``CASE_SECONDS`` (a real hang is
cut off by SIGALRM after ``HANG_SECONDS``).

Five groups of mutations (characters and tokens, lines, Unicode, semantic edits that keep
a cell mostly well-formed, nesting and size) run 10,000 cases in all; each group's cases
are split over two processes (a fork), one per core. A failing case is minimised by
Hypothesis (the "Falsifying example" of the report) and written to ``artifacts/fuzz/``
with the exception and the line of ``derive/`` that raised it. The failures found so far
are kept, as small cases, in ``KNOWN`` and checked one by one by ``test_known_cases``.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import derive
from derive.catalog import CELLS_DIR
from derive.compile import compile_cell
from derive.errors import DeriveError
from derive.infer import infer
from derive.parse import parse_cell
from tests.limits import Hang, alarm

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "fuzz"
DERIVE_DIR = Path(derive.__file__).resolve().parent
CELLS = {p.stem: p.read_text(encoding="utf-8") for p in sorted(CELLS_DIR.glob("*.cell"))}
NAMES = sorted(CELLS)
CASE_SECONDS = 2.0  # CPU seconds for one case (parse + infer + compile): ~0.5 s at most today
HANG_SECONDS = 20.0  # wall-clock seconds, the backstop for a real hang


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


# ---------------------------------------------------------------- the check


class TooSlow(Exception):
    """A case finished, but took more than CASE_SECONDS."""


class EmptyMessage(Exception):
    """A DeriveError whose message is empty: the CLI would print 'derive: error: '."""


class Unexpected(Exception):
    """derive raised something other than a DeriveError (the message holds its traceback).

    One subclass per kind of failure (the exception type, the step and, but for a
    RecursionError, whose innermost line varies from run to run, the line of derive/ that
    raised it), raised from one place with no context: Hypothesis tells failures apart by
    the type and the place of what it catches, and must see the same failure when it
    replays a case."""


KINDS: dict[str, type[Unexpected]] = {}


def _kind(key: str) -> type[Unexpected]:
    if key not in KINDS:
        name = re.sub(r"\W+", "_", key).strip("_")
        KINDS[key] = type(name, (Unexpected,), {"__module__": __name__})
    return KINDS[key]


def origin(exc: BaseException) -> str:
    """The innermost line of derive/ in the traceback: 'derive/infer.py:123 (_var)'."""
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(DERIVE_DIR):
            where = f"derive/{path.relative_to(DERIVE_DIR)}:{frame.lineno} ({frame.name})"
    return where


def _report(exc: BaseException, step: str) -> tuple[str, str]:
    """The kind of an unexpected exception and a message: what, where, the traceback's end."""
    where = origin(exc)
    if isinstance(exc, RecursionError | Hang):
        key = f"{type(exc).__name__} in {step}"
    else:
        key = f"{type(exc).__name__} in {step} at {where}"
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if Path(f.filename).resolve().is_relative_to(DERIVE_DIR)]
    shown, last = [], None
    for f in ours[:12] + frames[-3:]:  # repeated frames of a deep recursion shown once
        line = f"  {Path(f.filename).name}:{f.lineno} in {f.name}: {(f.line or '').strip()}"
        if line != last:
            shown.append(line)
        last = line
    return key, (f"{type(exc).__name__} in {step}, raised at {where}: {str(exc)[:300]}\n"
                 + "\n".join(shown))


def record(test: str, text: str, exc: BaseException) -> None:
    """Write the failing case to artifacts/fuzz/, one file per test and kind of failure.

    Hypothesis replays the minimal example of each distinct failure last, so the file left
    behind holds the minimised case."""
    what = str(exc).split("\n", 1)[0]
    key = hashlib.sha256(f"{test} {type(exc).__name__}".encode()).hexdigest()[:12]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{test}-{key}.txt").write_text(
        f"# {test}: {type(exc).__name__}: {what}\n# the case, as a Python literal:\n"
        + repr(text) + "\n", encoding="utf-8")


def check(text: str, test: str = "case") -> None:
    """parse → infer → compile: success or a DeriveError with a message, quickly (in CPU
    time, which other processes on the machine do not inflate)."""
    start = time.process_time()
    step = "parse_cell"
    failure: tuple[str, str] | None = None
    try:
        with alarm(HANG_SECONDS, f"no result after {HANG_SECONDS:.0f} s"):
            cell = parse_cell(text, "fuzz.cell")
            step = "infer"
            infer(cell)
            step = "compile_cell"
            compile_cell(cell)
    except DeriveError as exc:
        if not str(exc).strip() or not exc.message.strip():
            failure = (f"empty message in {step}",
                       f"{type(exc).__name__} in {step} with the message {str(exc)!r}")
    except Exception as exc:
        failure = _report(exc, step)
    if failure is not None:  # raised here, out of the except block: no __context__
        error: Exception = (EmptyMessage(failure[1]) if failure[0].startswith("empty")
                            else _kind(failure[0])(failure[1]))
        record(test, text, error)
        raise error
    elapsed = time.process_time() - start
    if elapsed > CASE_SECONDS:
        error = TooSlow(f"one case took {elapsed:.1f} s of CPU (limit {CASE_SECONDS} s)")
        record(test, text, error)
        raise error


# ---------------------------------------------------------------- mutations

TOKEN = re.compile(r"\s+|\\[A-Za-z]+|[^\W\d]\w*'*|\d+(?:\.\d+)?|.", re.S)

LANG_TOKENS = [
    "⊙", "∗", "*", "∘", "·", "@", "⊛", ";", ",", "[", "]", "(", ")", "{", "}", "_", "^", "ᵀ",
    "^T", "²", "√", "|", "σ", "tanh", "sigmoid", "relu", "exp", "log", "softplus", "max", "min",
    "LN", "GN", "RMSNorm", "=", "+", "-", "−", "/", "÷", "×", "∈", "ℝ", "ℝ^", "ℝ^{", "in", "R",
    ":", '"', "#", "'", "x_t", "h_t", "h_{t-1}", "c_{t-1}", "x_{t-k+1:t}", "_t", "_{t-1}",
    "_{t-2}", "_{", "W", "U", "b", "γ", "β", "0", "1", "2", "1.5", "t", "k", "d", "h", "\\odot",
    "\\ast", "\\sqrt", "\\cdot", "\\sigma", "^\\top", "\\times", "==", "<", "<=", ">=", "≤", "->",
    "cell", "title", "family", "size", "kernel", "input", "state", "var", "param", "function",
    "output", "variant", "equations", "convention", "tensor", "name", "require", "from",
    "directions", "separate", "axis", "bias", "always", "single-cell", "note", "stacked",
    "bidirectional", "per-channel", "blockdiag", "scalar", "elementwise", "description",
    "bibtex", "input_size", "hidden_size", "kernel_size", "{t}", "{k}", "{k_}", "\n", "\n  ",
    "\t", "  ", " ",
]

LOOKALIKES = {
    "a": ["а", "ɑ", "ａ"], "e": ["е", "ℯ"], "o": ["о", "ο", "０"], "p": ["р", "ρ"],
    "c": ["с", "ϲ"], "x": ["х", "×", "ｘ"], "y": ["у"], "i": ["і", "ı"], "h": ["һ", "ｈ"],
    "t": ["ｔ", "τ"], "d": ["ԁ"], "s": ["ѕ"], "W": ["Ԝ", "Ｗ"], "T": ["Т", "Τ", "⊤"],
    "b": ["Ь", "ｂ"], "σ": ["ς", "ơ", "б"], "(": ["（", "⁽", "❨"], ")": ["）", "⁾", "❩"],
    "[": ["［", "⟦"], "]": ["］", "⟧"], "{": ["｛"], "}": ["｝"], ";": [";", "；", "⁏"],
    ",": ["，", "‚"], "=": ["＝", "⩵", "≡"], "-": ["‐", "–", "﹣", "－"], "−": ["-", "—"],
    "+": ["＋", "﹢"], "_": ["＿", "‗"], "^": ["ˆ", "＾"], "⊙": ["○", "◦", "⨀"],
    "ᵀ": ["ᵗ", "ᵀ\u0301"], "ℝ": ["R", "ℛ", "Ｒ"], "∈": ["є", "ε", "∊"], '"': ["“", "”", "＂"],
    " ": ["\u00a0", "\u2007", "\u3000", "\u2009", "\t"], "1": ["１", "١", "𝟏"],
    "2": ["２", "²", "₂"], "'": ["′", "’"], "*": ["∗", "＊"], "∗": ["*", "⋆"],
    "|": ["｜", "∣"], "√": ["✓"], "²": ["2", "^2"], "k": ["κ", "к"], "n": ["п"],
}

INVISIBLES = [
    "\u200d",  # zero-width joiner
    "\u200c",  # zero-width non-joiner
    "\u200b",  # zero-width space
    "\u2060",  # word joiner
    "\ufeff",  # byte-order mark / zero-width no-break space
    "\u00ad",  # soft hyphen
    "\u0301", "\u0303", "\u0338", "\u0300\u0301\u0302",  # combining marks (the NAME range)
    "\u20d7", "\u1ab0", "\ufe0f",  # combining marks outside it, variation selector
    "\u202e", "\u2066",  # bidi override, isolate
    "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e",  # str.splitlines
    "\r", "\r\n", "\x00", "\x1b[31m", "\x7f",
    "\U0001d44a",  # 𝑊, mathematical italic W
    "\U0001f600",  # an emoji
]


MAX_TEXT = 40_000  # characters: a mutant longer than this is mutated no further
PROSE = re.compile(r"^(description|bibtex)\b", re.M)


@lru_cache(maxsize=256)
def _prose(text: str) -> int:
    """Where the free text (description, bibtex) starts: mutations there are mostly
    harmless and cost a full derivation, so 7 in 8 of them land before it."""
    m = PROSE.search(text)
    return m.start() if m else len(text)


def _spot(draw: st.DrawFn, n: int, head: int) -> int:
    """An index in range(n) (0 if n is 0), mostly below ``head``."""
    top = head if 0 < head <= n and draw(st.integers(0, 7)) else n
    return draw(st.integers(0, max(0, top - 1)))


def _pos(draw: st.DrawFn, text: str) -> int:
    return _spot(draw, len(text), _prose(text))


@lru_cache(maxsize=256)
def _token_tuple(text: str) -> tuple[str, ...]:
    return tuple(TOKEN.findall(text))


def _tokens(text: str) -> list[str]:
    return list(_token_tuple(text))


def _word(draw: st.DrawFn, text: str) -> tuple[list[str], int | None]:
    """The text's tokens and the index of one that is not whitespace (None: there is none)."""
    toks = _tokens(text)
    words = [i for i, t in enumerate(toks) if not t.isspace()]
    if not words:
        return toks, None
    head = len(_token_tuple(text[:_prose(text)]))
    return toks, words[_spot(draw, len(words), sum(1 for i in words if i < head))]


Mutation = Callable[[st.DrawFn, str], str]


def delete_char(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, text)
    return text[:i] + text[i + 1:]


def delete_span(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, text)
    return text[:i] + text[i + draw(st.integers(2, 40)):]


def duplicate_span(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, text)
    j = i + draw(st.integers(1, 40))
    return text[:j] + text[i:j] + text[j:]


def swap_chars(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, text)
    return text[:i] + text[i + 1:i + 2] + text[i:i + 1] + text[i + 2:]


def insert_token(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, text)
    return text[:i] + draw(st.sampled_from(LANG_TOKENS)) + text[i:]


def delete_token(draw: st.DrawFn, text: str) -> str:
    toks, i = _word(draw, text)
    if i is not None:
        del toks[i]
    return "".join(toks)


def duplicate_token(draw: st.DrawFn, text: str) -> str:
    toks, i = _word(draw, text)
    if i is not None:
        toks.insert(i, toks[i] + draw(st.sampled_from(["", " "])))
    return "".join(toks)


def replace_token(draw: st.DrawFn, text: str) -> str:
    toks, i = _word(draw, text)
    if i is None:
        return text + draw(st.sampled_from(LANG_TOKENS))
    toks[i] = draw(st.sampled_from(LANG_TOKENS))
    return "".join(toks)


def swap_tokens(draw: st.DrawFn, text: str) -> str:
    toks, i = _word(draw, text)
    if i is None:
        return text
    if draw(st.booleans()):  # with the next token that is not whitespace
        j = next((k for k in range(i + 1, len(toks)) if not toks[k].isspace()), i)
    else:
        _, j = _word(draw, text)
        assert j is not None
    toks[i], toks[j] = toks[j], toks[i]
    return "".join(toks)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def _line(draw: st.DrawFn, text: str, lines: list[str]) -> int:
    return _spot(draw, len(lines), text[:_prose(text)].count("\n"))


def delete_line(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    del lines[_line(draw, text, lines)]
    return "\n".join(lines)


def delete_lines(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _line(draw, text, lines)
    del lines[i:i + draw(st.integers(2, 30))]
    return "\n".join(lines)


def duplicate_line(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _line(draw, text, lines)
    lines.insert(_line(draw, text, lines) + draw(st.integers(0, 1)), lines[i])
    return "\n".join(lines)


def swap_lines(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _line(draw, text, lines)
    j = min(i + 1, len(lines) - 1) if draw(st.booleans()) else _line(draw, text, lines)
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def reindent_line(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _line(draw, text, lines)
    lines[i] = draw(st.sampled_from(["", " ", "  ", "    ", "\t", " \t", "\u00a0 "])) + \
        lines[i].lstrip()
    return "\n".join(lines)


def line_endings(draw: st.DrawFn, text: str) -> str:
    end = draw(st.sampled_from(["\r\n", "\r", "\n\n", "\u2028", "\x85", "\x0c", "\n \n"]))
    return text.replace("\n", end)


def truncate(draw: st.DrawFn, text: str) -> str:
    return text[:_pos(draw, text) + 1]


def lookalike(draw: st.DrawFn, text: str) -> str:
    head = text[:_prose(text)]
    spots = [i for i, ch in enumerate(head) if ch in LOOKALIKES]
    if not spots:
        return text
    i = draw(st.sampled_from(spots))
    return text[:i] + draw(st.sampled_from(LOOKALIKES[text[i]])) + text[i + 1:]


def lookalike_everywhere(draw: st.DrawFn, text: str) -> str:
    chars = sorted(set(text) & set(LOOKALIKES))
    if not chars:
        return text
    ch = draw(st.sampled_from(chars))
    return text.replace(ch, draw(st.sampled_from(LOOKALIKES[ch])))


def invisible(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, text)
    return text[:i] + draw(st.sampled_from(INVISIBLES)) + text[i:]


def _equation_line(draw: st.DrawFn, text: str, lines: list[str]) -> int:
    eqs = [i for i, line in enumerate(lines) if "=" in line and line.startswith(" ")]
    return draw(st.sampled_from(eqs)) if eqs else _line(draw, text, lines)


NESTINGS = [("(", ")"), ("[", "]"), ("{", "}"), ("|", "|"), ("tanh(", ")"), ("σ(", ")"),
            ("LN(", "; γ)"), ("max(", ", x_t)"), ("√", ""), ("\\sqrt ", ""), ("-", ""),
            ("− ", ""), ("+", ""), ("", "ᵀ"), ("", "^T"), ("", "²"), ("", "^2"), ("", "^{2}"),
            ("{", "}^2"), ("", " ⊙ x_t"), ("", " + x_t"), ("W ", ""), ("1 / ", ""),
            ("exp ", ""), ("[", "; x_t]"), ("(", ", x_t)"), ("", "_{t-1}"), ("W ∗ ", "")]
DEPTHS = [2, 10, 30, 63, 64, 65, 100, 300, 1000, 3000, 10_000]


def nest(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _equation_line(draw, text, lines)
    line = lines[i]
    opener, closer = draw(st.sampled_from(NESTINGS))
    n = draw(st.sampled_from(DEPTHS))
    if not draw(st.integers(0, 3)):  # sometimes unbalanced
        closer = closer[:-1]
    eq = line.find("=")
    start = eq + 1 if eq >= 0 and draw(st.booleans()) else _spot(draw, len(line) + 1, 0)
    end = draw(st.integers(start, len(line)))
    lines[i] = line[:start] + opener * n + line[start:end] + closer * n + line[end:]
    return "\n".join(lines)


CHUNKS = [" + W x_t", " ⊙ h_{t-1}", " - 1", "W", "x", "1", " ", "ᵀ", "²", '"', "#", "_", "a",
          "(", ")", "[x_t; ", "; ", ", ", " tanh", "h_{t-1}", "\u200d", "é"]
LENGTHS = [1_000, 10_000, 19_990, 20_000, 20_001, 50_000]  # MAX_LINE is 20,000


def long_line(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _equation_line(draw, text, lines) if draw(st.booleans()) else _line(draw, text, lines)
    chunk = draw(st.sampled_from(CHUNKS))
    fill = chunk * (draw(st.sampled_from(LENGTHS)) // len(chunk))
    line = lines[i]
    j = draw(st.sampled_from([len(line), line.find("=") + 1, 0, len(line) // 2]))
    lines[i] = line[:j] + fill + line[j:]
    return "\n".join(lines)


def long_name(draw: st.DrawFn, text: str) -> str:
    toks, i = _word(draw, text)
    if i is not None:
        toks[i] = toks[i] * max(1, draw(st.sampled_from([100, 2_000, 25_000])) // len(toks[i]))
    return "".join(toks)


def many_lines(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _equation_line(draw, text, lines)
    n = min(draw(st.sampled_from([20, 100, 200])), MAX_TEXT // (len(lines[i]) + 1))
    return "\n".join(lines[:i + 1] + [lines[i]] * n + lines[i + 1:])


# Mutations that keep a cell mostly well-formed, so that inference and the conventions
# (not only the parser) meet what they produce.

NAME_TOKEN = re.compile(r"(?<![\w\\])[^\W\d_]\w*(?:_\{[^{}]*\}|_\w+)?")
TIMES = ["_t", "_{t-1}", "_{t-2}", "_{t-k+1:t}", "_{t+1}", "_{t-0}", "_{s-1}", "", "_{t-1}ᵀ",
         "_{t-99}"]
SHAPES = ["ℝ", "ℝ^d", "ℝ^h", "ℝ^{h×h}", "ℝ^{2h}", "ℝ^{d+h}", "ℝ^{h×d}", "ℝ^0", "ℝ^1",
          "ℝ^{C×H×W}", "ℝ^{h·h}", "ℝ^{h^2}", "ℝ^{h×h×h×h×h×h}", "ℝ^q", "ℝ^{0×h}", ": h",
          ": 0", ": d + h", ": 2*h", ": h^0", "ℝ^{k}", "ℝ^{n_h}"]
OPERATORS = ["⊙", "∗", "+", "-", "/", "·", "@", " ", "×", ";", ",", "^", "^T ", "ᵀ "]
FUNCS = ["σ", "tanh", "exp", "log", "relu", "softplus", "max", "min", "sqrt", "√", "LN",
         "GN", "RMSNorm", "κ", "mod", "s", "abs", "gelu"]
NUMBERS = ["0", "1", "2", "0.5", "1.0", "00", "3", "99999999999999999999999", "0.0001"]
OPERATOR_RE = re.compile(r"[⊙∗+\-−/·@×]")
FUNC_RE = re.compile(r"(?<![\w\\])(σ|tanh|exp|log|relu|softplus|max|min|sqrt|LN|GN|RMSNorm)(?=\()")
NUMBER_RE = re.compile(r"(?<![\w^{])\d+(?:\.\d+)?(?![\w}])")
SHAPE_RE = re.compile(r"(∈ ?(ℝ|R)(\^(\{[^{}]*\}|\w+))?)|(: [\w +*^·]+)(?=\s|$)")
TIME_RE = re.compile(r"_(\{[^{}]*\}|t\b)")
LINES_OF = sorted({line for text in CELLS.values() for line in text[:_prose(text)].split("\n")
                   if line.strip() and not line.lstrip().startswith("#")})


def _in_code(text: str, at: int) -> bool:
    """Whether ``text[at]`` is in an equation or a declaration: not in a comment, not in a
    quoted label."""
    before = text[text.rfind("\n", 0, at) + 1:at]
    return before.count('"') % 2 == 0 and "#" not in before


@lru_cache(maxsize=512)
def _code_spots(pattern: re.Pattern[str], text: str) -> tuple[re.Match[str], ...]:
    return tuple(m for m in pattern.finditer(text[:_prose(text)]) if _in_code(text, m.start()))


def _replace_match(draw: st.DrawFn, text: str, pattern: re.Pattern[str], choices: list[str]
                   ) -> str:
    spots = _code_spots(pattern, text)
    if not spots:
        return text
    m = draw(st.sampled_from(spots))
    return text[:m.start()] + draw(st.sampled_from(choices)) + text[m.end():]


def rename(draw: st.DrawFn, text: str) -> str:
    names = sorted({m[0] for m in _code_spots(NAME_TOKEN, text)})
    return _replace_match(draw, text, NAME_TOKEN, names or ["x"])


def retime(draw: st.DrawFn, text: str) -> str:
    return _replace_match(draw, text, TIME_RE, TIMES)


def reshape(draw: st.DrawFn, text: str) -> str:
    spots = _code_spots(SHAPE_RE, text)
    if not spots:
        return text
    m = draw(st.sampled_from(spots))
    new = draw(st.sampled_from(SHAPES))
    new = new if new.startswith(":") else "∈ " + new
    return text[:m.start()] + new + text[m.end():]


def reoperate(draw: st.DrawFn, text: str) -> str:
    return _replace_match(draw, text, OPERATOR_RE, OPERATORS)


def refunction(draw: st.DrawFn, text: str) -> str:
    return _replace_match(draw, text, FUNC_RE, FUNCS)


def renumber(draw: st.DrawFn, text: str) -> str:
    return _replace_match(draw, text, NUMBER_RE, NUMBERS)


def splice(draw: st.DrawFn, text: str) -> str:
    """A line of another catalog cell, somewhere in this one, indented as it was or as the
    line above."""
    lines = _lines(text)
    i = _line(draw, text, lines)
    line = draw(st.sampled_from(LINES_OF))
    if draw(st.booleans()):
        above = next((x for x in reversed(lines[:i]) if x.strip()), "")
        line = above[:len(above) - len(above.lstrip())] + line.lstrip()
    lines.insert(i, line)
    return "\n".join(lines)


@st.composite
def mutants(draw: st.DrawFn, names: list[str], mutations: list[Mutation], most: int) -> str:
    text = CELLS[draw(st.sampled_from(names))]
    for _ in range(draw(st.integers(1, most))):
        if len(text) > MAX_TEXT:  # long enough: mutants do not grow without bound
            break
        text = draw(st.sampled_from(mutations))(draw, text)
    return text


CHARS_AND_TOKENS = [delete_char, delete_span, duplicate_span, swap_chars, insert_token,
                    delete_token, duplicate_token, replace_token, swap_tokens]
LINES = [delete_line, delete_lines, duplicate_line, swap_lines, reindent_line, line_endings,
         truncate, swap_tokens, replace_token]
UNICODE = [lookalike, lookalike, lookalike_everywhere, invisible, invisible]
SIZE = [nest, nest, long_line, long_name, many_lines]
SEMANTIC = [rename, rename, retime, reshape, reoperate, refunction, renumber, splice, splice,
            swap_lines]

# group: (mutations, most mutations stacked on one cell file, cases)
GROUPS: dict[str, tuple[list[Mutation], int, int]] = {
    "chars_and_tokens": (CHARS_AND_TOKENS, 4, 3_000),
    "lines": (LINES, 4, 2_200),
    "unicode": (UNICODE, 3, 2_000),
    "semantic": (SEMANTIC, 3, 2_000),
    "size": (SIZE, 2, 800),
}


def fuzz_half(group: str, half: int) -> str:
    """Half of a group's cases, on every other cell of the catalog: '' if they all pass,
    else Hypothesis's report (the minimised case and the traceback)."""
    mutations, most, examples = GROUPS[group]
    runs = 0

    @fuzz_settings(examples // 2)
    @given(text=mutants(NAMES[half::2], mutations, most))
    def fuzz(text: str) -> None:
        nonlocal runs
        runs += 1
        check(text, group)

    try:
        fuzz()
    except Exception as exc:
        return "".join(traceback.format_exception(exc))
    return "" if runs >= examples // 2 else f"{group}: only {runs} cases ran"


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def run(group: str) -> None:
    """Both halves of a group, side by side on two cores (a forked process runs one)."""
    if _cores() > 1 and "fork" in multiprocessing.get_all_start_methods():
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as pool:
            other = pool.submit(fuzz_half, group, 1)
            reports = [fuzz_half(group, 0), other.result()]
    else:
        reports = [fuzz_half(group, 0), fuzz_half(group, 1)]
    failed = [r for r in reports if r]
    if failed:
        pytest.fail("\n\n".join(failed), pytrace=False)


def test_catalog_cells_pass_the_check() -> None:
    for name in NAMES:
        check(CELLS[name], "catalog")


def test_the_groups_run_10000_cases() -> None:
    assert sum(examples // 2 * 2 for _, _, examples in GROUPS.values()) >= 10_000


def test_chars_and_tokens() -> None:
    run("chars_and_tokens")


def test_lines() -> None:
    run("lines")


def test_unicode() -> None:
    run("unicode")


def test_semantic() -> None:
    run("semantic")


def test_nesting_and_long_lines() -> None:
    run("size")


# The failures found by this fuzzer, reduced by hand to one equation of the catalog's rnn
# cell (each is refused by derive's own checks below a certain depth; the sizes here are
# well past it). Each must pass the check once derive is fixed.
RNN_EQUATION = "  h_t = tanh(W_ih x_t + W_hh h_{t-1} + b_h)"
GATE = "tanh(W_ih x_t + W_hh h_{t-1} + b_h)"


def _rnn(rhs: str) -> str:
    assert RNN_EQUATION in CELLS["rnn"]
    return CELLS["rnn"].replace(RNN_EQUATION, "  h_t = " + rhs)


KNOWN: list[tuple[str, str]] = [
    ("bars-x300", _rnn("|" * 300 + "x_t" + "|" * 300 + " ⊙ h_{t-1} + " + GATE)),
    ("transpose-x1000", _rnn("tanh(W_ih x_t" + "ᵀ" * 1000 + " + W_hh h_{t-1} + b_h)")),
    ("square-x1000", _rnn("x_t" + "²" * 1000 + " ⊙ " + GATE)),
    ("power-x1000", _rnn("x_t" + "^2" * 1000 + " ⊙ " + GATE)),
    ("power-group-x1000", _rnn(GATE + "^{2}" * 1000)),
    ("sqrt-x1000", _rnn("√" * 1000 + GATE)),
    ("sqrt-x400", _rnn("√" * 400 + GATE)),  # parsed, then too deep for infer
    ("backslash-sqrt-x1000", _rnn("\\sqrt " * 1000 + GATE)),
    ("division-chain-x1000", _rnn(GATE + " / h_{t-1}" * 1000)),
    ("product-chain-x1000", _rnn("W_hh " * 1000 + GATE)),
]


@pytest.mark.parametrize(("what", "text"), KNOWN, ids=[w for w, _ in KNOWN])
def test_known_cases(what: str, text: str) -> None:
    check(text, "known")
