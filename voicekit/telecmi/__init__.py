"""TeleCMI: the clients, the PCMO actions and the call-record models."""

from ._actions import (
    Action,
    Bridge,
    Connect,
    Hangup,
    Input,
    Param,
    Play,
    PlayGetInput,
    Pstn,
    Record,
    Sip,
    Speak,
    Stream,
)
from ._client import AsyncTeleCMI, SyncPaginator
from ._models import CallActionResult, CallLeg, CallLookup, CallRecord, CallResult, ClickToCallResult, Dial
from ._twins import TeleCMI

__all__ = [
    "Action",
    "AsyncTeleCMI",
    "Bridge",
    "CallActionResult",
    "CallLeg",
    "CallLookup",
    "CallRecord",
    "CallResult",
    "ClickToCallResult",
    "Connect",
    "Dial",
    "Hangup",
    "Input",
    "Param",
    "Play",
    "PlayGetInput",
    "Pstn",
    "Record",
    "Sip",
    "Speak",
    "Stream",
    "SyncPaginator",
    "TeleCMI",
]
