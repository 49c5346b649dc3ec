"""Huawei BES voice-notification models: one `Prompt` per play-list item, and the result."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs

from .._converter import converter, wire
from .._response import Response
from .._validate import check_http_url, check_int_range, check_len, check_seq, check_str, show
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
        given = [name for name in ("voice_id", "voice_file_name", "template_id") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValidationError("voice_id", "give exactly one of voice_id, voice_file_name and template_id")
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

    def body(self) -> dict[str, Any]:
        """The request body of this notification, every documented constraint checked.

        The one place a notification's body is built: `create_voice_notification`, `notify_many`
        and the campaign reader all call it. Huawei's body has no ``extra_params``: a campaign
        maps a release event back to its row by the ``callSerialNo`` the journal stores, or by
        the called number and the time.

        Raises:
            ValidationError: a constraint is broken (the message names the field).
        """
        return notification_body(
            self.called, self.play_list, self.callback_url, self.caller_present, self.play_times, self.priority
        )


def notification_body(
    called: Any, play_list: Any, callback_url: Any, caller_present: Any, play_times: Any, priority: Any
) -> dict[str, Any]:
    """The voice-notification body of these arguments, validated (see `Notify.body`)."""
    body: dict[str, Any] = {"called": check_str("called", called, max_len=32)}
    if not isinstance(play_list, list | tuple):
        raise ValidationError(
            "play_list", f"must be a list of 1-5 voicekit.huawei.Prompt items, got {type(play_list).__name__}"
        )
    check_len("play_list", play_list, 1, 5)
    for i, item in enumerate(play_list):
        if not isinstance(item, Prompt):
            raise ValidationError(f"play_list[{i}]", "must be a voicekit.huawei.Prompt")
    body["playList"] = [converter.unstructure(item) for item in play_list]
    if callback_url is not None:
        body["callBackUrl"] = check_http_url("callback_url", callback_url, max_len=256)
    if caller_present is not None:
        body["callerPresent"] = check_str("caller_present", caller_present, max_len=32)
    if play_times is not None:
        body["playTimes"] = check_int_range("play_times", play_times, 1, 5)
    if priority is not None:
        body["priority"] = _priority(priority)
    return body


def _priority(value: Any) -> str:
    """The documented "1"-"9" (an int or its one ASCII digit as a string)."""
    # Not str.isdigit(): it accepts "²" and other digits int() cannot read.
    if isinstance(value, str) and len(value) == 1 and "1" <= value <= "9":
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 9:
        return str(int(value))
    raise ValidationError("priority", f'must be an integer from 1 to 9 (or "1"-"9"), got {show(value)}')


wire(
    Prompt,
    rename={
        "voice_id": "voiceId",
        "voice_file_name": "voiceFileName",
        "template_id": "templateId",
        "template_params": "templateParams",
    },
)
