"""voicekit: an async-first SDK for programmable voice calls, with a blocking facade."""

from ._base_client import RetryEvent
from ._bulk import Outcome
from ._config import NOT_GIVEN, RateLimit, RetryPolicy, Timeout
from ._exit import ExitStatus
from ._logging import configure_from_env as _configure_logging
from ._pagination import AsyncPaginator, Page, Paginator
from ._ratelimit import LimiterBackend, LocalBackend
from ._response import Response
from ._version import __version__
from .errors import VoiceKitError
from .huawei import AsyncHuaweiVoice, HuaweiVoice
from .telecmi import AsyncTeleCMI, TeleCMI
from .tracking import CallEnd, CallOutcome, CallTracker

__all__ = [
    "NOT_GIVEN",
    "AsyncHuaweiVoice",
    "AsyncPaginator",
    "AsyncTeleCMI",
    "CallEnd",
    "CallOutcome",
    "CallTracker",
    "ExitStatus",
    "HuaweiVoice",
    "LimiterBackend",
    "LocalBackend",
    "Outcome",
    "Page",
    "Paginator",
    "RateLimit",
    "Response",
    "RetryEvent",
    "RetryPolicy",
    "TeleCMI",
    "Timeout",
    "VoiceKitError",
    "__version__",
]

_configure_logging()
