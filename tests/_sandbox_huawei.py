"""What the Huawei sandbox tests share: the document's paths and sample, a token, its headers."""

from __future__ import annotations

import json
from typing import Any

from tests import _samples
from voicekit.sandbox import Sandbox

TOKEN = "/apigovernance/api/oauth/tokenByAkSk"
CREATE = "/apiaccess/rest/voiceNotification/v2/createVoiceNotification"
#: The vendor document's own example of a notification request.
CREATE_SAMPLE: dict[str, Any] = json.loads(_samples.HUAWEI_REQUEST)


async def get_token(sb: Sandbox, post: Any, expire: str | None = None) -> str:
    headers = {"Content-Type": "application/json"}
    if expire is not None:
        headers["X-Token-Expire"] = expire
    answer = await post(
        sb.url + TOKEN, json={"app_key": sb.huawei_app_key, "app_secret": sb.huawei_app_secret}, headers=headers
    )
    assert answer.status == 200, answer.body
    token: str = answer.body["AccessToken"]
    return token


def auth(sb: Sandbox, token: str) -> dict[str, str]:
    return {"x-app-key": sb.huawei_app_key, "Authorization": f"Bearer {token}"}
