"""Property tests: every public constructor and method takes hostile input in one of two ways.

Either the input is accepted (and then it works: the request reaches the peer and the body
serialises), or it raises `voicekit.errors.ValidationError` and nothing reached the network. A
real loopback server on 127.0.0.1 counts the requests it receives; an invalid call must leave the
count unchanged. Any other exception (TypeError, OverflowError, a bare ValueError, an orjson or
cattrs error) fails the test.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Callable, Iterator
from types import MappingProxyType
from typing import Any

import orjson
import pytest
from aiohttp import web
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests._server import CALL_OK, ThreadedServer
from voicekit import AsyncTeleCMI, RateLimit, RetryPolicy, TeleCMI, Timeout
from voicekit._converter import converter
from voicekit.errors import ValidationError
from voicekit.huawei import AsyncHuaweiVoice, HuaweiVoice, Notify, Prompt
from voicekit.telecmi import (
    Bridge,
    Connect,
    Dial,
    Hangup,
    Input,
    Param,
    Play,
    PlayGetInput,
    Pstn,
    Record,
    Sip,
    Speak,
    Stream,
)
from voicekit.telecmi._actions import pcmo_to_wire
from voicekit.webhooks import parse_huawei_release_event, parse_telecmi_webhook

PROPS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- hostile values --------------------------------------------------------------------------

# Built lazily: hypothesis shows its strategies' reprs, and repr() of a 5000-digit int raises.
HUGE_INTS = st.sampled_from([(1, 5000), (-1, 5000), (1, 30), (1, 19), (-1, 19), (-1, 0), (0, 0)]).map(
    lambda sign_exp: sign_exp[0] * 10 ** sign_exp[1]
)
BAD_FLOATS = st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 5e-324])
UNICODE_DIGITS = st.sampled_from(
    ["²", "٣", "９１７０００００００１", "¹²³⁴⁵⁶⁷", "\ud800", "𝟗𝟏𝟕𝟎𝟎𝟎𝟎𝟎𝟎𝟎𝟎", "9" * 5000, "\n", " "]
)
LONG_TEXT = st.sampled_from(["x" * 100_000, "a.wav" * 10_000, "https://x.test/" + "a" * 10_000])
EXTREME_DATES = st.sampled_from(
    [
        dt.datetime(1, 1, 1),
        dt.datetime.max,
        dt.datetime(1, 1, 1, tzinfo=dt.UTC),
        dt.datetime.max.replace(tzinfo=dt.UTC),
        dt.datetime(1970, 1, 1, tzinfo=dt.UTC),
    ]
)
HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE_INTS,
    st.floats(),
    BAD_FLOATS,
    st.text(max_size=20),
    UNICODE_DIGITS,
    LONG_TEXT,
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=3),
    st.just(MappingProxyType({"k": "v"})),
    st.just({1: "non-string key"}),
    st.just({"nan": math.nan}),
    st.just([object()]),
    EXTREME_DATES,
    st.just(object()),
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly valid values, often hostile ones: so one bad field meets otherwise good input."""
    return st.one_of(valid, valid, HOSTILE)


PHONE = st.sampled_from([19170000001, "19170000002", "+91 7000 000003"])
URL = st.sampled_from(["https://example.test/hook", "http://127.0.0.1:9/x"])
AUDIO = st.sampled_from(["welcome.wav", "menu.mp3"])
SMALL = st.integers(min_value=1, max_value=5)

# -- the loopback peer -----------------------------------------------------------------------

RECORDS_OK = {"total": 0, "cdr": [], "code": 200}
TOKEN_OK = {"AccessToken": "tok", "Expires": "3600", "ApplyType": "Bearer"}
NOTIFY_OK = {"retCode": "0", "retMsg": "ok", "result": {"callSerialNo": "1"}}


def _answer(payload: dict[str, Any]) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(payload)

    return handler


ROUTES = {
    "/v2/global_pcmo_make_call": _answer(CALL_OK),
    "/v2/ind_pcmo_make_call": _answer(CALL_OK),
    "/v2/webrtc/click2call": _answer({"code": 200, "msg": "Call initiated", "request_id": "R"}),
    **{f"/v1/{kind}": _answer(RECORDS_OK) for kind in ("outanswered", "answered", "missed", "outmissed")},
    "/apigovernance/api/oauth/tokenByAkSk": _answer(TOKEN_OK),
    "/apiaccess/rest/voiceNotification/v2/createVoiceNotification": _answer(NOTIFY_OK),
}


