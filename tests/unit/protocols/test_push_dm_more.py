"""DM push sessions the UE opens (embodiment 3) and explicit SA parameters (embodiment 5),
NAF and UE machines talking in memory (gba.protocols.push_dm; seed 002 steps 401-410 and
603-610, docs/push.md §2): the runs to pkg4 under GBA Push and normal GBA, the UE check
skipped or failing, refusals that leave the UE's store as it was, an unsigned offer whose
NAF is authenticated by its first push, and the offer / hello / choice codecs."""

from __future__ import annotations

import base64
import contextlib
import struct
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gba.errors import AuthError, CodecError, MacFailure, ProtocolError
from gba.protocols import gpi, push_dm, push_info, push_keys, push_sa, push_ue, syncml, upa
from gba.protocols.push_sa import IdKind, PushSa, SaId
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba_memory import IMPI, MemoryHss, usim

pytestmark = pytest.mark.push

NOW = datetime(2030, 1, 1, tzinfo=UTC)
FQDN = "push.naf.example"
NAF_ID = FQDN.encode() + b"\x01\x00\x00\x00\x02"
OTHER_NAF_ID = b"other.naf.example\x01\x00\x00\x00\x02"
PTID = b"ptid-3@push.naf.example"
PASSWORD = b"dm-server-password"
DEVICE = syncml.DevInfo("IMEI:490154203237518", "gba", "lab-ue")
PUSHES = (b"./Settings/APN = lab", b"./Settings/Proxy = none", b"\x00binary\xff")
BTID = "QUJDREVGR0hJSktMTU5PUA==@bsf.home.example.org"
KS_NAF = bytes(range(32))
"""The Ks_NAF of the UE's normal-GBA bootstrap (what Zn would give the NAF by B-TID)."""
EXPIRES = NOW + timedelta(hours=1)


def bsf_push(hss: MemoryHss, naf_id: bytes = NAF_ID) -> tuple[bytes, bytes]:
    """(GPI, Ks_NAF) as Zpn would return them."""
    v = hss(VectorRequest(IMPI))
    assert isinstance(v, VectorAnswer)
    keys = push_keys.bsf_push_keys(v, naf_id)
    g = gpi.Gpi(PTID, v.rand, v.autn, naf_id, gpi.UiccMe.GBA_ME, EXPIRES)
    return gpi.encode_gpi(gpi.seal_ptid(g, PTID, keys.ks_naf)), keys.ks_naf


def bootstrapped(btid: str = BTID) -> push_dm.Bootstrapped:
    return push_dm.Bootstrapped(KS_NAF, btid, EXPIRES)


def ue_session(store: push_ue.SaStore, bootstrap: push_dm.Bootstrapped | None = None,
               card: object | None = None) -> push_dm.UeDmSession:
    return push_dm.UeDmSession(store, card or usim(), IMPI, DEVICE, FQDN,  # type: ignore[arg-type]
                               PASSWORD, bootstrap=bootstrap)


def naf_session(session_id: int, info: push_info.SaInfo, ks_naf: bytes, tid: str,
                gpi_octets: bytes | None = None, *, skip_ue_check: bool = False,
                sa_id: SaId | None = None) -> push_dm.NafDmSession:
    """The NAF's session on the SA *info* names (key: Ks_NAF or the key derived from it)."""
    sa = PushSa(sa_id or info.sa_id, NAF_ID, tid, push_ue.sa_key(info, ks_naf), EXPIRES,
                key_selection=info.key_selection)
    return push_dm.NafDmSession(FQDN, session_id, sa, ks_naf, info, PUSHES,
                                push_dm.deadline(NOW, 30), PASSWORD, gpi=gpi_octets,
                                skip_ue_check=skip_ue_check)


