"""Write ours.json: the Diameter messages our builders produce, as captured vectors.

Run from the repository root after a deliberate change to a builder (the vector test
compares the builders' output with the stored bytes)::

    .venv/bin/python tests/vectors/diameter/make_ours.py

Builders: ``gba.protocols.diameter.capabilities`` (CER/CEA, DWR/DWA, DPR/DPA, error
answers, RFC 6733 §5, §7.2), ``gba.protocols.zh`` (MAR/MAA, TS 29.109 §4.2-4.3) and
``gba.protocols.zn`` (BIR/BIA, TS 29.109 §4.4-4.5). Identities, ids and times are fixed;
the Zh vector is TS 35.208 test set 1 (RAND, AUTN = SQN xor AK || AMF || MAC-A, XRES,
CK, IK), read from ``tests/vectors/ts35208/milenage.json``.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
if str(TESTS) not in sys.path:  # run as a script: the tests/ helpers are not importable yet
    sys.path.insert(0, str(TESTS))

from diameter_json import describe, dumps  # noqa: E402
from gba.protocols import guss, zh, zn  # noqa: E402
from gba.protocols.diameter import Message, MissingAvp, PeerIdentity, raw_avp  # noqa: E402
from gba.protocols.diameter import capabilities as caps  # noqa: E402
from gba.protocols.diameter import dictionary as d  # noqa: E402
from vectors import milenage_sets  # noqa: E402

OUT = Path(__file__).with_name("ours.json")
SOURCE = ("gba (this repository), tests/vectors/diameter/make_ours.py: "
          "gba.protocols.diameter.capabilities, gba.protocols.zh, gba.protocols.zn")

BSF = PeerIdentity("bsf.home.example.org", "home.example.org", (ip_address("192.0.2.10"),),
                   origin_state_id=1732449600)
HSS = PeerIdentity("hss.home.example.org", "home.example.org", (ip_address("192.0.2.20"),),
                   origin_state_id=1732449601, firmware_revision=1)
NAF = PeerIdentity("naf.visited.example.org", "visited.example.org",
                   (ip_address("192.0.2.30"), ip_address("2001:db8::30")))
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
BTID = "I1U8vpY3qJ0hiuZNrke/NQ==@bsf.home.example.org"
NAF_ID = b"naf.visited.example.org" + bytes.fromhex("0100000002")  # TS 33.220 Annex H
CREATED = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EXPIRES = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KS_NAF = bytes(range(32))  # a dummy Ks_(ext)_NAF; no published vector exists
USS = guss.encode_uss_list([guss.Uss("1", "1", "internet", ("sip:alice@home.example.org",),
                                      ("1",))])
GUSS = guss.encode_guss(guss.Guss(guss.UICC_GBA, 3600, (), IMPI))
UNKNOWN_M_AVP = raw_avp(414, bytes(4), vendor=d.VENDOR_3GPP, mandatory=True)
"""UICC-ME with the M bit: a Zpn AVP that a BIR does not have (answered 5001)."""


def _ids(message: Message, hop_by_hop: int, end_to_end: int) -> Message:
    return message.with_ids(hop_by_hop, end_to_end)


def messages() -> list[tuple[str, str, Message]]:
    """(name, what built it, message), in a fixed order."""
    zn_apps = [zn.APPLICATION]
    zh_apps = [zh.APPLICATION]
    set1 = next(s for s in milenage_sets() if s["set"] == 1)
    sqn_ak = bytes(a ^ b for a, b in zip(bytes.fromhex(set1["sqn"]),
                                         bytes.fromhex(set1["f5"]), strict=True))
    autn = sqn_ak + bytes.fromhex(set1["amf"]) + bytes.fromhex(set1["f1"])
    vector = zh.VectorAnswer(IMPI, bytes.fromhex(set1["rand"]), autn,
                             bytes.fromhex(set1["f2"]), bytes.fromhex(set1["f3"]),
                             bytes.fromhex(set1["f4"]), GUSS)

    cer = _ids(caps.build_cer(NAF, zn_apps), 0x00000001, 0x5A000001)
    cea = caps.build_cea(cer, BSF, zn_apps, d.ResultCode.SUCCESS)
    cer_zh = _ids(caps.build_cer(BSF, zh_apps), 0x00000101, 0x5B000001)
    cea_5010 = caps.build_cea(cer_zh, HSS, [zn.APPLICATION], d.ResultCode.NO_COMMON_APPLICATION)
    dwr = _ids(caps.build_dwr(BSF), 0x00000002, 0x5A000002)
    dwa = caps.build_dwa(dwr, NAF)
    dpr = _ids(caps.build_dpr(NAF, d.DisconnectCause.DO_NOT_WANT_TO_TALK_TO_YOU),
               0x00000003, 0x5A000003)
    dpa = caps.build_dpa(dpr, BSF)
    mar = _ids(zh.build_mar(BSF, HSS.origin_realm, "bsf.home.example.org;1732449600;1",
                            zh.VectorRequest(IMPI)), 0x00000102, 0x5B000002)
    maa = zh.build_maa(mar, HSS, vector)
    mar_resync = _ids(zh.build_mar(BSF, HSS.origin_realm, "bsf.home.example.org;1732449600;2",
                                   zh.VectorRequest(IMPI, bytes.fromhex(set1["rand"]),
                                                    bytes(14), gba_u_aware=True,
                                                    guss_timestamp=CREATED)),
                      0x00000103, 0x5B000003)
    maa_5401 = zh.build_maa_error(mar_resync, HSS, d.ExperimentalResultCode.IMPI_UNKNOWN,
                                  experimental=True)
    bir = _ids(zn.build_bir(NAF, BSF.origin_realm, "naf.visited.example.org;1732449600;1",
                            zn.KeyRequest(BTID, NAF_ID, (b"1",), gba_u_aware=False)),
               0x00000004, 0x5A000004)
    bia = zn.build_bia(bir, BSF, zn.KeyAnswer(IMPI, EXPIRES, CREATED, me_key=KS_NAF,
                                             uss=USS))
    bia_gba_u = zn.build_bia(bir, BSF, zn.KeyAnswer(IMPI, EXPIRES, CREATED, me_key=KS_NAF,
                                                   uicc_key=bytes(range(32, 64))))
    bia_5403 = zn.build_bia_error(bir, BSF, d.ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID)
    bir_no_naf_id = replace(bir, avps=tuple(a for a in bir.avps if a.code != 402))
    answer_5005 = caps.codec_error_answer(bir_no_naf_id, BSF, MissingAvp(402, d.VENDOR_3GPP))
    bir_uicc_me = bir.with_avps([*bir.avps, UNKNOWN_M_AVP])
    answer_5001 = caps.codec_error_answer(bir_uicc_me, BSF,
                                          caps.UnsupportedAvp([UNKNOWN_M_AVP], "BIR"))
    return [
        ("cer", "capabilities.build_cer (NAF, Zn)", cer),
        ("cea", "capabilities.build_cea (BSF, 2001)", cea),
        ("cer-zh", "capabilities.build_cer (BSF, Zh)", cer_zh),
        ("cea-5010", "capabilities.build_cea (HSS, 5010 DIAMETER_NO_COMMON_APPLICATION)",
         cea_5010),
        ("dwr", "capabilities.build_dwr", dwr),
        ("dwa", "capabilities.build_dwa", dwa),
        ("dpr", "capabilities.build_dpr (DO_NOT_WANT_TO_TALK_TO_YOU)", dpr),
        ("dpa", "capabilities.build_dpa", dpa),
        ("zh-mar", "zh.build_mar", mar),
        ("zh-maa", "zh.build_maa (TS 35.208 set 1 vector, GUSS)", maa),
        ("zh-mar-resync", "zh.build_mar (RAND || AUTS, GUSS-Timestamp; GBA_U awareness "
         "not sent)", mar_resync),
        ("zh-maa-5401", "zh.build_maa_error (Experimental-Result 5401)", maa_5401),
        ("zn-bir", "zn.build_bir", bir),
        ("zn-bia", "zn.build_bia (GBA_ME, one ussList with one USS)", bia),
        ("zn-bia-gba-u", "zn.build_bia (GBA_U: UICC-Key-Material, no USS)", bia_gba_u),
        ("zn-bia-5403", "zn.build_bia_error (Experimental-Result 5403)", bia_5403),
        ("zn-answer-5005", "capabilities.codec_error_answer (BIR without NAF-Id)",
         answer_5005),
        ("zn-answer-5001", "capabilities.codec_error_answer (BIR with an M-bit UICC-ME)",
         answer_5001),
    ]


def vectors() -> list[dict[str, object]]:
    return [{"name": name, "source": f"gba {builder}", "hex": message.encode().hex(),
             **describe(message)} for name, builder, message in messages()]


def main() -> None:
    document = {"source": SOURCE, "messages": vectors()}
    OUT.write_text(dumps(document), encoding="utf-8")
    print(f"wrote {len(document['messages'])} messages to {OUT}")


if __name__ == "__main__":
    main()
