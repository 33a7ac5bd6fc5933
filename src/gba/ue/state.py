"""A UE's persistent state between CLI runs: the USIM's SQN array and the last bootstrap.

A JSON file (mode 0600) so that ``gba ue`` behaves like one device across invocations:
SEQ_MS survives (TS 33.102 Annex C.2.2) and a valid B-TID/Ks is reused until its lifetime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from gba.crypto.aka import IND_COUNT, SqnArray
from gba.errors import ConfigError
from gba.protocols.ub import format_time, parse_time
from gba.ue.client import Bootstrap


def load(path: Path, impi: str) -> tuple[SqnArray, Bootstrap | None]:
    if not path.exists():
        return SqnArray(), None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        seq = [int(v) for v in data["sqn_array"]["seq"]]
        if len(seq) != IND_COUNT:
            raise ValueError("SQN array length")
        arr = SqnArray(seq=seq, ind_of_highest=int(data["sqn_array"]["ind_of_highest"]))
        boot = None
        b = data.get("bootstrap")
        if b and b.get("impi") == impi:
            boot = Bootstrap(impi, b["btid"], bytes.fromhex(b["ks"]), bytes.fromhex(b["rand"]),
                             parse_time(b["lifetime"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"UE state file {path} is unreadable: {exc}") from None
    return arr, boot


def save(path: Path, arr: SqnArray, boot: Bootstrap | None) -> None:
    data: dict[str, object] = {"sqn_array": {"seq": arr.seq, "ind_of_highest": arr.ind_of_highest}}
    if boot is not None:
        data["bootstrap"] = {"impi": boot.impi, "btid": boot.btid, "ks": boot.ks.hex(),
                             "rand": boot.rand.hex(), "lifetime": format_time(boot.lifetime)}
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
