"""Where cells come from: the built-in catalog (``derive/cells``) or a user's file.

Paths are plain strings here (``os.path``): this module is on the ``derive count`` start-up
path, and pathlib alone costs more than the count. Any ``os.PathLike`` is accepted.
"""

from __future__ import annotations

import os

from derive.errors import ConfigError

CELLS = os.path.join(os.path.dirname(os.path.realpath(__file__)), "cells")
SUFFIX = ".cell"


def __getattr__(name: str) -> object:
    if name == "CELLS_DIR":  # the catalog folder as a Path, for callers that want one
        from pathlib import Path

        return Path(CELLS)
    raise AttributeError(name)


def builtin_names() -> list[str]:
    return sorted(n[: -len(SUFFIX)] for n in os.listdir(CELLS) if n.endswith(SUFFIX))


def is_path(ref: str) -> bool:
    return ref.endswith(SUFFIX) or "/" in ref or "\\" in ref


def resolve(ref: str | os.PathLike[str], near: str | os.PathLike[str] | None = None) -> str:
    """A cell name (``lstm``) or a path to a cell file → the file.

    ``near``: the file that names ``ref`` (a variant target), whose folder is searched first.
    """
    ref = os.fspath(ref)
    if is_path(ref):
        if os.path.isdir(ref):
            raise ConfigError(f"{ref} is a directory, not a cell file")
        if not os.path.isfile(ref):
            raise ConfigError(f"no cell file at {ref}")
        return ref
    if near is not None:
        sibling = os.path.join(os.path.dirname(os.fspath(near)), ref + SUFFIX)
        if os.path.isfile(sibling):
            return sibling
    path = os.path.join(CELLS, ref + SUFFIX)
    if not os.path.isfile(path):
        import difflib

        near_names = difflib.get_close_matches(ref, builtin_names(), n=2, cutoff=0.6)
        hint = f"did you mean {' or '.join(near_names)}? " if near_names else ""
        raise ConfigError(f"unknown cell '{ref}'; {hint}'derive cells' lists the catalog's "
                          f"{len(builtin_names())} cells, or give the path to a .cell file")
    return path


def decode(data: bytes, path: str | os.PathLike[str]) -> str:
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


def read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except IsADirectoryError:
        raise ConfigError(f"{os.fspath(path)} is a directory, not a cell file") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {os.fspath(path)}: {exc.strerror}") from None


def read(path: str | os.PathLike[str]) -> str:
    return decode(read_bytes(path), path)


def display(path: str | os.PathLike[str]) -> str:
    """How error messages name a cell file."""
    real = os.path.realpath(path)
    if real.startswith(CELLS + os.sep):
        return "derive/cells/" + os.path.relpath(real, CELLS).replace(os.sep, "/")
    return os.fspath(path)
