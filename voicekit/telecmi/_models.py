"""TeleCMI results and call records, structured from the vendor's JSON by the one converter."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Literal

import attrs

from .. import _constants as C
from .._converter import LOCAL, wire
from .._response import Response
from .._validate import check_json_object, check_str, phone_number, show
from ..errors import ValidationError
from ._actions import Play, pcmo_to_wire

__all__ = [
    "CAMPAIGN_ID_PARAM",
    "CAMPAIGN_KEY_PARAM",
    "CallActionResult",
    "CallLeg",
    "CallLookup",
    "CallRecord",
    "CallResult",
    "ClickToCallResult",
    "Dial",
]


@attrs.frozen(kw_only=True)
class CallResult:
    """The vendor accepted a call: `request_id` identifies it, `status` is ``"progress"``;
    `response` holds the HTTP status and headers."""

    request_id: str
    status: str
    response: Response | None = attrs.field(default=None, eq=False, repr=False, metadata={LOCAL: True})


@attrs.frozen(kw_only=True)
class ClickToCallResult:
    """A click-to-call was initiated (`msg` is ``"Call initiated"``); `response` holds the HTTP
    status and headers."""

    request_id: str
    msg: str = ""
    response: Response | None = attrs.field(default=None, eq=False, repr=False, metadata={LOCAL: True})


@attrs.frozen(kw_only=True)
class CallRecord:
    """One call detail record.

    Numbers are normalised to strings (the vendor sends ``to`` as a number and ``from`` as a
    string), `rate` to a Decimal, and `time` stays epoch milliseconds; `started_at` is the aware
    datetime.
    """

    id: str
    to: str
    time: int
    from_: str | None = None
    billedsec: int = 0
    rate: Decimal | None = None
    record: str | None = None
    filename: str | None = None
    name: str | None = None
    agent: str | None = None

    @property
    def started_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.time / 1000, tz=dt.UTC)


@attrs.frozen(kw_only=True)
class Dial:
    """One call of a bulk run: a caller-chosen `key`, and what `make_call` or `play_music` takes.

    Give `pcmo` for a full flow, or `file_name` / `file_url` to play a music. The fields are
    validated when the call is sent, so one bad row becomes that row's outcome, not an exception
    that stops the run.
    """

    key: str
    from_: int | str
    to: int | str
    file_name: str | None = None
    file_url: str | None = None
    pcmo: Sequence[Any] | None = None
    region: str = "global"
    extra_params: Mapping[str, Any] | str | None = None
    #: The id of the campaign journal the call belongs to (set by the journal): it rides in
    #: ``extra_params`` as ``"voicekit_campaign"``, so that a webhook is matched to its campaign.
    campaign: str | None = None

    def body(self) -> dict[str, Any]:
        """The request body of this call (without credentials), every constraint checked.

        Built by `make_call_body`, as every make-call body is: `dial_many` and the campaign
        reader both call it. The call's `key` rides in ``extra_params`` under ``"voicekit_key"``
        (`CAMPAIGN_KEY_PARAM`), and its `campaign` (if any) under ``"voicekit_campaign"``
        (`CAMPAIGN_ID_PARAM`), merged with the spec's own ``extra_params``, so that the
        vendor's webhooks (which echo ``extra_params``) map back to exactly one row. The
        endpoint follows `region` (``"global"`` or ``"ind"``), checked here too.

        Raises:
            ValidationError: a constraint is broken (the message names the field).
        """
        check_region(self.region)
        if self.pcmo is not None:
            if self.file_name is not None or self.file_url is not None:
                raise ValidationError("pcmo", "give either pcmo or file_name / file_url, not both")
            flow = pcmo_to_wire(self.pcmo)
        else:
            flow = play_flow(self.file_name, self.file_url)
        return make_call_body(from_=self.from_, to=self.to, pcmo=flow, extra_params=self.extra_params, of=self)


#: The name under which a bulk call's key rides in ``extra_params`` (see `Dial.body`).
CAMPAIGN_KEY_PARAM: Final = "voicekit_key"
#: The name under which a campaign call's campaign id rides in ``extra_params``.
CAMPAIGN_ID_PARAM: Final = "voicekit_campaign"
# No documented limit; the string form rides inside the body, so keep it to a sane size.
_MAX_EXTRA_PARAMS_TEXT: Final = 64 * 1024

Region = Literal["global", "ind"]


def check_region(value: Any) -> Region:
    """The make-call endpoint's region: ``"global"`` or ``"ind"``."""
    if isinstance(value, str) and value in ("global", "ind"):
        return "global" if value == "global" else "ind"
    raise ValidationError("region", f'must be "global" or "ind", got {show(value)}')


