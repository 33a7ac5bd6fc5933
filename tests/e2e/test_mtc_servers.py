"""Two application servers behind one MTC-IWF (issue 15 item 6): any two transmissions --
of one device, of two devices of a group, to two application servers -- run on distinct
K_IWF and small-data keys, and each server gets only what was sent to it, in the clear."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.labctl import gba, lab_down
from gba.demos.mtc import GROUP, KEY_ID, MtcDriver, imsi, provision
from gba.lab import mtc as mtc_lab

pytestmark = pytest.mark.mtc


@pytest.fixture(scope="module")
def mtc_servers_lab(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[tuple[dict[str, Any], Path]]:
    lab_dir = tmp_path_factory.mktemp("mtc-servers")
    try:
        gba("lab", "up", "--with", "mtc", "--dir", lab_dir, "--mtc-subkeys", "both")
        info: dict[str, Any] = json.loads((lab_dir / "lab.json").read_text())
        asyncio.run(provision(info["config"], {GROUP: (KEY_ID, [(imsi(n), 3)
                                                               for n in (1, 2)])}))
        yield info, lab_dir
    finally:
        lab_down(lab_dir)


async def test_every_transmission_runs_on_its_own_keys(
        mtc_servers_lab: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    driver = MtcDriver(mtc_servers_lab[0], tmp_path)
    runs = [await driver.send(imsi(1), "to the first", server=mtc_lab.AS),
            await driver.send(imsi(1), "to the second", server=mtc_lab.AS2),
            await driver.send(imsi(2), "from another device", server=mtc_lab.AS),
            await driver.send(imsi(1), "twice", "in one run", server=mtc_lab.AS2)]
    assert all(code == 0 for code, _, _ in runs), [err for _, _, err in runs]
    sent = [line for _, lines, _ in runs for line in lines if "btid" in line]
    assert len(sent) == 5
    for key in ("btid", "k_iwf_fp", "enc_fp", "int_fp"):
        assert len({t[key] for t in sent}) == 5, key  # all distinct
    first = await driver.received(mtc_lab.AS)
    second = await driver.received(mtc_lab.AS2)
    assert [g["data"] for g in first] == ["to the first", "from another device"]
    assert [g["data"] for g in second] == ["to the second", "twice", "in one run"]
    assert all(set(g) == {"imsi", "group", "data"} for g in first + second)  # no key


async def test_an_unknown_application_server_is_refused(
        mtc_servers_lab: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    driver = MtcDriver(mtc_servers_lab[0], tmp_path)
    code, lines, err = await driver.send(imsi(2), "lost", server="nobody")
    assert code != 0
    assert "no such application server" in err
    assert not [line for line in lines if "btid" in line]
