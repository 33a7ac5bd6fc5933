"""The NAF's PSK-TLS endpoint against OpenSSL's s_client (TS 33.222 §5.4), across processes.

The UE bootstraps with our client; s_client then presents identity
"3GPP-bootstrapping.<B-TID>" and PSK = Ks_NAF for NAF_Id = FQDN || 01 00 01 00 8C, the
same key `gba ue naf-key` prints for that Ua protocol identifier.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

from e2e.labctl import LabFactory, gba
from gba.crypto import ua_protocols
from gba.ue.client import GbaClient

pytestmark = pytest.mark.interop


async def s_client(port: int, identity: str, psk_hex: str, request: bytes,
                   cipher: str = "PSK-AES128-CBC-SHA") -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2",
        "-cipher", cipher, "-psk_identity", identity, "-psk", psk_hex,
        "-ign_eof", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(request), 30)
    return proc.returncode or 0, out.decode("utf-8", "replace")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed")
async def test_openssl_reaches_naf_with_ks_naf_and_is_refused_with_another_key(
        lab_factory: LabFactory) -> None:
    lab = lab_factory(["psk-user"])
    info = json.loads((lab.dir / "lab.json").read_text())
    sub = lab.subscriber("psk-user")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        key = await ue.bootstrap_authentication(
            lab.naf_fqdn, ua_protocols.psk_tls(ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA))
    # s_client reads until the server closes: ask it to (the NAF keeps HTTP/1.1 alive)
    request = (f"GET /openssl HTTP/1.1\r\nHost: {lab.naf_fqdn}\r\nConnection: close\r\n\r\n"
               ).encode()
    identity = "3GPP-bootstrapping." + key.btid

    code, out = await s_client(info["naf_psk_tls_port"], identity, key.key.hex(), request)
    assert code == 0, out[-2000:]
    assert "PSK identity hint: 3GPP-bootstrapping" in out
    assert "HTTP/1.1 200 OK" in out
    assert f"hello {sub.impi}: /openssl" in out

    digest_key = ue.naf_key(lab.naf_fqdn, ua_protocols.HTTP_DIGEST).key
    _, refused = await s_client(info["naf_psk_tls_port"], identity, digest_key.hex(), request)
    assert "HTTP/1.1 200 OK" not in refused

    _, again = await s_client(info["naf_psk_tls_port"], identity, key.key.hex(), request)
    assert "HTTP/1.1 200 OK" in again


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed")
async def test_one_naf_port_serves_each_suite_with_the_key_for_that_suite(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    # TS 33.220 H.3: NAF_Id = FQDN || 01 00 01 yy zz with the negotiated suite yy zz; the
    # key comes from `gba ue naf-key --tls-suite`, as an engineer would compute it
    lab = lab_factory(["psk-suites"])
    info = json.loads((lab.dir / "lab.json").read_text())
    sub = lab.subscriber("psk-suites")
    request = (f"GET /suite HTTP/1.1\r\nHost: {lab.naf_fqdn}\r\nConnection: close\r\n\r\n"
               ).encode()
    for cipher in ("PSK-AES128-GCM-SHA256", "PSK-AES256-GCM-SHA384", "PSK-AES128-CBC-SHA256",
                   "DHE-PSK-AES128-GCM-SHA256"):
        printed = json.loads(gba(
            "ue", "naf-key", "--impi", sub.impi, "--k", sub.k.hex(), "--opc", sub.opc.hex(),
            "--bsf-url", lab.bsf_url, "--naf-fqdn", lab.naf_fqdn, "--tls-suite", cipher,
            "--state", tmp_path / "ue-state.json"))
        assert printed["naf_id"].endswith(
            f"010001{ua_protocols.tls_suite(cipher):04x}")
        code, out = await s_client(info["naf_psk_tls_port"],
                                   "3GPP-bootstrapping." + printed["btid"], printed["ks_naf"],
                                   request, cipher)
        assert code == 0, out[-2000:]
        assert f"Cipher is {cipher}" in out or f"Cipher    : {cipher}" in out, out[-2000:]
        assert f"hello {sub.impi}: /suite" in out


@pytest.mark.skipif(shutil.which("gnutls-cli") is None, reason="needs gnutls-cli (gnutls-bin)")
async def test_gnutls_cli_reaches_the_lab_naf_with_each_plain_psk_suite(
        lab_factory: LabFactory, tmp_path: Path) -> None:
    # a second TLS stack against the same port; DHE-PSK is left to openssl above, as
    # gnutls-cli 3.7.9 crashes after DHE-PSK handshakes (tests/interop/test_psk_tls_suites)
    lab = lab_factory(["psk-gnutls"])
    info = json.loads((lab.dir / "lab.json").read_text())
    sub = lab.subscriber("psk-gnutls")
    for cipher, gnutls in (("PSK-AES128-GCM-SHA256", "AES-128-GCM:-MAC-ALL:+AEAD"),
                           ("PSK-AES256-GCM-SHA384", "AES-256-GCM:-MAC-ALL:+AEAD"),
                           ("PSK-AES128-CBC-SHA256", "AES-128-CBC:-MAC-ALL:+SHA256"),
                           ("PSK-AES128-CBC-SHA", "AES-128-CBC:-MAC-ALL:+SHA1")):
        printed = json.loads(gba(
            "ue", "naf-key", "--impi", sub.impi, "--k", sub.k.hex(), "--opc", sub.opc.hex(),
            "--bsf-url", lab.bsf_url, "--naf-fqdn", lab.naf_fqdn, "--tls-suite", cipher,
            "--state", tmp_path / "ue-state.json"))
        proc = await asyncio.create_subprocess_exec(
            "gnutls-cli", "-p", str(info["naf_psk_tls_port"]), "127.0.0.1",
            "--pskusername", "3GPP-bootstrapping." + printed["btid"],
            "--pskkey", printed["ks_naf"], "--sni-hostname", lab.naf_fqdn, "--priority",
            f"NORMAL:-KX-ALL:+PSK:-VERS-ALL:+VERS-TLS1.2:-CIPHER-ALL:+{gnutls}",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(
            f"GET /gnutls HTTP/1.1\r\nHost: {lab.naf_fqdn}\r\nConnection: close\r\n\r\n"
            .encode()), 30)
        text = out.decode("utf-8", "replace")
        assert f"hello {sub.impi}: /gnutls" in text, (cipher, text[-2000:])
