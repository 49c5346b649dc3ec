"""Huawei BES cloud voice notifications: the clients and the play-list model."""

from ._client import AsyncHuaweiVoice, HuaweiVoice
from ._models import NotificationResult, Notify, Prompt

__all__ = ["AsyncHuaweiVoice", "HuaweiVoice", "NotificationResult", "Notify", "Prompt"]
