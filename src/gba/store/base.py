"""The storage interface shared by the network functions, one module per function.

Records are frozen dataclasses holding octets as ``bytes`` and times as timezone-aware
UTC ``datetime``. Every method is a coroutine so that the Redis backend can use its
asyncio client; the SQLite backend answers directly (a lookup takes microseconds, far less
than a thread hop). Backends raise :class:`~gba.errors.StoreError` subclasses only.

* HSS: :mod:`gba.store.hss` (:class:`Subscriber`, :class:`SubscriberStore`).
* BSF: :mod:`gba.store.bsf` (:class:`Challenge`, :class:`BootstrapContext`,
  :class:`BsfStore`).
* NAF: :mod:`gba.store.naf` (:class:`NafKey`, :class:`NafStore`).

This module gathers them under one name for the code that imports them from here.
"""

from __future__ import annotations

from gba.store.bsf import BootstrapContext, BsfStore, Challenge
from gba.store.hss import Subscriber, SubscriberStore
from gba.store.naf import NafKey, NafStore

__all__ = [
    "BootstrapContext",
    "BsfStore",
    "Challenge",
    "NafKey",
    "NafStore",
    "Subscriber",
    "SubscriberStore",
]
