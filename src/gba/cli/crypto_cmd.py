"""``gba crypto ...``: a calculator for checking equipment against the crypto core.

Every command prints one JSON object with lowercase hex values. These commands are a
stable interface: tests and outside checks rely on their names and keys.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from gba.cli.output import emit_json
from gba.crypto import aka, digest, kdf, ua_protocols
from gba.crypto.milenage import Milenage, opc_from_op
from gba.errors import InvalidInput
from gba.hexutil import from_hex

app = typer.Typer(help="Milenage, AKA, GBA KDF and Digest calculators (JSON output).",
                  no_args_is_help=True)

Hex = Annotated[str, typer.Option(help="hex")]
OptHex = Annotated[str | None, typer.Option(help="hex")]


def _opc(k: bytes, op: str | None, opc: str | None) -> bytes:
    if (op is None) == (opc is None):
        raise InvalidInput("give exactly one of --op and --opc")
    if opc is not None:
        return from_hex(opc, "OPc", 16)
    assert op is not None
    return opc_from_op(k, from_hex(op, "OP", 16))


def ua_protocol_of(ua_protocol: str | None, tls_suite: str | None,
                   default: bytes | None = None) -> bytes:
    """The Ua security protocol id from --ua-protocol (hex) or --tls-suite (TS 33.220
    H.3: shared-key TLS with suite yy zz is 01 00 01 yy zz); at most one of them."""
    if ua_protocol is not None and tls_suite is not None:
        raise InvalidInput("give one of --ua-protocol and --tls-suite, not both")
    if tls_suite is not None:
        return ua_protocols.psk_tls(ua_protocols.tls_suite(tls_suite))
    if ua_protocol is not None:
        return from_hex(ua_protocol, "Ua protocol id", 5)
    if default is None:
        raise InvalidInput("give one of --ua-protocol and --tls-suite")
    return default


@app.command()
def milenage(k: Hex, rand: Hex, sqn: Hex, amf: Hex, op: OptHex = None, opc: OptHex = None
             ) -> None:
    """f1..f5* and OPc for one input set (TS 35.206)."""
    key = from_hex(k, "K", 16)
    opc_b = _opc(key, op, opc)
    out = Milenage(key, opc_b).compute(from_hex(rand, "RAND", 16), from_hex(sqn, "SQN", 6),
                                       from_hex(amf, "AMF", 2))
    emit_json({"opc": opc_b.hex(), "mac_a": out.mac_a.hex(), "mac_s": out.mac_s.hex(),
               "res": out.res.hex(), "ck": out.ck.hex(), "ik": out.ik.hex(),
               "ak": out.ak.hex(), "ak_star": out.ak_star.hex()})


@app.command("aka-vector")
def aka_vector(k: Hex, sqn: Hex, amf: Annotated[str, typer.Option(help="hex")] = "0000",
               op: OptHex = None, opc: OptHex = None,
               rand: Annotated[str | None, typer.Option(help="hex; random if absent")] = None
               ) -> None:
    """An authentication vector (RAND, XRES, CK, IK, AUTN) as the HSS builds it (TS 33.102)."""
    key = from_hex(k, "K", 16)
    mil = Milenage(key, _opc(key, op, opc))
    sqn_i = int.from_bytes(from_hex(sqn, "SQN", 6), "big")
    rand_b = from_hex(rand, "RAND", 16) if rand is not None else os.urandom(16)
    v = aka.generate_vector(mil, sqn_i, from_hex(amf, "AMF", 2), rand=rand_b)
    emit_json({"rand": v.rand.hex(), "xres": v.xres.hex(), "ck": v.ck.hex(), "ik": v.ik.hex(),
               "autn": v.autn.hex(), "sqn": v.sqn.to_bytes(6, "big").hex(),
               "amf": v.amf.hex(), "ks": kdf.ks(v.ck, v.ik).hex()})


@app.command("ks-naf")
def ks_naf(ck: Hex, ik: Hex, rand: Hex,
           impi: Annotated[str, typer.Option(help="IMPI (text)")],
           naf_fqdn: Annotated[str, typer.Option(help="NAF FQDN (text)")],
           ua_protocol: Annotated[str | None, typer.Option(help="5-octet Ua protocol id, hex")
                                  ] = None,
           tls_suite: Annotated[str | None, typer.Option(
               help="PSK-TLS suite (Ua protocol 01 00 01 yy zz): IANA or OpenSSL name, "
                    "or code such as 0x00A8")] = None,
           gba_u: Annotated[bool, typer.Option("--gba-u", help="Ks_int_NAF")] = False) -> None:
    """Ks_(ext)_NAF, or Ks_int_NAF with --gba-u (TS 33.220 Annex B)."""
    proto = ua_protocol_of(ua_protocol, tls_suite)
    key = kdf.ks(from_hex(ck, "CK", 16), from_hex(ik, "IK", 16))
    nid = kdf.naf_id(naf_fqdn, proto)
    value = kdf.ks_naf(key, from_hex(rand, "RAND", 16), impi, nid, gba_u=gba_u)
    emit_json({"ks_naf": value.hex()})


@app.command("digest-response")
def digest_response(
    username: Annotated[str, typer.Option()],
    realm: Annotated[str, typer.Option()],
    nonce: Annotated[str, typer.Option()],
    uri: Annotated[str, typer.Option()],
    method: Annotated[str, typer.Option()] = "GET",
    algorithm: Annotated[str, typer.Option(help="MD5, SHA-256, -sess, AKAv1-MD5, AKAv2-MD5")
                         ] = "MD5",
    password: Annotated[str | None, typer.Option(help="text password")] = None,
    password_hex: Annotated[str | None, typer.Option(help="password octets (RES for AKA)")
                            ] = None,
    ik: OptHex = None,
    ck: OptHex = None,
    qop: Annotated[str, typer.Option(help="auth, auth-int or none")] = "auth",
    nc: Annotated[str, typer.Option()] = "00000001",
    cnonce: Annotated[str, typer.Option()] = "",
    body: Annotated[str, typer.Option(help="entity body for auth-int")] = "",
) -> None:
    """The Digest response and rspauth (RFC 7616, RFC 3310, RFC 4169)."""
    if (password is None) == (password_hex is None):
        raise InvalidInput("give exactly one of --password and --password-hex")
    secret: bytes = (password.encode("utf-8") if password is not None
                     else from_hex(password_hex or "", "password"))
    alg = digest.algorithm(algorithm)
    if alg.aka_version:
        ik_b = from_hex(ik, "IK", 16) if ik else b""
        ck_b = from_hex(ck, "CK", 16) if ck else b""
        secret = digest.aka_password(alg, secret, ik_b, ck_b)
    d = digest.DigestInput(algorithm_token=alg.token, username=username, realm=realm,
                           password=secret, uri=uri, nonce=nonce,
                           qop=None if qop.lower() == "none" else qop, nc=nc, cnonce=cnonce)
    result = {"response": digest.response(d, method, body.encode("utf-8")),
              "rspauth": digest.rspauth(d)}
    if alg.aka_version == 2:
        result["password"] = secret.decode("ascii")
    emit_json(result)
