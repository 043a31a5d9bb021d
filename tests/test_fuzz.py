"""A seeded fuzzer over the catalog: mutated cell files only ever raise DeriveError.

Every catalog cell file (``derive/cells/*.cell``) is mutated, deterministically
(``derandomize=True``): characters, tokens and lines deleted, duplicated, swapped and
replaced by tokens of the language; Unicode lookalikes (Cyrillic а for a, fullwidth
parentheses, NBSP, zero-width joiners, combining marks, other line separators); deep
nesting and very long lines. Each mutant goes through ``parse_cell``, ``infer`` and
``compile_cell`` and must either succeed or raise :class:`derive.errors.DeriveError` with a
non-empty message, never another exception, and within ``CASE_SECONDS`` (a real hang is
cut off by SIGALRM after ``HANG_SECONDS``).

The four tests run 10,000 cases in all. A failing case is minimised by Hypothesis (the
"Falsifying example" of the report) and written to ``artifacts/fuzz/`` with the exception
and the line of ``derive/`` that raised it. The minimised cases found so far are kept in
``KNOWN`` and checked one by one by ``test_known_cases``.
"""

from __future__ import annotations

import hashlib
import re
import signal
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts" / "fuzz"
DERIVE_DIR = Path(derive.__file__).resolve().parent
CELLS = {p.stem: p.read_text(encoding="utf-8") for p in sorted(CELLS_DIR.glob("*.cell"))}
NAMES = sorted(CELLS)
CASE_SECONDS = 2.0  # one case (parse + infer + compile) takes ~0.15 s at most today
HANG_SECONDS = 20.0


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.large_base_example])


# ---------------------------------------------------------------- the check


class Hang(Exception):
    """A case ran past HANG_SECONDS (raised by SIGALRM inside derive)."""


class TooSlow(Exception):
    """A case finished, but took more than CASE_SECONDS."""