def finish(naf: push_dm.NafDmSession, ue: push_dm.UeDmSession, pkg1: bytes) -> bytes:
    """pkg1 (or the confirmation) -> pkg2 -> pkg3 -> pkg4; pkg3 returned."""
    pkg3 = ue.pkg2_received(naf.pkg1_received(pkg1, NOW), NOW)
    assert pkg3 is not None
    ue.pkg4_received(naf.pkg3_received(pkg3, NOW))
    return pkg3


def nodes(data: bytes) -> dict[str, str | None]:
    """Every Add/Replace item's target and data."""
    msg = syncml.decode(data)
    return {item.target: item.data for c in msg.commands
            if isinstance(c, syncml.Add | syncml.Replace) for item in c.items
            if item.target is not None}


def alerts(data: bytes) -> list[int]:
    return [c.data for c in syncml.decode(data).commands if isinstance(c, syncml.Alert)]


def with_cred(data: bytes, cred: syncml.Cred | None) -> bytes:
    msg = syncml.decode(data)
    return syncml.encode(replace(msg, header=replace(msg.header, cred=cred)))


def assert_done(naf: push_dm.NafDmSession, ue: push_dm.UeDmSession) -> None:
    assert ue.payloads == list(PUSHES)
    assert naf.end is push_dm.End.DONE
    assert naf.payloads_acknowledged == 1  # one Add command, 200
    assert ue.ended


# --------------------------------------------------------------------- embodiment 3


def test_embodiment_3_gba_push_runs_to_pkg4() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store)
    hello_pkg = ue.start(321)
    assert alerts(hello_pkg) == [syncml.ALERT_CLIENT_INITIATED]
    assert syncml.decode(hello_pkg).header.cred is None
    msg, hello = push_dm.hello_of(hello_pkg)
    assert hello == push_dm.Hello(321, IMPI, None)
    assert msg.header.session_id == "321"

    gpi_octets, ks_naf = bsf_push(MemoryHss())
    info = push_info.SaInfo(SaId(IdKind.SESSION, "321"), NAF_ID, key_selection="gpi")
    naf = naf_session(hello.session_id, info, ks_naf, PTID.decode(), gpi_octets)
    pkg2 = naf.ue_started(hello_pkg, NOW)
    carried = nodes(pkg2)
    assert base64_of(gpi_octets) == carried[push_dm.GPI_NODE]
    assert base64_of(push_info.sign(info, ks_naf)) == carried[push_dm.SA_INFO_NODE]
    assert not any(k.startswith(push_dm.PUSH_ROOT) for k in carried)  # no push yet
    assert len(store) == 0

    confirmation = ue.pkg2_received(pkg2, NOW)
    assert confirmation is not None
    assert len(store) == 1  # the SA is stored once the GPI and the NAF's MAC verified
    stored = store.find(info.sa_id, NOW)
    assert stored is not None
    assert stored.key == ks_naf
    assert stored.tid == PTID.decode()
    confirmed = syncml.decode(confirmation)
    assert confirmed.header.cred is not None
    assert confirmed.header.cred.type == syncml.AUTH_MAC
    assert push_dm.choice_of(confirmed) == push_dm.Choice(info.sa_id, PTID.decode(), IMPI,
                                                          push_sa.ALGORITHM)
    assert ue.payloads == []

    finish(naf, ue, confirmation)
    assert_done(naf, ue)
    assert len(store) == 1


def test_embodiment_3_normal_gba_runs_to_pkg4() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped())
    hello_pkg = ue.start(0xFFFF)
    _, hello = push_dm.hello_of(hello_pkg)
    assert hello == push_dm.Hello(0xFFFF, IMPI, BTID)

    assert hello.btid is not None
    ks_naf = {BTID: KS_NAF}[hello.btid]  # as Zn answers by B-TID
    info = push_info.SaInfo(SaId(IdKind.SECURE, "sa-3"), NAF_ID, tid=hello.btid)
    naf = naf_session(hello.session_id, info, ks_naf, hello.btid)
    pkg2 = naf.ue_started(hello_pkg, NOW)
    assert push_dm.GPI_NODE not in nodes(pkg2)
    assert push_dm.SA_INFO_NODE in nodes(pkg2)

    confirmation = ue.pkg2_received(pkg2, NOW)
    assert confirmation is not None
    choice = push_dm.choice_of(syncml.decode(confirmation))
    assert choice is not None
    assert (choice.sa_id, choice.tid, choice.identity) == (info.sa_id, BTID, IMPI)
    sa = store.find(info.sa_id, NOW)
    assert sa is not None
    assert sa.key == KS_NAF
    assert sa.tid == BTID

    finish(naf, ue, confirmation)
    assert_done(naf, ue)


