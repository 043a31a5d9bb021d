"""One exception family. Every message names what went wrong and where.

The CLI prints ``derive: error: <message>`` on stderr and exits with status 2.
"""

from __future__ import annotations

from derive.records import record


@record
class Loc:
    """A place in a cell file: 1-based line and column, the span, and the line's text.

    (A record, not a dataclass: this module is on the ``derive count`` start-up path.)
    """

    file: str
    line: int
    col: int
    end_col: int
    text: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    def caret(self) -> str:
        """The source line with a caret under the span (control characters drawn as
        visible symbols, one for one, so the caret stays aligned)."""
        width = max(1, self.end_col - self.col)
        return f"    {visible(self.text)}\n    {' ' * (self.col - 1)}{'^' * width}"

    @property
    def snippet(self) -> str:
        return self.text[self.col - 1 : self.end_col - 1]


def visible(text: str) -> str:
    """C0 controls and DEL as Unicode control pictures (␛ for ESC): a message never sends a
    terminal escape sequence from a user's file."""
    return "".join(chr(0x2400 + ord(c)) if ord(c) < 32 and c != "\n" else
                   ("␡" if c == "\x7f" else c) for c in text)


class DeriveError(Exception):
    """Base of every error derive reports to a user."""

    def __init__(self, message: str, loc: Loc | None = None, detail: str = "") -> None:
        self.message = message
        self.loc = loc
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.loc}: {self.message}" if self.loc else self.message
        parts = [head]
        if self.loc is not None:
            parts.append(self.loc.caret())
        if self.detail:
            parts.append(self.detail)
        return "\n".join(parts)


class CellSyntaxError(DeriveError):
    """The cell file does not follow the equation language."""


class ShapeError(DeriveError):
    """Two dimensions that must be equal are bound to different sizes."""


class UndeterminedError(DeriveError):
    """A dimension is fixed by nothing in the equations: a declaration is needed."""


class ConventionError(DeriveError):
    """A framework convention does not fit the cell (unknown parameter, bad fused block)."""


class ModelError(DeriveError):
    """A model file does not follow the model format, or its layers do not compose."""


class ConfigError(DeriveError):
    """The sizes or options asked for are invalid (zero, negative, unknown cell or framework)."""
