"""The compiled form of a cell, cached on disk and keyed by what it depends on.

The key hashes the cell file's bytes with the source of the engine modules, so editing
either invalidates it. ``derive count`` reads the cache with the standard library only;
on a miss it runs the engine (parser and SymPy) once and writes the result atomically.
Set ``DERIVE_CACHE_DIR`` to move the cache; an unwritable cache only costs speed.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from derive.catalog import display

ENGINE = ("model.py", "parse.py", "infer.py", "conventions.py", "compile.py", "poly.py",
          "errors.py", "costs.py", "printing.py", "counting.py")


@lru_cache(maxsize=1)
def engine_digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in ENGINE:
        h.update((here / name).read_bytes())
    return h.hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("DERIVE_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "derive"


_MEMO: dict[str, dict[str, Any]] = {}  # key -> compiled form, for this process


def compiled(path: Path) -> dict[str, Any]:
    """The compiled form of the cell file at ``path``, from the cache or freshly derived.

    An entry is a header line (the key it was stored under and the SHA-256 of the payload)
    and the payload: a truncated, edited or misplaced entry fails the check and is rebuilt,
    never trusted."""
    raw = path.read_bytes()
    key = hashlib.sha256(engine_digest().encode() + b"\0" + raw).hexdigest()
    if key in _MEMO:
        return _MEMO[key]
    where = cache_dir() / f"{key}.json"
    data = _read(where, key)
    if data is None:
        from derive.catalog import decode
        from derive.compile import compile_cell
        from derive.parse import parse_cell

        data = compile_cell(parse_cell(decode(raw, path), display(path)))
        _write(where, key, data)
    _MEMO[key] = data
    return data


def _read(where: Path, key: str) -> dict[str, Any] | None:
    try:
        blob = where.read_bytes()
        head, _, payload = blob.partition(b"\n")
        meta = json.loads(head)
        if meta.get("key") != key or meta.get("sha256") != hashlib.sha256(payload).hexdigest():
            return None
        data: dict[str, Any] = json.loads(payload)
        return data
    except (OSError, ValueError, AttributeError):
        return None


def _write(where: Path, key: str, data: dict[str, Any]) -> None:
    import tempfile

    payload = json.dumps(data, ensure_ascii=False).encode("utf-8")
    head = json.dumps({"key": key, "sha256": hashlib.sha256(payload).hexdigest()}).encode()
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(head + b"\n" + payload)
        os.replace(tmp, where)  # atomic: a concurrent reader sees the old entry or the new
    except OSError:
        pass