@pytest.mark.parametrize("session_id", [0, 0x10000, -1])
def test_embodiment_3_session_id_must_be_16_bit(session_id: int) -> None:
    with pytest.raises(ProtocolError):
        ue_session(push_ue.SaStore()).start(session_id)


def embodiment_3_until_confirmation(skip_ue_check: bool
                                    ) -> tuple[push_dm.NafDmSession, push_dm.UeDmSession, bytes]:
    gpi_octets, ks_naf = bsf_push(MemoryHss())
    ue = ue_session(push_ue.SaStore())
    hello_pkg = ue.start(40)
    info = push_info.SaInfo(SaId(IdKind.SESSION, "40"), NAF_ID, key_selection="gpi")
    naf = naf_session(40, info, ks_naf, PTID.decode(), gpi_octets,
                      skip_ue_check=skip_ue_check)
    confirmation = ue.pkg2_received(naf.ue_started(hello_pkg, NOW), NOW)
    assert confirmation is not None
    return naf, ue, confirmation


WRONG_CRED = syncml.Cred("AAAAAAAAAAAAAAAAAAAAAA==", syncml.AUTH_MAC)


@pytest.mark.parametrize("cred", [None, WRONG_CRED, syncml.Cred("not base64!",
                                                                 syncml.AUTH_MAC)],
                         ids=["none", "wrong", "garbage"])
def test_embodiment_3_skip_ue_check_pushes_without_a_good_credential(
        cred: syncml.Cred | None) -> None:
    naf, ue, confirmation = embodiment_3_until_confirmation(skip_ue_check=True)
    finish(naf, ue, with_cred(confirmation, cred))
    assert_done(naf, ue)


@pytest.mark.parametrize("cred", [None, WRONG_CRED], ids=["none", "wrong"])
def test_embodiment_3_bad_credential_is_refused(cred: syncml.Cred | None) -> None:
    naf, ue, confirmation = embodiment_3_until_confirmation(skip_ue_check=False)
    end = naf.pkg1_received(with_cred(confirmation, cred), NOW)
    assert naf.end is push_dm.End.UE_REFUSED
    assert alerts(end) == [syncml.ALERT_SESSION_ABORT]
    assert not any(k.startswith(push_dm.PUSH_ROOT) for k in nodes(end))
    assert ue.pkg2_received(end, NOW) is None
    assert ue.ended
    assert ue.payloads == []


def test_embodiment_3_good_credential_is_checked_and_accepted() -> None:
    naf, ue, confirmation = embodiment_3_until_confirmation(skip_ue_check=False)
    finish(naf, ue, confirmation)
    assert_done(naf, ue)


def test_embodiment_3_gpi_for_another_naf_is_refused() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store)
    hello_pkg = ue.start(41)
    gpi_octets, ks_naf = bsf_push(MemoryHss(), OTHER_NAF_ID)
    info = push_info.SaInfo(SaId(IdKind.SESSION, "41"), OTHER_NAF_ID, key_selection="gpi")
    naf = naf_session(41, info, ks_naf, PTID.decode(), gpi_octets)
    with pytest.raises(push_ue.WrongNaf):
        ue.pkg2_received(naf.ue_started(hello_pkg, NOW), NOW)
    assert len(store) == 0
    assert ue.sa_id is None


