"""The blocking facade: same surface, any thread, under a running loop, after fork, Ctrl-C, exit."""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import voicekit
from tests._server import ThreadedServer, call_ok
from tests.conftest import fresh_appid
from voicekit import _sync, journal
from voicekit.errors import UsageError
from voicekit.tracking import CallTracker

PAIRS = [(voicekit.AsyncTeleCMI, voicekit.TeleCMI), (voicekit.AsyncHuaweiVoice, voicekit.HuaweiVoice)]
# Every async class with a blocking twin: the clients and the journals.
TWINS = [
    *PAIRS,
    (journal.AsyncJournal, journal.Journal),
    (journal.AsyncPostgresJournal, journal.PostgresJournal),
]
ASYNC_ONLY = {"aclose"}


def public_methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in ASYNC_ONLY
    }


def public_members(cls: type) -> dict[str, object]:
    """Every public method, classmethod and property of `cls` (inherited ones too), as defined."""
    found: dict[str, object] = {}
    for owner in reversed(cls.__mro__):
        for name, member in vars(owner).items():
            if not name.startswith("_") and name not in ASYNC_ONLY:
                found[name] = member
    return {
        name: member
        for name, member in found.items()
        if isinstance(member, property | classmethod | staticmethod) or inspect.isfunction(member)
    }


def _parameters(member: object) -> list[inspect.Parameter]:
    function = member.__func__ if isinstance(member, classmethod | staticmethod) else member
    return list(inspect.signature(function).parameters.values())  # type: ignore[arg-type]


def twin_problems(async_cls: type, sync_cls: type) -> list[str]:
    """How `sync_cls` fails to mirror `async_cls`: a public member missing or of another kind, or
    a parameter of another name, kind, default (or annotation)."""
    problems = []
    sync_members = public_members(sync_cls)
    for name, member in public_members(async_cls).items():
        twin = sync_members.get(name)
        if twin is None:
            problems.append(f"{sync_cls.__name__} lacks {name}")
        elif type(twin) is not type(member):
            problems.append(f"{sync_cls.__name__}.{name} is a {type(twin).__name__}, not a {type(member).__name__}")
        elif not isinstance(member, property):
            mine = [(p.name, p.kind, p.default) for p in _parameters(twin)]
            theirs = [(p.name, p.kind, p.default) for p in _parameters(member)]
            if mine != theirs or _parameters(twin) != _parameters(member):
                problems.append(f"{sync_cls.__name__}.{name}{inspect.signature(twin)} differs")  # type: ignore[arg-type]
    for name in public_attributes(async_cls):  # the async class's annotated attributes: properties
        if not isinstance(sync_members.get(name), property):
            problems.append(f"{sync_cls.__name__} lacks the attribute {name}")
    return problems


def public_attributes(cls: type) -> set[str]:
    """The public instance attributes annotated in the body of `cls` or of a base (not ClassVars)."""
    found: set[str] = set()
    for owner in cls.__mro__:
        for name, annotation in vars(owner).get("__annotations__", {}).items():
            if not name.startswith("_") and not str(annotation).startswith("ClassVar"):
                found.add(name)
    return found


@pytest.mark.parametrize(("async_cls", "sync_cls"), TWINS)
def test_every_async_member_has_a_blocking_twin_with_the_same_parameters(async_cls: type, sync_cls: type) -> None:
    assert len(public_members(async_cls)) > 3, "the async class has public members"
    assert twin_problems(async_cls, sync_cls) == []


def test_the_journals_attributes_are_read_through_its_twin() -> None:
    assert {"path", "campaign", "campaign_id", "worker", "lease", "shared"} <= public_attributes(journal.AsyncJournal)
    broken = type(
        "Journal", journal.Journal.__bases__, {k: v for k, v in vars(journal.Journal).items() if k != "lease"}
    )
    assert twin_problems(journal.AsyncJournal, broken) == ["Journal lacks the attribute lease"]


def test_a_twin_missing_a_method_or_changing_a_default_is_caught() -> None:
    members = {k: v for k, v in vars(voicekit.TeleCMI).items() if k != "hangup"}

    def hold(self: object, cmiuuid: str, *, timeout: object = 5.0) -> None: ...

    members["hold"] = hold
    broken = type("TeleCMI", voicekit.TeleCMI.__bases__, members)
    problems = twin_problems(voicekit.AsyncTeleCMI, broken)
    assert len(problems) == 2, problems
    assert problems[0] == "TeleCMI lacks hangup"
    assert problems[1].startswith("TeleCMI.hold(") and "5.0" in problems[1]


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
def test_every_async_method_has_a_blocking_twin_with_the_same_signature(async_cls: type, sync_cls: type) -> None:
    async_methods = public_methods(async_cls)
    sync_methods = public_methods(sync_cls)
    assert async_methods, "the async client has public methods"
    for name, signature in async_methods.items():
        assert name in sync_methods, f"{sync_cls.__name__} lacks {name}"
        assert list(sync_methods[name].parameters.values()) == list(signature.parameters.values()), name
    assert list(inspect.signature(async_cls).parameters) == list(inspect.signature(sync_cls).parameters)


