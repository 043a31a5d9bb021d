"""A time limit for a call under test: a hang fails as an exception, not as a stuck run."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager


class Hang(Exception):
    """The call did not return within its time limit."""


@contextmanager
def alarm(seconds: float, message: str) -> Iterator[None]:
    """Raise :class:`Hang` (with ``message``) if the block runs longer than ``seconds``."""

    def ring(signum: int, frame: object) -> None:
        raise Hang(message)

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