def test_embodiment_3_wrong_naf_mac_is_refused_under_gba_push() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store)
    hello_pkg = ue.start(42)
    gpi_octets, _ = bsf_push(MemoryHss())
    info = push_info.SaInfo(SaId(IdKind.SESSION, "42"), NAF_ID, key_selection="gpi")
    naf = naf_session(42, info, bytes(32), PTID.decode(), gpi_octets)  # not the GPI's key
    with pytest.raises(MacFailure):
        ue.pkg2_received(naf.ue_started(hello_pkg, NOW), NOW)
    assert len(store) == 0
    assert ue.sa_id is None


def test_embodiment_3_wrong_naf_mac_is_refused_under_normal_gba() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped())
    hello_pkg = ue.start(43)
    info = push_info.SaInfo(SaId(IdKind.SESSION, "43"), NAF_ID, tid=BTID)
    naf = naf_session(43, info, bytes(32), BTID)
    with pytest.raises(MacFailure):
        ue.pkg2_received(naf.ue_started(hello_pkg, NOW), NOW)
    assert len(store) == 0


def test_embodiment_3_pkg2_without_sa_parameters_is_refused() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store)
    hello_pkg = ue.start(44)
    msg = syncml.decode(hello_pkg)
    bare = syncml.pkg2(syncml.SyncHdr("44", 1, push_dm.DEVICE_SOURCE, FQDN), msg)
    with pytest.raises(ProtocolError):
        ue.pkg2_received(syncml.encode(bare), NOW)
    assert len(store) == 0


def test_embodiment_3_no_gpi_and_no_bootstrap_is_refused() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store)  # GBA Push capable but the NAF sent no GPI
    hello_pkg = ue.start(45)
    info = push_info.SaInfo(SaId(IdKind.SESSION, "45"), NAF_ID, tid=BTID)
    naf = naf_session(45, info, KS_NAF, BTID)
    with pytest.raises(AuthError):
        ue.pkg2_received(naf.ue_started(hello_pkg, NOW), NOW)
    assert len(store) == 0


def test_embodiment_3_naf_past_its_deadline_aborts() -> None:
    ue = ue_session(push_ue.SaStore(), bootstrapped())
    hello_pkg = ue.start(46)
    info = push_info.SaInfo(SaId(IdKind.SESSION, "46"), NAF_ID, tid=BTID)
    naf = naf_session(46, info, KS_NAF, BTID)
    end = naf.ue_started(hello_pkg, naf.deadline)
    assert naf.end is push_dm.End.TIMED_OUT
    assert alerts(end) == [syncml.ALERT_SESSION_ABORT]
    assert ue.pkg2_received(end, NOW) is None
    assert ue.ended


def test_embodiment_3_hello_of_another_session_is_refused() -> None:
    ue = ue_session(push_ue.SaStore(), bootstrapped())
    info = push_info.SaInfo(SaId(IdKind.SESSION, "47"), NAF_ID, tid=BTID)
    naf = naf_session(47, info, KS_NAF, BTID)
    with pytest.raises(ProtocolError):
        naf.ue_started(ue.start(48), NOW)


# --------------------------------------------------------------------- embodiment 5


def offer_datagram(session_id: int, info: push_info.SaInfo, key: bytes | None,
                   gpi_octets: bytes | None = None) -> bytes:
    """The offer as it crosses the push channel, and back out of it."""
    wire = upa.encode(upa.Push(upa.MediaType.SA_PARAMS,
                               push_dm.offer(session_id, info, key, gpi_octets)))
    push = upa.decode(wire)
    assert push.media_type is upa.MediaType.SA_PARAMS
    return push.body


