"""Zn over TLS (TS 33.220 §4.3: Zn is protected): a lab whose BSF only speaks TLS on Zn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2e.labctl import LabFactory
from gba import config
from gba.crypto import ua_protocols
from gba.nf.common import peer_identity
from gba.nf.diameter_node import DiameterClient, DiameterUnavailable, session_id_factory
from gba.nf.tls import client_context
from gba.protocols import zn
from gba.ue.client import GbaClient


def tls_config(tmp_path: Path) -> Path:
    text = config.SAMPLE_CONFIG.read_text(encoding="utf-8").replace(
        "zn_tls = false", "zn_tls = true")
    target = tmp_path / "tls.toml"
    target.write_text(text, encoding="utf-8")
    return target


async def test_naf_gets_keys_over_tls_zn(lab_factory: LabFactory, tmp_path: Path) -> None:
    lab = lab_factory(["tls-user"], tls_config(tmp_path))
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


async def test_plain_tcp_diameter_peer_cannot_open_tls_zn(lab_factory: LabFactory,
                                                           tmp_path: Path) -> None:
    lab = lab_factory([], tls_config(tmp_path))
    cfg = config.load(lab.config)
    identity = peer_identity(cfg.naf.diameter)
    plain = DiameterClient(identity, [zn.APPLICATION], *lab.bsf_zn, max_retry_delay=0.2)
    await plain.start()
    try:
        with pytest.raises(DiameterUnavailable):
            await plain.wait_open(timeout=1.5)
    finally:
        await plain.close()

    secured = DiameterClient(identity, [zn.APPLICATION], *lab.bsf_zn,
                             ssl_context=client_context(cfg.file(cfg.naf.zn_tls_ca)),
                             server_hostname=cfg.bsf.diameter.host)
    await secured.start()
    try:
        peer = await secured.wait_open(timeout=10)
        assert peer.peer_identity == cfg.bsf.diameter.host
        answer = await secured.request(zn.build_bir(
            identity, cfg.bsf.diameter.realm, session_id_factory("t")(),
            zn.KeyRequest("AAAAAAAAAAAAAAAAAAAAAA==@nowhere",
                          b"naf.example.org" + ua_protocols.HTTP_DIGEST)))
        assert answer.result_code == 5403
    finally:
        await secured.close()
