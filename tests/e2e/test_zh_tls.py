"""Zh over mutual TLS, each peer's certificate bound to its Origin-Host, across processes.

Zh carries XRES, CK and IK. TS 33.220 §4.3 asks for mutual authentication,
confidentiality and integrity on Zh and leaves the means to network domain security
(TS 33.210); our profile is TLS (TS 33.210 §6.2, RFC 6733 §13), the sample network's
default. Over plain TCP the HSS can only believe the Origin-Host a peer claims: the first
test shows a client naming itself as the BSF getting genuine vectors from a lab run with
``tls = false``. With TLS, a peer without a certificate never completes the handshake, a
lab certificate of another function claiming the BSF's Origin-Host gets CEA 3010, and the
real BSF still bootstraps UEs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.labctl import Lab, running_lab
from e2e.wire import IO_TIMEOUT, capabilities_exchange, diameter_peer, mar, zh_request
from gba import config
from gba.config import DiameterNodeConfig, Topology
from gba.crypto import aka
from gba.protocols import zh, zn
from gba.protocols.diameter import Application, Message, ResultCode
from gba.transport.tls import client_context
from gba.ue.client import GbaClient


def _plain_config(directory: Path) -> Path:
    """The sample network with every Diameter listener on plain TCP."""
    text = config.SAMPLE_CONFIG.read_text(encoding="utf-8")
    assert text.count("\ntls = true") == 2, "the sample runs Zh and Zn over TLS"
    target = directory / "plain.toml"
    target.write_text(text.replace("\ntls = true", "\ntls = false"), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def plain_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    where = tmp_path_factory.mktemp("zh-plain")
    with running_lab(where / "lab", ["victim"], _plain_config(where)) as lab:
        yield lab


@pytest.fixture(scope="module")
def tls_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("zh-tls"), ["victim", "ue"]) as lab:
        yield lab


def _certificate_of(cfg: Topology, function: str) -> ssl.SSLContext:
    """A client context presenting the lab certificate of *function*."""
    tls = cfg.configs[function].tls
    return client_context(cfg.file(tls.ca), cfg.file(tls.cert), cfg.file(tls.key))


async def _cea(lab: Lab, node: DiameterNodeConfig, context: ssl.SSLContext | None,
               application: Application = zh.APPLICATION) -> Message | None:
    """The CEA that a CER from *node* gets on a fresh connection to the HSS's Zh port
    (over TLS with *context*, else plain TCP); None when the connection fails first."""
    server_hostname = lab.network().hss.diameter.host if context is not None else None
    try:
        reader, writer = await asyncio.open_connection(*lab.hss_zh, ssl=context,
                                                       server_hostname=server_hostname)
    except OSError:
        return None
    try:
        return await capabilities_exchange(reader, writer, node, application)
    except (OSError, asyncio.IncompleteReadError, TimeoutError):
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _genuine(lab: Lab, answer: Message) -> zh.VectorAnswer:
    """The vector of a MAA, checked against the victim's USIM: RES = XRES."""
    assert answer.result_code == ResultCode.SUCCESS
    vector = zh.parse_maa(answer)
    result = lab.subscriber("victim").usim().authenticate(vector.rand, vector.autn)
    assert isinstance(result, aka.AkaSuccess)
    assert result.res == vector.xres
    return vector


# --- before: plain TCP -------------------------------------------------------------------


async def test_over_plain_tcp_a_client_claiming_the_bsf_gets_vectors(plain_lab: Lab) -> None:
    """The attack, where it still works: ``tls = false`` on the HSS (a choice of the
    operator's config) leaves the Origin-Host as the only proof of who asks."""
    cfg = plain_lab.network()
    assert not cfg.hss.tls.enabled
    impi = plain_lab.subscriber("victim").impi
    async with diameter_peer(cfg.bsf.diameter, zh.APPLICATION, plain_lab.hss_zh) as rogue:
        answers = [await rogue.request(mar(rogue, cfg.hss.diameter.realm, impi), IO_TIMEOUT)
                   for _ in range(3)]
    vectors = [_genuine(plain_lab, answer) for answer in answers]
    assert all(v.ck and v.ik and v.xres for v in vectors)


async def test_over_plain_tcp_a_client_not_claiming_a_bsf_gets_3010(plain_lab: Lab) -> None:
    cea = await _cea(plain_lab, plain_lab.network().naf.diameter, None)
    assert cea is not None
    assert cea.result_code == ResultCode.UNKNOWN_PEER


# --- after: mutual TLS, certificate bound to Origin-Host ---------------------------------


async def test_zh_over_plain_tcp_gets_no_answer(tls_lab: Lab) -> None:
    assert await _cea(tls_lab, tls_lab.network().bsf.diameter, None) is None


async def test_zh_without_a_client_certificate_fails_the_handshake(tls_lab: Lab) -> None:
    cfg = tls_lab.network()
    trusting = client_context(cfg.file(cfg.bsf.tls.ca))
    assert await _cea(tls_lab, cfg.bsf.diameter, trusting) is None


@pytest.mark.parametrize("function", ["naf", "hss"])
async def test_another_functions_certificate_claiming_the_bsf_gets_3010(tls_lab: Lab,
                                                                        function: str) -> None:
    cfg = tls_lab.network()
    cea = await _cea(tls_lab, cfg.bsf.diameter, _certificate_of(cfg, function))
    assert cea is not None
    assert cea.result_code == ResultCode.UNKNOWN_PEER


async def test_a_certificate_naming_a_function_that_is_not_a_bsf_gets_3010(tls_lab: Lab
                                                                          ) -> None:
    cfg = tls_lab.network()
    cea = await _cea(tls_lab, cfg.naf.diameter, _certificate_of(cfg, "naf"))
    assert cea is not None
    assert cea.result_code == ResultCode.UNKNOWN_PEER


async def test_the_zh_port_offers_zh_only(tls_lab: Lab) -> None:
    cfg = tls_lab.network()
    cea = await _cea(tls_lab, cfg.bsf.diameter, _certificate_of(cfg, "bsf"), zn.APPLICATION)
    assert cea is not None
    assert cea.result_code == ResultCode.NO_COMMON_APPLICATION


async def test_the_bsf_certificate_gets_vectors(tls_lab: Lab) -> None:
    _genuine(tls_lab, await zh_request(tls_lab, tls_lab.subscriber("victim").impi))


async def test_the_real_bsf_still_bootstraps_ues_over_tls_zh(tls_lab: Lab) -> None:
    sub = tls_lab.subscriber("ue")
    async with GbaClient(sub.impi, sub.usim(), tls_lab.bsf_url) as ue:
        boot = await ue.bootstrap()
    assert boot.btid.endswith(tls_lab.bsf_server_name)
    hss_log = (tls_lab.dir / "hss.log").read_text()
    assert "(TLS)" in hss_log
    assert f"Zh vector for {sub.impi} to {tls_lab.network().bsf.diameter.host}" in hss_log
