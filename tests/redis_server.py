"""A Redis server for tests: the one named by $GBA_TEST_REDIS_URL, one already answering on
127.0.0.1:6379, or a private ``redis-server`` started on a free port.

Tests share a server, so each one works under its own key prefix (see ``redis_prefix``
in tests/conftest.py) and never flushes a database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HOST = "127.0.0.1"
DEFAULT_PORT = 6379
ENV_URL = "GBA_TEST_REDIS_URL"


class RedisUnavailable(RuntimeError):
    """No Redis to test against, and none could be started."""


def ping(host: str, port: int, timeout: float = 0.2) -> bool:
    """True if a Redis server answers PING on host:port without asking for a password."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _nothing() -> None:
    pass


def start_redis(timeout: float = 10.0) -> tuple[str, Callable[[], None]]:
    """(URL, stop): a reachable Redis and the function that stops it if we started it."""
    if url := os.environ.get(ENV_URL):
        return url, _nothing
    if ping(HOST, DEFAULT_PORT):
        return f"redis://{HOST}:{DEFAULT_PORT}/0", _nothing
    exe = shutil.which("redis-server")
    if exe is None:
        raise RedisUnavailable(
            f"no Redis for the redis tests: nothing answers on {HOST}:{DEFAULT_PORT}, "
            f"${ENV_URL} is unset and redis-server is not on PATH "
            "(Debian/Ubuntu: apt-get install redis-server)"
        )
    workdir = Path(tempfile.mkdtemp(prefix="gba-redis-"))
    log = workdir / "redis.log"
    for _ in range(3):  # another process may take the free port before redis-server does
        port = free_port()
        args = ["--port", str(port), "--bind", HOST, "--dir", str(workdir)]
        args += ["--save", "", "--appendonly", "no"]  # nothing on disk
        with log.open("wb") as out:
            proc = subprocess.Popen([exe, *args], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            if ping(HOST, port):
                return f"redis://{HOST}:{port}/0", _stopper(proc, workdir)
            time.sleep(0.01)
        if proc.poll() is None:
            tail = _tail(log)
            _stopper(proc, workdir)()
            raise RedisUnavailable(
                f"redis-server on port {port} did not answer PING within {timeout}s:\n{tail}"
            )
    tail = _tail(log)
    shutil.rmtree(workdir, ignore_errors=True)
    raise RedisUnavailable(f"redis-server exited at start, three times; last log:\n{tail}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"


def _stopper(proc: subprocess.Popen[bytes], workdir: Path) -> Callable[[], None]:
    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    return stop
