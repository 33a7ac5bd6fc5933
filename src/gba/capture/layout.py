"""Where a lab's capture lives, and how its functions are told (``gba lab up --capture``).

``gba lab up --capture FILE`` gives every function ``GBA_CAPTURE`` (its part,
``<FILE stem>.parts/<name>.pcapng`` beside FILE) and ``GBA_KEYLOG`` (``FILE`` with suffix
``.keys``, one key log that every function appends to), which ``gba serve`` reads as its
``--capture`` and ``--keylog`` options; lab.json then carries ``capture`` and ``keylog``,
and ``gba lab down`` merges the parts into FILE (:func:`gba.capture.merge.merge_lab`).

Beside them, ``GBA_CAPTURE_DECRYPTED`` names a second part per function holding only what
the tap saw above TLS (``<FILE stem>.parts/decrypted/<name>.pcapng``), merged into the
*decrypted sidecar* ``<FILE stem>.decrypted.pcapng``. Wireshark reads FILE with the key
log; ``gba trace FILE`` reads the sidecar too, so Zh and Zn over TLS show as MAR/MAA and
BIR/BIA. The sidecar holds keys in clear (a BIA carries Ks_NAF), as the key log does:
both are owner-only and exist only while capture is on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

CAPTURE_ENV: Final = "GBA_CAPTURE"
KEYLOG_ENV: Final = "GBA_KEYLOG"
DECRYPTED_ENV: Final = "GBA_CAPTURE_DECRYPTED"
DECRYPTED_SUFFIX: Final = ".decrypted.pcapng"
PARTS_SUFFIX: Final = ".parts"
KEYLOG_SUFFIX: Final = ".keys"


def parts_dir(capture: Path) -> Path:
    """``capture.pcapng`` -> ``capture.parts/``: one ``<function>.pcapng`` each."""
    return capture.with_name(capture.stem + PARTS_SUFFIX)


def decrypted_path(capture: Path) -> Path:
    """The decrypted sidecar of a capture: ``capture.pcapng`` -> ``capture.decrypted.pcapng``."""
    return capture.with_name(capture.stem + DECRYPTED_SUFFIX)


def decrypted_parts_dir(capture: Path) -> Path:
    """Where the functions write their decrypted parts: ``capture.parts/decrypted/``."""
    return parts_dir(capture) / "decrypted"


def keylog_path(capture: Path) -> Path:
    """The TLS key log beside a capture: ``capture.pcapng`` -> ``capture.keys``."""
    return capture.with_suffix(KEYLOG_SUFFIX)


def prepare(capture: Path) -> None:
    """Make the parts directory (owner-only, emptied of old parts) and an empty,
    owner-only key log: TLS secrets of a previous run are not kept."""
    parts = parts_dir(capture)
    parts.mkdir(mode=0o700, parents=True, exist_ok=True)
    decrypted = decrypted_parts_dir(capture)
    decrypted.mkdir(mode=0o700, exist_ok=True)
    for old in [*parts.glob("*.pcapng"), *decrypted.glob("*.pcapng")]:
        old.unlink()
    keys = keylog_path(capture)
    os.close(os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    os.chmod(keys, 0o600)


def child_env(capture: Path | None, function: str) -> dict[str, str]:
    """The environment that makes ``gba serve <function>`` record its part; without
    *capture*, empty values, so that variables inherited from the shell record nothing."""
    if capture is None:
        return {CAPTURE_ENV: "", KEYLOG_ENV: "", DECRYPTED_ENV: ""}
    return {CAPTURE_ENV: str(parts_dir(capture) / f"{function}.pcapng"),
            KEYLOG_ENV: str(keylog_path(capture)),
            DECRYPTED_ENV: str(decrypted_parts_dir(capture) / f"{function}.pcapng")}


def lab_info(capture: Path | None) -> dict[str, str]:
    """The lab.json keys of a capture: ``capture`` and ``keylog`` (none without one)."""
    if capture is None:
        return {}
    return {"capture": str(capture), "keylog": str(keylog_path(capture)),
            "decrypted": str(decrypted_path(capture))}
