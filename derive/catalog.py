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
        if path.is_dir():
            raise ConfigError(f"{ref} is a directory, not a cell file")
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


def decode(data: bytes, path: Path) -> str:
    """A cell file's text: UTF-8 (a byte-order mark and CRLF line ends are fine), or a clear
    error naming the first byte that is not."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{display(path)} is not UTF-8 text: byte {exc.start} (line {line}) "
                          f"is 0x{data[exc.start]:02x}") from None
    if "\x00" in text:
        raise ConfigError(f"{display(path)} is a binary file, not a cell file")
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def read(path: Path) -> str:
    try:
        return decode(path.read_bytes(), path)
    except IsADirectoryError:
        raise ConfigError(f"{path} is a directory, not a cell file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None


def display(path: Path) -> str:
    """How error messages name a cell file."""
    try:
        return "derive/cells/" + str(path.resolve().relative_to(CELLS_DIR))
    except ValueError:
        return str(path)
