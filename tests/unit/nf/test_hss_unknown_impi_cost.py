"""An unknown IMPI costs the HSS what a known one costs (issue 10 item 6).

The BSF answers an unknown IMPI with a decoy 401; if the HSS answered it sooner than a
real vector (no Milenage, no fsync'd SQN commit) the decoy 401 came back about 0.5 ms
early over loopback. The HSS therefore does the same work for nothing. Timing itself is
not asserted here (no timing in tests); the work is: one committed write of the same
size to the same file, and an answer built and dropped.
"""

from __future__ import annotations

from pathlib import Path

from gba.config import DiameterNodeConfig
from gba.nf.common import peer_identity
from gba.nf.hss import Hss
from gba.protocols import zh
from gba.protocols.diameter import Message
from gba.store.base import Subscriber
from gba.store.sqlite.hss import SqliteSubscriberStore
from vectors import ts35208_set

REALM = "example.org"
KNOWN = f"001010000000001@{REALM}"
BSF = peer_identity(DiameterNodeConfig(f"bsf.{REALM}", REALM))
HSS = peer_identity(DiameterNodeConfig(f"hss.{REALM}", REALM))


def mar(impi: str, n: int) -> Message:
    return zh.build_mar(BSF, REALM, f"bsf.{REALM};1;{n}", zh.VectorRequest(impi)).with_ids(n, n)


def wal_size(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


async def test_each_unknown_impi_request_is_counted_in_the_store(tmp_path: Path) -> None:
    store = SqliteSubscriberStore(tmp_path / "hss.sqlite")
    try:
        hss = Hss(store, HSS)
        for n in range(3):
            answer = await hss.handle(mar(f"00101999000000{n}@{REALM}", n), BSF.origin_host)
            assert answer.result_code == 5401
        assert await store.unknown_impi_requests() == 3
    finally:
        await store.close()


async def test_known_and_unknown_impis_commit_the_same_write(tmp_path: Path) -> None:
    """Each request, known or unknown, appends the same number of bytes to the WAL:
    one committed page, fsync'd under synchronous=FULL."""
    db = tmp_path / "hss.sqlite"
    store = SqliteSubscriberStore(db)
    try:
        k, opc = ts35208_set(1)
        await store.put_subscriber(Subscriber(KNOWN, k, opc))
        hss = Hss(store, HSS)
        await hss.handle(mar(f"00101999000000@{REALM}", 0), BSF.origin_host)  # first row inserted
        growth: dict[str, list[int]] = {"known": [], "unknown": []}
        for n in range(1, 6):
            for kind, impi in (("known", KNOWN), ("unknown", f"00101999{n:07d}@{REALM}")):
                before = wal_size(db)
                await hss.handle(mar(impi, n), BSF.origin_host)
                growth[kind].append(wal_size(db) - before)
        assert min(growth["unknown"]) > 0
        assert growth["known"] == growth["unknown"]
    finally:
        await store.close()
