"""Secrets in every form of URL, through every output.

A password rides in a URL's userinfo (``postgresql://user:pw@host/db``) or in its query, as
libpq (``?password=``, ``?sslpassword=``) and redis-py (``?password=``) read it. Neither form
reaches `voicekit dial status` (text or ``--json``), the resume command a stopped run prints,
a journal's ``repr``, or any error message (server unreachable, credentials refused, URL
malformed), against real PostgreSQL and Redis servers.
"""

from __future__ import annotations

import base64
import csv
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests._faultserver import FaultServer, Reply, Request
from tests._secrets import Echo, leaks
from tests._server import ThreadedServer
from tests._servers import PG_PASSWORD, PG_USER, PostgresServer, RedisServer, free_port
from tests.conftest import FAST_RETRY, fresh_appid
from voicekit import AsyncTeleCMI, TeleCMI
from voicekit.cli import main
from voicekit.errors import VoiceKitError
from voicekit.journal import JournalError, PostgresJournal, redact_url

REDIS_USER = "vk-limiter"
REDIS_PASSWORD = "redis-acl-pw-7c2e91"
#: A password that no server knows: it must not show either when it is refused.
WRONG = "wrong-pw-4d1f0a"
CAMPAIGN_ROWS = 3


# -- the one redaction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:hunter2@db.example:5432/c", "postgresql://u:***@db.example:5432/c"),
        ("postgresql://u@db.example/c?password=hunter2", "postgresql://u@db.example/c?password=***"),
        (
            "postgresql://u@db.example/c?sslmode=require&sslpassword=hunter2",
            "postgresql://u@db.example/c?sslmode=require&sslpassword=***",
        ),
        ("postgres://u:p%40hunter2@db.example/c", "postgres://u:***@db.example/c"),
        ("redis://:hunter2@cache:6379/0", "redis://:***@cache:6379/0"),
        ("redis://cache:6379/0?password=hunter2", "redis://cache:6379/0?password=***"),
        ("rediss://u@cache/0?username=u&password=hunter2", "rediss://u@cache/0?username=u&password=***"),
        ("https://api.example/v1?api_key=hunter2&page=2", "https://api.example/v1?api_key=***&page=2"),
        ("https://api.example/v1?token=hunter2#top", "https://api.example/v1?token=***#top"),
        ("http://proxy:3128?client_secret=hunter2", "http://proxy:3128?client_secret=***"),
        # The port is wrong, not the userinfo: the password goes, the rest helps the reader.
        ("postgresql://u:hunter2@db.example:notaport/c", "postgresql://u:***@db.example:notaport/c"),
        ("postgresql://db.example/c", "postgresql://db.example/c"),
        ("campaign.db", "campaign.db"),
    ],
)
def test_redact_url_takes_out_every_form_of_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert "hunter2" not in redact_url(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://u:hunter2@[::1/c", "postgresql://(unreadable URL)"),  # unclosed IPv6 bracket
        ("postgresql://u:hun/ter2@db.example/c", "postgresql://(unreadable URL)"),  # "/" unescaped
        ("redis://u:hun#ter2@cache/0", "redis://(unreadable URL)"),  # "#" unescaped
        ("http://user:hun ter2@proxy:3128", "http://(unreadable URL)"),  # a space
        ("::hunter2@", "(unreadable URL)"),
    ],
)
def test_a_malformed_url_is_never_shown_only_its_scheme(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# -- the command line against real servers ----------------------------------------------------


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def pg_forms(postgres: PostgresServer, database: str, password: str = PG_PASSWORD) -> dict[str, str]:
    """The same journal URL with its password in the userinfo, and in the query."""
    where = f"127.0.0.1:{postgres.port}/{database}"
    return {
        "userinfo": f"postgresql://{PG_USER}:{password}@{where}",
        "query": f"postgresql://{PG_USER}@{where}?password={password}&connect_timeout=5",
    }


def redis_forms(port: int, password: str = REDIS_PASSWORD) -> dict[str, str]:
    return {
        "userinfo": f"redis://{REDIS_USER}:{password}@127.0.0.1:{port}/0",
        "query": f"redis://127.0.0.1:{port}/0?username={REDIS_USER}&password={password}",
    }


@pytest.fixture
def redis_user(redis_server: RedisServer) -> Iterator[int]:
    """A password-protected user on the session's Redis (the default user stays open)."""
    import redis

    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser(REDIS_USER, enabled=True, passwords=[f"+{REDIS_PASSWORD}"], keys=["*"], commands=["+@all"])
    try:
        yield redis_server.port
    finally:
        admin.acl_deluser(REDIS_USER)
        admin.close()


def refusing_vendor(request: Request, nth: int) -> Reply:
    """TeleCMI refusing the app's credentials: a run stops at once and prints how to resume."""
    return Reply.json(420, {"code": 420, "msg": "Invalid app id or secret", "status": "error"})


def write_campaign(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "to", "from", "file_name"])
        for i in range(CAMPAIGN_ROWS):
            writer.writerow([f"k{i}", str(9100000000 + i), "19170000000", "welcome.wav"])
    return path


