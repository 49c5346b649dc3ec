"""Webhook delivery, loopback only: the one place that decides what "this machine" is and POSTs.

Both vendors' callbacks (TeleCMI events and cdrs, Huawei release events) go through
:func:`post_loopback`; the sandbox server and the command line ask :func:`is_loopback_host`
whether an address is this machine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from ._http import logger
from ._ledger import CallbackDelivery
from ._runtime import Runtime

__all__ = ["SKIPPED_NOT_LOOPBACK", "is_loopback_host", "is_loopback_url", "post_loopback"]

#: The ``error`` of a delivery that was not attempted because its URL is not on this machine.
SKIPPED_NOT_LOOPBACK = "skipped: not a loopback URL"


def is_loopback_host(host: str) -> bool:
    """Whether `host` (a name or an IP address) is this machine: ``localhost`` or a loopback IP."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` points at this machine (the only place callbacks are ever sent)."""
    host = urlsplit(url).hostname
    return host is not None and is_loopback_host(host)


async def post_loopback(
    runtime: Runtime, url: str, payload: dict[str, Any], *, clock: Callable[[], float], what: str
) -> CallbackDelivery:
    """POST `payload` as JSON to a loopback `url` once and return the attempt; never raises for
    the receiver's sake.

    A URL that is not on this machine is not contacted (``error`` says it was skipped); a
    transport failure is recorded in ``error``; redirects are not followed, so a loopback
    receiver cannot send the sandbox elsewhere. `what` names the delivery in debug logs.
    """
    status: int | None = None
    error: str | None = None
    if not is_loopback_url(url):
        error = SKIPPED_NOT_LOOPBACK
        logger.debug("%s skipped: %s is not loopback", what, url)
    else:
        try:
            async with runtime.session().post(url, json=payload, allow_redirects=False) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            logger.debug("%s failed: %s", what, error)
    return CallbackDelivery(url=url, payload=payload, status=status, error=error, time=clock())
