"""Huawei BES voice-notification models: one `Prompt` per play-list item, and the result."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .._converter import wire
from .._response import Response
from .._validate import check_len, check_seq, check_str
from ..errors import ValidationError

__all__ = ["Notify", "NotificationResult", "Prompt"]

MAX_TEMPLATE_PARAMS = 10
MAX_PARAM_LEN = 32


#: No length is documented for the ids; this only keeps absurd values out of the body.
MAX_ID_LEN = 256


def _params(value: Sequence[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return check_seq("template_params", value, "strings")


@attrs.frozen(kw_only=True)
class Prompt:
    """One play-list item: exactly one of `voice_id`, `voice_file_name`, `template_id`.

    `template_params` (1-10 strings of at most 32 characters) fill the template's variables.
    """

    voice_id: str | None = None
    voice_file_name: str | None = None
    template_id: str | None = None
    template_params: Sequence[str] | None = attrs.field(default=None, converter=_params)

    def __attrs_post_init__(self) -> None:
        given = [
            name
            for name in ("voice_id", "voice_file_name", "template_id")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValidationError(
                "voice_id", "give exactly one of voice_id, voice_file_name and template_id"
            )
        check_str(given[0], getattr(self, given[0]), max_len=MAX_ID_LEN)
        if self.template_params is not None:
            check_len("template_params", self.template_params, 1, MAX_TEMPLATE_PARAMS)
            for i, param in enumerate(self.template_params):
                check_str(f"template_params[{i}]", param, max_len=MAX_PARAM_LEN, min_len=0)


@attrs.frozen(kw_only=True)
class NotificationResult:
    """The vendor created the notification call; `call_serial_no` identifies it; `response`
    holds the HTTP status and headers."""

    call_serial_no: str
    ret_code: str = "0"
    ret_msg: str = ""
    response: Response | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(kw_only=True)
class Notify:
    """One notification of a bulk run: a caller-chosen `key` and what
    `create_voice_notification` takes. Validated when sent: a bad row becomes its outcome."""

    key: str
    called: str
    play_list: Sequence[Prompt]
    callback_url: str | None = None
    caller_present: str | None = None
    play_times: int | None = None
    priority: int | str | None = None


wire(
    Prompt,
    rename={
        "voice_id": "voiceId",
        "voice_file_name": "voiceFileName",
        "template_id": "templateId",
        "template_params": "templateParams",
    },
)
