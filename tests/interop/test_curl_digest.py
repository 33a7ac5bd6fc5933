"""curl against the NAF's Digest resource (TS 33.222 §5.3): after a GBA bootstrap with our
UE, an independent HTTP Digest client (curl, RFC 7616) authenticates with
username = B-TID and password = base64(Ks_NAF), NAF_Id = NAF FQDN || 01 00 00 00 02.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from e2e.labctl import Lab
from gba.protocols import ua
from gba.ue.client import GbaClient, GbaKey

pytestmark = pytest.mark.interop

HTTP_DIGEST = bytes.fromhex("0100000002")
"""Ua security protocol identifier of HTTP Digest (TS 33.220 Annex H.3)."""


def curl_digest(url: str, username: str, password: str) -> tuple[int, str]:
    """(HTTP status, body) of ``curl --digest -u username:password url``."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is not installed (Debian/Ubuntu: apt-get install curl)",
                    pytrace=False)
    proc = subprocess.run([curl, "--digest", "-u", f"{username}:{password}", "-s",
                           "-w", "%{http_code}", "--max-time", "10", url],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, f"curl exited {proc.returncode}: {proc.stderr}"
    return int(proc.stdout[-3:]), proc.stdout[:-3]


async def bootstrapped_key(lab: Lab, name: str) -> GbaKey:
    sub = lab.subscriber(name)
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        await ue.bootstrap()
        return ue.naf_key(lab.naf_fqdn, HTTP_DIGEST)


async def test_curl_fetches_the_naf_resource_with_the_gba_key(lab: Lab) -> None:
    key = await bootstrapped_key(lab, "curl-digest")
    assert key.naf_id == lab.naf_fqdn.encode() + HTTP_DIGEST
    status, body = await asyncio.to_thread(curl_digest, lab.naf_url + "/", key.btid,
                                           ua.password_for(key.key))
    assert status == 200
    assert lab.subscriber("curl-digest").impi in body
    assert key.btid in body


async def test_curl_with_a_wrong_password_gets_401(lab: Lab) -> None:
    key = await bootstrapped_key(lab, "curl-wrong-password")
    wrong = ua.password_for(bytes(b ^ 0x80 for b in key.key))
    status, body = await asyncio.to_thread(curl_digest, lab.naf_url + "/", key.btid, wrong)
    assert status == 401
    assert key.btid not in body
