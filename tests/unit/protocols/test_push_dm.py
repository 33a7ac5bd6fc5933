"""A DM push session, NAF and UE machines talking in memory (gba.protocols.push_dm; seed
002 embodiments 1-2, docs/push.md §2): pkg0 -> pkg1 -> pkg2 -> pkg3 -> pkg4 under GBA
Push with the GPI in each placement, reuse by session id and by secure id (no GPI), an
unknown SA, the timeout path, and a NAF without the key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gba.errors import AuthError, MacFailure
from gba.protocols import gpi, push_dm, push_info, push_keys, push_ue, syncml
from gba.protocols.push_sa import IdKind, PushSa, SaId
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba_memory import IMPI, MemoryHss, usim

pytestmark = pytest.mark.push

NOW = datetime(2030, 1, 1, tzinfo=UTC)
FQDN = "push.naf.example"
NAF_ID = FQDN.encode() + b"\x01\x00\x00\x00\x02"
PTID = b"ptid-1@push.naf.example"
PASSWORD = b"dm-server-password"
DEVICE = syncml.DevInfo("IMEI:490154203237518", "gba", "lab-ue")
PUSHES = (b"./Settings/APN = lab", b"./Settings/Proxy = none")


def bsf_push(hss: MemoryHss) -> tuple[bytes, bytes]:
    """(GPI, Ks_NAF) as Zpn would return them."""
    v = hss(VectorRequest(IMPI))
    assert isinstance(v, VectorAnswer)
    keys = push_keys.bsf_push_keys(v, NAF_ID)
    g = gpi.Gpi(PTID, v.rand, v.autn, NAF_ID, gpi.UiccMe.GBA_ME, NOW + timedelta(hours=1))
    return gpi.encode_gpi(gpi.seal_ptid(g, PTID, keys.ks_naf)), keys.ks_naf


def naf_session(session_id: int, sa_id: SaId, ks_naf: bytes, gpi_octets: bytes | None,
                placement: str = "trigger", sa: PushSa | None = None) -> push_dm.NafDmSession:
    info = push_info.SaInfo(sa_id, NAF_ID, key_selection="gpi")
    sa = sa or PushSa(sa_id, NAF_ID, PTID.decode(), ks_naf, NOW + timedelta(hours=1))
    return push_dm.NafDmSession(FQDN, session_id, sa, ks_naf, info, PUSHES,
                                push_dm.deadline(NOW, 30), PASSWORD, gpi=gpi_octets,
                                placement=placement)  # type: ignore[arg-type]


def ue_session(store: push_ue.SaStore, card: object | None = None) -> push_dm.UeDmSession:
    return push_dm.UeDmSession(store, card or usim(), IMPI, DEVICE, FQDN, PASSWORD)  # type: ignore[arg-type]


def run(naf: push_dm.NafDmSession, ue: push_dm.UeDmSession) -> int:
    """The whole session; the number of messages exchanged."""
    pkg1 = ue.notification_received(naf.notification(), NOW)
    pkg2 = naf.pkg1_received(pkg1, NOW)
    pkg3 = ue.pkg2_received(pkg2, NOW)
    if pkg3 is None:
        return 3
    ue.pkg4_received(naf.pkg3_received(pkg3, NOW))
    return 5


@pytest.mark.parametrize("placement", ["digest", "future-use", "trigger"])
def test_embodiment_1_gba_push_delivers_the_pushes(placement: str) -> None:
    gpi_octets, ks_naf = bsf_push(MemoryHss())
    store = push_ue.SaStore()
    naf = naf_session(4711, SaId(IdKind.SESSION, "4711"), ks_naf, gpi_octets, placement)
    ue = ue_session(store)
    assert run(naf, ue) == 5
    assert ue.payloads == list(PUSHES)
    assert naf.end is push_dm.End.DONE
    assert naf.payloads_acknowledged == 1  # one Add command, 200
    assert ue.ended
    assert store.find(SaId(IdKind.SESSION, "4711"), NOW) is not None


def test_embodiment_2_new_session_same_secure_id_reuses_the_sa() -> None:
    gpi_octets, ks_naf = bsf_push(MemoryHss())
    store, card = push_ue.SaStore(), usim()
    secure = SaId(IdKind.SECURE, "sa-77")
    first = naf_session(1, secure, ks_naf, gpi_octets)
    run(first, ue_session(store, card))
    again = naf_session(2, secure, ks_naf, None, sa=first.sa)  # no GPI: no BSF request
    ue = ue_session(store, card)
    assert run(again, ue) == 5
    assert ue.reused
    assert ue.payloads == list(PUSHES)


def test_unknown_sa_without_gpi_ends_with_needs_gpi() -> None:
    _, ks_naf = bsf_push(MemoryHss())
    naf = naf_session(9, SaId(IdKind.PSEUDONYM, "nobody"), ks_naf, None)
    ue = ue_session(push_ue.SaStore())
    assert run(naf, ue) == 3
    assert naf.end is push_dm.End.NEEDS_GPI
    assert ue.payloads == []


def test_naf_without_the_key_is_refused_before_pkg1() -> None:
    gpi_octets, _ = bsf_push(MemoryHss())
    store = push_ue.SaStore()
    naf = naf_session(5, SaId(IdKind.SESSION, "5"), bytes(32), gpi_octets)
    with pytest.raises((MacFailure, AuthError)):
        ue_session(store).notification_received(naf.notification(), NOW)
    assert len(store) == 0


def test_no_pkg3_in_time_ends_the_session_and_keeps_the_sa() -> None:
    gpi_octets, ks_naf = bsf_push(MemoryHss())
    store = push_ue.SaStore()
    naf = naf_session(6, SaId(IdKind.SESSION, "6"), ks_naf, gpi_octets)
    ue = ue_session(store)
    pkg2 = naf.pkg1_received(ue.notification_received(naf.notification(), NOW), NOW)
    assert naf.expire(NOW) is None
    end = naf.expire(naf.deadline)
    assert end is not None
    assert naf.end is push_dm.End.TIMED_OUT
    assert ue.pkg2_received(end, NOW) is None  # Alert 1223
    assert ue.ended
    assert store.find(SaId(IdKind.SESSION, "6"), NOW) is not None
    assert pkg2


def test_wrong_ue_credential_is_refused() -> None:
    gpi_octets, ks_naf = bsf_push(MemoryHss())
    naf = naf_session(8, SaId(IdKind.SESSION, "8"), ks_naf, gpi_octets)
    pkg1 = ue_session(push_ue.SaStore()).notification_received(naf.notification(), NOW)
    msg = syncml.decode(pkg1)
    forged = syncml.Message(syncml.SyncHdr(msg.header.session_id, msg.header.msg_id,
                                           msg.header.target, msg.header.source,
                                           syncml.Cred("AAAAAAAAAAAAAAAAAAAAAA==",
                                                       syncml.AUTH_MAC)), msg.commands)
    naf.pkg1_received(syncml.encode(forged), NOW)
    assert naf.end is push_dm.End.UE_REFUSED
