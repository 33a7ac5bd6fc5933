"""An MTC device (seed 004; docs/mtc.md): group key on its USIM, small data through the
MTC-IWF on fresh keys every time.

:meth:`MtcDevice.transmit` is one transmission: an initialisation request to the BSF (Ub
with ``X-MTC-Group`` and ``X-MTC-Small-Data``: AKA with the group's vector gives Ks),
K_IWF = Ks_NAF for the MTC-IWF's NAF_Id and the device's own IMPI, the small-data keys
the BSF's 200 names (``X-MTC-Subkeys``), then ``POST /small-data`` to the MTC-IWF with the
data sealed (:mod:`gba.protocols.mtc_small_data`) and the downlink opened from the
answer. The USIM's SQN array persists across transmissions; nothing else does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from gba.crypto import aka
from gba.errors import GbaError, ProtocolError
from gba.protocols import mtc, mtc_small_data, ub_bsf
from gba.protocols.actions import Bootstrapped, Send
from gba.protocols.ub_ue import UeUbExchange
from gba.transport.http import exchange

SMALL_DATA_TYPE = "application/vnd.gba-lab.mtc-small-data"


@dataclass
class Transmission:
    """What one transmission used and got (no key material in repr)."""

    btid: str
    subkeys: str
    k_iwf: bytes = field(repr=False)
    enc: bytes | None = field(repr=False)
    integrity: bytes | None = field(repr=False)
    downlink: bytes | None
    messages: list[str]


class MtcDevice:
    def __init__(self, imsi: str, group_id: str, key_id: int, usim: aka.Usim,
                 capability: mtc.Capability, bsf_url: str, iwf_url: str, iwf_fqdn: str, *,
                 mcc: str = "001", mnc: str = "01",
                 trace: Callable[[str], None] = lambda _: None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.imsi = imsi
        self.impi = mtc.device_impi(imsi, mcc, mnc)
        self.request = mtc.InitRequest(group_id, key_id, capability)
        self.usim = usim
        self.bsf_url = bsf_url
        self.iwf_url = iwf_url.rstrip("/")
        self.iwf_fqdn = iwf_fqdn
        self.trace = trace
        self._http = session
        self._own = session is None
        """A device of a simulator shares the simulator's HTTP session."""

    async def __aenter__(self) -> MtcDevice:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._own and self._http is not None:
            await self._http.close()

    async def initialise(self, messages: list[str]) -> tuple[str, bytes, str]:
        """The initialisation request and AKA: (B-TID, K_IWF, subkeys mode)."""
        assert self._http is not None
        run = UeUbExchange(self.impi, self.usim, trace=messages.append,
                           extra_headers=tuple(mtc.request_headers(self.request)))
        action: Send | Bootstrapped = run.start()
        while isinstance(action, Send):
            response, _ = await exchange(self._http, self.bsf_url, action.request)
            action = run.response_received(response)
        boot = action.bootstrap
        mode = run.final.header(ub_bsf.MTC_SUBKEYS_HEADER) if run.final else None
        if mode is None:
            raise ProtocolError("the BSF's 200 names no small-data keys (X-MTC-Subkeys): "
                                "not an MTC bootstrap")
        k_iwf = mtc.k_iwf(boot.ks, boot.rand, self.impi, self.iwf_fqdn)
        messages.append(f"UE         Ks -> K_IWF for {self.iwf_fqdn}, subkeys {mode}")
        return boot.btid, k_iwf, mode

    async def transmit(self, data: bytes, server: str | None = None) -> Transmission:
        """One small-data transmission on fresh keys (claim 4), to application server
        *server* (the MTC-IWF's default when None)."""
        assert self._http is not None
        messages: list[str] = []
        btid, k_iwf, mode = await self.initialise(messages)
        keys = mtc_small_data.Keys.derive(k_iwf, mtc.parse_subkeys(mode))
        sealed = mtc_small_data.seal(keys, btid, mtc_small_data.Direction.UPLINK, 1, data)
        messages.append(f"UE -> MTC-IWF  POST /small-data ({len(data)} octets, {mode})")
        async with self._http.post(f"{self.iwf_url}/small-data", data=sealed,
                                   params={"as": server} if server else None,
                                   headers={"Content-Type": SMALL_DATA_TYPE}) as r:
            body = await r.read()
            if r.status not in (200, 204):
                raise GbaError(f"the MTC-IWF refused the small data: {r.status} "
                               f"{body[:200].decode('utf-8', 'replace').strip()}")
        downlink = None
        if r.status == 200:
            _, downlink, _ = mtc_small_data.open_(
                keys, btid, body, mtc_small_data.ReplayWindow(),
                expect=mtc_small_data.Direction.DOWNLINK)
            messages.append(f"MTC-IWF -> UE  200 downlink ({len(downlink)} octets)")
        else:
            messages.append("MTC-IWF -> UE  204 (no downlink)")
        for line in messages:
            self.trace(line)
        return Transmission(btid, mode, k_iwf, keys.enc, keys.int, downlink, messages)


def view(t: Transmission) -> dict[str, Any]:
    """A transmission as JSON: identifiers and a key fingerprint, never a key."""
    import hashlib

    def fp(key: bytes | None) -> str | None:
        return hashlib.sha256(key).hexdigest()[:16] if key is not None else None

    return {"btid": t.btid, "subkeys": t.subkeys, "k_iwf_fp": fp(t.k_iwf),
            "enc_fp": fp(t.enc), "int_fp": fp(t.integrity),
            "downlink": t.downlink.decode("utf-8", "replace") if t.downlink else None,
            "messages": t.messages}
