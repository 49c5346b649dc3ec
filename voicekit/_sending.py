"""What the bulk sender and the request path share about one send: a ticket per task.

A bulk run gives each call its own task, and each task a `Ticket` in a context variable. The
request path punches the ticket right before a call-creating request leaves (after the rate
limiter granted it), which is when a journal must mark the key ``sending``: earlier and a crash
strands keys that never left as "unknown", later and a call could leave unrecorded. The ticket
also tells the bulk sender, when a task fails in a way nobody foresaw, whether the request may
have left (outcome unknown) or provably did not (a plain failure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Final

__all__ = ["BeforeSend", "Ticket", "current_ticket"]

#: Called with a key right before its call-creating request leaves; raising stops the send, and
#: the exception becomes the key's outcome.
BeforeSend = Callable[[str], Awaitable[None]]


class Ticket:
    """One key's passage through the request path."""

    __slots__ = ("before_send", "departed", "key")

    def __init__(self, key: str, before_send: BeforeSend | None) -> None:
        self.key = key
        self.before_send = before_send
        self.departed = False

    async def depart(self) -> None:
        """Run the hook (once, before the first attempt leaves), then mark the key departed."""
        if self.departed:
            return
        if self.before_send is not None:
            await self.before_send(self.key)
        self.departed = True


current_ticket: Final[ContextVar[Ticket | None]] = ContextVar("voicekit_ticket", default=None)
