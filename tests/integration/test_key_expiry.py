"""Key expiry and re-bootstrap, with a clock the test moves (TS 33.220 §4.5.2 step 7).

HSS, BSF and NAF run in this process but talk over real sockets (Diameter on TCP for
Zh/Zn, HTTP for Ub/Ua); only the clock is shared and driven by the test.
"""

from __future__ import annotations

from datetime import timedelta

from gba.crypto import aka
from gba.ue.client import GbaClient
from integration.conftest import IMPI, OPC, K, Net


async def test_expired_key_leads_to_rebootstrap_and_new_btid(net: Net) -> None:
    usim = aka.Usim(bytes.fromhex(K), bytes.fromhex(OPC))
    async with GbaClient(IMPI, usim, net.bsf_url, clock=net.clock) as ue:
        first = await ue.fetch_digest(net.naf_url, "naf.example.org")
        assert first.status == 200
        old_btid = ue.current.btid if ue.current else ""
        assert old_btid.encode() in first.body

        net.clock.now += timedelta(hours=1, seconds=1)
        second = await ue.fetch_digest(net.naf_url, "naf.example.org")
        assert second.status == 200
        assert ue.current is not None
        assert ue.current.btid != old_btid
        assert ue.current.btid.encode() in second.body


async def test_naf_rejects_old_btid_after_expiry_even_with_cached_key(net: Net) -> None:
    usim = aka.Usim(bytes.fromhex(K), bytes.fromhex(OPC))
    async with GbaClient(IMPI, usim, net.bsf_url, clock=net.clock) as ue:
        assert (await ue.fetch_digest(net.naf_url, "naf.example.org")).status == 200
        stale = ue.current
        net.clock.now += timedelta(hours=2)
        ue.current = stale  # a UE that ignores the lifetime keeps presenting the old B-TID
        ue.clock = lambda: stale.lifetime - timedelta(seconds=1) if stale else net.clock()
        response = await ue.fetch_digest(net.naf_url, "naf.example.org")
        # first try refused (401), the forced re-bootstrap then succeeds
        assert response.status == 200
        assert ue.current is not None
        assert stale is not None
        assert ue.current.btid != stale.btid
