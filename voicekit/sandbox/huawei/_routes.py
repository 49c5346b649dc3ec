"""The Huawei BES route table: every path the vendor answers, written once (all ``POST``)."""

from __future__ import annotations

from .._http import RouteTable
from ._handlers import create_voice_notification, error_body, token_by_ak_sk
from ._state import HUAWEI_STATE

__all__ = ["HUAWEI_ROUTES"]

HUAWEI_ROUTES = RouteTable(
    state_key=HUAWEI_STATE,
    routes=(
        ("/apigovernance/api/oauth/tokenByAkSk", token_by_ak_sk),
        ("/apiaccess/rest/voiceNotification/v2/createVoiceNotification", create_voice_notification),
    ),
    error_prefixes=("/apiaccess/", "/apigovernance/"),
    error_body=error_body,
)
