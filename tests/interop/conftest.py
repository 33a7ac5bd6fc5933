"""A lab network for the interop tests, started and stopped with the real ``gba lab``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from e2e.labctl import Lab, running_lab

SUBSCRIBERS = ("curl-digest", "curl-wrong-password")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("interop-lab"), SUBSCRIBERS) as running:
        yield running