def test_embodiment_5_signed_offer_by_btid_runs_to_pkg4() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped())
    info = push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p-5"), NAF_ID, key_selection="btid",
                            tid=BTID)
    data = offer_datagram(500, info, KS_NAF)
    assert push_dm.read_offer(data) == (500, None, push_info.sign(info, KS_NAF), True)
    pkg1 = ue.offer_received(data, NOW)
    assert len(store) == 1
    choice = push_dm.choice_of(syncml.decode(pkg1))
    assert choice == push_dm.Choice(info.sa_id, BTID, IMPI, push_sa.ALGORITHM)
    naf = naf_session(500, info, KS_NAF, choice.tid)
    finish(naf, ue, pkg1)
    assert_done(naf, ue)


def test_embodiment_5_unsigned_offer_naf_fetches_the_key_by_the_choice() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped())
    info = push_info.SaInfo(SaId(IdKind.TEMPORARY, "t-5"), NAF_ID, key_selection="latest")
    data = offer_datagram(501, info, None)
    session_id, gpi_octets, signed_info, signed = push_dm.read_offer(data)
    assert (session_id, gpi_octets, signed) == (501, None, False)
    assert signed_info[-push_sa.MAC_LEN:] == bytes(push_sa.MAC_LEN)

    pkg1 = ue.offer_received(data, NOW)
    choice = push_dm.choice_of(syncml.decode(pkg1))
    assert choice is not None
    assert (choice.sa_id, choice.tid, choice.identity) == (info.sa_id, BTID, IMPI)
    zn = {BTID: KS_NAF}  # the NAF fetches Ks_NAF by the B-TID the UE chose
    naf = naf_session(501, info, zn[choice.tid], choice.tid, sa_id=choice.sa_id)
    finish(naf, ue, pkg1)
    assert_done(naf, ue)
    sa = store.find(info.sa_id, NOW)
    assert sa is not None
    assert sa.key == KS_NAF
    assert sa.tid == BTID


def test_embodiment_5_unsigned_offer_naf_with_the_wrong_key_gets_401() -> None:
    ue = ue_session(push_ue.SaStore(), bootstrapped())
    info = push_info.SaInfo(SaId(IdKind.TEMPORARY, "t-6"), NAF_ID, key_selection="latest")
    pkg1 = ue.offer_received(push_dm.offer(502, info, None), NOW)
    naf = naf_session(502, info, bytes(32), BTID, skip_ue_check=True)  # not the UE's key
    pkg3 = finish(naf, ue, pkg1)
    assert ue.payloads == []  # the NAF's first push did not authenticate it
    refused = [c for c in syncml.decode(pkg3).commands
               if isinstance(c, syncml.Status) and c.cmd == "Add"]
    assert [c.data for c in refused] == [syncml.STATUS_UNAUTHORIZED]
    assert naf.payloads_acknowledged == 0


def test_embodiment_5_unsigned_offer_naf_with_the_wrong_key_refuses_the_ue() -> None:
    ue = ue_session(push_ue.SaStore(), bootstrapped())
    info = push_info.SaInfo(SaId(IdKind.TEMPORARY, "t-7"), NAF_ID, key_selection="latest")
    pkg1 = ue.offer_received(push_dm.offer(503, info, None), NOW)
    naf = naf_session(503, info, bytes(32), BTID)
    end = naf.pkg1_received(pkg1, NOW)
    assert naf.end is push_dm.End.UE_REFUSED
    assert ue.pkg2_received(end, NOW) is None
    assert ue.payloads == []


def test_embodiment_5_signed_offer_with_a_wrong_mac_is_refused() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped())
    info = push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p-8"), NAF_ID, tid=BTID)
    with pytest.raises(MacFailure):
        ue.offer_received(push_dm.offer(504, info, bytes(32)), NOW)
    assert len(store) == 0
    assert ue.sa_id is None


def test_embodiment_5_signed_offer_with_a_flipped_mac_is_refused() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped())
    info = push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p-9"), NAF_ID, tid=BTID)
    data = push_dm.offer(505, info, KS_NAF)
    with pytest.raises(MacFailure):
        ue.offer_received(data[:-1] + bytes([data[-1] ^ 1]), NOW)
    assert len(store) == 0


