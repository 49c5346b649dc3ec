"""What each exit status of the ``voicekit`` command means: one table, for people and orchestrators.

A campaign run decides its status in the library (`voicekit.journal.RunResult.exit_status`),
so that the command line and a program built on the run API end a campaign the same way.
"""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["EXIT_STATUS_TABLE", "ExitStatus"]


class ExitStatus(enum.IntEnum):
    """The exit statuses of every ``voicekit`` command (a campaign run uses all of them)."""

    #: Done: every row of the campaign is placed; for one worker of a shared campaign, nothing
    #: is left for it to dial (rows still in flight belong to live workers). Do not restart.
    OK = 0
    #: An error before dialing (a bad file, a journal of another campaign, refused database
    #: credentials) or a vendor error on a single call. Fix it; a restart fails the same way.
    ERROR = 1
    #: A usage error: an unknown option, a missing or malformed argument.
    USAGE = 2
    #: The campaign's run finished and some rows failed (see ``voicekit dial report``).
    FAILED_ROWS = 3
    #: Some rows have an unknown outcome: they may have been placed. Reconcile them
    #: (``voicekit dial reconcile``) before dialing again; a single call: check before repeating.
    UNKNOWN = 4
    #: Stopped early by a fault that may pass (the vendor, the rate limiter's Redis or the
    #: journal's database unreachable; this worker's lease lost). Rows stay dialable: run the
    #: same command again (a restart policy may do it).
    STOPPED = 5
    #: Stopped early by a configuration problem found while dialing (credentials refused, a
    #: proxy asking for authentication, answers that are not the vendor's: a wrong base URL).
    #: Rows stay dialable: fix the setting, then run the same command again (not before).
    CONFIGURATION = 6
    #: The run ended with rows still waiting: its deadline (``--until``) came first, or the
    #: campaign was cancelled. Nothing is wrong; rows left are pending (after a deadline: run
    #: again later to go on) or ``cancelled``.
    WAITING = 7
    #: Interrupted (Ctrl-C or SIGTERM): the journal is saved; run the same command to resume.
    INTERRUPTED = 130


#: The table ``voicekit --help`` and ``voicekit dial --help`` print (the first line's backspace
#: keeps click from rewrapping it).
EXIT_STATUS_TABLE: Final = """\b
Exit status:
  0    done: every row placed (a worker of a shared campaign: nothing is
       left for it to dial)
  1    an error before dialing, or a vendor error on a single call: fix it
  2    a usage error (a bad option or argument)
  3    the run finished, and some rows failed
  4    some outcomes are unknown: reconcile them before dialing again
       (before 3)
  5    stopped early by a fault that may pass (vendor, Redis or database
       unreachable, lease lost): run the same command again
  6    stopped early by a configuration problem (credentials refused, proxy
       authentication, answers not the vendor's): fix it, then run again
  7    ended with rows still waiting: the deadline (--until) came, or the
       campaign was cancelled
  130  interrupted (Ctrl-C or SIGTERM): run the same command to resume
"""
