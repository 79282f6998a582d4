"""A throwaway PostgreSQL 15 server for the test suite, started and destroyed by the tests.

``ThrowawayPostgres`` runs ``initdb`` into a fresh temporary directory, starts the
cluster with ``pg_ctl`` on a free port of 127.0.0.1, and hands out SQLAlchemy URLs
of freshly created databases. ``stop()`` kills the server and deletes the directory.

Durability is switched off (``fsync``, ``synchronous_commit``, ``full_page_writes``):
the cluster lives for one test session, so nothing it writes needs to survive a
power cut, and without the flushes ``CREATE DATABASE`` and commits are fast. For
the same reason the cluster lives in RAM (``/dev/shm``) when there is room: a
``CREATE DATABASE`` copies ~8 MB, which on this machine's busy disk took 0.3 s
against 0.02 s in RAM.

PostgreSQL refuses to run as root, so when the tests run as root every server
command runs as the ``postgres`` OS user (the Debian package creates it).

Environment:

``LEADSLA_TEST_POSTGRES_URL``
    Use this existing server instead of starting one (nothing is started or
    stopped; its user needs CREATEDB). ``postgresql://`` means psycopg 3.
``LEADSLA_TEST_DATABASES``
    Comma-separated backends to test against; default ``sqlite,postgresql``.
``LEADSLA_TEST_POSTGRES_BIN``
    Directory of ``initdb``/``pg_ctl``/``postgres``; default the Debian
    PostgreSQL 15 one.

Run as ``python tests/postgres.py --watchdog …`` the module is the watchdog that
cleans up after a test process that died without running its ``atexit`` hooks.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

URL_VARIABLE = "LEADSLA_TEST_POSTGRES_URL"
DATABASES_VARIABLE = "LEADSLA_TEST_DATABASES"
BIN_VARIABLE = "LEADSLA_TEST_POSTGRES_BIN"

BACKENDS = ("sqlite", "postgresql")
DEFAULT_BIN = Path("/usr/lib/postgresql/15/bin")
INSTALL_HINT = "install them with `apt-get install postgresql-15`"
DATABASE = "leadsla_test"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
SHM = Path("/dev/shm")
# The cluster needs ~50 MB plus WAL bounded by max_wal_size below; leave room for
# the rest of the machine before taking RAM for it.
SHM_MIN_FREE = 1 << 30

# Every subprocess gets a bound: a wedged server must fail the session, not hang CI.
INITDB_TIMEOUT = 60.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10.0
# A free port found by binding to port 0 can be taken by someone else before the
# postmaster binds it; such a start is retried on another port.
START_ATTEMPTS = 3

_SETTINGS = """
# leadsla tests: a throwaway cluster, so durability is traded for speed.
listen_addresses = '127.0.0.1'
unix_socket_directories = {socket_dir}
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
# Each CREATE DATABASE writes its ~8 MB copy to WAL; frequent (cheap, unsynced)
# checkpoints keep the WAL, and so the RAM it may occupy, small.
max_wal_size = '128MB'
min_wal_size = '32MB'
# Segments as files in the cluster directory, not /dev/shm/PostgreSQL.*: deleting
# the directory frees them even after the server was killed.
dynamic_shared_memory_type = mmap
"""


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started or reached here; the message says why and what to do."""