@pytest.mark.parametrize("info", [
    push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID, key_selection="btid",
                     tid="other@bsf.home.example.org"),
    push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID, key_selection="btid"),  # no tid
    push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID, key_selection="gpi"),  # no GPI
    push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID, key_selection="newest"),
    push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), OTHER_NAF_ID, key_selection="latest"),
], ids=["other-btid", "btid-without-tid", "gpi-without-gpi", "unknown-policy", "other-naf"])
@pytest.mark.parametrize("signed", [True, False])
def test_embodiment_5_key_selection_the_ue_cannot_follow_is_refused(
        info: push_info.SaInfo, signed: bool) -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped())
    with pytest.raises(AuthError):
        ue.offer_received(push_dm.offer(506, info, KS_NAF if signed else None), NOW)
    assert len(store) == 0


@pytest.mark.parametrize("signed", [True, False])
def test_embodiment_5_without_a_bootstrap_is_refused(signed: bool) -> None:
    store = push_ue.SaStore()
    ue = ue_session(store)
    info = push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID, key_selection="latest")
    with pytest.raises(AuthError):
        ue.offer_received(push_dm.offer(507, info, KS_NAF if signed else None), NOW)
    assert len(store) == 0


def test_embodiment_5_expired_bootstrap_is_refused() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, push_dm.Bootstrapped(KS_NAF, BTID, NOW))
    info = push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID, key_selection="latest")
    with pytest.raises(push_sa.ExpiredSa):
        ue.offer_received(push_dm.offer(508, info, KS_NAF), NOW)
    assert len(store) == 0


def test_embodiment_5_offer_with_a_gpi_runs_to_pkg4() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store)  # no bootstrap: the GPI sets the SA up
    gpi_octets, ks_naf = bsf_push(MemoryHss())
    info = push_info.SaInfo(SaId(IdKind.SECURE, "s-5"), NAF_ID, key_selection="gpi")
    data = offer_datagram(509, info, ks_naf, gpi_octets)
    assert push_dm.read_offer(data)[1] == gpi_octets
    pkg1 = ue.offer_received(data, NOW)
    choice = push_dm.choice_of(syncml.decode(pkg1))
    assert choice == push_dm.Choice(info.sa_id, PTID.decode(), IMPI, push_sa.ALGORITHM)
    naf = naf_session(509, info, ks_naf, PTID.decode(), gpi_octets)
    finish(naf, ue, pkg1)
    assert_done(naf, ue)
    sa = store.find(info.sa_id, NOW)
    assert sa is not None
    assert sa.key == ks_naf


def test_embodiment_5_offer_with_a_gpi_and_a_wrong_mac_is_refused() -> None:
    store = push_ue.SaStore()
    ue = ue_session(store)
    gpi_octets, _ = bsf_push(MemoryHss())
    info = push_info.SaInfo(SaId(IdKind.SECURE, "s-6"), NAF_ID, key_selection="gpi")
    with pytest.raises(MacFailure):
        ue.offer_received(push_dm.offer(510, info, bytes(32), gpi_octets), NOW)
    assert len(store) == 0


def test_embodiment_5_unsigned_offer_cannot_carry_a_gpi() -> None:
    gpi_octets, _ = bsf_push(MemoryHss())
    info = push_info.SaInfo(SaId(IdKind.SECURE, "s-7"), NAF_ID, key_selection="gpi")
    with pytest.raises(ProtocolError):
        push_dm.offer(511, info, None, gpi_octets)


