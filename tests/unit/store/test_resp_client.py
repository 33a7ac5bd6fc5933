"""RespClient: one pipelined RESP2 connection, against Redis and against scripted peers."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from gba.errors import StoreError
from gba.store.redis import RedisBsfStore
from gba.store.redis.connection import (
    RETRIES,
    RespClient,
    RespConnectionError,
    RespServerError,
    RespTimeoutError,
    as_int,
    parse_url,
)
from gba.store.redis.resp import RespParser, RespProtocolError, encode_command

pytestmark = pytest.mark.redis

CLOSE = b"<close>"
"""What a scripted peer answers to close the connection instead."""

Behaviour = Callable[[int, list[bytes]], bytes | None]
"""(connection number, command) -> the bytes to answer, None for silence, or CLOSE."""


class Peer:
    """A scripted RESP server on 127.0.0.1; ``seen[n]`` are the commands of connection n."""

    def __init__(self, behave: Behaviour) -> None:
        self.behave = behave
        self.seen: list[list[list[bytes]]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.port = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = len(self.seen)
        self.seen.append([])
        self.writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self.tasks.append(task)
        parser = RespParser()
        try:
            while data := await reader.read(65536):
                for cmd in parser.feed(data):
                    assert isinstance(cmd, list)
                    self.seen[n].append([bytes(a) for a in cmd if isinstance(a, bytes)])
                    answer = self.behave(n, self.seen[n][-1])
                    if answer == CLOSE:
                        return
                    if answer:
                        writer.write(answer)
        except ConnectionError:
            pass
        finally:
            writer.close()


@asynccontextmanager
async def peer(behave: Behaviour) -> AsyncIterator[Peer]:
    p = Peer(behave)
    server = await asyncio.start_server(p.serve, "127.0.0.1", 0)
    p.port = server.sockets[0].getsockname()[1]
    try:
        yield p
    finally:
        server.close()
        for w in p.writers:
            w.close()
        await asyncio.gather(*p.tasks, return_exceptions=True)
        await server.wait_closed()


def _pong(n: int, cmd: list[bytes]) -> bytes | None:
    return b"+PONG\r\n" if cmd[0] == b"PING" else b"+OK\r\n"


# --- against Redis ---------------------------------------------------------------------


async def test_concurrent_commands_get_their_own_replies(
    redis_url: str, redis_prefix: str
) -> None:
    client = RespClient(redis_url)
    try:
        keys = [f"{redis_prefix}:k{i}" for i in range(500)]
        assert all(await asyncio.gather(*(client.set(k, f"v{i}") for i, k in enumerate(keys))))
        got = await asyncio.gather(*(client.get(k) for k in keys))
        assert got == [f"v{i}".encode() for i in range(500)]
        mixed = await asyncio.gather(*(
            client.execute_command("INCRBY", f"{redis_prefix}:n{i}", i) if i % 2
            else client.get(keys[i]) for i in range(500)))
        assert mixed == [i if i % 2 else f"v{i}".encode() for i in range(500)]
        assert await client.mget([keys[0], f"{redis_prefix}:none"], keys[1]) == [
            b"v0", None, b"v1"]
        assert await client.delete(keys[0], keys[1], f"{redis_prefix}:none") == 2
    finally:
        await client.aclose()


async def test_set_nx_and_pxat(redis_url: str, redis_prefix: str) -> None:
    client = RespClient(redis_url)
    key = f"{redis_prefix}:nx"
    try:
        at = int(datetime.now(UTC).timestamp() * 1000) + 60_000
        assert await client.set(key, b"\x00first", nx=True, pxat=at) is True
        assert await client.set(key, b"second", nx=True) is False
        assert await client.get(key) == b"\x00first"
        assert 0 < await client.execute_command("PTTL", key) <= 60_000  # type: ignore[operator]
        assert await client.rpush(f"{redis_prefix}:l", b"a", "b", 3) == 3
        assert await client.lrange(f"{redis_prefix}:l", -2, -1) == [b"b", b"3"]
    finally:
        await client.aclose()


async def test_server_error_reply_raises_and_keeps_the_connection(
    redis_url: str, redis_prefix: str
) -> None:
    client = RespClient(redis_url)
    key = f"{redis_prefix}:list"
    try:
        await client.rpush(key, b"x")
        with pytest.raises(RespServerError, match="WRONGTYPE") as err:
            await client.get(key)
        assert err.value.error.kind == "WRONGTYPE"
        assert isinstance(err.value, StoreError)
        assert await client.execute_command("PING") == "PONG"
    finally:
        await client.aclose()


async def test_script_falls_back_to_eval_after_script_flush(
    redis_url: str, redis_prefix: str
) -> None:
    client = RespClient(redis_url)
    script = client.register_script(
        "redis.call('SET', KEYS[1], ARGV[1]) return {ARGV[1], tonumber(ARGV[2]) + 1, false}")
    key = f"{redis_prefix}:script"
    try:
        assert await client.execute_command("SCRIPT", "FLUSH") == "OK"
        assert await client.execute_command("SCRIPT", "EXISTS", script.sha) == [0]
        assert await script(keys=[key], args=[b"v", 41]) == [b"v", 42, None]
        # EVAL cached it: EVALSHA now finds it
        assert await client.execute_command("SCRIPT", "EXISTS", script.sha) == [1]
        assert await script(keys=[key], args=["w", 1]) == [b"w", 2, None]
        assert await client.get(key) == b"w"
        with pytest.raises(RespServerError):
            await client.register_script("return redis.call('NOSUCHCMD')")()
    finally:
        await client.aclose()


async def test_transaction(redis_url: str, redis_prefix: str) -> None:
    client = RespClient(redis_url)
    key = f"{redis_prefix}:tx"
    try:
        assert await client.transaction(("SET", key, 1), ("INCR", key), ("GETDEL", key)) == [
            "OK", 2, b"2"]
        assert await client.get(key) is None
        with pytest.raises(RespServerError, match="EXECABORT"):  # refused when queued
            await client.transaction(("SET", key, 1), ("INCR",))
        assert await client.get(key) is None  # nothing ran
        with pytest.raises(RespServerError, match="not an integer"):  # failed in EXEC
            await client.transaction(("SET", key, "x"), ("INCR", key))
        assert await client.get(key) == b"x"
        # concurrent transactions and plain commands stay aligned
        txs = [client.transaction(("INCR", key + "n"), ("PING",)) for _ in range(50)]
        got, last = await asyncio.gather(asyncio.gather(*txs), client.get(key))
        assert sorted(as_int(r[0]) for r in got) == list(range(1, 51))
        assert all(r[1] == "PONG" for r in got)
        assert last == b"x"
    finally:
        await client.aclose()


@pytest.mark.parametrize("form", ["path", "query"])
async def test_select_via_url(redis_url: str, form: str) -> None:
    base = redis_url.rsplit("/", 1)[0]
    db1 = RespClient(f"{base}/1" if form == "path" else f"{base}/?db=1")
    db0 = RespClient(redis_url)
    key = f"gbatest-{uuid.uuid4().hex[:12]}:db"
    try:
        assert await db1.set(key, b"in db 1")
        assert await db0.get(key) is None
        assert await db1.get(key) == b"in db 1"
    finally:
        await db1.delete(key)
        await db1.aclose()
        await db0.aclose()


async def test_reconnects_after_the_server_drops_it(redis_url: str, redis_prefix: str) -> None:
    client = RespClient(redis_url)
    admin = RespClient(redis_url)
    try:
        first = await client.execute_command("CLIENT", "ID")
        assert await admin.execute_command("CLIENT", "KILL", "ID", first) == 1  # type: ignore[arg-type]
        # the kill may or may not have reached us yet: either way the command succeeds
        second = await client.execute_command("CLIENT", "ID")
        assert second != first
    finally:
        await admin.aclose()
        await client.aclose()


async def test_a_cancelled_command_keeps_replies_aligned(
    redis_url: str, redis_prefix: str
) -> None:
    client = RespClient(redis_url)
    try:
        await client.set(f"{redis_prefix}:a", b"A")
        await client.set(f"{redis_prefix}:b", b"B")
        doomed = asyncio.ensure_future(client.get(f"{redis_prefix}:a"))
        after = asyncio.ensure_future(client.get(f"{redis_prefix}:b"))
        await asyncio.sleep(0)  # both are sent
        doomed.cancel()
        assert await after == b"B"
        assert await client.get(f"{redis_prefix}:a") == b"A"
    finally:
        await client.aclose()


def test_a_client_outlives_its_event_loop(redis_url: str, redis_prefix: str) -> None:
    client = RespClient(redis_url)
    key = f"{redis_prefix}:loops"

    async def use(value: bytes) -> bytes | None:
        try:
            await client.set(key, value)
            return await client.get(key)
        finally:
            await client.aclose()

    assert asyncio.run(use(b"1")) == b"1"
    assert asyncio.run(use(b"2")) == b"2"  # a new loop: a new connection


# --- against scripted peers ------------------------------------------------------------


async def test_auth_and_select_on_connect() -> None:
    async with peer(_pong) as p:
        client = RespClient(f"redis://us%3Aer:p%40ss@127.0.0.1:{p.port}/3")
        assert await client.execute_command("PING") == "PONG"
        await client.aclose()
        client = RespClient(f"redis://:pw@127.0.0.1:{p.port}")
        assert await client.execute_command("PING") == "PONG"
        await client.aclose()
    assert p.seen == [[[b"AUTH", b"us:er", b"p@ss"], [b"SELECT", b"3"], [b"PING"]],
                      [[b"AUTH", b"pw"], [b"PING"]]]


async def test_refused_auth_is_a_connection_error() -> None:
    def refuse(n: int, cmd: list[bytes]) -> bytes:
        return b"-WRONGPASS invalid username-password pair\r\n" if cmd[0] == b"AUTH" else b"+OK\r\n"

    async with peer(refuse) as p:
        client = RespClient(f"redis://:bad@127.0.0.1:{p.port}/0")
        with pytest.raises(RespConnectionError, match="WRONGPASS"):
            await client.execute_command("PING")
        await client.aclose()
    assert all(seen == [[b"AUTH", b"bad"]] for seen in p.seen)


async def test_lost_connection_fails_pending_commands_then_reconnects() -> None:
    up = False  # while down, the peer closes each connection on its first command

    def flaky(n: int, cmd: list[bytes]) -> bytes | None:
        return b"+PONG\r\n" if up else CLOSE

    async with peer(flaky) as p:
        client = RespClient(f"redis://127.0.0.1:{p.port}/0", timeout=5.0)
        results = await asyncio.gather(*(client.execute_command("PING") for _ in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, RespConnectionError) for r in results)
        dropped = len(p.seen)
        up = True
        assert await client.execute_command("PING") == "PONG"  # reconnected
        await client.aclose()
    assert len(p.seen) == dropped + 1


async def test_a_command_is_sent_at_most_three_times() -> None:
    async with peer(lambda n, cmd: CLOSE) as p:
        client = RespClient(f"redis://127.0.0.1:{p.port}/0")
        with pytest.raises(RespConnectionError, match="lost"):
            await client.execute_command("GETDEL", "k")
        await client.aclose()
    assert p.seen == [[[b"GETDEL", b"k"]]] * (1 + RETRIES)


async def test_unreachable_is_a_connection_error() -> None:
    async with peer(_pong) as p:
        port = p.port
    client = RespClient(f"redis://127.0.0.1:{port}/0")
    with pytest.raises(RespConnectionError, match=f"127.0.0.1:{port}"):
        await client.get("k")
    await client.aclose()


async def test_silence_is_a_timeout_for_every_pending_command() -> None:
    async with peer(lambda n, cmd: None) as p:
        client = RespClient(f"redis://127.0.0.1:{p.port}/0", timeout=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = await asyncio.gather(*(client.get(f"k{i}") for i in range(3)),
                                       return_exceptions=True)
        assert all(isinstance(r, RespTimeoutError) for r in results)
        assert loop.time() - started < 2.0
        assert len(p.seen) == 1  # a timeout is not resent
        await client.aclose()


async def test_timeout_and_loss_are_store_errors_of_the_stores() -> None:
    async with peer(lambda n, cmd: None) as p:
        store = RedisBsfStore(f"redis://127.0.0.1:{p.port}/0", timeout=0.2)
        with pytest.raises(StoreError, match=f"redis at 127.0.0.1:{p.port}/0 timed out"):
            await store.get_context("b@x", datetime.now(UTC))
        await store.close()
    async with peer(lambda n, cmd: CLOSE) as p:
        store = RedisBsfStore(f"redis://127.0.0.1:{p.port}/0", timeout=1.0)
        with pytest.raises(StoreError, match="unreachable"):
            await store.take_challenge("n", datetime.now(UTC))
        await store.close()
    async with peer(lambda n, cmd: b"?\r\n") as p:
        store = RedisBsfStore(f"redis://127.0.0.1:{p.port}/0", timeout=1.0)
        with pytest.raises(StoreError, match="failed"):
            await store.get_context("b@x", datetime.now(UTC))
        await store.close()


async def test_a_reply_outside_the_grammar_fails_pending_then_reconnects() -> None:
    def garbage_first(n: int, cmd: list[bytes]) -> bytes:
        return b"?garbage\r\n" if n == 0 else b":7\r\n"

    async with peer(garbage_first) as p:
        client = RespClient(f"redis://127.0.0.1:{p.port}/0")
        results = await asyncio.gather(
            client.execute_command("INCR", "a"), client.execute_command("INCR", "b"),
            return_exceptions=True)
        assert all(isinstance(r, RespProtocolError) for r in results)
        assert await client.execute_command("INCR", "a") == 7
        await client.aclose()


async def test_writes_of_one_iteration_leave_together() -> None:
    async with peer(_pong) as p:
        client = RespClient(f"redis://127.0.0.1:{p.port}/0")
        await client.execute_command("PING")  # connected
        conn = client._conn
        assert conn is not None
        assert conn.transport is not None
        writes: list[bytes] = []
        real = conn.transport.write

        def spy(data: bytes | bytearray | memoryview) -> None:
            writes.append(bytes(data))
            real(data)

        conn.transport.write = spy  # type: ignore[method-assign]
        assert await asyncio.gather(*(client.execute_command("PING") for _ in range(10))) == [
            "PONG"] * 10
        assert writes == [encode_command("PING") * 10]
        await client.aclose()


# --- URLs ------------------------------------------------------------------------------


def test_url_forms() -> None:
    ep = parse_url("redis://u:p%2Fw@cache.example.org:6380/2")
    assert (ep.host, ep.port, ep.db, ep.username, ep.password, ep.tls) == (
        "cache.example.org", 6380, 2, "u", "p/w", None)
    assert parse_url("redis://h").db == 0
    assert parse_url("redis://h/1?db=4").db == 4
    assert parse_url("unix:///run/redis.sock?db=2").path == "/run/redis.sock"
    assert parse_url("unix:///run/redis.sock?db=2").db == 2
    tls = parse_url("rediss://cache.example.org/1").tls
    assert tls is not None
    assert tls.verify_mode == ssl.CERT_REQUIRED
    assert tls.check_hostname
    lax = parse_url("rediss://cache.example.org/1?ssl_cert_reqs=none").tls
    assert lax is not None
    assert lax.verify_mode == ssl.CERT_NONE
    assert not lax.check_hostname


@pytest.mark.parametrize("url", ["http://127.0.0.1/0", "unix://", "redis://h/0?pool=3",
                                 "redis://h/?db=x", "rediss://h/?ssl_cert_reqs=maybe"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        parse_url(url)
