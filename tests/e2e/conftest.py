"""A lab network for the e2e tests, started and stopped with the real ``gba lab`` command.

``lab`` is one network for the session with a subscriber of its own per test (a test
names the subscriber it uses, so no two tests share an IMPI, SQN or B-TID).
``lab_factory`` starts further labs (a restart, another config) that are always brought
down when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path

import aiohttp
import pytest

from e2e.labctl import Lab, LabFactory, running_lab

SUBSCRIBERS = (
    "digest", "kdf", "sync", "revoke", "wrong-res", "replay-ub", "bsf-keeps-serving",
    "zn", "zn-unauthorised", "zh-probe", "naf-wrong-password", "naf-replay",
    "naf-replay-no-qop", "naf-other-uri",
)
"""One subscriber per test that bootstraps in the shared lab (a parametrized test's cases
share it)."""


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab"), SUBSCRIBERS) as running:
        yield running


@pytest.fixture
def lab_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabFactory]:
    """``start(names=(), config_file=None, lab_dir=None) -> Lab``: a lab of the test's own,
    brought down when the test ends."""
    with ExitStack() as stack:

        def start(names: Iterable[str] = (), config_file: Path | None = None,
                  lab_dir: Path | None = None) -> Lab:
            where = lab_dir or tmp_path_factory.mktemp("lab")
            return stack.enter_context(running_lab(where, names, config_file))

        yield start


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client for hand-made Ub/Ua/REST requests."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session
