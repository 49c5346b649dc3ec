"""Huawei BES cloud voice notifications: the clients and the play-list model."""

from ._client import AsyncHuaweiVoice
from ._models import NotificationResult, Notify, Prompt
from ._twins import HuaweiVoice

__all__ = ["AsyncHuaweiVoice", "HuaweiVoice", "NotificationResult", "Notify", "Prompt"]