def selected_backends(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """The backends named by ``$LEADSLA_TEST_DATABASES`` (all of them if unset or blank)."""
    raw = environ.get(DATABASES_VARIABLE, "").strip()
    if not raw:
        return BACKENDS
    names = tuple(dict.fromkeys(part.strip().lower() for part in raw.split(",") if part.strip()))
    unknown = [name for name in names if name not in BACKENDS]
    if unknown:
        raise ValueError(
            f"{DATABASES_VARIABLE}={raw!r}: unknown backend(s) {', '.join(unknown)}; "
            f"choose from {', '.join(BACKENDS)}"
        )
    return names


@dataclass(frozen=True)
class _Owner:
    """The OS user the server runs as when we are root (PostgreSQL refuses root)."""

    uid: int
    gid: int


def _server_owner() -> _Owner | None:
    if os.geteuid() != 0:
        return None  # any ordinary user may run a cluster of its own
    try:
        entry = pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PostgresUnavailable(
            f"the tests run as root and PostgreSQL refuses root, but there is no "
            f"`{SUPERUSER}` OS user to run it as; {INSTALL_HINT} (it creates the user), "
            f"or run the tests as an ordinary user"
        ) from None
    return _Owner(entry.pw_uid, entry.pw_gid)


def _run(
    args: list[str], *, owner: _Owner | None, cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a server command as ``owner`` with a clean environment and a time limit."""
    # A clean environment: inherited PGDATA/PGPORT/PGHOST etc. would redirect
    # initdb and pg_ctl, and the C locale keeps messages parseable.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    return subprocess.run(
        args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        user=owner.uid if owner else None,
        group=owner.gid if owner else None,
        # Drop root's supplementary groups along with its uid.
        extra_groups=[] if owner else None,
    )


def _default_base_dir() -> Path:
    """``/dev/shm`` if it is a roomy writable directory, else the usual temporary directory."""
    with contextlib.suppress(OSError):
        if (
            SHM.is_dir()
            and os.access(SHM, os.W_OK | os.X_OK)
            and shutil.disk_usage(SHM).free >= SHM_MIN_FREE
        ):
            return SHM
    return Path(tempfile.gettempdir())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty server log)"


def _kill_cluster(data_dir: Path) -> None:
    """SIGKILL the cluster's processes and release its System V segment.

    Only used when ``pg_ctl stop`` failed. A postmaster and all its children chdir
    into the data directory, so their working directory finds exactly them, with
    no trust in a pid file whose pid may have been reused.
    """
    target = str(data_dir.resolve())
    proc = Path("/proc")
    for entry in proc.iterdir() if proc.is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == target:
                os.kill(int(entry.name), signal.SIGKILL)
        except OSError:
            continue  # gone already, or not ours to inspect
    # A killed postmaster leaves its small System V segment behind (the rest of
    # its shared memory is anonymous or, by dynamic_shared_memory_type, in the
    # directory about to be deleted). Line 7 of postmaster.pid is "key shmid".
    with contextlib.suppress(OSError, IndexError, ValueError, subprocess.TimeoutExpired):
        shmid = int((data_dir / "postmaster.pid").read_text().splitlines()[6].split()[1])
        subprocess.run(["ipcrm", "-m", str(shmid)], capture_output=True, timeout=5, check=False)


def _destroy_cluster(pg_ctl: Path, root: Path, owner: _Owner | None) -> None:
    """Stop the cluster under ``root`` if it runs, then delete ``root``. Idempotent."""
    data_dir = root / "data"
    if (data_dir / "postmaster.pid").exists():
        try:
            done = _run(
                [
                    str(pg_ctl),
                    "stop",
                    "-D",
                    str(data_dir),
                    "-m",
                    "immediate",
                    "-w",
                    "-t",
                    str(int(STOP_TIMEOUT)),
                ],
                owner=owner,
                cwd=root,
                timeout=STOP_TIMEOUT + 5,
            )
            stopped = done.returncode == 0
        except subprocess.TimeoutExpired:
            stopped = False
        if not stopped:
            _kill_cluster(data_dir)
    shutil.rmtree(root, ignore_errors=True)


def _connection_string(url: URL) -> str:
    """A libpq URI for a SQLAlchemy URL (psycopg does not know ``+psycopg``)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class ThrowawayPostgres:
    """One PostgreSQL server for a test session: started by ``start()``, destroyed by ``stop()``.

    Use it as a context manager; ``stop()`` is also registered with ``atexit``, and
    a watchdog process destroys the cluster if this process is killed outright.
    The cluster directory goes under ``base_dir``, by default ``/dev/shm`` when it
    has 1 GB free, else the temporary directory. With ``existing_url`` (or
    ``$LEADSLA_TEST_POSTGRES_URL`` through ``from_environment``) nothing is started
    or stopped: databases are created on that server instead.
    """

    def __init__(
        self,
        bin_dir: Path | str | None = None,
        *,
        existing_url: str | None = None,
        database: str = DATABASE,
        base_dir: Path | str | None = None,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir is not None else DEFAULT_BIN
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.database = database
        self._existing = _normalise(existing_url) if existing_url else None
        self._base: URL | None = None
        self._admin: psycopg.Connection[Any] | None = None
        self._root: Path | None = None
        self._owner: _Owner | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None
        # atexit hooks run in forked children that exit normally too; only the
        # process that started the server may stop it.
        self._creator_pid = os.getpid()
        self._started = False
        self._stopped = False

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ThrowawayPostgres:
        """Configured by ``$LEADSLA_TEST_POSTGRES_URL`` and ``$LEADSLA_TEST_POSTGRES_BIN``."""
        return cls(
            environ.get(BIN_VARIABLE) or None,
            existing_url=environ.get(URL_VARIABLE) or None,
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start (or, with an existing server, connect) and create ``self.database``."""
        if self._started:
            return self
        if self._stopped:
            raise RuntimeError("a stopped ThrowawayPostgres cannot be started again")
        self._started = True
        atexit.register(self._stop_at_exit)
        try:
            if self._existing is not None:
                self._base = self._existing
                self._admin = _connect(self._existing, deadline=time.monotonic() + CONNECT_TIMEOUT)
                return self
            self._start_cluster()
            self.create_database(self.database)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and delete its directory (an existing server is left alone)."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self._stop_at_exit)
        if self._admin is not None:
            with contextlib.suppress(psycopg.Error):
                self._admin.close()
            self._admin = None
        if self._root is not None:
            _destroy_cluster(self.bin_dir / "pg_ctl", self._root, self._owner)
        if self._watchdog is not None:
            # EOF tells the watchdog we are done; it finds nothing left and exits.
            with contextlib.suppress(OSError):
                if self._watchdog.stdin is not None:
                    self._watchdog.stdin.close()
            try:
                self._watchdog.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._watchdog.kill()
                self._watchdog.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _stop_at_exit(self) -> None:
        if os.getpid() == self._creator_pid:
            self.stop()

    # -- databases -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of ``self.database`` (or of the existing server's URL as given)."""
        if self._existing is not None:
            return self._existing.render_as_string(hide_password=False)
        return self._url_of(self.database)

    def create_database(self, name: str) -> str:
        """Create the empty database ``name`` and return its SQLAlchemy URL."""
        _check_name(name)
        self._admin_connection().execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self._url_of(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending any sessions a test left open on it."""
        _check_name(name)
        self._admin_connection().execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def _url_of(self, name: str) -> str:
        if self._base is None:
            raise RuntimeError("ThrowawayPostgres is not started")
        return self._base.set(database=name).render_as_string(hide_password=False)

    def _admin_connection(self) -> psycopg.Connection[Any]:
        if self._admin is None:
            raise RuntimeError("ThrowawayPostgres is not started")
        return self._admin

    # -- the cluster -----------------------------------------------------------------------

    def _start_cluster(self) -> None:
        initdb, pg_ctl = self.bin_dir / "initdb", self.bin_dir / "pg_ctl"
        missing = [
            name
            for name in ("initdb", "pg_ctl", "postgres")
            if not os.access(self.bin_dir / name, os.X_OK)
        ]
        if missing:
            raise PostgresUnavailable(
                f"PostgreSQL binaries {', '.join(missing)} not found in {self.bin_dir}; "
                f"{INSTALL_HINT}, or set {BIN_VARIABLE} to their directory, "
                f"or {URL_VARIABLE} to an existing server"
            )
        self._owner = _server_owner()
        self._root = root = Path(
            tempfile.mkdtemp(prefix="leadsla-pg-", dir=self.base_dir or _default_base_dir())
        )
        if self._owner is not None:
            os.chown(root, self._owner.uid, self._owner.gid)
        self._watchdog = _spawn_watchdog(pg_ctl, root)

        data_dir, log = root / "data", root / "server.log"
        done = self._server_command(
            [
                str(initdb),
                "-D",
                str(data_dir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            timeout=INITDB_TIMEOUT,
        )
        if done.returncode != 0:
            raise PostgresUnavailable(f"initdb failed in {data_dir}:\n{done.stderr}{done.stdout}")
        with (data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(_SETTINGS.format(socket_dir=_quote_setting(str(root))))

        for attempt in range(1, START_ATTEMPTS + 1):
            port = _free_port()
            try:
                done = self._server_command(
                    [
                        str(pg_ctl),
                        "start",
                        "-D",
                        str(data_dir),
                        "-l",
                        str(log),
                        "-w",
                        "-t",
                        str(int(START_TIMEOUT)),
                        "-o",
                        f"-p {port}",
                    ],
                    timeout=START_TIMEOUT + 10,
                )
            except subprocess.TimeoutExpired:
                raise PostgresUnavailable(
                    f"pg_ctl start did not return within {START_TIMEOUT + 10:.0f} s; "
                    f"server log:\n{_tail(log)}"
                ) from None
            if done.returncode == 0:
                break
            port_taken = "Address already in use" in _tail(log, lines=10)
            if not (port_taken and attempt < START_ATTEMPTS):
                raise PostgresUnavailable(
                    f"PostgreSQL did not start (pg_ctl exit {done.returncode}):\n"
                    f"{done.stderr}{done.stdout}\nserver log {log}:\n{_tail(log)}"
                )
        self._base = URL.create(
            "postgresql+psycopg", username=SUPERUSER, host=HOST, port=port, database=DATABASE
        )
        # pg_ctl -w already waited for "ready"; connecting proves TCP works too.
        self._admin = _connect(
            self._base.set(database="postgres"), deadline=time.monotonic() + CONNECT_TIMEOUT
        )

    def _server_command(
        self, args: list[str], *, timeout: float
    ) -> subprocess.CompletedProcess[str]:
        assert self._root is not None
        return _run(args, owner=self._owner, cwd=self._root, timeout=timeout)


def _normalise(url: str) -> URL:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise PostgresUnavailable(f"{URL_VARIABLE}={url!r} is not a PostgreSQL URL")
    # Plain postgresql:// means psycopg2 to SQLAlchemy; the project uses psycopg 3.
    return parsed.set(drivername="postgresql+psycopg")


def _check_name(name: str) -> None:
    # Identifiers are quoted anyway; this keeps names plain and within the
    # 63-byte limit, past which PostgreSQL silently truncates them.
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"database name {name!r}: use 1-63 of a-z, 0-9, _")


def _quote_setting(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _connect(url: URL, *, deadline: float) -> psycopg.Connection[Any]:
    """An autocommit connection (CREATE DATABASE refuses transactions), retried until ready."""
    while True:
        try:
            return psycopg.connect(_connection_string(url), autocommit=True, connect_timeout=2)
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                shown = url.render_as_string(hide_password=True)
                raise PostgresUnavailable(f"cannot connect to {shown}: {exc}") from exc
            time.sleep(0.05)


def _spawn_watchdog(pg_ctl: Path, root: Path) -> subprocess.Popen[bytes]:
    """Start the process that destroys the cluster once our end of its stdin closes.

    The kernel closes that pipe however this process ends, SIGKILL included, so
    the cluster never outlives the tests. Its own session keeps a Ctrl-C or a
    process-group kill aimed at the tests from reaching it first.
    """
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--watchdog", str(pg_ctl), str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _watchdog_main(pg_ctl: str, root: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.stdin.buffer.read()  # returns at EOF: the test process is done or dead
    _destroy_cluster(Path(pg_ctl), Path(root), _server_owner())


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--watchdog":
        _watchdog_main(sys.argv[2], sys.argv[3])
    else:
        sys.exit(f"usage: {sys.argv[0]} --watchdog PG_CTL ROOT")
