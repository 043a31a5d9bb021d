"""Where cells come from: the built-in catalog (``derive/cells``) or a user's file."""

from __future__ import annotations

from pathlib import Path

from derive.errors import ConfigError

CELLS_DIR = Path(__file__).resolve().parent / "cells"
SUFFIX = ".cell"


def builtin_names() -> list[str]:
    return sorted(p.name[: -len(SUFFIX)] for p in CELLS_DIR.glob("*" + SUFFIX))


def is_path(ref: str) -> bool:
    return ref.endswith(SUFFIX) or "/" in ref or "\\" in ref


def resolve(ref: str, near: Path | None = None) -> Path:
    """A cell name (``lstm``) or a path to a cell file → the file.

    ``near``: the file that names ``ref`` (a variant target), whose folder is searched first.
    """
    if is_path(ref):
        path = Path(ref)
        if not path.is_file():
            raise ConfigError(f"no cell file at {ref}")
        return path
    if near is not None:
        sibling = near.parent / (ref + SUFFIX)
        if sibling.is_file():
            return sibling
    path = CELLS_DIR / (ref + SUFFIX)
    if not path.is_file():
        import difflib

        near_names = difflib.get_close_matches(ref, builtin_names(), n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(near_names)}? " if near_names else ""
        raise ConfigError(f"unknown cell '{ref}'; {hint}'derive cells' lists the catalog's "
                          f"{len(builtin_names())} cells, or give the path to a .cell file")
    return path


def display(path: Path) -> str:
    """How error messages name a cell file."""
    try:
        return "derive/cells/" + str(path.resolve().relative_to(CELLS_DIR))
    except ValueError:
        return str(path)
