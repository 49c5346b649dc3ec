"""The blocking facade never leaves its caller waiting: every error reaches it, and one blocking
bulk run's slow input stalls nobody else.

Each blocking call runs in a thread of its own, joined with a bound, so that a regression fails
here instead of hanging the test run.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests._server import ThreadedServer, call_ok
from tests.conftest import fresh_appid
from voicekit import AsyncHuaweiVoice, AsyncTeleCMI, HuaweiVoice, RateLimit, TeleCMI, _sync
from voicekit import _constants as C
from voicekit.errors import ValidationError
from voicekit.huawei import Notify, Prompt
from voicekit.sandbox import SyncSandbox
from voicekit.telecmi import Dial

#: A blocking call that has not returned (or raised) by then is taken to hang.
BOUND = 20.0


def bounded(fn: Callable[[], Any]) -> Any:
    """Run `fn` in a thread; return what it returned or raise what it raised, within `BOUND`."""
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    assert outcome, f"the blocking call neither returned nor raised within {BOUND} s: it hangs"
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


def dial(i: int = 0) -> Dial:
    return Dial(key=f"k{i}", from_=19170000000, to=9100000000 + i, file_name="welcome.wav")


def notify(i: int = 0) -> Notify:
    return Notify(key=f"k{i}", called=str(8800 + i), play_list=[Prompt(voice_id="1")])


async def hook(key: str) -> None:
    return None


BAD_BULK = [
    pytest.param({"concurrency": 0}, "concurrency", id="concurrency-0"),
    pytest.param({"concurrency": -3}, "concurrency", id="concurrency-negative"),
    pytest.param({"concurrency": C.MAX_BULK_CONCURRENCY + 1}, "concurrency", id="concurrency-too-large"),
    pytest.param({"concurrency": "8"}, "concurrency", id="concurrency-text"),
    pytest.param({"concurrency": 2.5}, "concurrency", id="concurrency-float"),
    pytest.param({"concurrency": True}, "concurrency", id="concurrency-bool"),
    pytest.param({"concurrency": None}, "concurrency", id="concurrency-none"),
    pytest.param({"specs": 5}, "specs", id="specs-int"),
    pytest.param({"specs": None}, "specs", id="specs-none"),
    pytest.param({"specs": "9100000000"}, "specs", id="specs-text"),
    pytest.param({"specs": "one"}, "specs", id="specs-one-spec"),
    pytest.param({"before_send": "journal"}, "before_send", id="before-send-text"),
    pytest.param({"before_send": 3}, "before_send", id="before-send-int"),
]


def bulk_args(make: Callable[[int], object], changes: dict[str, Any]) -> tuple[object, dict[str, Any]]:
    specs: object = [make(i) for i in range(3)]
    if "specs" in changes:
        specs = changes["specs"]
        if specs == "one":
            specs = make(0)  # one specification where an iterable of them belongs
    kwargs = {"concurrency": 2, "before_send": hook, **{k: v for k, v in changes.items() if k != "specs"}}
    return specs, kwargs


@pytest.mark.parametrize(("changes", "field"), BAD_BULK)
def test_every_bad_argument_of_the_blocking_dial_many_raises_instead_of_hanging(
    changes: dict[str, Any], field: str
) -> None:
    specs, kwargs = bulk_args(dial, changes)
    # A base URL nothing listens on: a test that reached the network would fail differently.
    with TeleCMI(appid=fresh_appid(), secret="s", base_url="http://127.0.0.1:9", rate_limit=None) as tc:
        with pytest.raises(ValidationError) as caught:
            bounded(lambda: list(tc.dial_many(specs, **kwargs)))  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(("changes", "field"), BAD_BULK)
def test_every_bad_argument_of_the_blocking_notify_many_raises_instead_of_hanging(
    changes: dict[str, Any], field: str
) -> None:
    specs, kwargs = bulk_args(notify, changes)
    with HuaweiVoice(base_url="http://127.0.0.1:9", app_key="key", app_secret="s", rate_limit=None) as hw:
        with pytest.raises(ValidationError) as caught:
            bounded(lambda: list(hw.notify_many(specs, **kwargs)))  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(("changes", "field"), BAD_BULK)
async def test_the_async_bulk_apis_refuse_the_same_arguments_up_front(changes: dict[str, Any], field: str) -> None:
    async with (
        AsyncTeleCMI(appid=fresh_appid(), secret="s", base_url="http://127.0.0.1:9", rate_limit=None) as tc,
        AsyncHuaweiVoice(base_url="http://127.0.0.1:9", app_key="key", app_secret="s", rate_limit=None) as hw,
    ):
        for make, run in ((dial, tc.dial_many), (notify, hw.notify_many)):
            specs, kwargs = bulk_args(make, changes)
            with pytest.raises(ValidationError) as caught:
                run(specs, **kwargs)  # type: ignore[operator]
            assert caught.value.field == field


TOMORROW = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)

BAD_RECORDS = [
    pytest.param({"kind": "outgoing"}, "kind", id="kind"),
    pytest.param({"page_size": 0}, "page_size", id="page-size-0"),
    pytest.param({"page_size": C.MAX_PAGE_SIZE + 1}, "page_size", id="page-size-too-large"),
    pytest.param({"page_size": "10"}, "page_size", id="page-size-text"),
    pytest.param({"limit": 0}, "limit", id="limit-0"),
    pytest.param({"limit": "5"}, "limit", id="limit-text"),
    pytest.param({"start": "yesterday"}, "start", id="start-text"),
    pytest.param({"end": 1.5e300}, "end", id="end-huge"),
    pytest.param({"start": 2_000, "end": 1_000}, "start", id="start-after-end"),
    pytest.param({"timeout": "soon"}, "timeout", id="timeout-text"),
    # Only found out when the window is pinned, on first use, on the loop thread.
    pytest.param({"start": TOMORROW}, "start", id="start-after-now"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_RECORDS)
@pytest.mark.parametrize("use", ["iterate", "pages", "first_page", "total"])
def test_every_bad_argument_of_the_blocking_call_records_raises_instead_of_hanging(
    changes: dict[str, Any], field: str, use: str
) -> None:
    kwargs = {"kind": "outgoing_answered", **changes}

    def run() -> object:
        records = tc.call_records(**kwargs)
        if use == "iterate":
            return list(records)
        if use == "pages":
            return list(records.pages())
        if use == "first_page":
            return records.first_page()
        return records.total

    with TeleCMI(appid=fresh_appid(), secret="s", piopiy_url="http://127.0.0.1:9", rate_limit=None) as tc:
        with pytest.raises(ValidationError) as caught:
            bounded(run)
    assert caught.value.field == field


# -- the engine itself: whatever building or iterating raises reaches the blocking caller ------


class Broken(Exception):
    pass


def fails_to_build() -> AsyncIterator[list[int]]:
    raise Broken("building the iterator failed")


async def fails_later() -> AsyncIterator[list[int]]:
    yield [1, 2]
    raise Broken("the third item failed")


async def fails_first() -> AsyncIterator[list[int]]:
    raise Broken("the first item failed")
    yield [0]  # pragma: no cover - makes this an async generator


@pytest.mark.parametrize("make", [fails_to_build, fails_first, fails_later])
def test_an_error_building_or_iterating_a_blocking_iteration_reaches_its_caller(
    make: Callable[[], AsyncIterator[list[int]]],
) -> None:
    got: list[int] = []

    def run() -> None:
        for item in _sync.iterate_batches(make(), iter):
            got.append(item)

    with pytest.raises(Broken):
        bounded(run)
    assert got == ([1, 2] if make is fails_later else [])


# -- a slow input stalls nobody else -----------------------------------------------------------


def test_a_slow_sync_input_to_a_blocking_dial_many_stalls_no_other_blocking_client() -> None:
    """The input generator waits until another thread's blocking call (on another client) has
    returned. Read on voicekit's loop thread, it would hold the loop, that call could not
    return, and the generator would give up waiting."""
    other_returned = threading.Event()
    input_waiting = threading.Event()
    seen: list[bool] = []

    def rows() -> Iterator[Dial]:
        yield dial(0)
        input_waiting.set()
        seen.append(other_returned.wait(BOUND / 2))
        yield dial(1)

    with SyncSandbox() as sb:
        options: dict[str, Any] = {
            "appid": sb.telecmi_appid,
            "secret": sb.telecmi_secret,
            "base_url": sb.url,
            "piopiy_url": sb.url,
            "rate_limit": None,
        }
        with TeleCMI(**options) as bulk, TeleCMI(**options) as other:
            outcomes: list[Any] = []
            runner = threading.Thread(target=lambda: outcomes.extend(bulk.dial_many(rows(), concurrency=4)))
            runner.start()
            try:
                assert input_waiting.wait(BOUND), "the bulk run never read its input"
                looked_up = bounded(lambda: other.lookup_call("no-such-request"))
                other_returned.set()
            finally:
                other_returned.set()
                runner.join(BOUND)
    assert looked_up.request_id == "no-such-request"
    assert seen == [True], "the other client's call returned while the input was waiting"
    assert sorted(o.key for o in outcomes if o.ok) == ["k0", "k1"]


def test_a_blocking_dial_many_reads_a_sync_input_in_batches_off_the_loop_thread() -> None:
    """Read in another thread, and lazily: never more than two batches (of `concurrency`) ahead
    of what is in flight."""
    readers: set[str] = set()
    lead = 0

    def rows() -> Iterator[Dial]:
        nonlocal lead
        for i in range(200):
            readers.add(threading.current_thread().name)
            # Items read but not yet received by the server: buffered, or on their way.
            lead = max(lead, i + 1 - server.hits)
            yield dial(i)

    loop_thread = _sync.loop_thread().thread.name
    with ThreadedServer({"/v2/global_pcmo_make_call": call_ok}) as server:
        with TeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=None) as tc:
            outcomes = list(tc.dial_many(rows(), concurrency=4))
    assert len(outcomes) == 200 and all(o.ok for o in outcomes)
    assert readers and loop_thread not in readers and threading.current_thread().name not in readers
    assert lead <= 2 * 4 + 4 + 1, "two batches buffered, four in flight, and the one being read"


# -- the limit a client reports is the one in force ---------------------------------------------


def test_every_client_of_an_account_reports_the_strictest_limit_given_to_any_of_them() -> None:
    appid = fresh_appid()
    loose = TeleCMI(appid=appid, secret="s", rate_limit=RateLimit(rate=20, burst=5))
    assert loose.rate_limit == RateLimit(rate=20, burst=5)
    strict = AsyncTeleCMI(appid=appid, secret="s", rate_limit=RateLimit(rate=10, burst=10))
    unlimited = AsyncTeleCMI(appid=appid, secret="s", rate_limit=None)
    other_account = AsyncTeleCMI(appid=fresh_appid(), secret="s", rate_limit=RateLimit(rate=30, burst=3))
    in_force = RateLimit(rate=10, burst=5)
    assert loose.rate_limit == strict.rate_limit == in_force
    assert unlimited.rate_limit is None, "a client without a limit does not limit"
    assert other_account.rate_limit == RateLimit(rate=30, burst=3)
    loose.close()


def test_a_blocking_huawei_client_reports_the_limit_in_force() -> None:
    key = f"key-{fresh_appid()}"
    first = AsyncHuaweiVoice(base_url="http://127.0.0.1:9", app_key=key, app_secret="s", rate_limit=8)
    with HuaweiVoice(base_url="http://127.0.0.1:9", app_key=key, app_secret="s", rate_limit=3) as hw:
        assert hw.rate_limit == first.rate_limit == RateLimit(rate=3)


class RecordingBackend:
    """A limiter backend that grants at once and records the limit each request was held to."""

    def __init__(self) -> None:
        self.limits: list[RateLimit] = []

    async def acquire(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> None:
        self.limits.append(limit)

    async def penalize(self, key: str, limit: RateLimit, retry_after: float | None) -> None:
        return None


def test_the_limit_reported_is_the_limit_each_request_is_held_to() -> None:
    appid = fresh_appid()
    backend = RecordingBackend()
    with ThreadedServer({"/v2/global_pcmo_make_call": call_ok}) as server:
        options: dict[str, Any] = {"appid": appid, "secret": "s", "base_url": server.url, "limiter_backend": backend}
        with TeleCMI(rate_limit=RateLimit(rate=50, burst=50), **options) as loose:
            TeleCMI(rate_limit=RateLimit(rate=5, burst=2), **options).close()
            loose.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav")
    assert backend.limits == [RateLimit(rate=5, burst=2)] == [loose.rate_limit]
