"""What the tests share to build clients: one aimed at a sandbox, with no client-side limit."""

from __future__ import annotations

from typing import Any

from voicekit import AsyncTeleCMI
from voicekit.sandbox import Sandbox, SyncSandbox


def sandbox_client(sb: Sandbox | SyncSandbox, **options: Any) -> AsyncTeleCMI:
    """An `AsyncTeleCMI` on `sb`'s default account. No client-side rate limit unless given: an
    app id's limiter is shared in the process, so a test's limit would outlive it."""
    options.setdefault("rate_limit", None)
    return AsyncTeleCMI(appid=sb.telecmi_appid, secret=sb.telecmi_secret, base_url=sb.url, piopiy_url=sb.url, **options)
