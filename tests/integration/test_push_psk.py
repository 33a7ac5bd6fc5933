"""GBA Push over PSK-TLS (seed 002 embodiment 4): a NAF's mailbox, pulled by the UE over
TLS keyed with Ks_NAF, on real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from gba.config import Address
from gba.crypto import ua_protocols
from gba.crypto.kdf import btid
from gba.errors import AuthError, CodecError, InvalidInput, ProtocolError
from gba.nf.naf_psk import naf_id_for
from gba.nf.push_psk import PushKey, PushMailbox, Resolve, make_push_psk_server
from gba.protocols.push_psk import push_psk_identity, tid_from_identity
from gba.protocols.push_sa import MAX_PUSH
from gba.protocols.ua_psk import psk_identity_for
from gba.transport.psk_tls import PskTlsServer, psk_tls_request
from gba.ue.push_pull import PushRefused, pull_pushes

pytestmark = pytest.mark.push

TIMEOUT = 20.0
FQDN = "push.naf.example"
PTID = "ptid-0001@push.naf.example"
BTID = btid(bytes(range(16)), "bsf.mnc001.mcc001.pub.3gppnetwork.org")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SUITE = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA
NAF_ID = naf_id_for(FQDN, SUITE)
KS_PUSH = hashlib.sha256(b"Ks_NAF after GBA Push").digest()
KS_GBA = hashlib.sha256(b"Ks_NAF after a normal bootstrap").digest()


@dataclass
class Resolver:
    """Keys by (is_push, TID); records every call."""

    keys: dict[tuple[bool, str], PushKey]
    calls: list[tuple[bool, str, bytes]] = field(default_factory=list)

    async def __call__(self, is_push: bool, tid: str, naf_id: bytes) -> PushKey | None:
        self.calls.append((is_push, tid, naf_id))
        return self.keys.get((is_push, tid))


class SignallingMailbox(PushMailbox):
    """Sets :attr:`taking` as soon as the server asks for pushes."""

    def __init__(self) -> None:
        super().__init__()
        self.taking = asyncio.Event()

    async def take(self, tid: str, wait_s: float) -> list[bytes]:
        self.taking.set()
        return await super().take(tid, wait_s)


def resolver(expires: datetime = NOW + timedelta(hours=1)) -> Resolver:
    return Resolver({(True, PTID): PushKey(KS_PUSH, PTID, expires),
                     (False, BTID): PushKey(KS_GBA, BTID, expires)})


@contextlib.asynccontextmanager
async def serving(resolve: Resolve, mailbox: PushMailbox,
                  delivered: list[tuple[str, int]] | None = None
                  ) -> AsyncIterator[PskTlsServer[PushKey]]:
    server = make_push_psk_server(
        FQDN, Address("127.0.0.1", 0), resolve, mailbox, clock=lambda: NOW,
        on_delivered=None if delivered is None else (lambda t, n: delivered.append((t, n))))
    await server.start()
    try:
        yield server
    finally:
        await asyncio.wait_for(server.close(), TIMEOUT)


async def test_push_identity_pulls_exactly_the_pending_payloads_once() -> None:
    mailbox, resolve = PushMailbox(), resolver()
    delivered: list[tuple[str, int]] = []
    mailbox.put(PTID, [b"first", b"\x00second"])
    async with serving(resolve, mailbox, delivered) as server:
        got = await pull_pushes("127.0.0.1", server.port, FQDN, PTID, KS_PUSH, push=True)
        again = await pull_pushes("127.0.0.1", server.port, FQDN, PTID, KS_PUSH, push=True)
    assert got == [b"first", b"\x00second"]
    assert again == []
    assert resolve.calls == [(True, PTID, NAF_ID)] * 2
    assert delivered == [(PTID, 2)]
    assert mailbox.pending(PTID) == 0


async def test_btid_identity_of_normal_gba_works_too() -> None:
    mailbox, resolve = PushMailbox(), resolver()
    mailbox.put(BTID, [b"for the B-TID"])
    mailbox.put(PTID, [b"for the P-TID"])
    async with serving(resolve, mailbox) as server:
        got = await pull_pushes("127.0.0.1", server.port, FQDN, BTID, KS_GBA, push=False)
    assert got == [b"for the B-TID"]
    assert resolve.calls == [(False, BTID, NAF_ID)]
    assert mailbox.pending(PTID) == 1


async def test_another_suite_is_keyed_with_its_own_naf_id() -> None:
    suite = ua_protocols.TLS_DHE_PSK_WITH_AES_128_GCM_SHA256
    mailbox, resolve = PushMailbox(), resolver()
    mailbox.put(PTID, [b"x"])
    async with serving(resolve, mailbox) as server:
        got = await pull_pushes("127.0.0.1", server.port, FQDN, PTID, KS_PUSH, push=True,
                                suite=suite)
    assert got == [b"x"]
    assert resolve.calls == [(True, PTID, naf_id_for(FQDN, suite))]


async def test_wrong_key_at_the_ue_fails_the_pull() -> None:
    mailbox = PushMailbox()
    mailbox.put(PTID, [b"secret"])
    async with serving(resolver(), mailbox) as server:
        with pytest.raises(AuthError, match="handshake"):
            await pull_pushes("127.0.0.1", server.port, FQDN, PTID, KS_GBA, push=True)
    assert mailbox.pending(PTID) == 1


@pytest.mark.parametrize(("tid", "push"), [("ptid-unknown", True),
                                           (btid(bytes(16), "bsf.example.org"), False)])
async def test_unknown_tid_fails_the_handshake(tid: str, push: bool) -> None:
    resolve = resolver()
    async with serving(resolve, PushMailbox()) as server:
        with pytest.raises(AuthError, match="handshake"):
            await pull_pushes("127.0.0.1", server.port, FQDN, tid, KS_PUSH, push=push)
    assert resolve.calls == [(push, tid, NAF_ID)]


async def test_failing_resolver_fails_the_handshake() -> None:
    async def broken(is_push: bool, tid: str, naf_id: bytes) -> PushKey | None:
        raise ProtocolError("BSF unreachable")

    async with serving(broken, PushMailbox()) as server:
        with pytest.raises(AuthError, match="handshake"):
            await pull_pushes("127.0.0.1", server.port, FQDN, PTID, KS_PUSH, push=True)


async def test_a_waiting_pull_gets_the_push_put_after_it_began() -> None:
    mailbox = SignallingMailbox()
    delivered: list[tuple[str, int]] = []
    async with serving(resolver(), mailbox, delivered) as server:
        pull = asyncio.create_task(pull_pushes("127.0.0.1", server.port, FQDN, PTID, KS_PUSH,
                                               push=True, wait_s=5))
        await asyncio.wait_for(mailbox.taking.wait(), TIMEOUT)
        assert mailbox.waiting(PTID) == 1
        mailbox.put(PTID, [b"late"])
        got = await asyncio.wait_for(pull, TIMEOUT)
    assert got == [b"late"]
    assert delivered == [(PTID, 1)]
    assert mailbox.waiting(PTID) == 0


async def test_expired_key_is_refused_with_403() -> None:
    mailbox = PushMailbox()
    mailbox.put(PTID, [b"kept"])
    async with serving(resolver(expires=NOW), mailbox) as server:
        with pytest.raises(ProtocolError, match="403") as info:
            await pull_pushes("127.0.0.1", server.port, FQDN, PTID, KS_PUSH, push=True)
    assert isinstance(info.value, PushRefused)
    assert info.value.status == 403
    assert mailbox.pending(PTID) == 1


@pytest.mark.parametrize(("target", "status"), [
    ("/other", 404), ("/push?wait=soon", 400), ("/push?wait=-1", 400),
    ("/push?wait=1&wait=2", 400), ("/push?wait=0", 200), ("/push", 200)])
async def test_http_paths_and_wait_values(target: str, status: int) -> None:
    async with serving(resolver(), PushMailbox()) as server:
        raw = await psk_tls_request(
            "127.0.0.1", server.port, push_psk_identity(PTID), KS_PUSH,
            f"GET {target} HTTP/1.1\r\nHost: {FQDN}\r\nConnection: close\r\n\r\n".encode(),
            ciphers=ua_protocols.openssl_suite_name(SUITE), timeout=TIMEOUT,
            server_hostname=FQDN)
    assert raw.startswith(f"HTTP/1.1 {status} ".encode())
    if status == 200:
        assert b"\r\nContent-Type: application/json\r\n" in raw
        assert raw.endswith(b'{"pushes": []}')


def test_identities_name_the_tid() -> None:
    assert push_psk_identity(PTID) == "3GPP-bootstrapping-push." + PTID
    assert tid_from_identity(push_psk_identity(PTID)) == (True, PTID)
    assert tid_from_identity("3gpp-BOOTSTRAPPING-push." + PTID) == (True, PTID)
    assert tid_from_identity(psk_identity_for(BTID)) == (False, BTID)
    assert tid_from_identity("3GPP-bootstrapping-uicc." + BTID) == (False, BTID)
    assert tid_from_identity(BTID) == (False, BTID)


@pytest.mark.parametrize("identity", [
    "", "3GPP-bootstrapping-push.", "3GPP-bootstrapping-push.with space",
    "3GPP-bootstrapping-push.\u00e9", "3GPP-bootstrapping-push." + "p" * 232,
    "3GPP-bootstrapping.not-a-btid", "3GPP-bootstrapping-pushptid", "x" * 300])
def test_malformed_identities_are_codec_errors(identity: str) -> None:
    with pytest.raises(CodecError):
        tid_from_identity(identity)


def test_longest_push_identity_is_255_characters() -> None:
    ptid = "p" * (255 - len("3GPP-bootstrapping-push."))
    assert tid_from_identity(push_psk_identity(ptid)) == (True, ptid)
    with pytest.raises(InvalidInput):
        push_psk_identity(ptid + "p")
    with pytest.raises(InvalidInput):
        push_psk_identity("")


def test_mailbox_bounds() -> None:
    mailbox = PushMailbox(max_per_tid=2, max_tids=1)
    mailbox.put("a", [b"1"])
    mailbox.put("a", [])
    with pytest.raises(InvalidInput, match="exceed"):
        mailbox.put("a", [b"2", b"3"])
    assert mailbox.pending("a") == 1
    with pytest.raises(InvalidInput, match="full"):
        mailbox.put("b", [b"1"])
    with pytest.raises(InvalidInput, match="octets"):
        mailbox.put("a", [b"x" * (MAX_PUSH + 1)])
    mailbox.put("a", [b"2"])
    assert mailbox.pending("a") == 2
    with pytest.raises(InvalidInput):
        mailbox.put("", [b"1"])
    with pytest.raises(InvalidInput):
        PushMailbox(max_per_tid=0)


async def test_mailbox_take_removes_everything_and_times_out_empty() -> None:
    mailbox = PushMailbox(max_tids=1)
    mailbox.put("a", [b"1", b"2"])
    assert await mailbox.take("a", 0) == [b"1", b"2"]
    assert mailbox.pending("a") == 0
    mailbox.put("b", [b"1"])  # "a" no longer counts against max_tids
    assert await mailbox.take("a", 0) == []
    assert await mailbox.take("a", 0.01) == []
    assert mailbox.waiting("a") == 0


async def test_mailbox_wakes_a_taker_without_polling() -> None:
    mailbox = SignallingMailbox()
    taker = asyncio.create_task(mailbox.take("a", TIMEOUT))
    await asyncio.wait_for(mailbox.taking.wait(), TIMEOUT)
    assert mailbox.waiting("a") == 1
    mailbox.put("a", [b"x"])
    assert await asyncio.wait_for(taker, TIMEOUT) == [b"x"]