@pytest.mark.parametrize("form", ["userinfo", "query"])
@pytest.mark.slow
def test_no_password_in_status_resume_command_or_repr(
    form: str, postgres: PostgresServer, redis_user: int, tmp_path: Path
) -> None:
    postgres.fresh_database(f"secrets_{form}")
    journal_url = pg_forms(postgres, f"secrets_{form}")[form]
    limiter_url = redis_forms(redis_user)[form]
    campaign = write_campaign(tmp_path / "c.csv")
    with FaultServer(refusing_vendor) as vendor:
        env = {
            "VOICEKIT_TELECMI_BASE_URL": vendor.url,
            "VOICEKIT_TELECMI_PIOPIY_URL": vendor.url,
            "VOICEKIT_TELECMI_APPID": "2222226",
            "VOICEKIT_TELECMI_SECRET": "tc-secret-in-env",
        }
        code, run = invoke("dial", str(campaign), "--journal", journal_url, "--limiter", limiter_url, env=env)
    # The run really used both servers and stopped on the refusal, printing how to resume.
    assert code == 6, run  # credentials refused: a configuration problem
    assert "Fix the credentials, then resume with" in run, run
    resume = run.split("resume with", 1)[1]
    assert "--journal" in resume and "--limiter" in resume and "***" in resume, resume
    code_text, status = invoke("dial", "status", journal_url)
    code_json, status_json = invoke("dial", "status", journal_url, "--json")
    assert code_text == 0 and "journal" in status, status
    assert code_json == 0 and json.loads(status_json)["journal"] == redact_url(journal_url), status_json
    with PostgresJournal.read(journal_url) as journal:
        shown = [repr(journal), repr(journal._async), journal.path]  # noqa: SLF001 - the async core's repr too
    for text in (run, status, status_json, *shown):
        assert PG_PASSWORD not in text and REDIS_PASSWORD not in text, text


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_no_password_in_any_journal_error(form: str, postgres: PostgresServer, tmp_path: Path) -> None:
    database = "campaign"
    campaign = write_campaign(tmp_path / "c.csv")
    unreachable = pg_forms(postgres, database)[form].replace(f":{postgres.port}/", f":{free_port()}/")
    refused = pg_forms(postgres, database, WRONG)[form]
    malformed = [
        f"postgresql://{PG_USER}:{WRONG}@127.0.0.1:notaport/{database}",
        f"postgresql://{PG_USER}@127.0.0.1:notaport/{database}?password={WRONG}",
        f"postgresql://{PG_USER}:{WRONG}@[::1/{database}",
        f"postgresql://{PG_USER}@[::1/{database}?password={WRONG}",
        f"postgresql://{PG_USER}:{WRONG[:5]} {WRONG[5:]}@127.0.0.1:{postgres.port}/{database}",
        f"postgresql://{PG_USER}@127.0.0.1:{postgres.port}/{database}?password={WRONG}%zz",
    ]
    for url, says in [
        (unreachable, "the server cannot be reached"),
        (refused, "refused the user name or password"),
        *((bad, "cannot use the journal") for bad in malformed),
    ]:
        for args in (("dial", "status", url), ("dial", str(campaign), "--journal", url, "--sandbox")):
            code, out = invoke(*args)
            assert code != 0 and "cannot use the journal" in out and says in out, (url, out)
            assert WRONG not in out and WRONG[5:] not in out and PG_PASSWORD not in out, (url, out)
        with pytest.raises(JournalError) as caught:
            PostgresJournal.read(url)
        assert WRONG[5:] not in str(caught.value) and PG_PASSWORD not in str(caught.value), url


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_no_password_in_any_limiter_error(form: str, redis_user: int, tmp_path: Path) -> None:
    campaign = write_campaign(tmp_path / "c.csv")
    cases = [
        (redis_forms(free_port(), WRONG)[form], "cannot reach the rate limiter's Redis"),  # nobody there
        (redis_forms(redis_user, WRONG)[form], "cannot reach the rate limiter's Redis"),  # refused
        (f"redis://{REDIS_USER}:{WRONG}@127.0.0.1:notaport/0", "is not a Redis URL"),
        (f"redis://{REDIS_USER}:{WRONG}@[::1/0", "is not a Redis URL"),
        (f"redis://127.0.0.1:notaport/0?password={WRONG}", "is not a Redis URL"),
    ]
    for number, (url, says) in enumerate(cases):
        journal = str(tmp_path / f"c{number}.db")
        code, out = invoke("dial", str(campaign), "--journal", journal, "--sandbox", "--limiter", url)
        assert code == 1 and says in out, (url, out)
        assert "placed=" not in out, "nothing is dialed without the shared limit"
        assert WRONG not in out, (url, out)