@pytest.fixture(scope="module")
def peer() -> Iterator[ThreadedServer]:
    with ThreadedServer(ROUTES) as server:
        yield server


@pytest.fixture(scope="module", autouse=True)
def _no_environment() -> Iterator[None]:
    # Credentials and URLs from the environment would mask what the arguments do.
    saved = {k: v for k, v in os.environ.items() if k.startswith("VOICEKIT_")}
    for key in saved:
        del os.environ[key]
    yield
    os.environ.update(saved)


@pytest.fixture(scope="module")
def tc(peer: ThreadedServer) -> Iterator[TeleCMI]:
    client = TeleCMI(
        appid=2222226,
        secret="s3cret",
        base_url=peer.url,
        piopiy_url=peer.url,
        rate_limit=None,
        retry=RetryPolicy.none(),
    )
    yield client
    client.close()


@pytest.fixture(scope="module")
def hw(peer: ThreadedServer) -> Iterator[HuaweiVoice]:
    client = HuaweiVoice(
        base_url=peer.url, app_key="key", app_secret="s3cret", rate_limit=None, retry=RetryPolicy.none()
    )
    yield client
    client.close()


def accepted_or_refused(peer: ThreadedServer, call: Callable[[], object]) -> bool:
    """Run `call`; True if it was accepted (and reached the peer), False if refused unsent."""
    before = peer.hits
    try:
        call()
    except ValidationError as exc:
        assert isinstance(exc, ValueError) and exc.field and exc.rule
        assert peer.hits == before, f"a refused call ({exc}) reached the network"
        return False
    assert peer.hits > before, "an accepted call never reached the peer"
    return True


# -- TeleCMI calls ---------------------------------------------------------------------------


@PROPS
@given(
    from_=maybe(PHONE),
    to=maybe(PHONE),
    file_name=st.one_of(AUDIO, HOSTILE),
    file_url=st.one_of(st.none(), HOSTILE),
    region=maybe(st.sampled_from(["global", "ind"])),
    extra=maybe(st.none()),
)
def test_play_music(
    peer: ThreadedServer, tc: TeleCMI, from_: Any, to: Any, file_name: Any, file_url: Any, region: Any, extra: Any
) -> None:
    accepted_or_refused(
        peer,
        lambda: tc.play_music(
            from_=from_, to=to, file_name=file_name, file_url=file_url, region=region, extra_params=extra
        ),
    )


PCMO_FLOW = st.sampled_from(
    [
        [Hangup()],
        Bridge(from_=19170000000, connect=[Pstn(number=19170000002)]),
        [Speak(text="hi"), Record(), Hangup()],
    ]
)


@PROPS
@given(from_=maybe(PHONE), to=maybe(PHONE), pcmo=maybe(PCMO_FLOW), extra=maybe(st.just({"crm": {"id": 1}})))
def test_make_call(peer: ThreadedServer, tc: TeleCMI, from_: Any, to: Any, pcmo: Any, extra: Any) -> None:
    accepted_or_refused(peer, lambda: tc.make_call(from_=from_, to=to, pcmo=pcmo, extra_params=extra))


@PROPS
@given(
    user_id=maybe(st.just("101_1111112")),
    to=maybe(PHONE),
    extra=maybe(st.none()),
    webrtc=maybe(st.just(False)),
    followme=maybe(st.booleans()),
    callerid=maybe(st.none()),
)
def test_click_to_call(
    peer: ThreadedServer, tc: TeleCMI, user_id: Any, to: Any, extra: Any, webrtc: Any, followme: Any, callerid: Any
) -> None:
    accepted_or_refused(
        peer,
        lambda: tc.click_to_call(
            user_id=user_id, to=to, extra_params=extra, webrtc=webrtc, followme=followme, callerid=callerid
        ),
    )


MS = 1_700_000_000_000


