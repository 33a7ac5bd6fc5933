"""A thin asyncio Redis client: one pipelined RESP2 connection, replies matched FIFO.

Spec: https://redis.io/docs/reference/protocol-spec/ (RESP2, pipelining). Every command
a :class:`RespClient` is given goes down one connection; the commands issued in one
event-loop iteration leave in one ``transport.write`` and each caller awaits a future
that the reply at its place in the stream resolves. Redis answers a connection's
commands in order, so no request ids are needed, and none of redis-py's per-command
pool, retry and timer machinery is paid.

Timeouts: every command has a deadline (``timeout`` after it was issued); one timer per
connection watches the oldest pending command only (deadlines grow in FIFO order).
When a deadline passes, or the connection is lost, or a reply breaks the grammar, every
pending command fails and the connection is closed, since its FIFO alignment is gone;
the next command reconnects. A command that failed on a connection failure (refused,
reset, closed) is sent again at most :data:`RETRIES` times; one that timed out is not
(it may still run, and the caller's budget is spent).

URLs, as redis-py reads them: ``redis://[[user]:password@]host[:port][/db]``,
``rediss://...`` (TLS; query ``ssl_cert_reqs=none|optional|required``,
``ssl_check_hostname``, ``ssl_ca_certs``) and ``unix:///path/to/sock[?db=N]``; ``?db=N``
wins over the path. On connect: ``AUTH`` if a password is given, ``SELECT`` if db != 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
import ssl
from asyncio import get_running_loop
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from gba.errors import StoreError
from gba.store.redis.resp import (
    Arg,
    Reply,
    RespError,
    RespParser,
    RespProtocolError,
    encode_command,
)

T = TypeVar("T")

RETRIES: Final = 2
"""Resends of a command after a connection failure."""
_BACKOFF: Final = (0.01, 0.05)
"""Upper bounds of the random pause before each resend, seconds."""


class RespClientError(StoreError):
    """A Redis command failed (base of the client's errors)."""


class RespConnectionError(RespClientError):
    """No connection to the server, or it was lost with the command pending."""


class RespTimeoutError(RespClientError):
    """The server did not answer within the timeout."""


class RespServerError(RespClientError):
    """The server answered with an error reply."""

    def __init__(self, error: RespError) -> None:
        super().__init__(error.message)
        self.error = error


class RespReplyError(RespClientError):
    """A reply of another type than the command has."""


def as_int(reply: Reply) -> int:
    if isinstance(reply, int):
        return reply
    raise RespReplyError(f"expected an integer reply, got {type(reply).__name__}")


def as_list(reply: Reply) -> list[Reply]:
    if isinstance(reply, list):
        return reply
    raise RespReplyError(f"expected an array reply, got {type(reply).__name__}")


def as_bulk(reply: Reply) -> bytes | None:
    if reply is None or isinstance(reply, bytes):
        return reply
    raise RespReplyError(f"expected a bulk string reply, got {type(reply).__name__}")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect, parsed from a URL (see the module docstring)."""

    host: str = "localhost"
    port: int = 6379
    path: str | None = None  # unix socket
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None

    @property
    def where(self) -> str:
        return f"unix:{self.path}" if self.path else f"{self.host}:{self.port}"


_CERT_REQS: Final = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
                     "required": ssl.CERT_REQUIRED}
_BOOLS: Final = {"": False, "0": False, "f": False, "false": False, "n": False, "no": False,
                 "1": True, "t": True, "true": True, "y": True, "yes": True}


def _choice(choices: dict[str, T], name: str, value: str) -> T:
    try:
        return choices[value.lower()]
    except KeyError:
        raise ValueError(f"invalid value for {name!r} in the Redis URL") from None


def parse_url(url: str) -> Endpoint:
    """The :class:`Endpoint` of a Redis URL; ValueError if it is not one."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
    db, db_in_query = 0, "db" in query
    if db_in_query:
        db = int(query.pop("db"))
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// Redis URL needs a socket path")
        if query:
            raise ValueError(f"unsupported Redis URL parameters: {sorted(query)}")
        return Endpoint(path=unquote(parts.path), db=db,
                        username=unquote(parts.username) if parts.username else None,
                        password=unquote(parts.password) if parts.password else None)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("Redis URL must specify one of the following schemes "
                         "(redis://, rediss://, unix://)")
    if parts.path and parts.path != "/" and not db_in_query:
        with contextlib.suppress(ValueError):  # as redis-py: a path not a number is db 0
            db = int(unquote(parts.path).replace("/", ""))
    tls = None
    if parts.scheme == "rediss":
        reqs = _choice(_CERT_REQS, "ssl_cert_reqs", query.pop("ssl_cert_reqs", "required"))
        check = _choice(_BOOLS, "ssl_check_hostname", query.pop("ssl_check_hostname", "true"))
        tls = ssl.create_default_context(cafile=query.pop("ssl_ca_certs", None))
        tls.check_hostname = check and reqs != ssl.CERT_NONE
        tls.verify_mode = reqs
    if query:
        raise ValueError(f"unsupported Redis URL parameters: {sorted(query)}")
    return Endpoint(host=unquote(parts.hostname) if parts.hostname else "localhost",
                    port=parts.port or 6379, db=db,
                    username=unquote(parts.username) if parts.username else None,
                    password=unquote(parts.password) if parts.password else None, tls=tls)


_Waiter: TypeAlias = "tuple[asyncio.Future[Reply] | None, float]"  # None: reply to skip


class _Connection(asyncio.Protocol):
    """One RESP connection: batched writes, FIFO replies, one deadline timer."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float, where: str) -> None:
        self.loop, self.timeout, self.where = loop, timeout, where
        self.transport: asyncio.Transport | None = None
        self.alive = False
        self.lost: asyncio.Future[None] = loop.create_future()
        self._parser = RespParser()
        self._pending: deque[_Waiter] = deque()
        self._out: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport, self.alive = transport, True

    def data_received(self, data: bytes) -> None:
        try:
            replies = self._parser.feed(data)
        except RespProtocolError as exc:
            self.fail(exc)
            return
        pending = self._pending
        for reply in replies:
            if not pending:
                self.fail(RespConnectionError(f"redis at {self.where} sent a reply "
                                              "to no command"))
                return
            fut = pending.popleft()[0]
            if fut is not None and not fut.done():
                fut.set_result(reply)

    def eof_received(self) -> bool:
        return False  # close

    def connection_lost(self, exc: Exception | None) -> None:
        why = f": {exc}" if exc else ""
        self.fail(RespConnectionError(f"connection to {self.where} lost{why}"))
        if not self.lost.done():
            self.lost.set_result(None)

    # the client's side

    def send(self, payload: bytes, skip: int = 0) -> asyncio.Future[Reply]:
        """Queue *payload*; the future of its last reply (*skip* replies before it)."""
        if not self.alive:
            raise RespConnectionError(f"connection to {self.where} closed")
        fut: asyncio.Future[Reply] = self.loop.create_future()
        deadline = self.loop.time() + self.timeout
        pending = self._pending
        for _ in range(skip):
            pending.append((None, deadline))
        pending.append((fut, deadline))
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(payload)
        if self._timer is None:
            self._timer = self.loop.call_at(deadline, self._check)
        return fut

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.alive and self.transport is not None and out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    def _check(self) -> None:
        self._timer = None
        if not self._pending:
            return
        deadline = self._pending[0][1]
        if deadline <= self.loop.time():
            self.fail(RespTimeoutError(
                f"no reply from {self.where} within {self.timeout:g} s"))
        else:
            self._timer = self.loop.call_at(deadline, self._check)

    def fail(self, exc: Exception) -> None:
        """Fail every pending command with *exc* and close: FIFO alignment is lost."""
        self.alive = False
        self._out.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, deque()
        for fut, _ in pending:
            if fut is not None and not fut.done():
                fut.set_exception(exc)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Script:
    """A Lua script run by EVALSHA, falling back to EVAL when the server lacks it."""

    def __init__(self, client: RespClient, lua: str) -> None:
        self.client, self.lua = client, lua
        self.sha = hashlib.sha1(lua.encode()).hexdigest()  # noqa: S324 - Redis's script id

    async def __call__(self, keys: Sequence[Arg] = (), args: Sequence[Arg] = ()) -> Reply:
        try:
            return await self.client.execute_command("EVALSHA", self.sha, len(keys),
                                                     *keys, *args)
        except RespServerError as exc:
            if exc.error.kind != "NOSCRIPT":
                raise
        # EVAL also caches the script: the next EVALSHA finds it
        return await self.client.execute_command("EVAL", self.lua, len(keys), *keys, *args)


class RespClient:
    """Redis over one pipelined connection, opened on first use and after a failure.

    Replies as redis-py gives them without ``decode_responses``: bulk strings as bytes,
    integers as int, arrays as lists; error replies raise :class:`RespServerError`.
    """

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.endpoint = parse_url(url)
        self.timeout = timeout
        self._conn: _Connection | None = None
        self._opening: asyncio.Task[_Connection] | None = None

    # connection

    async def _connection(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._opening is not None and self._opening.get_loop() is not loop:
            self._opening = None  # left behind by a loop that is gone
        if self._opening is None:
            self._opening = loop.create_task(self._open())
            self._opening.add_done_callback(self._opened)
        return await asyncio.shield(self._opening)

    def _opened(self, task: asyncio.Task[_Connection]) -> None:
        if self._opening is task:
            self._opening = None
        if not task.cancelled() and task.exception() is None:
            self._conn = task.result()

    async def _open(self) -> _Connection:
        ep, loop = self.endpoint, asyncio.get_running_loop()
        conn = _Connection(loop, self.timeout, ep.where)
        try:
            async with asyncio.timeout(self.timeout):
                if ep.path is not None:
                    await loop.create_unix_connection(lambda: conn, ep.path)
                else:
                    await loop.create_connection(
                        lambda: conn, ep.host, ep.port, ssl=ep.tls,
                        server_hostname=ep.host if ep.tls else None)
        except TimeoutError:
            raise RespTimeoutError(f"timeout connecting to {ep.where}") from None
        except (OSError, ssl.SSLError) as exc:
            raise RespConnectionError(f"error connecting to {ep.where}: {exc}") from None
        hello: list[asyncio.Future[Reply]] = []
        if ep.password is not None:
            auth = (ep.username, ep.password) if ep.username else (ep.password,)
            hello.append(conn.send(encode_command("AUTH", *auth)))
        if ep.db:
            hello.append(conn.send(encode_command("SELECT", ep.db)))
        ok = False
        try:
            for reply in await asyncio.gather(*hello, return_exceptions=True):
                if isinstance(reply, BaseException):
                    raise reply
                if isinstance(reply, RespError):
                    raise RespConnectionError(f"redis at {ep.where} refused the connection "
                                              f"setup: {reply.message}")
            ok = True
        finally:
            if not ok:
                conn.fail(RespConnectionError(f"connection to {ep.where} closed"))
        return conn

    async def aclose(self) -> None:
        """Close the connection (failing what is pending); the next command reopens."""
        conn, self._conn = self._conn, None
        if conn is not None and conn.loop is get_running_loop():  # else its loop is gone
            conn.fail(RespConnectionError(f"connection to {conn.where} closed"))
            if conn.transport is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(conn.lost), self.timeout)
                except TimeoutError:
                    conn.transport.abort()

    # commands

    async def _call(self, payload: bytes, skip: int = 0) -> Reply:
        attempt = 0
        while True:
            try:
                conn = self._conn
                if conn is None or not conn.alive or conn.loop is not get_running_loop():
                    conn = await self._connection()
                reply = await conn.send(payload, skip)
            except RespConnectionError:
                if attempt >= RETRIES:
                    raise
                await asyncio.sleep(random.uniform(0, _BACKOFF[min(attempt, 1)]))
                attempt += 1
                continue
            if isinstance(reply, RespError):
                raise RespServerError(reply)
            return reply

    async def execute_command(self, *args: Arg) -> Reply:
        return await self._call(encode_command(*args))

    async def transaction(self, *commands: Sequence[Arg]) -> list[Reply]:
        """MULTI, *commands*, EXEC written together; the replies of *commands*.

        RespServerError if one was refused (EXECABORT) or failed in the transaction.
        """
        payload = b"".join([encode_command("MULTI"),
                            *(encode_command(*c) for c in commands), encode_command("EXEC")])
        replies = as_list(await self._call(payload, skip=len(commands) + 1))
        for reply in replies:
            if isinstance(reply, RespError):
                raise RespServerError(reply)
        return replies

    def register_script(self, lua: str) -> Script:
        return Script(self, lua)

    async def get(self, key: Arg) -> bytes | None:
        return as_bulk(await self._call(encode_command("GET", key)))

    async def set(self, key: Arg, value: Arg, *, nx: bool = False,
                  pxat: int | None = None) -> bool:
        """SET; False if *nx* and the key exists."""
        args: list[Arg] = ["SET", key, value]
        if pxat is not None:
            args += ["PXAT", pxat]
        if nx:
            args.append("NX")
        return await self._call(encode_command(*args)) is not None

    async def mget(self, keys: Sequence[Arg], *more: Arg) -> list[bytes | None]:
        return [as_bulk(r) for r in as_list(await self._call(
            encode_command("MGET", *keys, *more)))]

    async def delete(self, *keys: Arg) -> int:
        return as_int(await self._call(encode_command("DEL", *keys)))

    async def rpush(self, key: Arg, *values: Arg) -> int:
        return as_int(await self._call(encode_command("RPUSH", key, *values)))

    async def lrange(self, key: Arg, start: int, end: int) -> list[Reply]:
        return as_list(await self._call(encode_command("LRANGE", key, start, end)))
