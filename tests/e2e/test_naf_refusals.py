"""What a UE sees when the BSF refuses the NAF on Zn, across processes (``gba lab up``).

TS 29.109 §6.2.2.2: on DIAMETER_ERROR_NOT_AUTHORIZED (5402) "the NAF should indicate to
the UE that the service is not allowed": the NAF answers 403, not a 503 that would make
the UE retry. Here the BSF lists the NAF's Diameter host only for another host name, so
every NAF-Id the NAF sends is refused with 5402 (TS 33.220 §4.5.3).
"""

from __future__ import annotations

import json
from pathlib import Path

from e2e.labctl import LabFactory
from gba import config
from gba.ue.client import GbaClient


def other_hostname_config(tmp_path: Path) -> Path:
    """The sample network, but the BSF authorises naf.example.org's Diameter host only
    for NAF-Ids of other.example.org."""
    text = config.SAMPLE_CONFIG.read_text(encoding="utf-8")
    listed = 'hostnames = ["naf.example.org"]'
    assert text.count(listed) == 1
    target = tmp_path / "not-authorised.toml"
    target.write_text(text.replace(listed, 'hostnames = ["other.example.org"]'),
                      encoding="utf-8")
    return target


async def test_naf_not_authorised_at_the_bsf_answers_403(lab_factory: LabFactory,
                                                         tmp_path: Path) -> None:
    lab = lab_factory(["refused"], other_hostname_config(tmp_path))
    sub = lab.subscriber("refused")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        reply = await ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)
        assert ue.current is not None  # Ub worked: only Zn refused the NAF
    assert reply.status == 403
    assert b"service not allowed" in reply.body
    assert "Retry-After" not in reply.headers
    info = json.loads((lab.dir / "lab.json").read_text())
    assert info["functions"]["naf"]["kind"] == "naf"
    assert "refused" in (lab.dir / "bsf.log").read_text()
    assert "result 5402" in (lab.dir / "naf.log").read_text()
