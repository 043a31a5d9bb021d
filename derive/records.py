"""Immutable records for the ``derive count`` start-up path, without importing ``typing``.

``@record`` turns an annotated class into a named tuple, like ``typing.NamedTuple`` (fields
in order, defaults, methods and properties kept), built on ``collections.namedtuple``:
``typing`` alone would cost the count path more than the count.

>>> @record
... class Point:
...     x: int
...     y: int = 0
...     def norm1(self) -> int:
...         return abs(self.x) + abs(self.y)
>>> Point(3), Point(3, -4).norm1(), Point(1, 2)._replace(y=5)
(Point(x=3, y=0), 7, Point(x=1, y=5))
"""

from __future__ import annotations

from collections import namedtuple

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


def record(cls: type[T]) -> type[T]:
    fields = list(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (no inspect here)
    defaults = [cls.__dict__[f] for f in fields if f in cls.__dict__]
    if any(f in cls.__dict__ for f in fields[: len(fields) - len(defaults)]):
        raise TypeError(f"{cls.__name__}: a field without a default follows one with a default")
    base = namedtuple(cls.__name__, fields, defaults=defaults or None)  # type: ignore[misc]
    base.__module__ = cls.__module__
    body = {k: v for k, v in cls.__dict__.items()
            if k not in fields and k not in ("__dict__", "__weakref__")}
    body["__slots__"] = ()
    out = type(cls.__name__, (base,), body)
    out.__qualname__ = cls.__qualname__
    return out  # type: ignore[return-value]
