"""Shared output helpers for the command line."""

from __future__ import annotations

import json
from typing import Any

import typer


def emit_json(obj: dict[str, Any]) -> None:
    """Print one JSON object on one line (the stable machine-readable form)."""
    typer.echo(json.dumps(obj, sort_keys=False))
