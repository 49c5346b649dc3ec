"""PCMO actions: the typed, validated steps of a TeleCMI call flow.

Each class checks the vendor's documented shape when it is built, so a bad flow raises
`ValidationError` before anything is sent. `pcmo_to_wire` turns a flow into the JSON the vendor
expects, adding each action's ``"action"`` tag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import attrs

from .._converter import converter, wire
from .._validate import (
    check_bool,
    check_http_url,
    check_int_range,
    check_len,
    check_seq,
    check_str,
    phone_number,
    show,
)
from ..errors import ValidationError

__all__ = [
    "Action",
    "Bridge",
    "Connect",
    "Hangup",
    "Input",
    "Param",
    "Play",
    "PlayGetInput",
    "Pstn",
    "Record",
    "Sip",
    "Speak",
    "Stream",
    "pcmo_to_wire",
]

_AUDIO = (".mp3", ".wav")
# File names are what the vendor's dashboard stores; none is anywhere near this long.
_MAX_FILE_NAME = 255

# Ceilings for numbers the documents give defaults for but no maximum (uncertain; correct them
# here if the vendor documents one). They keep absurd values, which would fail only at the
# vendor or not serialise at all, from being accepted.
MAX_SECONDS = 86_400  # duration: a day
MAX_WAIT_SECONDS = 3_600  # ring and digit timeouts: an hour
MAX_LOOP = 100
MAX_DIGITS = 64
MAX_RETRIES = 10
MAX_TARGETS = 10


def _audio_file(field: str, value: Any) -> None:
    check_str(field, value, max_len=_MAX_FILE_NAME)
    if "/" in value or "\\" in value or not value.lower().endswith(_AUDIO):
        raise ValidationError(
            field, f"must be the name of an uploaded .mp3 or .wav file (not a path), got {show(value)}"
        )


def _audio_source(file_name: Any, file_url: Any) -> None:
    """What a played file is: exactly one of an uploaded file's name and a URL."""
    if (file_name is None) == (file_url is None):
        raise ValidationError("file_name", "give exactly one of file_name and file_url")
    if file_name is not None:
        _audio_file("file_name", file_name)
    if file_url is not None:
        check_http_url("file_url", file_url, max_len=2048)


def _connect(value: Any) -> tuple[Any, ...]:
    return check_seq("connect", value, "Pstn targets")


def _call(value: Any) -> tuple[Any, ...]:
    return check_seq("call", value, "Sip targets")


def _number(value: Any) -> int:
    return phone_number("connect.number", value)


def _from(value: Any) -> int:
    return phone_number("from_", value)


def _opt_int(field: str, value: Any, lo: int, hi: int) -> None:
    if value is not None:
        check_int_range(field, value, lo, hi)


@attrs.frozen(kw_only=True)
class Pstn:
    """A phone number to ring from a `Bridge`."""

    TYPE: ClassVar[str] = "pstn"
    number: int = attrs.field(converter=_number)


@attrs.frozen(kw_only=True)
class Sip:
    """A SIP user to ring from a `Connect`."""

    TYPE: ClassVar[str] = "sip"
    user: str

    def __attrs_post_init__(self) -> None:
        check_str("call.user", self.user)


class Action:
    """Base of every PCMO action; `ACTION` is the vendor's ``action`` name."""

    ACTION: ClassVar[str]


@attrs.frozen(kw_only=True)
class Play(Action):
    """Play an uploaded file (`file_name`) or a file at a URL (`file_url`); exactly one."""

    ACTION: ClassVar[str] = "play"
    file_name: str | None = None
    file_url: str | None = None

    def __attrs_post_init__(self) -> None:
        _audio_source(self.file_name, self.file_url)


@attrs.frozen(kw_only=True)
class Speak(Action):
    """Speak `text` to the callee (text to speech)."""

    ACTION: ClassVar[str] = "speak"
    text: str

    def __attrs_post_init__(self) -> None:
        check_str("text", self.text)


@attrs.frozen(kw_only=True)
class Bridge(Action):
    """Connect the call to one or more phone numbers.

    Vendor defaults apply to what is not given: duration 5400 s, timeout 40 s, loop 1.
    """

    ACTION: ClassVar[str] = "bridge"
    from_: int = attrs.field(converter=_from)
    connect: Sequence[Pstn] = attrs.field(converter=_connect)
    duration: int | None = None
    timeout: int | None = None
    loop: int | None = None
    ring_type: str | None = None

    def __attrs_post_init__(self) -> None:
        check_len("connect", self.connect, 1, MAX_TARGETS)
        for i, target in enumerate(self.connect):
            if not isinstance(target, Pstn):
                raise ValidationError(f"connect[{i}]", "must be a Pstn(number=...)")
        _opt_int("duration", self.duration, 1, MAX_SECONDS)
        _opt_int("timeout", self.timeout, 1, MAX_WAIT_SECONDS)
        _opt_int("loop", self.loop, 1, MAX_LOOP)
        if self.ring_type is not None:
            check_str("ring_type", self.ring_type, max_len=64)


@attrs.frozen(kw_only=True)
class Connect(Action):
    """Connect the call to SIP users."""

    ACTION: ClassVar[str] = "connect"
    call: Sequence[Sip] = attrs.field(converter=_call)
    call_type: str = "audio"

    def __attrs_post_init__(self) -> None:
        check_len("call", self.call, 1, MAX_TARGETS)
        for i, target in enumerate(self.call):
            if not isinstance(target, Sip):
                raise ValidationError(f"call[{i}]", "must be a Sip(user=...)")
        check_str("call_type", self.call_type, max_len=64)