def test_every_blocking_helper_of_the_call_tracker_mirrors_its_async_method() -> None:
    helpers = {
        name.removesuffix("_blocking"): signature
        for name, signature in public_methods(CallTracker).items()
        if name.endswith("_blocking")
    }
    assert {"feed", "wait"} <= helpers.keys()
    for name, signature in helpers.items():
        twin = getattr(CallTracker, name)
        assert inspect.iscoroutinefunction(twin), name
        assert list(signature.parameters.values()) == list(inspect.signature(twin).parameters.values()), name


CLIENTS = {
    voicekit.TeleCMI: {"appid": 7, "secret": "s"},
    voicekit.HuaweiVoice: {"base_url": "https://bes.example", "app_key": "key-123456", "app_secret": "s"},
}


@pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS)
def test_a_blocking_client_shows_its_twins_repr_and_closes_it_on_exit(async_cls: type, sync_cls: type) -> None:
    kwargs = CLIENTS[sync_cls]
    with sync_cls(**kwargs) as client:
        assert isinstance(client, sync_cls)
        twin = async_cls(**kwargs)
        assert repr(client) == sync_cls.__name__ + repr(twin).removeprefix(async_cls.__name__)
        assert repr(client).startswith(sync_cls.__name__ + "(")
        assert not client._async._closed
    assert client._async._closed


@pytest.fixture
def server():
    with ThreadedServer({"/v2/global_pcmo_make_call": call_ok}) as srv:
        yield srv


def dial(tc: voicekit.TeleCMI) -> str:
    return tc.play_music(from_=19170000000, to=19170000001, file_name="welcome.wav").request_id


def test_one_client_from_many_threads(server: ThreadedServer) -> None:
    with voicekit.TeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=None) as tc:
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(lambda _: dial(tc), range(80)))
    assert results == ["R"] * 80
    assert server.hits == 80


async def test_works_inside_a_thread_that_runs_an_event_loop(server: ThreadedServer) -> None:
    # A notebook cell: this thread's loop is running, and the blocking client still works.
    with voicekit.TeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=None) as tc:
        assert dial(tc) == "R"


def test_calling_from_the_loop_thread_raises_instead_of_deadlocking(server: ThreadedServer) -> None:
    tc = voicekit.TeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=None)

    async def inside_the_loop() -> str:
        return dial(tc)

    with pytest.raises(UsageError, match="event loop thread"):
        _sync.call(inside_the_loop)
    tc.close()


def test_an_async_client_refuses_a_second_event_loop(server: ThreadedServer) -> None:
    import asyncio

    tc = voicekit.AsyncTeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=None)

    async def once() -> str:
        return (await tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")).request_id

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(once()) == "R"
        with pytest.raises(UsageError, match="another event loop"):
            asyncio.run(once())
        loop.run_until_complete(tc.aclose())
    finally:
        loop.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_the_facade_works_in_a_forked_child(server: ThreadedServer) -> None:
    tc = voicekit.TeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=None)
    assert dial(tc) == "R"  # the parent's loop thread and connection pool now exist
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            done = threading.Event()
            result: list[str] = []
            worker = threading.Thread(target=lambda: (result.append(dial(tc)), done.set()), daemon=True)
            worker.start()
            code = 0 if done.wait(10) and result == ["R"] else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert dial(tc) == "R", "the parent is unaffected by the child"
    tc.close()
    assert server.hits == 3


def run_script(code: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-X", "dev", "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        **kwargs,
    )


def test_an_unclosed_client_leaves_no_warning_and_no_hang_at_exit() -> None:
    proc = run_script("""
        import warnings
        warnings.simplefilter("default")
        import voicekit
        from tests._server import ThreadedServer, call_ok
        srv = ThreadedServer({"/v2/global_pcmo_make_call": call_ok}).__enter__()
        tc = voicekit.TeleCMI(appid=1, secret="s", base_url=srv.url, rate_limit=None)
        print(tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav").request_id)
        other = voicekit.TeleCMI(appid=2, secret="s", base_url=srv.url, rate_limit=None)
        other.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
        del other   # collected without close()
        import gc; gc.collect()
    """)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "R"
    assert "Unclosed" not in proc.stderr and "Warning" not in proc.stderr, proc.stderr


def test_ctrl_c_cancels_the_request_in_flight() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
            import asyncio, sys, time, threading
            from aiohttp import web
            import voicekit
            from tests._server import ThreadedServer
            state = {"arrived": threading.Event(), "gone": threading.Event()}
            async def stall(request):
                state["arrived"].set()
                try:
                    await asyncio.sleep(30)
                except asyncio.CancelledError:
                    state["gone"].set()
                    raise
                return web.json_response({})
            srv = ThreadedServer({"/v2/global_pcmo_make_call": stall}).__enter__()
            tc = voicekit.TeleCMI(appid=1, secret="s", base_url=srv.url, rate_limit=None)
            def announce():
                state["arrived"].wait(10)
                print("in-flight", flush=True)
            threading.Thread(target=announce, daemon=True).start()
            started = time.monotonic()
            try:
                tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
                print("finished?!", flush=True)
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                print("server saw the request cancelled:", state["gone"].wait(5), flush=True)
                print("fast:", time.monotonic() - started < 10, flush=True)
        """),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "in-flight"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert out.splitlines() == ["interrupted", "server saw the request cancelled: True", "fast: True"]