@PROPS
@given(
    method=st.sampled_from(["outgoing_answered", "outgoing_missed", "answered", "missed"]),
    start=maybe(st.sampled_from([None, MS, dt.datetime(2024, 1, 1, tzinfo=dt.UTC)])),
    end=maybe(st.sampled_from([None, MS + 1000])),
    page_size=maybe(st.integers(1, 100)),
    limit=maybe(st.sampled_from([None, 5])),
)
def test_records(
    peer: ThreadedServer, tc: TeleCMI, method: str, start: Any, end: Any, page_size: Any, limit: Any
) -> None:
    accepted_or_refused(
        peer, lambda: getattr(tc, method)(start=start, end=end, page_size=page_size, limit=limit).first_page()
    )


@PROPS
@given(
    key=maybe(st.just("row-1")),
    from_=maybe(PHONE),
    to=maybe(PHONE),
    file_name=maybe(AUDIO),
    pcmo=st.one_of(st.none(), HOSTILE),
    region=maybe(st.just("ind")),
    extra=maybe(st.none()),
)
def test_dial_many(
    peer: ThreadedServer, tc: TeleCMI, key: Any, from_: Any, to: Any, file_name: Any, pcmo: Any, region: Any, extra: Any
) -> None:
    spec = Dial(key=key, from_=from_, to=to, file_name=file_name, pcmo=pcmo, region=region, extra_params=extra)
    before = peer.hits
    [outcome] = list(tc.dial_many([spec], concurrency=1))
    if outcome.ok:
        assert peer.hits > before
    else:
        assert isinstance(outcome.error, ValidationError), repr(outcome.error)
        assert peer.hits == before


# -- Huawei ----------------------------------------------------------------------------------

PROMPTS = st.sampled_from([[Prompt(voice_id="100001")], (Prompt(template_id="7", template_params=["1", "2"]),)])


@PROPS
@given(
    called=maybe(st.just("8899")),
    play_list=maybe(PROMPTS),
    callback_url=maybe(st.none()),
    caller_present=maybe(st.none()),
    play_times=maybe(st.sampled_from([None, 1, 5])),
    priority=maybe(st.sampled_from([None, 1, "9", 5])),
)
def test_create_voice_notification(
    peer: ThreadedServer,
    hw: HuaweiVoice,
    called: Any,
    play_list: Any,
    callback_url: Any,
    caller_present: Any,
    play_times: Any,
    priority: Any,
) -> None:
    accepted_or_refused(
        peer,
        lambda: hw.create_voice_notification(
            called=called,
            play_list=play_list,
            callback_url=callback_url,
            caller_present=caller_present,
            play_times=play_times,
            priority=priority,
        ),
    )


@PROPS
@given(
    key=maybe(st.just("n-1")),
    called=maybe(st.just("8899")),
    play_list=maybe(PROMPTS),
    play_times=maybe(st.none()),
    priority=maybe(st.none()),
)
def test_notify_many(
    peer: ThreadedServer, hw: HuaweiVoice, key: Any, called: Any, play_list: Any, play_times: Any, priority: Any
) -> None:
    spec = Notify(key=key, called=called, play_list=play_list, play_times=play_times, priority=priority)
    before = peer.hits
    [outcome] = list(hw.notify_many([spec], concurrency=1))
    if outcome.ok:
        assert peer.hits > before
    else:
        assert isinstance(outcome.error, ValidationError), repr(outcome.error)
        assert peer.hits == before


# -- constructors and configuration ----------------------------------------------------------


def built_or_refused(build: Callable[[], Any]) -> Any:
    try:
        return build()
    except ValidationError as exc:
        assert exc.field and exc.rule
        return None


