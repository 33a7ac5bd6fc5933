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
