"""The crypto core end to end, in one process (TS 33.102 §6.3, TS 33.220 §4.5, RFC 3310).

Provision a subscriber, let the HSS side build a vector, run the USIM side, check the
Digest AKA response as a BSF would, derive Ks, the B-TID and Ks_NAF on both sides, then
replay the old challenge to show the synchronisation failure and the AUTS resync.
"""

from __future__ import annotations

import os

from gba.crypto import aka, digest, kdf, ua_protocols
from gba.crypto.milenage import Milenage
from gba.demos import Step
from gba.lab.subscribers import DEMO_K, DEMO_OPC

DEMO_IMPI = "001010123456789@ims.mnc001.mcc001.3gppnetwork.org"
BSF_HOST = "bsf.mnc001.mcc001.pub.3gppnetwork.org"
NAF_FQDN = "naf.example.org"


def run() -> list[Step]:
    steps: list[Step] = []
    hss = Milenage(DEMO_K, DEMO_OPC)
    usim = aka.Usim(DEMO_K, DEMO_OPC)
    sqn_he = aka.join_sqn(40, 0)
    steps.append(Step("provision subscriber", True, [
        f"HSS: IMPI {DEMO_IMPI}", "HSS: K and OPc from TS 35.208 test set 1",
        f"HSS: SQN_HE = SEQ 40 / IND 0 ({sqn_he:#014x})"]))

    sqn = aka.next_sqn(sqn_he)
    vector = aka.generate_vector(hss, sqn, b"\x00\x00", rng=os.urandom)
    steps.append(Step("HSS generates vector", True, [
        f"HSS -> BSF: RAND {vector.rand.hex()}", f"HSS -> BSF: AUTN {vector.autn.hex()}",
        f"SQN {sqn:#014x} (SEQ stepped by one, IND 0), AMF 0000 (separation bit clear)"]))

    result = usim.authenticate(vector.rand, vector.autn)
    ok = isinstance(result, aka.AkaSuccess)
    steps.append(Step("USIM verifies AUTN", ok, [
        "UE: MAC-A verified, SQN fresh" if ok else f"UE: rejected ({result})"]))
    if not isinstance(result, aka.AkaSuccess):
        return steps

    nonce = digest.aka_nonce(vector.rand, vector.autn)
    realm = "mnc001.mcc001.3gppnetwork.org"
    ue_side = digest.DigestInput("AKAv1-MD5", DEMO_IMPI, realm, result.res, "/", nonce,
                                 "auth-int", "00000001", os.urandom(8).hex())
    bsf_side = digest.DigestInput("AKAv1-MD5", DEMO_IMPI, realm, vector.xres, "/", nonce,
                                  "auth-int", "00000001", ue_side.cnonce)
    sent = digest.response(ue_side, "GET")
    ok = digest.verify(digest.response(bsf_side, "GET"), sent)
    steps.append(Step("BSF checks Digest AKA response", ok, [
        f"UE -> BSF: Authorization response={sent} (password = RES)",
        "BSF: response matches XRES" if ok else "BSF: response mismatch"]))

    ks_ue = kdf.ks(result.ck, result.ik)
    ks_bsf = kdf.ks(vector.ck, vector.ik)
    btid = kdf.btid(vector.rand, BSF_HOST)
    steps.append(Step("Ks and B-TID", ks_ue == ks_bsf, [
        f"Ks = CK || IK = {ks_bsf.hex()}", f"B-TID = {btid}"]))

    nid = kdf.naf_id(NAF_FQDN, ua_protocols.HTTP_DIGEST)
    naf_key_bsf = kdf.ks_naf(ks_bsf, vector.rand, DEMO_IMPI, nid)
    naf_key_ue = kdf.ks_naf(ks_ue, vector.rand, DEMO_IMPI, nid)
    steps.append(Step("Ks_NAF on both sides", naf_key_ue == naf_key_bsf, [
        f"NAF_Id = {NAF_FQDN} || {ua_protocols.HTTP_DIGEST.hex()} (HTTP Digest, TS 33.222)",
        f"BSF -> NAF (Zn): Ks_NAF = {naf_key_bsf.hex()}",
        f"UE derives:      Ks_NAF = {naf_key_ue.hex()}"]))

    replay = usim.authenticate(vector.rand, vector.autn)
    ok = isinstance(replay, aka.AkaSyncFailure)
    lines = ["UE: replayed challenge -> " + ("sync failure, AUTS sent" if ok else "ACCEPTED")]
    if isinstance(replay, aka.AkaSyncFailure):
        sqn_ms = aka.resync_sqn(hss, vector.rand, replay.auts)
        fresh = aka.generate_vector(hss, aka.next_sqn(sqn_ms), b"\x00\x00")
        accepted = isinstance(usim.authenticate(fresh.rand, fresh.autn), aka.AkaSuccess)
        ok = ok and sqn_ms == sqn and accepted
        lines += [f"HSS: MAC-S verified, SQN_MS = {sqn_ms:#014x}",
                  "HSS: next vector after SQN_MS " + ("accepted" if accepted else "REJECTED")]
    steps.append(Step("replay rejected, AUTS resync", ok, lines))
    return steps
