"""voicekit: an async-first SDK for programmable voice calls, with a blocking facade."""

from ._bulk import Outcome
from ._config import NOT_GIVEN, RateLimit, RetryPolicy, Timeout
from ._pagination import AsyncPaginator, Page
from ._ratelimit import LimiterBackend, LocalBackend
from ._version import __version__
from .errors import VoiceKitError
from .huawei import AsyncHuaweiVoice, HuaweiVoice
from .telecmi import AsyncTeleCMI, TeleCMI

__all__ = [
    "NOT_GIVEN",
    "AsyncHuaweiVoice",
    "AsyncPaginator",
    "AsyncTeleCMI",
    "HuaweiVoice",
    "LimiterBackend",
    "LocalBackend",
    "Outcome",
    "Page",
    "RateLimit",
    "RetryPolicy",
    "TeleCMI",
    "Timeout",
    "VoiceKitError",
    "__version__",
]
