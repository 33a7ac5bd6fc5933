"""HTTP Digest inside server-authenticated HTTPS at a lab NAF, across processes.

TS 33.222 §5.3 and TS 33.220 Annex H.3: over plain HTTP, Digest uses Ks_NAF for
NAF_Id = FQDN || 01 00 00 00 02; inside TLS (1.2 here: the identifier for TLS 1.3 is
UNVERIFIED) it uses FQDN || 01 00 01 yy zz, yy zz the suite the connection negotiated.
The NAF serves HTTPS with the lab PKI's certificate for its host (``https_listen``); our
UE and curl (RFC 7616 Digest, one forced suite) both authenticate with that key.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from e2e.labctl import Lab, LabFactory
from gba import config
from gba.clock import utc_now
from gba.crypto import ua_protocols
from gba.nf.common import TLS_DIR
from gba.protocols import ua
from gba.store.factory import open_naf_store
from gba.transport.http import TlsAwareConnector
from gba.ue.client import GbaClient

ECDHE_ECDSA_AES256_GCM_SHA384 = 0xC02C
"""The suite curl is made to negotiate (IANA TLS Cipher Suites registry)."""


def https_config(tmp_path: Path) -> Path:
    """The sample network with an HTTPS listener on the NAF."""
    text = config.SAMPLE_CONFIG.read_text(encoding="utf-8")
    line = 'psk_tls_listen = "127.0.0.1:0"'
    assert text.count(line) == 1
    target = tmp_path / "https.toml"
    target.write_text(text.replace(line, line + '\nhttps_listen = "127.0.0.1:0"'),
                      encoding="utf-8")
    return target


def https_port(lab: Lab) -> int:
    info = json.loads((lab.dir / "lab.json").read_text())
    return int(info["functions"]["naf"]["endpoints"]["https"].rpartition(":")[2])


class Loopback(AbstractResolver):
    """The NAF's FQDN is 127.0.0.1, so that its certificate name is checked."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET
                      ) -> list[ResolveResult]:
        assert host == self.name, host
        return [ResolveResult(hostname=host, host="127.0.0.1", port=port,
                              family=socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        return None


async def cached_naf_ids(lab: Lab, btid: str) -> set[bytes]:
    """The NAF_Ids the NAF holds a key for under *btid* (it fetched them over Zn)."""
    cfg = lab.network()
    store = open_naf_store(cfg.store_url(cfg.naf.store))
    found = set()
    try:
        for suffix in (ua_protocols.HTTP_DIGEST,
                       *(ua_protocols.psk_tls(s) for s in (0xC02B, 0xC02C, 0xCCA9))):
            naf_id = lab.naf_fqdn.encode() + suffix
            if await store.get_key(btid, naf_id, utc_now()) is not None:
                found.add(naf_id)
    finally:
        await store.close()
    return found


@pytest.fixture
def https_lab(lab_factory: LabFactory, tmp_path: Path) -> Lab:
    return lab_factory(["https-ue", "https-curl"], https_config(tmp_path))


async def test_ue_uses_01_00_01_and_the_suite_over_https_and_01_00_00_00_02_over_http(
        https_lab: Lab) -> None:
    lab = https_lab
    sub = lab.subscriber("https-ue")
    client_tls = ssl.create_default_context(cafile=str(lab.dir / TLS_DIR / "ca.pem"))
    connector = TlsAwareConnector(ssl=client_tls, resolver=Loopback(lab.naf_fqdn))
    async with aiohttp.ClientSession(connector=connector) as http:
        ue = GbaClient(sub.impi, sub.usim(), lab.bsf_url, session=http)
        secure = await ue.fetch_digest(f"https://{lab.naf_fqdn}:{https_port(lab)}/secure")
        plain = await ue.fetch_digest(lab.naf_url + "/plain", lab.naf_fqdn)
        assert ue.current is not None
        btid = ue.current.btid
    assert secure.status == 200, secure.body
    assert plain.status == 200, plain.body
    held = await cached_naf_ids(lab, btid)
    over_tls = {n for n in held if n[-5:-2] == bytes([1, 0, 1])}
    assert len(over_tls) == 1, held
    assert lab.naf_fqdn.encode() + ua_protocols.HTTP_DIGEST in held
    naf_log = (lab.dir / "naf.log").read_text()
    assert f"NAF_Id {lab.naf_fqdn} || 01 00 01 " in naf_log
    assert f"NAF_Id {lab.naf_fqdn} || 01 00 00 00 02" in naf_log


def curl_digest_https(lab: Lab, username: str, password: str) -> tuple[int, str]:
    """``curl --digest`` over TLS 1.2 with one suite, trusting the lab CA."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is not installed", pytrace=False)
    port = https_port(lab)
    proc = subprocess.run(
        [curl, "--digest", "-u", f"{username}:{password}", "-s", "-w", "%{http_code}",
         "--max-time", "10", "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES256-GCM-SHA384",
         "--cacert", str(lab.dir / TLS_DIR / "ca.pem"),
         "--resolve", f"{lab.naf_fqdn}:{port}:127.0.0.1",
         f"https://{lab.naf_fqdn}:{port}/curl"],
        capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, f"curl exited {proc.returncode}: {proc.stderr}"
    return int(proc.stdout[-3:]), proc.stdout[:-3]


async def test_curl_digest_over_https_uses_the_key_of_its_suite(https_lab: Lab) -> None:
    lab = https_lab
    sub = lab.subscriber("https-curl")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        await ue.bootstrap()
        tls_key = ue.naf_key(lab.naf_fqdn, ua_protocols.psk_tls(ECDHE_ECDSA_AES256_GCM_SHA384))
        http_key = ue.naf_key(lab.naf_fqdn, ua_protocols.HTTP_DIGEST)
    assert tls_key.naf_id == lab.naf_fqdn.encode() + bytes.fromhex("010001c02c")
    status, body = await asyncio.to_thread(curl_digest_https, lab, http_key.btid,
                                           ua.password_for(http_key.key))
    assert status == 401, "the plain-HTTP key must not work inside TLS"
    status, body = await asyncio.to_thread(curl_digest_https, lab, tls_key.btid,
                                           ua.password_for(tls_key.key))
    assert status == 200, body
    assert sub.impi in body