def make_call_body(
    *, from_: Any, to: Any, pcmo: list[dict[str, Any]], extra_params: Any, of: Dial | None = None
) -> dict[str, Any]:
    """The body of a make-call request (without credentials), every constraint checked.

    The one place such a body is built: `make_call` and `play_music` pass their arguments and
    the flow's wire form (`pcmo_to_wire`, `play_flow`), `Dial.body` its fields and itself as
    `of`, whose key and campaign then ride in ``extra_params`` (see `Dial.body`).

    ``extra_params`` follows one rule for every call: a JSON object (any `Mapping` of JSON
    values) or the text of one (blank text is an empty object). The vendor gives it back in its
    webhooks, which are read as a JSON object, so text that is not one is refused before it is
    sent. An object is sent as an object; text as given, or, when a key or campaign is merged
    in, as compact JSON text.

    Raises:
        ValidationError: a constraint is broken (the message names the field).
    """
    body: dict[str, Any] = {"from": phone_number("from_", from_), "to": phone_number("to", to), "pcmo": pcmo}
    identity: dict[str, str] = {}
    if of is not None:
        identity[CAMPAIGN_KEY_PARAM] = check_str("key", of.key, max_len=C.MAX_KEY_LEN)
        if of.campaign is not None:
            identity[CAMPAIGN_ID_PARAM] = check_str("campaign", of.campaign)
    extra = _extra_params(extra_params, identity)
    if extra is not None:
        body["extra_params"] = extra
    return body


def _extra_params(extra: Any, identity: dict[str, str]) -> Any:
    """`extra` as sent (see `make_call_body`), with the call's identity (its key, its campaign)
    merged in: a JSON object stays an object, a JSON object's text text."""
    if extra is None:
        return dict(identity) if identity else None
    if isinstance(extra, str):
        check_str("extra_params", extra, max_len=_MAX_EXTRA_PARAMS_TEXT, min_len=0)
        try:
            parsed = json.loads(extra) if extra.strip() else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ValidationError(
                "extra_params",
                "text must be a JSON object (the vendor's webhooks give it back, and are read, as one)",
            )
        return json.dumps(_merged(parsed, identity), separators=(",", ":")) if identity else extra
    if isinstance(extra, Mapping):
        return _merged(check_json_object("extra_params", extra), identity)
    raise ValidationError("extra_params", f"must be a mapping (a JSON object) or a string, got {type(extra).__name__}")


def _merged(extra: dict[str, Any], identity: dict[str, str]) -> dict[str, Any]:
    for name, value in identity.items():
        given = extra.get(name, value)
        if given != value:
            what = "key" if name == CAMPAIGN_KEY_PARAM else "campaign"
            raise ValidationError(
                "extra_params", f"{name!r} is reserved for the call's {what} ({value!r}), got {show(given)}"
            )
    return {**extra, **identity}


def play_flow(file_name: Any, file_url: Any) -> list[dict[str, Any]]:
    """The wire form of a one-step play flow (validated); the list is shared, never mutate it."""
    # The cache needs hashable keys: only str or None get there, anything else is refused here
    # with the field named (a list would otherwise raise TypeError from the cache itself).
    for field, value in (("file_name", file_name), ("file_url", file_url)):
        if value is not None and type(value) is not str:
            raise ValidationError(field, f"must be a string, got {type(value).__name__}")
    return _cached_play_flow(file_name, file_url)


@functools.lru_cache(maxsize=256)
def _cached_play_flow(file_name: str | None, file_url: str | None) -> list[dict[str, Any]]:
    # Campaigns play few files, so each flow is built once (bodies share it: never mutated).
    return pcmo_to_wire([Play(file_name=file_name, file_url=file_url)])


wire(CallResult)
wire(ClickToCallResult)
wire(CallRecord, rename={"id": "_id", "from_": "from"})


@attrs.frozen(kw_only=True)
class CallActionResult:
    """Call control accepted `action` (``"hangup"``, ``"hold"``, ``"unhold"`` or ``"holdToggle"``)
    on the live call `cmiuuid`; `hold` is whether the call is now on hold, when the vendor says."""

    cmiuuid: str
    action: str
    msg: str = ""
    hold: bool | None = None
    response: Response | None = attrs.field(default=None, eq=False, repr=False, metadata={LOCAL: True})


@attrs.frozen(kw_only=True)
class CallLeg:
    """One record of the per-call lookup: a leg (``"a"`` or ``"b"``) of the call.

    The documented fields are `duration`, `balance`, `rate`, `leg`, `direction` and `status`;
    the others are filled when the vendor sends them. Times are epoch seconds.
    """

    leg: str | None = None
    direction: str | None = None
    status: str | None = None
    duration: int | None = None
    rate: Decimal | None = None
    balance: Decimal | None = None
    request_id: str | None = None
    cmiuuid: str | None = None
    billedsec: int | None = None
    hangup_reason: str | None = None
    from_: str | None = None
    to: str | None = None
    start_time: int | None = None
    answer_time: int | None = None
    end_time: int | None = None


@attrs.frozen(kw_only=True)
class CallLookup:
    """What the per-call lookup knows of `request_id`: its legs, none while the call is live
    (or when the id is unknown)."""

    request_id: str
    legs: list[CallLeg] = attrs.field(factory=list)
    response: Response | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def found(self) -> bool:
        """Whether the vendor has a record of the call (it has ended)."""
        return bool(self.legs)


wire(CallActionResult)
wire(CallLeg, rename={"from_": "from"})