class EmptyMessage(Exception):
    """A DeriveError whose message is empty: the CLI would print 'derive: error: '."""


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def ring(signum: int, frame: object) -> None:
        raise Hang(f"no result after {seconds:.0f} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def origin(exc: BaseException) -> str:
    """The innermost line of derive/ in the traceback: 'derive/infer.py:123 (_var)'."""
    where = "?"
    for frame in traceback.extract_tb(exc.__traceback__):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(DERIVE_DIR):
            where = f"derive/{path.relative_to(DERIVE_DIR)}:{frame.lineno} ({frame.name})"
    return where


def record(test: str, text: str, exc: BaseException) -> None:
    """Write the failing case to artifacts/fuzz/, one file per test and kind of failure.

    Hypothesis replays the minimal example of each distinct failure last, so the file left
    behind holds the minimised case."""
    key = hashlib.sha256(f"{test} {type(exc).__name__} {origin(exc)}".encode()).hexdigest()[:12]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    head = (f"# {test}: {type(exc).__name__} at {origin(exc)}\n"
            f"# {str(exc).splitlines()[0] if str(exc) else ''}\n".replace("\r", " "))
    (ARTIFACTS / f"{test}-{key}.txt").write_text(head + "# the case, as a Python literal:\n"
                                                 + repr(text) + "\n", encoding="utf-8")


def check(text: str, test: str = "case") -> None:
    """parse → infer → compile: success or a DeriveError with a message, quickly."""
    start = time.perf_counter()
    try:
        with _alarm(HANG_SECONDS):
            try:
                cell = parse_cell(text, "fuzz.cell")
                infer(cell)
                compile_cell(cell)
            except DeriveError as exc:
                if not str(exc).strip() or not exc.message.strip():
                    raise EmptyMessage(f"{type(exc).__name__} with the message {str(exc)!r}"
                                       ) from exc
        elapsed = time.perf_counter() - start
        if elapsed > CASE_SECONDS:
            raise TooSlow(f"one case took {elapsed:.1f} s (limit {CASE_SECONDS} s)")
    except Exception as exc:
        record(test, text, exc)
        raise


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


def _pos(draw: st.DrawFn, n: int) -> int:
    return draw(st.integers(0, max(0, n - 1)))


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _words(tokens: list[str]) -> list[int]:
    return [i for i, t in enumerate(tokens) if not t.isspace()] or [0]


Mutation = Callable[[st.DrawFn, str], str]


def delete_char(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, len(text))
    return text[:i] + text[i + 1:]


def delete_span(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, len(text))
    return text[:i] + text[i + draw(st.integers(2, 40)):]


def duplicate_span(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, len(text))
    j = i + draw(st.integers(1, 40))
    return text[:j] + text[i:j] + text[j:]


def swap_chars(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, len(text) - 1)
    return text[:i] + text[i + 1:i + 2] + text[i:i + 1] + text[i + 2:]


def insert_token(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, len(text) + 1)
    return text[:i] + draw(st.sampled_from(LANG_TOKENS)) + text[i:]


def delete_token(draw: st.DrawFn, text: str) -> str:
    toks = _tokens(text)
    del toks[draw(st.sampled_from(_words(toks)))]
    return "".join(toks)


def duplicate_token(draw: st.DrawFn, text: str) -> str:
    toks = _tokens(text)
    i = draw(st.sampled_from(_words(toks)))
    toks.insert(i, toks[i] + draw(st.sampled_from(["", " "])))
    return "".join(toks)


def replace_token(draw: st.DrawFn, text: str) -> str:
    toks = _tokens(text)
    toks[draw(st.sampled_from(_words(toks)))] = draw(st.sampled_from(LANG_TOKENS))
    return "".join(toks)


def swap_tokens(draw: st.DrawFn, text: str) -> str:
    toks = _tokens(text)
    words = _words(toks)
    k = draw(st.integers(0, len(words) - 1))
    near = draw(st.booleans())
    m = min(k + 1, len(words) - 1) if near else draw(st.integers(0, len(words) - 1))
    i, j = words[k], words[m]
    toks[i], toks[j] = toks[j], toks[i]
    return "".join(toks)


def _lines(text: str) -> list[str]:
    return text.split("\n")


def delete_line(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    del lines[_pos(draw, len(lines))]
    return "\n".join(lines)


def delete_lines(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _pos(draw, len(lines))
    del lines[i:i + draw(st.integers(2, 30))]
    return "\n".join(lines)


def duplicate_line(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _pos(draw, len(lines))
    lines.insert(draw(st.integers(0, len(lines))), lines[i])
    return "\n".join(lines)


def swap_lines(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _pos(draw, len(lines))
    j = min(i + 1, len(lines) - 1) if draw(st.booleans()) else _pos(draw, len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def reindent_line(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _pos(draw, len(lines))
    lines[i] = draw(st.sampled_from(["", " ", "  ", "    ", "\t", " \t", "\u00a0 "])) + \
        lines[i].lstrip()
    return "\n".join(lines)


def line_endings(draw: st.DrawFn, text: str) -> str:
    end = draw(st.sampled_from(["\r\n", "\r", "\n\n", "\u2028", "\x85", "\x0c", "\n \n"]))
    return text.replace("\n", end)


def truncate(draw: st.DrawFn, text: str) -> str:
    return text[:_pos(draw, len(text) + 1)]


def lookalike(draw: st.DrawFn, text: str) -> str:
    spots = [i for i, ch in enumerate(text) if ch in LOOKALIKES]
    if not spots:
        return text
    i = draw(st.sampled_from(spots))
    return text[:i] + draw(st.sampled_from(LOOKALIKES[text[i]])) + text[i + 1:]


def lookalike_everywhere(draw: st.DrawFn, text: str) -> str:
    ch = draw(st.sampled_from(sorted(set(text) & set(LOOKALIKES))))
    return text.replace(ch, draw(st.sampled_from(LOOKALIKES[ch])))


def invisible(draw: st.DrawFn, text: str) -> str:
    i = _pos(draw, len(text) + 1)
    return text[:i] + draw(st.sampled_from(INVISIBLES)) + text[i:]


def _equation_line(draw: st.DrawFn, lines: list[str]) -> int:
    eqs = [i for i, line in enumerate(lines) if "=" in line and line.startswith(" ")]
    return draw(st.sampled_from(eqs)) if eqs else _pos(draw, len(lines))


NESTINGS = [("(", ")"), ("[", "]"), ("{", "}"), ("|", "|"), ("tanh(", ")"), ("σ(", ")"),
            ("LN(", "; γ)"), ("max(", ", x_t)"), ("√", ""), ("\\sqrt ", ""), ("-", ""),
            ("− ", ""), ("+", ""), ("", "ᵀ"), ("", "^T"), ("", "²"), ("", "^2"), ("", "^{2}"),
            ("{", "}^2"), ("", " ⊙ x_t"), ("", " + x_t"), ("W ", ""), ("1 / ", ""),
            ("exp ", ""), ("[", "; x_t]"), ("(", ", x_t)"), ("", "_{t-1}"), ("W ∗ ", "")]
DEPTHS = [2, 10, 30, 63, 64, 65, 100, 300, 1000, 3000, 10_000]


def nest(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _equation_line(draw, lines)
    line = lines[i]
    opener, closer = draw(st.sampled_from(NESTINGS))
    n = draw(st.sampled_from(DEPTHS))
    if not draw(st.integers(0, 3)):  # sometimes unbalanced
        closer = closer[:-1] if closer else ""
    eq = line.find("=")
    start = eq + 1 if eq >= 0 and draw(st.booleans()) else _pos(draw, len(line) + 1)
    end = draw(st.integers(start, len(line)))
    lines[i] = line[:start] + opener * n + line[start:end] + closer * n + line[end:]
    return "\n".join(lines)


CHUNKS = [" + W x_t", " ⊙ h_{t-1}", " - 1", "W", "x", "1", " ", "ᵀ", "²", '"', "#", "_", "a",
          "(", ")", "[x_t; ", "; ", ", ", " tanh", "h_{t-1}", "\u200d", "é"]
LENGTHS = [1_000, 10_000, 19_990, 20_000, 20_001, 60_000]


def long_line(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _equation_line(draw, lines) if draw(st.booleans()) else _pos(draw, len(lines))
    chunk = draw(st.sampled_from(CHUNKS))
    size = draw(st.sampled_from(LENGTHS))
    fill = chunk * (size // len(chunk))
    j = draw(st.sampled_from([len(lines[i]), lines[i].find("=") + 1, 0, len(lines[i]) // 2]))
    lines[i] = lines[i][:j] + fill + lines[i][j:]
    return "\n".join(lines)


def long_name(draw: st.DrawFn, text: str) -> str:
    toks = _tokens(text)
    words = [i for i, t in enumerate(toks) if t[:1].isalpha()] or [0]
    i = draw(st.sampled_from(words))
    toks[i] = toks[i] * draw(st.sampled_from([100, 2_000, 25_000]))
    return "".join(toks)


def many_lines(draw: st.DrawFn, text: str) -> str:
    lines = _lines(text)
    i = _equation_line(draw, lines)
    n = draw(st.sampled_from([50, 500, 3_000]))
    return "\n".join(lines[:i + 1] + [lines[i]] * n + lines[i + 1:])


@st.composite
def mutants(draw: st.DrawFn, mutations: list[Mutation], most: int = 4) -> str:
    text = CELLS[draw(st.sampled_from(NAMES))]
    for _ in range(draw(st.integers(1, most))):
        text = draw(st.sampled_from(mutations))(draw, text)
    return text


CHARS_AND_TOKENS = [delete_char, delete_span, duplicate_span, swap_chars, insert_token,
                    delete_token, duplicate_token, replace_token, swap_tokens]
LINES = [delete_line, delete_lines, duplicate_line, swap_lines, reindent_line, line_endings,
         truncate, swap_tokens, replace_token]
UNICODE = [lookalike, lookalike, lookalike_everywhere, invisible, invisible]
SIZE = [nest, nest, long_line, long_name, many_lines]


def run(test: str, strategy: st.SearchStrategy[str], examples: int) -> None:
    """Run ``examples`` cases of ``strategy`` and check that they all ran."""
    runs = 0

    @fuzz_settings(examples)
    @given(text=strategy)
    def fuzz(text: str) -> None:
        nonlocal runs
        runs += 1
        check(text, test)

    fuzz()
    assert runs >= examples


def test_catalog_cells_pass_the_check() -> None:
    for name in NAMES:
        check(CELLS[name], "catalog")


def test_chars_and_tokens() -> None:
    run("chars_and_tokens", mutants(CHARS_AND_TOKENS), 4_000)


def test_lines() -> None:
    run("lines", mutants(LINES), 2_500)


def test_unicode() -> None:
    run("unicode", mutants(UNICODE, most=3), 2_500)


def test_nesting_and_long_lines() -> None:
    run("nesting", mutants(SIZE, most=2), 1_000)


# The minimised failures found by this fuzzer: each must pass the check once derive is fixed.
KNOWN: list[tuple[str, str]] = []


@pytest.mark.parametrize(("text", "what"), KNOWN, ids=[w for _, w in KNOWN])
def test_known_cases(text: str, what: str) -> None:
    check(text, "known")
