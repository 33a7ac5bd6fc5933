"""Pieces every network function shares: Diameter identity, logging set-up."""

from __future__ import annotations

import logging
import os
import time
from ipaddress import ip_address

from gba.config import DiameterNodeConfig
from gba.protocols.diameter import PeerIdentity


def peer_identity(cfg: DiameterNodeConfig, host_ip: str = "127.0.0.1") -> PeerIdentity:
    """The CER/CEA identity of a node (RFC 6733 §5.3.1); Origin-State-Id from the clock."""
    try:
        addr = ip_address(host_ip)
    except ValueError:
        addr = ip_address("127.0.0.1")
    return PeerIdentity(cfg.host, cfg.realm, (addr,), vendor_id=0, product_name="gba",
                        origin_state_id=int(time.time()) & 0xFFFFFFFF)


def setup_logging(name: str) -> logging.Logger:
    """One line per event on stderr; level from GBA_LOG_LEVEL (default INFO)."""
    level = os.environ.get("GBA_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s")
    return logging.getLogger(f"gba.{name}")