# -- a vendor base URL with credentials in it ------------------------------------------------


BASE_USER, BASE_PASSWORD = "gw-user", "gw-pw-81c3d5"


async def test_a_base_url_password_shows_nowhere(caplog: pytest.LogCaptureFixture) -> None:
    """A gateway in front of the vendor that wants Basic authentication, in the base URL:
    aiohttp sends it as an ``Authorization`` header, which an echoing vendor hands back."""
    caplog.set_level(logging.DEBUG, logger="voicekit")
    basic = base64.b64encode(f"{BASE_USER}:{BASE_PASSWORD}".encode()).decode()
    needles = (BASE_PASSWORD, basic, "tc-secret-3e1f")
    echo = Echo()
    routes = {"/v2/global_pcmo_make_call": echo.make_call}
    errors: list[BaseException] = []
    with ThreadedServer(routes) as srv:
        base = srv.url.replace("http://", f"http://{BASE_USER}:{BASE_PASSWORD}@")
        tc = AsyncTeleCMI(
            appid=fresh_appid(), secret="tc-secret-3e1f", base_url=base, rate_limit=None, retry=FAST_RETRY
        )
        async with tc:
            for to in (9100000001, 9100000002, 9100000003, 9100000004):  # 422, 500, 200 text, 404 text
                with pytest.raises(VoiceKitError) as caught:
                    await tc.play_music(from_=19170000000, to=to, file_name="a.wav")
                errors.append(caught.value)
            shown = repr(tc)
        with TeleCMI(appid=1, secret="s", base_url=base) as blocking:
            shown += repr(blocking)
    assert any("***" in repr(getattr(e, "body", "")) for e in errors), "the echo carried the credentials"
    assert leaks(errors, needles) == []
    assert leaks([r.getMessage() for r in caplog.records], needles) == []
    assert BASE_PASSWORD not in shown and f"{BASE_USER}:***@" in shown
