"""Cross-check against an independent decoder: PyPI ``python-diameter`` (import ``diameter``).

Not a project dependency: the test is skipped when the package is absent.
"""

from __future__ import annotations

from typing import Any

import pytest

from gba.protocols.diameter import APP_ZH, VENDOR_3GPP
from gba.protocols.diameter.bench import sample_maa


def test_python_diameter_decodes_our_maa() -> None:
    pydiameter: Any = pytest.importorskip("diameter.message")
    ours = sample_maa()

    theirs = pydiameter.Message.from_bytes(ours.encode(), plain_msg=True)

    assert theirs.header.command_code == 303
    assert theirs.header.application_id == APP_ZH
    assert theirs.header.hop_by_hop_identifier == ours.hop_by_hop
    assert theirs.header.end_to_end_identifier == ours.end_to_end
    assert [a.code for a in theirs.avps] == [a.code for a in ours.avps]
    item = next(a for a in theirs.avps if a.code == 612)
    assert item.vendor_id == VENDOR_3GPP
    assert item.is_mandatory
    children = {a.code: a.value for a in item.value}
    assert children[613] == 1
    assert children[608] == "Digest-AKAv1-MD5"
    assert children[609] == bytes(range(32))
    assert children[625] == bytes(range(16, 32))
    assert children[626] == bytes(range(32, 48))
