"""Loader for the published test vectors under tests/vectors/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parent / "vectors"


def load(relative: str, key: str) -> list[dict[str, Any]]:
    """The list *key* of the JSON file tests/vectors/<relative>."""
    data = json.loads((VECTORS / relative).read_text(encoding="utf-8"))
    items: list[dict[str, Any]] = data[key]
    assert items, f"{relative} holds no {key}"
    return items


def milenage_sets() -> list[dict[str, Any]]:
    return load("ts35208/milenage.json", "sets")


def digest_cases() -> list[dict[str, Any]]:
    return load("rfc7616/digest.json", "cases")


def diameter_messages() -> list[dict[str, Any]]:
    """Every message of every tests/vectors/diameter/*.json, each tagged with its "file"."""
    return [{"file": path.name, **message}
            for path in sorted((VECTORS / "diameter").glob("*.json"))
            for message in load(f"diameter/{path.name}", "messages")]


def ts35208_set(n: int) -> tuple[bytes, bytes]:
    """(K, OPc) of MILENAGE test set *n* of TS 35.208 §4.3."""
    found = [s for s in milenage_sets() if s["set"] == n]
    assert found, f"no TS 35.208 test set {n}"
    return bytes.fromhex(found[0]["k"]), bytes.fromhex(found[0]["opc"])


def srtp_vectors(section: str) -> list[dict[str, Any]]:
    """RFC 3711 Appendix B.2 ("keystream") or B.3 ("key_derivation") test vectors."""
    return load("rfc3711/srtp.json", section)


def rfc4186_vectors(section: str) -> list[dict[str, Any]]:
    """RFC 4186 Appendix A (EAP-SIM) vectors: "prf", "keys", "mac" or "packets"."""
    return load("rfc4186/eap_sim.json", section)
