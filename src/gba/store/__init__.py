"""Storage, by network function: one interface each, two backends (SQLite default, Redis).

* :mod:`gba.store.hss`, :mod:`gba.store.bsf`, :mod:`gba.store.naf`: each function's
  records and the Protocol its stores implement (:mod:`gba.store.base` gathers them);
* :mod:`gba.store.sqlite`: every function, schema versions migrated forward on open;
* :mod:`gba.store.redis`: the BSF and NAF caches, keys under a layout version;
* :mod:`gba.store.factory`: the one parser of store URLs, and the openers.
"""

from typing import Final

COUNT_CAP: Final = 100_000
"""The most live records a store's count (``count_contexts``, ``count_keys``) walks: a
metrics scrape stays cheap however many there are (the gauge saturates there)."""