@PROPS
@given(
    appid=maybe(st.sampled_from([2222226, "2222226"])),
    secret=maybe(st.just("s")),
    base_url=maybe(st.sampled_from([None, "https://rest.telecmi.com/"])),
    piopiy_url=maybe(st.sampled_from([None, "http://127.0.0.1:8080"])),
    timeout=maybe(st.sampled_from([None, 5, 2.5, Timeout(total=3)])),
    retry=maybe(st.sampled_from([None, RetryPolicy.none()])),
    rate_limit=maybe(st.sampled_from([None, 10, RateLimit(rate=5, burst=5)])),
    page_concurrency=maybe(st.integers(1, 64)),
)
def test_telecmi_constructor(
    appid: Any,
    secret: Any,
    base_url: Any,
    piopiy_url: Any,
    timeout: Any,
    retry: Any,
    rate_limit: Any,
    page_concurrency: Any,
) -> None:
    if appid is None or secret is None or appid == "" or secret == "":
        return  # "not given": a ConfigurationError saying how to give it, covered elsewhere
    client = built_or_refused(
        lambda: AsyncTeleCMI(
            appid=appid,
            secret=secret,
            base_url=base_url,
            piopiy_url=piopiy_url,
            timeout=timeout,
            retry=retry,
            rate_limit=rate_limit,
            page_concurrency=page_concurrency,
        )
    )
    if client is not None:
        assert client.base_url.startswith(("http://", "https://")) and not client.base_url.endswith("/")
        assert 0 < client._timeout.total <= 86_400


@PROPS
@given(
    base_url=maybe(st.just("https://service.besclouds.com")),
    app_key=maybe(st.just("k")),
    app_secret=maybe(st.just("s")),
    token_lifetime=maybe(st.integers(60, 3600)),
    timeout=maybe(st.none()),
    rate_limit=maybe(st.none()),
)
def test_huawei_constructor(
    base_url: Any, app_key: Any, app_secret: Any, token_lifetime: Any, timeout: Any, rate_limit: Any
) -> None:
    if any(v is None or v == "" for v in (base_url, app_key, app_secret)):
        return
    built_or_refused(
        lambda: AsyncHuaweiVoice(
            base_url=base_url,
            app_key=app_key,
            app_secret=app_secret,
            token_lifetime=token_lifetime,
            timeout=timeout,
            rate_limit=rate_limit,
        )
    )


@PROPS
@given(
    rate=maybe(st.floats(0.1, 1000)),
    burst=maybe(st.just(1)),
    connect=maybe(st.floats(0.1, 60)),
    total=maybe(st.floats(0.1, 60)),
    attempts=maybe(st.integers(1, 10)),
    budget=maybe(st.floats(0.1, 60)),
    initial=maybe(st.floats(0, 5)),
    max_delay=maybe(st.floats(0, 60)),
    max_retry_after=maybe(st.floats(0, 60)),
)
def test_config_objects(
    rate: Any,
    burst: Any,
    connect: Any,
    total: Any,
    attempts: Any,
    budget: Any,
    initial: Any,
    max_delay: Any,
    max_retry_after: Any,
) -> None:
    limit = built_or_refused(lambda: RateLimit(rate=rate, burst=burst))
    if limit is not None:
        assert math.isfinite(limit.rate) and limit.rate > 0 and 1 <= limit.burst <= max(1, limit.rate)
    timeout = built_or_refused(lambda: Timeout(connect=connect, total=total))
    if timeout is not None:
        assert all(isinstance(v, float) and 0 < v <= 86_400 for v in (timeout.connect, timeout.total))
    policy = built_or_refused(
        lambda: RetryPolicy(
            attempts=attempts, timeout=budget, initial=initial, max_delay=max_delay, max_retry_after=max_retry_after
        )
    )
    if policy is not None:
        assert type(policy.attempts) is int and 1 <= policy.attempts <= 10_000
        values = (policy.timeout, policy.initial, policy.max_delay, policy.max_retry_after)
        assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in values)
    coerced = built_or_refused(lambda: RateLimit.coerce(rate))
    assert coerced is None or isinstance(coerced, RateLimit)


# -- PCMO actions and Prompt: built, then serialisable ----------------------------------------

