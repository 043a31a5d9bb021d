"""The compiled form of a cell, cached on disk and keyed by what it depends on.

The key hashes the cell file's bytes with the source of the engine modules, so editing
either invalidates it. ``derive count`` reads the cache with the standard library only
(no pathlib, json or OpenSSL: they would cost more than the count); on a miss it runs the
engine (parser and inference) once and writes the result atomically. Set
``DERIVE_CACHE_DIR`` to move the cache; an unwritable cache only costs speed.
"""

from __future__ import annotations

import marshal
import os
import sys

from derive.records import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

from derive.catalog import display, read_bytes

try:  # the interpreter's own SHA-256, without loading OpenSSL
    from _sha256 import sha256  # type: ignore[import-not-found]  # CPython ≤ 3.11
except ImportError:  # pragma: no cover - newer CPython, or another interpreter
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,no-redef]
    except ImportError:
        from hashlib import sha256  # type: ignore[assignment]

ENGINE = ("model.py", "parse.py", "infer.py", "conventions.py", "compile.py", "poly.py",
          "errors.py", "costs.py", "printing.py", "counting.py", "records.py", "catalog.py",
          "bibtex.py")
# An entry: MAGIC, the key it was stored under, the SHA-256 of the payload, the payload
# (marshal: the compiled form is plain dicts, lists, strings and integers).
MAGIC = b"derive-cache-1\n"
_DIGEST: list[str] = []


def engine_digest() -> str:
    if not _DIGEST:
        h = sha256()
        h.update(f"{sys.version_info[:2]} marshal {marshal.version}".encode())
        here = os.path.dirname(os.path.realpath(__file__))
        for name in ENGINE:
            with open(os.path.join(here, name), "rb") as f:
                h.update(f.read())
        _DIGEST.append(h.hexdigest())
    return _DIGEST[0]


def cache_dir() -> str:
    env = os.environ.get("DERIVE_CACHE_DIR")
    if env:
        return env
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "derive")


_MEMO: dict[str, dict[str, Any]] = {}  # key -> compiled form, for this process


def compiled(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The compiled form of the cell file at ``path``, from the cache or freshly derived.

    A truncated, edited or misplaced entry fails the check of its key and checksum and is
    rebuilt, never trusted."""
    raw = read_bytes(path)
    key = sha256(engine_digest().encode() + b"\0" + raw).hexdigest()
    if key in _MEMO:
        return _MEMO[key]
    where = os.path.join(cache_dir(), f"{key}.cache")
    data = read_entry(where, key)
    if data is None:
        from derive.catalog import decode
        from derive.compile import compile_cell
        from derive.parse import parse_cell

        data = compile_cell(parse_cell(decode(raw, path), display(path)))
        write_entry(where, key, data)
    _MEMO[key] = data
    return data


def read_entry(where: str, key: str) -> dict[str, Any] | None:
    try:
        with open(where, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    head = len(MAGIC) + 128
    if (not blob.startswith(MAGIC) or blob[len(MAGIC):len(MAGIC) + 64] != key.encode()
            or blob[len(MAGIC) + 64:head] != sha256(blob[head:]).hexdigest().encode()):
        return None
    try:
        data = marshal.loads(blob[head:])
    except (ValueError, EOFError, TypeError):
        return None
    return data if isinstance(data, dict) else None


def write_entry(where: str, key: str, data: dict[str, Any]) -> None:
    import tempfile

    payload = marshal.dumps(data)
    blob = MAGIC + key.encode() + sha256(payload).hexdigest().encode() + payload
    try:
        os.makedirs(os.path.dirname(where), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(where), suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
        os.replace(tmp, where)  # atomic: a concurrent reader sees the old entry or the new
    except OSError:
        pass
