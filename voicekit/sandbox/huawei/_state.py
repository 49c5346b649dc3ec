"""What the emulated Huawei BES knows: app keys, issued access tokens, release-event callbacks."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from .._http import secret_matches
from .._ledger import CallbackDelivery, Ledger
from .._runtime import Knobs

__all__ = [
    "DEFAULT_HUAWEI_APP_KEY",
    "DEFAULT_HUAWEI_APP_SECRET",
    "HUAWEI_STATE",
    "HuaweiState",
    "HuaweiToken",
]

DEFAULT_HUAWEI_APP_KEY = "sandbox-app-key"
DEFAULT_HUAWEI_APP_SECRET = "sandbox-app-secret"

# Identifiers only need to be unique, not unguessable: a fast PRNG keeps requests cheap.
_random = random.Random()


@dataclass(frozen=True, slots=True)
class HuaweiToken:
    """An issued Huawei access token (kept server-side only)."""

    app_key: str
    created: float
    expires_in: int

    def expired(self, now: float) -> bool:
        """Whether the token is no longer valid at ``now`` (epoch seconds)."""
        return now >= self.created + self.expires_in


class HuaweiState(Knobs, Ledger):
    """The Huawei part of the sandbox state, set up by :meth:`_setup_huawei`."""

    def _setup_huawei(
        self,
        *,
        huawei_app_key: str,
        huawei_app_secret: str,
        callback_delay: float,
        huawei_release_reason: str,
        huawei_talk_duration: int,
        huawei_callback_signer: Callable[[dict[str, str]], str] | None,
    ) -> None:
        self.huawei_app_key = huawei_app_key
        self.huawei_app_secret = huawei_app_secret
        self.callback_delay = callback_delay
        self.huawei_release_reason = huawei_release_reason
        self.huawei_talk_duration = huawei_talk_duration
        self.huawei_callback_signer = huawei_callback_signer
        #: extra Huawei accounts: app_key -> app_secret
        self.huawei_accounts: dict[str, str] = {}
        #: release-event callback attempts, in order.
        self.callbacks: list[CallbackDelivery] = []
        self.huawei_tokens: dict[str, HuaweiToken] = {}
        self.huawei_token_requests = 0

    @property
    def huawei_url(self) -> str:
        """Base URL standing in for the Huawei domain (``https://service.besclouds.com``)."""
        return self.url

    def add_huawei_account(self, app_key: str, app_secret: str) -> None:
        """Register another Huawei app key / secret pair."""
        self.huawei_accounts[app_key] = app_secret

    def huawei_app_ok(self, app_key: str, app_secret: str) -> bool:
        """Whether ``app_key`` / ``app_secret`` name a configured Huawei app."""
        expected = self.huawei_app_secret if app_key == self.huawei_app_key else self.huawei_accounts.get(app_key)
        return secret_matches(expected, app_secret)

    def _reset_huawei(self) -> None:
        """Forget callback attempts and issued tokens."""
        self.callbacks.clear()
        self.huawei_tokens.clear()
        self.huawei_token_requests = 0

    @staticmethod
    def new_call_serial_no() -> str:
        """A Huawei-style ``callSerialNo``: 19 random digits, no leading zero."""
        return str(_random.randrange(10**18, 10**19))

    @staticmethod
    def new_secret_token() -> str:
        """A fresh, unguessable opaque access token."""
        return secrets.token_urlsafe(48)


HUAWEI_STATE = web.AppKey("voicekit_sandbox_huawei_state", HuaweiState)
