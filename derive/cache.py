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


def compiled(path: Path) -> dict[str, Any]:
    """The compiled form of the cell file at ``path``, from the cache or freshly derived."""
    text = path.read_bytes()
    key = hashlib.sha256(engine_digest().encode() + b"\0" + text).hexdigest()
    where = cache_dir() / f"{key}.json"
    try:
        data: dict[str, Any] = json.loads(where.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        pass
    from derive.compile import compile_cell
    from derive.parse import parse_cell

    data = compile_cell(parse_cell(text.decode("utf-8"), display(path)))
    _write(where, data)
    return data


def _write(where: Path, data: dict[str, Any]) -> None:
    import tempfile

    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False)
        os.replace(tmp, where)
    except OSError:
        pass
