"""gba: the 3GPP Generic Bootstrapping Architecture (TS 33.220) and the systems built on it."""

__version__ = "0.1.0"
