"""Zn over mutual TLS (TS 33.220 §4.3: Zn is protected), the sample config's default."""

from __future__ import annotations

import json
from pathlib import Path

from e2e.labctl import LabFactory
from gba import config
from gba.crypto import ua_protocols
from gba.nf import registry
from gba.nf.common import peer_identity
from gba.protocols import zn
from gba.transport.diameter import DiameterClient, DiameterUnavailable, session_id_factory
from gba.transport.tls import client_context
from gba.ue.client import GbaClient


def plain_config(tmp_path: Path) -> Path:
    text = config.SAMPLE_CONFIG.read_text(encoding="utf-8")
    assert "\ntls = true" in text
    text = text.replace("\ntls = true", "\ntls = false")
    target = tmp_path / "plain.toml"
    target.write_text(text, encoding="utf-8")
    return target


async def test_naf_gets_keys_over_mutual_tls_zn(lab_factory: LabFactory) -> None:
    lab = lab_factory(["tls-user"])
    info = json.loads((lab.dir / "lab.json").read_text())
    assert info["zn_tls"] is True
    sub = lab.subscriber("tls-user")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        response = await ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)
    assert response.status == 200
    assert sub.impi.encode() in response.body
    bsf_log = (lab.dir / "bsf.log").read_text()
    assert "(TLS)" in bsf_log
    assert "Zn: Ks_NAF for" in bsf_log


async def _opens(client: DiameterClient) -> bool:
    await client.start()
    try:
        await client.wait_open(timeout=1.5)
        return True
    except DiameterUnavailable:
        return False
    finally:
        await client.close()


async def test_only_a_peer_with_a_naf_certificate_opens_zn(lab_factory: LabFactory) -> None:
    lab = lab_factory([])
    cfg = registry.load(lab.config)
    identity = peer_identity(cfg.naf.diameter)
    host = cfg.bsf.diameter.host
    ca = cfg.file(cfg.naf.zn_tls_ca)

    assert not await _opens(DiameterClient(identity, [zn.APPLICATION], *lab.bsf_zn,
                                           max_retry_delay=0.2))
    assert not await _opens(DiameterClient(identity, [zn.APPLICATION], *lab.bsf_zn,
                                           ssl_context=client_context(ca),
                                           server_hostname=host, max_retry_delay=0.2))

    secured = DiameterClient(identity, [zn.APPLICATION], *lab.bsf_zn,
                             ssl_context=client_context(ca, cfg.file(cfg.naf.zn_tls_cert),
                                                        cfg.file(cfg.naf.zn_tls_key)),
                             server_hostname=host)
    await secured.start()
    try:
        peer = await secured.wait_open(timeout=10)
        assert peer.peer_identity == host
        answer = await secured.request(zn.build_bir(
            identity, cfg.bsf.diameter.realm, session_id_factory("t")(),
            zn.KeyRequest("AAAAAAAAAAAAAAAAAAAAAA==@nowhere",
                          b"naf.example.org" + ua_protocols.HTTP_DIGEST)))
        assert answer.result_code == 5403
    finally:
        await secured.close()


async def test_plain_tcp_zn_remains_available_when_configured(lab_factory: LabFactory,
                                                               tmp_path: Path) -> None:
    lab = lab_factory(["plain-user"], plain_config(tmp_path))
    sub = lab.subscriber("plain-user")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        response = await ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)
    assert response.status == 200
    assert "(TLS)" not in (lab.dir / "bsf.log").read_text()


def test_lab_keys_and_stores_are_private(lab_factory: LabFactory) -> None:
    lab = lab_factory([])
    for name in ("zn-tls/naf-key.pem", "zn-tls/bsf-key.pem", "hss.sqlite", "bsf.sqlite"):
        path = lab.dir / name
        assert path.exists(), name
        assert path.stat().st_mode & 0o077 == 0, f"{name} is readable by others"
