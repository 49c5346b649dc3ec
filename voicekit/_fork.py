"""Which side of a fork() this process is on: a generation number bumped in every child.

Loop-bound state (sessions, locks, caches) records the generation it was made in and is rebuilt
when it differs. Reading a number is cheaper than asking the OS for the PID on every request.
"""

from __future__ import annotations

import os

__all__ = ["generation"]

_generation = 0


def generation() -> int:
    """The number of forks between the first process and this one."""
    return _generation


def _after_fork_in_child() -> None:
    global _generation
    _generation += 1


os.register_at_fork(after_in_child=_after_fork_in_child)