ACTIONS: dict[str, tuple[type, dict[str, st.SearchStrategy[Any]]]] = {
    "play": (Play, {"file_name": maybe(AUDIO), "file_url": st.one_of(st.none(), HOSTILE)}),
    "speak": (Speak, {"text": maybe(st.just("hello"))}),
    "param": (Param, {"text": maybe(st.just("order-1"))}),
    "bridge": (
        Bridge,
        {
            "from_": maybe(PHONE),
            "connect": maybe(st.just([Pstn(number=19170000002)])),
            "duration": maybe(st.sampled_from([None, 300])),
            "timeout": maybe(st.none()),
            "loop": maybe(st.sampled_from([None, 2])),
            "ring_type": maybe(st.none()),
        },
    ),
    "connect": (Connect, {"call": maybe(st.just([Sip(user="alice")])), "call_type": maybe(st.just("audio"))}),
    "input": (Input, {"action_url": maybe(URL), "max_digit": maybe(st.none()), "timeout": maybe(SMALL)}),
    "play_get_input": (
        PlayGetInput,
        {
            "action_url": maybe(URL),
            "file_name": st.one_of(AUDIO, HOSTILE),
            "file_url": st.one_of(st.none(), HOSTILE),
            "max_digit": maybe(SMALL),
            "max_retry": maybe(SMALL),
            "timeout": maybe(SMALL),
        },
    ),
    "stream": (
        Stream,
        {
            "ws_url": maybe(st.just("wss://x.test/ws")),
            "listen_mode": maybe(st.none()),
            "voice_quality": maybe(st.just("8000")),
            "stream_on_answer": maybe(st.none()),
        },
    ),
    "pstn": (Pstn, {"number": maybe(PHONE)}),
    "sip": (Sip, {"user": maybe(st.just("alice"))}),
    "record": (Record, {}),
    "hangup": (Hangup, {}),
    "prompt": (
        Prompt,
        {
            "voice_id": maybe(st.just("1")),
            "voice_file_name": st.one_of(st.none(), HOSTILE),
            "template_id": st.one_of(st.none(), HOSTILE),
            "template_params": maybe(st.just(["a", "b"])),
        },
    ),
}


@PROPS
@given(data=st.data(), name=st.sampled_from(sorted(ACTIONS)))
def test_models_are_valid_when_built(data: st.DataObject, name: str) -> None:
    cls, fields = ACTIONS[name]
    kwargs = {field: data.draw(strategy, label=field) for field, strategy in fields.items()}
    built = built_or_refused(lambda: cls(**kwargs))
    if built is None:
        return
    # Built means sendable: the wire form serialises (no "accepted now, fails later").
    wire = pcmo_to_wire([built]) if name not in ("pstn", "sip", "prompt") else converter.unstructure(built)
    orjson.dumps(wire)


# -- webhook parsers -------------------------------------------------------------------------

JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), HUGE_INTS, st.floats(), st.text(max_size=10), UNICODE_DIGITS),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10,
)
TELECMI_KEYS = [
    "type",
    "cmiuuid",
    "request_id",
    "leg",
    "time",
    "duration",
    "start_time",
    "answer_time",
    "end_time",
    "call_rate",
    "balance",
    "status",
    "hangup_reason",
    "from",
    "to",
    "extra_params",
]
HUAWEI_KEYS = [
    "callSerialNo",
    "called",
    "createCallTime",
    "alertingTime",
    "talkingTime",
    "releaseTime",
    "talkDuration",
    "releaseReason",
    "recordfile",
    "signature",
]


def _payload(keys: list[str], base: dict[str, Any]) -> st.SearchStrategy[Any]:
    field_values = st.one_of(
        JSONISH, HOSTILE, st.just("2022/02/17,13:10:06:836"), st.just('{"a": 1}'), st.just("[" * 5000), st.just(10**400)
    )
    mapping = st.fixed_dictionaries({}, optional={k: field_values for k in keys}).map(lambda d: {**base, **d})
    return st.one_of(
        mapping,
        mapping.map(lambda d: MappingProxyType(d)),
        HOSTILE,
        st.binary(max_size=30),
        st.just(b"[" * 100_000),
        st.just("1" * 5000),
    )


@PROPS
@given(payload=_payload(TELECMI_KEYS, {"type": "cdr", "cmiuuid": "u1"}))
@example(payload={"": 2**53 + 1})  # an empty key still names the field in the error
def test_telecmi_webhook_parser(payload: Any) -> None:
    built_or_refused(lambda: parse_telecmi_webhook(payload))


@PROPS
@given(payload=_payload(HUAWEI_KEYS, {"callSerialNo": "77"}), tz=maybe(st.just(dt.UTC)))
@example(payload={"": 2**53 + 1}, tz=None)
def test_huawei_release_parser(payload: Any, tz: Any) -> None:
    built_or_refused(lambda: parse_huawei_release_event(payload, tz=tz))