@pytest.mark.parametrize("signed", [True, False])
def test_embodiment_5_derived_key_runs_to_pkg4(signed: bool) -> None:
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped())
    info = push_info.SaInfo(SaId(IdKind.PSEUDONYM, "d-5"), NAF_ID, key_selection="latest",
                            key_derivation=push_sa.KEY_DERIVATION)
    pkg1 = ue.offer_received(push_dm.offer(512, info, KS_NAF if signed else None), NOW)
    sa = store.find(info.sa_id, NOW)
    assert sa is not None
    assert sa.key == push_sa.derived_key(KS_NAF, info.sa_id) != KS_NAF
    choice = push_dm.choice_of(syncml.decode(pkg1))
    assert choice is not None
    assert choice.tid == BTID
    naf = naf_session(512, info, KS_NAF, choice.tid)  # the SA key derived from Ks_NAF
    assert naf.sa.key == sa.key
    finish(naf, ue, pkg1)
    assert_done(naf, ue)


def test_embodiment_5_sa_named_by_a_btid_with_a_slash() -> None:
    btid = "ab/cdEFGHijklMNOPqrstuw==@bsf.home.example.org"
    store = push_ue.SaStore()
    ue = ue_session(store, bootstrapped(btid))
    info = push_info.SaInfo(SaId(IdKind.BTID, btid), NAF_ID, key_selection="btid", tid=btid)
    pkg1 = ue.offer_received(push_dm.offer(513, info, KS_NAF), NOW)
    choice = push_dm.choice_of(syncml.decode(pkg1))
    assert choice is not None
    assert choice.sa_id == info.sa_id
    naf = naf_session(513, info, KS_NAF, btid)
    finish(naf, ue, pkg1)
    assert_done(naf, ue)
    assert len(store) == 1


# --------------------------------------------------------------------- codecs

SIGNED_INFO = push_info.sign(push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID), KS_NAF)
HEADER = struct.Struct(">BHH")


@pytest.mark.parametrize("data", [
    b"",
    b"\x01\x00",
    HEADER.pack(1, 1, 0)[:-1],
    HEADER.pack(1, 1, 0),  # no parameters
    HEADER.pack(2, 1, 0) + SIGNED_INFO,  # unknown flag
    HEADER.pack(0xFF, 1, 0) + SIGNED_INFO,
    HEADER.pack(1, 1, len(SIGNED_INFO) + 1) + SIGNED_INFO,  # GPI runs past the end
    HEADER.pack(1, 1, 0xFFFF) + SIGNED_INFO,
    HEADER.pack(0, 1, 3) + b"gpi" + SIGNED_INFO,  # unsigned with a GPI
    HEADER.pack(1, 1, 0) + SIGNED_INFO[:push_sa.MAC_LEN],  # too short for a MAC
    HEADER.pack(1, 1, 0) + b"\x09" + SIGNED_INFO[1:],  # wrong parameters version
    HEADER.pack(1, 1, 0) + SIGNED_INFO + b"\x00",  # trailing octet breaks the TLVs
], ids=["empty", "short", "short-header", "no-info", "flag-2", "flag-ff", "gpi-past-end",
        "gpi-ffff", "unsigned-gpi", "info-too-short", "info-version", "trailing"])
def test_read_offer_refuses_malformed_offers(data: bytes) -> None:
    with pytest.raises(CodecError):
        push_dm.read_offer(data)


def test_malformed_offer_reaches_the_ue_as_a_codec_error() -> None:
    store = push_ue.SaStore()
    with pytest.raises(CodecError):
        ue_session(store, bootstrapped()).offer_received(HEADER.pack(2, 1, 0) + SIGNED_INFO,
                                                         NOW)
    assert len(store) == 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_garbage_offer_is_a_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):  # any other exception fails the test
        push_dm.read_offer(data)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 0xFFFF), st.binary(min_size=1, max_size=100), st.booleans())
def test_offer_round_trips(session_id: int, gpi_octets: bytes, with_gpi: bool) -> None:
    info = push_info.SaInfo(SaId(IdKind.SESSION, "x"), NAF_ID, tid=BTID)
    got = push_dm.read_offer(push_dm.offer(session_id, info, KS_NAF,
                                           gpi_octets if with_gpi else None))
    assert got == (session_id, gpi_octets if with_gpi else None,
                   push_info.sign(info, KS_NAF), True)