@attrs.frozen(kw_only=True)
class Input(Action):
    """Collect DTMF digits; the vendor POSTs them to `action_url`."""

    ACTION: ClassVar[str] = "input"
    action_url: str
    max_digit: int | None = None
    timeout: int | None = None

    def __attrs_post_init__(self) -> None:
        check_http_url("action_url", self.action_url)
        _opt_int("max_digit", self.max_digit, 1, MAX_DIGITS)
        _opt_int("timeout", self.timeout, 1, MAX_WAIT_SECONDS)


@attrs.frozen(kw_only=True)
class PlayGetInput(Action):
    """Play an uploaded file (`file_name`) or one at a URL (`file_url`), exactly one, and collect
    DTMF digits, POSTed to `action_url`.

    `max_retry` (how often the prompt is played when no digit comes) is 1 or more: the vendor's
    default is 1 and its SDK sends 3. With `file_url`, the URL is sent as both ``file_url`` and
    ``file_name``, as TeleCMI's official SDK does, since the document marks ``file_name``
    mandatory.
    """

    ACTION: ClassVar[str] = "play_get_input"
    action_url: str
    file_name: str | None = None
    file_url: str | None = None
    max_digit: int | None = None
    max_retry: int | None = None
    timeout: int | None = None

    def __attrs_post_init__(self) -> None:
        _audio_source(self.file_name, self.file_url)
        check_http_url("action_url", self.action_url)
        _opt_int("max_digit", self.max_digit, 1, MAX_DIGITS)
        _opt_int("max_retry", self.max_retry, 1, MAX_RETRIES)
        _opt_int("timeout", self.timeout, 1, MAX_WAIT_SECONDS)


@attrs.frozen(kw_only=True)
class Param(Action):
    """Attach a custom parameter to the call."""

    ACTION: ClassVar[str] = "param"
    text: str

    def __attrs_post_init__(self) -> None:
        check_str("text", self.text)


@attrs.frozen(kw_only=True)
class Record(Action):
    """Record the call."""

    ACTION: ClassVar[str] = "record"


@attrs.frozen(kw_only=True)
class Hangup(Action):
    """End the call."""

    ACTION: ClassVar[str] = "hangup"


@attrs.frozen(kw_only=True)
class Stream(Action):
    """Stream the call's audio to a WebSocket server."""

    ACTION: ClassVar[str] = "stream"
    ws_url: str
    listen_mode: str | None = None
    voice_quality: str | None = None
    stream_on_answer: bool | None = None

    def __attrs_post_init__(self) -> None:
        check_http_url("ws_url", self.ws_url, max_len=2048, schemes=("ws", "wss"))
        if self.listen_mode is not None:
            check_str("listen_mode", self.listen_mode, max_len=64)
        if self.voice_quality is not None:
            check_str("voice_quality", self.voice_quality, max_len=64)
        if self.stream_on_answer is not None:
            check_bool("stream_on_answer", self.stream_on_answer)


def _register_tagged(cls: type[Any], key: str, tag: str, rename: dict[str, str] | None = None) -> None:
    wire(cls, rename=rename)
    base = converter.get_unstructure_hook(cls)

    def unstructure(obj: Any) -> dict[str, Any]:
        return {key: tag, **base(obj)}

    converter.register_unstructure_hook(cls, unstructure)


_register_tagged(Pstn, "type", Pstn.TYPE)
_register_tagged(Sip, "type", Sip.TYPE)
for _cls in (Play, Speak, Connect, Input, PlayGetInput, Param, Record, Hangup, Stream):
    _register_tagged(_cls, "action", _cls.ACTION)
_register_tagged(Bridge, "action", Bridge.ACTION, rename={"from_": "from"})


def _play_get_input_wire(obj: PlayGetInput) -> dict[str, Any]:
    data: dict[str, Any] = _tagged_play_get_input(obj)
    if obj.file_url is not None:
        # The document marks file_name mandatory; the official SDK (piopiy/action/input.py,
        # play_input) sends a music URL as both file_name and file_url, so do the same.
        data["file_name"] = obj.file_url
    return data


_tagged_play_get_input = converter.get_unstructure_hook(PlayGetInput)
converter.register_unstructure_hook(PlayGetInput, _play_get_input_wire)

#: The actions a flow may hold: `Action` itself and classes voicekit does not know have no wire form.
_KNOWN_ACTIONS: tuple[type[Action], ...] = (
    Play,
    Speak,
    Bridge,
    Connect,
    Input,
    PlayGetInput,
    Param,
    Record,
    Hangup,
    Stream,
)


def pcmo_to_wire(pcmo: Any) -> list[dict[str, Any]]:
    """Validate a PCMO flow (a non-empty sequence of actions) and return its wire form."""
    if isinstance(pcmo, Action):
        pcmo = [pcmo]
    if not isinstance(pcmo, list | tuple):
        raise ValidationError("pcmo", "must be a list of PCMO actions (Play, Bridge, ...)")
    if not pcmo:
        raise ValidationError("pcmo", "must hold at least one action")
    for i, action in enumerate(pcmo):
        if not isinstance(action, _KNOWN_ACTIONS):
            raise ValidationError(
                f"pcmo[{i}]",
                f"unknown action ({show(action)}); use the classes in voicekit.telecmi (Play, Bridge, ...)",
            )
    return [converter.unstructure(action) for action in pcmo]
