"""What LaTeX a BibTeX entry from a cell or model file may contain (checked on reading).

Only the standard library: model files are read on the ``derive count`` path.
"""

from __future__ import annotations

import re

from derive.errors import CellSyntaxError, DeriveError, Loc

# The LaTeX a BibTeX field may use: accents, a few text styles, URLs. Anything else
# (\input, \write18, \def, \catcode, ...) could read or run something when a paper
# compiles derive's .bib, so it is refused.
BIBTEX_COMMANDS = frozenset({
    "emph", "textit", "textbf", "textsc", "textsf", "texttt", "textrm", "textup", "url",
    "href", "doi", "ss", "o", "O", "aa", "AA", "ae", "AE", "oe", "OE", "l", "L", "i", "j",
    "c", "v", "u", "H", "k", "r", "d", "b", "t", "textendash", "textemdash", "and", "relax",
    "mbox", "ensuremath", "alpha", "beta", "gamma", "delta", "epsilon", "lambda", "mu",
    "sigma", "tau", "phi", "psi", "omega", "times"})


def check_bibtex(block: list[tuple[int, str]], file: str,
                  error: type[DeriveError] = CellSyntaxError) -> None:
    """Refuse a command outside :data:`BIBTEX_COMMANDS`; ``block`` is (line number, text)."""
    for no, raw in block:
        for m in re.finditer(r"\\([A-Za-z]+|\d+)", raw):
            if m[1] not in BIBTEX_COMMANDS:
                raise error(
                    f"the BibTeX uses \\{m[1]}, which derive does not pass to LaTeX (it allows "
                    "accents, text styles and URLs; a command could read, write or run "
                    "something when a paper compiles the .bib)",
                    Loc(file, no, m.start() + 1, m.end() + 1, raw))