def client_pkg1(session_id: str, ue_items: dict[str, str],
                server_initiated: bool = False) -> bytes:
    items = tuple(syncml.Item(target=f"{push_dm.UE_ROOT}/{k}", data=v,
                              format=syncml.FORMAT_CHR) for k, v in ue_items.items())
    extra = [syncml.Replace(0, items)] if items else []
    return syncml.encode(syncml.pkg1(syncml.SyncHdr(session_id, 1, FQDN,
                                                    push_dm.DEVICE_SOURCE),
                                     DEVICE, server_initiated=server_initiated, extra=extra))


@pytest.mark.parametrize(("session_id", "ue_items"), [
    ("5", {}),
    ("5", {"BTID": BTID}),
    ("5", {"Identity": ""}),
    ("5", {"Identity": "a/b"}),
    ("five", {"Identity": IMPI}),
    ("0", {"Identity": IMPI}),
    ("65536", {"Identity": IMPI}),
], ids=["nothing", "btid-only", "empty-identity", "slash", "session-text", "session-0",
        "session-65536"])
def test_hello_of_refuses_a_hello_without_identity_or_session(
        session_id: str, ue_items: dict[str, str]) -> None:
    with pytest.raises(CodecError):
        push_dm.hello_of(client_pkg1(session_id, ue_items))


def test_hello_of_a_server_initiated_pkg1_is_none() -> None:
    data = client_pkg1("5", {"Identity": IMPI}, server_initiated=True)
    msg, hello = push_dm.hello_of(data)
    assert hello is None
    assert msg == syncml.decode(data)
    info = push_info.SaInfo(SaId(IdKind.PSEUDONYM, "p"), NAF_ID, key_selection="latest")
    pkg1 = ue_session(push_ue.SaStore(), bootstrapped()).offer_received(
        push_dm.offer(9, info, KS_NAF), NOW)
    assert push_dm.hello_of(pkg1)[1] is None


def test_hello_of_reads_identity_and_btid() -> None:
    _, hello = push_dm.hello_of(client_pkg1("7", {"Identity": IMPI, "BTID": BTID}))
    assert hello == push_dm.Hello(7, IMPI, BTID)
    _, hello = push_dm.hello_of(client_pkg1("7", {"Identity": IMPI, "BTID": ""}))
    assert hello == push_dm.Hello(7, IMPI, None)


def sa_pkg1(params: dict[str, str]) -> syncml.Message:
    data = syncml.encode(syncml.pkg1(
        syncml.SyncHdr("5", 1, FQDN, push_dm.DEVICE_SOURCE), DEVICE,
        extra=[syncml.Replace(0, syncml.sa_items("sa-1", params))]))
    return syncml.decode(data)


def test_choice_of_reads_the_sa_and_the_identity() -> None:
    msg = sa_pkg1({"Kind": "secure", "TID": BTID, "Identity": IMPI})
    assert push_dm.choice_of(msg) == push_dm.Choice(SaId(IdKind.SECURE, "sa-1"), BTID, IMPI,
                                                    push_sa.ALGORITHM)
    assert push_dm.choice_of(syncml.decode(client_pkg1("5", {"Identity": IMPI}))) is None


@pytest.mark.parametrize("params", [
    {"Kind": "secure", "TID": BTID},
    {"Kind": "secure", "TID": BTID, "Identity": ""},
    {"Kind": "secure", "Identity": IMPI},
    {"Kind": "nonsense", "TID": BTID, "Identity": IMPI},
], ids=["no-identity", "empty-identity", "no-tid", "unknown-kind"])
def test_choice_of_refuses_an_incomplete_sa(params: dict[str, str]) -> None:
    with pytest.raises(CodecError):
        push_dm.choice_of(sa_pkg1(params))


def base64_of(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
