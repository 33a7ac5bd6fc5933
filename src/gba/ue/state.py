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
from gba.protocols.push_sa import IdKind, PushSa, SaId
from gba.protocols.push_ue import SaStore
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
    _write_private(path, data)


def push_sas_path(path: Path) -> Path:
    """Where the UE keeps its push SAs: beside its state file (seed 002: the SAs are
    reused across sessions, so across runs of ``gba ue push-*``)."""
    return path.with_name(path.name + ".push-sas.json")


def load_push_sas(path: Path) -> SaStore:
    store = SaStore()
    file = push_sas_path(path)
    if not file.exists():
        return store
    try:
        for d in json.loads(file.read_text(encoding="utf-8")):
            store.put(PushSa(SaId(IdKind(d["kind"]), d["value"]), bytes.fromhex(d["naf_id"]),
                             d["tid"], bytes.fromhex(d["key"]), parse_time(d["expires"]),
                             d["algorithm"], d["protocol_version"], d["key_selection"],
                             int(d["send_seq"]), frozenset(int(n) for n in d["received"]),
                             int(d["highest"])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"UE push SA file {file} is unreadable: {exc}") from None
    return store


def save_push_sas(path: Path, store: SaStore) -> None:
    """Write the SAs (owner-only, atomically); their keys are as secret as Ks."""
    rows = [{"kind": sa.sa_id.kind.value, "value": sa.sa_id.value, "naf_id": sa.naf_id.hex(),
             "tid": sa.tid, "key": sa.key.hex(), "expires": format_time(sa.expires),
             "algorithm": sa.algorithm, "protocol_version": sa.protocol_version,
             "key_selection": sa.key_selection, "send_seq": sa.send_seq,
             "received": sorted(sa.received), "highest": sa.highest} for sa in store.all()]
    _write_private(push_sas_path(path), rows)


def _write_private(path: Path, data: object) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)
