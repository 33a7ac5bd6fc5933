"""A private PostgreSQL server for benchmarks and tests (the HSS store of
:mod:`gba.store.postgres`).

:func:`private_postgres` runs ``initdb`` into a fresh temporary directory (trust
authentication, superuser ``gba``), starts ``postgres`` on a free port of 127.0.0.1 with
its socket in that directory, creates the database ``gba`` and yields a
:class:`PrivatePostgres` (``url``, ``pid``). ``fsync`` stays on, as in production: the
HSS's SQN durability (TS 33.102 Annex C.3.2) is only worth testing against a server that
really flushes its WAL. Only ``initdb`` skips its own fsync (``--no-sync``): a crash
during set-up is no test.

:meth:`PrivatePostgres.crash` SIGKILLs the postmaster and every backend (its process
group) with no shutdown checkpoint, as a power cut would leave the data directory;
:meth:`PrivatePostgres.restart` starts it again on the same directory and port, so it
runs crash recovery from the WAL.

PostgreSQL refuses to run as root: as root, both programs run as the ``postgres`` user
(or ``nobody``) and the directory is handed to that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import psycopg

from gba.errors import GbaError

HOST: Final = "127.0.0.1"
USER: Final = "gba"
DATABASE: Final = "gba"


def _find_bin_dir() -> Path:
    """The directory of ``initdb`` and ``postgres``: PATH first, else the newest
    /usr/lib/postgresql/<version>/bin."""
    initdb, server = shutil.which("initdb"), shutil.which("postgres")
    if initdb and server:
        return Path(server).resolve().parent
    found = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin")
             if (Path(d) / "initdb").exists() and (Path(d) / "postgres").exists()]

    def version(d: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in d.parent.name.split(".") if p.isdigit())

    if not found:
        raise GbaError("PostgreSQL is not installed: no initdb/postgres on PATH or under "
                       "/usr/lib/postgresql/*/bin (Debian/Ubuntu: apt-get install postgresql)")
    return max(found, key=version)


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as: None unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise GbaError("running as root and there is neither a 'postgres' nor a 'nobody' user "
                   "to run PostgreSQL as (it refuses to run as root)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


class PrivatePostgres:
    """One private PostgreSQL server: its URL, its postmaster's pid, crash and restart."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._bin = _find_bin_dir()
        self._owner = _run_as()
        self.base = Path(tempfile.mkdtemp(prefix="gba-postgres-"))
        self.data_dir = self.base / "data"
        self.log = self.base / "postgres.log"
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``postgresql://gba@127.0.0.1:PORT/gba``."""
        return f"postgresql://{USER}@{HOST}:{self.port}/{DATABASE}"

    @property
    def pid(self) -> int:
        """The running postmaster's pid."""
        if self._proc is None:
            raise GbaError("the private PostgreSQL server is not running")
        return self._proc.pid

    @property
    def _uid(self) -> int | None:
        return None if self._owner is None else self._owner[0]

    @property
    def _gid(self) -> int | None:
        return None if self._owner is None else self._owner[1]

    @property
    def _groups(self) -> list[int] | None:
        return None if self._owner is None else []

    def init(self) -> None:
        """initdb into the fresh directory, start the server, create the database."""
        if self._owner is not None:
            os.chown(self.base, *self._owner)
        result = subprocess.run(
            [str(self._bin / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", USER,
             "-E", "UTF8", "--locale=C", "--no-sync"],
            cwd=self.base, capture_output=True, timeout=self.timeout, check=False,
            user=self._uid, group=self._gid, extra_groups=self._groups,
        )
        if result.returncode != 0:
            raise GbaError(f"initdb failed ({result.returncode}): "
                           f"{result.stderr.decode(errors='replace')[-2000:]}")
        for _ in range(3):  # another process may take the free port first
            self.port = _free_port()
            if self._start():
                break
        else:
            raise GbaError(f"postgres did not start:\n{_tail(self.log)}")
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")

    def _admin_url(self) -> str:
        return f"postgresql://{USER}@{HOST}:{self.port}/postgres"

    def _start(self) -> bool:
        """Start the postmaster (its own session and process group); True once it
        accepts connections, False if it exited (say, the port was taken)."""
        args = [str(self._bin / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
                "-k", str(self.base), "-c", f"listen_addresses={HOST}"]
        with self.log.open("ab") as out:
            if self._owner is not None:
                os.chown(self.log, *self._owner)
            self._proc = subprocess.Popen(
                args, cwd=self.base, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, user=self._uid, group=self._gid,
                extra_groups=self._groups,
            )
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            try:
                psycopg.connect(self._admin_url(), connect_timeout=2).close()
            except psycopg.OperationalError:
                time.sleep(0.05)
                continue
            return True
        self._kill()
        raise GbaError(f"postgres did not accept connections within {self.timeout}s:\n"
                       f"{_tail(self.log)}")

    def _kill(self) -> None:
        """SIGKILL the postmaster's process group (every backend with it) and reap it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + self.timeout  # backends die with the group
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)

    def crash(self) -> None:
        """Kill the server as a power cut would: SIGKILL, no shutdown checkpoint."""
        self._kill()

    def restart(self) -> None:
        """Start the server again on the same directory and port (crash recovery runs)."""
        if self._proc is not None:
            raise GbaError("the private PostgreSQL server is already running")
        if not self._start():
            raise GbaError(f"postgres did not restart:\n{_tail(self.log)}")

    def crash_and_restart(self) -> None:
        self.crash()
        self.restart()

    def stop(self) -> None:
        """Fast shutdown (SIGINT); SIGKILL after the timeout. The directory stays."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            self._kill()
        self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def private_postgres(timeout: float = 30.0) -> Iterator[PrivatePostgres]:
    """A private PostgreSQL server, stopped and deleted afterwards; GbaError if PostgreSQL
    is not installed or does not start within *timeout* seconds."""
    server = PrivatePostgres(timeout)
    try:
        server.init()
        yield server
    finally:
        server.remove()
