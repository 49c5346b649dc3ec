"""Fault plan: scripted misbehaviour for the next N requests to a path."""

from __future__ import annotations

import threading
from dataclasses import dataclass

__all__ = ["Fault", "FaultPlan"]


@dataclass(eq=False)
class Fault:
    """One scripted fault, consumed by the next ``remaining`` matching requests.

    Attributes:
        path: request path it applies to (``None`` = every path).
        status: answer this HTTP status (vendor-style error body) instead of the real answer.
        stall: seconds to wait before answering (or before processing, when not ``placed``).
        drop: close the connection without sending any answer.
        placed: run the real handler first, so the call is placed (and recorded in the ledger)
            before the fault is applied. When ``False`` the request is never processed, except for
            a bare stall, where it is processed after the stall if the client is still connected.
        retry_after: value of the ``Retry-After`` header sent with a 429 fault.
        remaining: how many more requests this fault applies to.
        hits: how many requests it has been applied to so far.
    """

    path: str | None
    status: int | None
    stall: float
    drop: bool
    placed: bool
    retry_after: int
    remaining: int
    hits: int = 0


class FaultPlan:
    """Ordered list of pending faults; the first matching fault wins.

    Thread-safe: faults may be added from a test thread while the sandbox's loop consumes them.
    """

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(
        self,
        path: str | None,
        *,
        status: int | None = None,
        stall: float = 0.0,
        drop: bool = False,
        placed: bool | None = None,
        count: int = 1,
        retry_after: int = 1,
    ) -> Fault:
        """Schedule a fault for the next ``count`` requests to ``path`` (``None`` = any path).

        Args:
            path: exact request path, e.g. ``"/v2/global_pcmo_make_call"``; ``None`` matches all.
            status: HTTP status to answer (e.g. 500, 502, 503, 429).
            stall: seconds to wait before answering.
            drop: close the connection without an answer.
            placed: whether the request is processed (the call placed) before the fault applies.
                Defaults to ``True`` for 5xx statuses, drops and stalls, ``False`` for a 429
                (a 429 means "not processed", so ``placed=True`` is refused for it).
            count: number of requests the fault applies to.
            retry_after: ``Retry-After`` seconds for a 429 fault.

        Raises:
            ValueError: on an inconsistent combination.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        if stall < 0:
            raise ValueError("stall must be >= 0")
        if status is None and not drop and stall == 0:
            raise ValueError("a fault needs a status, a stall or drop=True")
        if status is not None and drop:
            raise ValueError("status and drop are exclusive: a dropped connection has no status")
        if status is not None and not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if placed is None:
            placed = status is None or status >= 500
        if status == 429 and placed:
            raise ValueError("a 429 means the request was not processed; placed must be False")
        fault = Fault(
            path=path,
            status=status,
            stall=float(stall),
            drop=drop,
            placed=placed,
            retry_after=max(0, int(retry_after)),
            remaining=count,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """Consume one application of the first fault matching ``path``, if any."""
        if not self._faults:
            return None
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path is None or fault.path == path:
                    fault.remaining -= 1
                    fault.hits += 1
                    if fault.remaining <= 0:
                        del self._faults[index]
                    return fault
        return None

    def pending(self, path: str | None = None) -> int:
        """Number of fault applications still scheduled (for ``path``, or in total)."""
        with self._lock:
            return sum(f.remaining for f in self._faults if path is None or f.path == path)

    def clear(self) -> None:
        """Remove every pending fault."""
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        return len(self._faults)

    def __repr__(self) -> str:
        return f"FaultPlan({self._faults!r})"
