"""The BSF's Zpn side: GBA Push Info for a NAF (TS 33.223 §5.2-§5.3, TS 29.109 Zpn;
TS 24.109 Annex A1.3 steps 2-7; docs/push.md §2).

On the same Diameter node as Zn: a configured NAF (the Zn authorisation, TS 33.220
§4.5.3) asks with GPIR for a UE and the P-TID it chose; the BSF fetches one vector over
Zh, derives Ks = CK || IK and Ks_(ext/int)_NAF for the NAF_Id (GBA Push is disposable-Ks:
nothing is stored), builds the GPI (RAND, AUTN, NAF_Id, mode, lifetime, App_Lbl, the
P-TID sealed under Ks_NAF: :mod:`gba.protocols.gpi`) and answers GPIA with the GPI and
the keys. Only a private identity is accepted as UE-Id (a public one would need the HSS
to map it, which this Zh does not do): 5401 otherwise.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from gba.errors import CodecError, GbaError
from gba.nf.bsf import Bsf, naf_refusal
from gba.protocols import gpi as gpi_codec
from gba.protocols import roaming, zn, zpn
from gba.protocols.diameter import (
    CMD_GBA_PUSH_INFO,
    ExperimentalResultCode,
    Message,
    ResultCode,
)
from gba.protocols.diameter.capabilities import codec_error_answer, error_answer
from gba.protocols.push_keys import bsf_push_keys
from gba.protocols.zh import VectorAnswer, VectorRequest

log = logging.getLogger(__name__)


class BsfZpn:
    def __init__(self, bsf: Bsf) -> None:
        self.bsf = bsf
        self.requests = 0
        """GPIRs answered (counted for tests and metrics: SA reuse costs none)."""

    async def gpir(self, request: Message, peer: str) -> Message:
        bsf = self.bsf
        if request.command_code != CMD_GBA_PUSH_INFO:
            return error_answer(request, bsf.identity, ResultCode.COMMAND_UNSUPPORTED)
        try:
            req = zpn.parse_gpir(request)
        except CodecError as exc:
            log.warning("Zpn GPIR from %s malformed: %s", peer, exc,
                        extra={"interface": "zpn", "peer": peer})
            return codec_error_answer(request, bsf.identity, exc)
        self.requests += 1
        fields: dict[str, object] = {"interface": "zpn", "peer": req.origin_host}
        as_zn = zn.KeyRequest("", req.naf_id, origin_host=req.origin_host)
        refusal = (f"{req.origin_host!r} is not a configured NAF"
                   if req.origin_host not in bsf.policy.hostnames_by_origin
                   else naf_refusal(bsf.policy, request, as_zn, peer))
        if refusal is not None:
            log.warning("Zpn: NAF %s refused: %s", req.origin_host, refusal,
                        extra={**fields, "result": int(ExperimentalResultCode.NOT_AUTHORIZED)})
            return zpn.build_gpia_error(request, bsf.identity,
                                        ExperimentalResultCode.NOT_AUTHORIZED)
        if req.ue_id_type != zpn.UeIdType.PRIVATE_USER_IDENTITY:
            return zpn.build_gpia_error(request, bsf.identity,
                                        ExperimentalResultCode.IMPI_UNKNOWN)
        try:
            vector = await bsf.fetch_vector(VectorRequest(req.ue_id))
        except GbaError as exc:
            log.warning("Zpn: HSS unavailable: %s", exc, extra={**fields, "result": 5012})
            return error_answer(request, bsf.identity, ResultCode.UNABLE_TO_COMPLY)
        if not isinstance(vector, VectorAnswer):
            code = (vector if vector in set(ExperimentalResultCode)
                    else int(ExperimentalResultCode.IMPI_UNKNOWN))
            log.info("Zpn: no vector for %s: %s", req.ue_id, vector,
                     extra={**fields, "result": code})
            return zpn.build_gpia_error(request, bsf.identity, code)
        gba_u = req.mode is gpi_codec.UiccMe.GBA_U
        keys = bsf_push_keys(vector, req.naf_id, gba_u)
        now = bsf.clock()
        lifetime = bsf.key_lifetime
        if req.requested_lifetime is not None:
            lifetime = min(lifetime, max(req.requested_lifetime - now, timedelta(0)))
        expiry = (now + lifetime).replace(microsecond=0)
        naf_key = keys.ks_naf
        sealed = gpi_codec.seal_ptid(gpi_codec.Gpi(
            ptid=req.ptid, rand=vector.rand, autn=vector.autn, naf_id=req.naf_id,
            mode=req.mode, key_lifetime=expiry, app_label=req.app_label), req.ptid, naf_key)
        log.info("Zpn: GPI for %s to NAF %s (%s), P-TID %s", vector.impi, req.origin_host,
                 roaming.naf_fqdn(req.naf_id), req.ptid.decode("utf-8", "replace"),
                 extra={**fields, "impi": vector.impi, "result": int(ResultCode.SUCCESS)})
        return zpn.build_gpia(request, bsf.identity, zpn.PushInfoAnswer(
            gpi=gpi_codec.encode_gpi(sealed), expiry=expiry, me_key=naf_key,
            uicc_key=keys.ks_int_naf, created=now,
            impi=vector.impi if req.private_identity_requested else None))
