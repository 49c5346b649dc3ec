"""Real servers for the tests: PostgreSQL and Redis, on 127.0.0.1, in a temporary directory.

Each is started from the Debian packages' binaries (``postgresql``, ``redis-server``) on a free
port, and stopped by its fixture. Without a binary the tests that need it are skipped, with the
reason printed; with ``VOICEKIT_REQUIRE_SERVERS=1`` (CI sets it) a missing binary fails them
instead. ``initdb`` refuses to run as root, so as root the cluster runs as the ``postgres``
system user, in a directory it owns.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Final

import pytest

REQUIRE: Final = os.environ.get("VOICEKIT_REQUIRE_SERVERS") == "1"
PG_USER: Final = "voicekit"
PG_PASSWORD: Final = "s3cret-pg-password"  # test-only; the tests check it never shows
PG_DATABASE: Final = "campaign"


def missing(what: str) -> None:
    """Skip (on a developer machine) or fail (in CI) for a server that cannot be started."""
    if REQUIRE:
        pytest.fail(f"{what} (VOICEKIT_REQUIRE_SERVERS=1: the servers are required here)")
    pytest.skip(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return found[0] if found else shutil.which(name)


class PostgresServer:
    """One PostgreSQL cluster: superuser `PG_USER` (password auth), database `PG_DATABASE`."""

    def __init__(self) -> None:
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if initdb is None or pg_ctl is None:
            missing("PostgreSQL is not installed (apt-get install postgresql)")
        assert initdb is not None and pg_ctl is not None
        self._pg_ctl = pg_ctl
        self._as: list[str] = []
        self.dir = tempfile.mkdtemp(prefix="voicekit-pg-")
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                missing("running as root, and there is no 'postgres' user to run PostgreSQL as")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
            self._as = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups"]
        self.data = os.path.join(self.dir, "data")
        self.port = free_port()
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(PG_PASSWORD)
        if self._as:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        self._run(
            [
                initdb,
                "-D",
                self.data,
                "-U",
                PG_USER,
                "--pwfile",
                pwfile,
                "--auth",
                "scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        os.remove(pwfile)
        self.start()
        with self.admin() as conn:
            conn.execute(f"CREATE DATABASE {PG_DATABASE}")

    def _run(self, args: list[str]) -> None:
        proc = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=120, cwd=self.dir)
        if proc.returncode:
            raise RuntimeError(f"{os.path.basename(args[0])} failed: {proc.stdout}{proc.stderr}")

    def start(self) -> None:
        options = f"-p {self.port} -h 127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=200"
        self._run(
            [
                self._pg_ctl,
                "-D",
                self.data,
                "-l",
                os.path.join(self.dir, "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        self._run([self._pg_ctl, "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"])

    def url(self, database: str = PG_DATABASE, user: str = PG_USER, password: str = PG_PASSWORD) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}"

    @contextlib.contextmanager
    def admin(self, database: str = "postgres") -> Iterator[object]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            yield conn

    def fresh_database(self, name: str) -> str:
        """A new empty database; its URL."""
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[attr-defined]
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[attr-defined]
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisServer:
    """One redis-server, nothing persisted."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing("redis-server is not installed (apt-get install redis-server)")
        assert binary is not None
        self.dir = tempfile.mkdtemp(prefix="voicekit-redis-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.02)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session."""
    if not REQUIRE:
        pytest.importorskip("psycopg")
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server for the whole session."""
    server = RedisServer()
    try:
        yield server
    finally:
        server.close()
