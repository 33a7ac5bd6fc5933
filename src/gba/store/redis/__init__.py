"""Redis backend for the BSF and NAF caches (the HSS subscriber table stays on SQLite).

Each record is one compact JSON string (octets base64, times integer microseconds since
the epoch) whose Redis expiry is the record's own ``expires`` (``SET ... PXAT``), so Redis
drops bootstrapping contexts (TS 33.220 §4.5.2) and Zn keys by itself. A sorted set per
network function scores each key by its ``expires``, which lets ``purge_expired`` honour
an injected ``now`` as the SQLite backend does.

Key layout. Every key starts with ``<prefix>:v<N>:``, N being the layout version of the
store that wrote it (``LAYOUT_VERSION`` in :mod:`~gba.store.redis.bsf` and
:mod:`~gba.store.redis.naf`; *prefix* defaults to ``gba``)::

    <prefix>:v1:bsf:chal:<nonce>               pending challenge, taken with GETDEL
    <prefix>:v1:bsf:ctx:<B-TID>                bootstrapping context
    <prefix>:v1:naf:key:<B-TID>:<NAF_Id hex>   Zn key (Ks_ext_NAF, Ks_int_NAF if any)
    <prefix>:v1:naf:nc:<nonce>                 hash {nc, exp, pxat}, checked by a Lua script
    <prefix>:v1:bsf:expiry, <prefix>:v1:naf:expiry   sorted sets: key -> expires (µs)

A store reads, writes, indexes and purges only the keys of its own version, so a server
can hold two layouts during an upgrade and neither misreads the other. Records are caches
a UE or NAF can rebuild (bootstrap again, ask over Zn again), so a new layout is not
migrated: it starts empty and the old keys expire by their own PXAT. The keys of the
unversioned layout before v1 (``<prefix>:bsf:...``) are likewise never read; its two sorted
sets (``<prefix>:bsf:expiry``, ``<prefix>:naf:expiry``) carry no expiry and are left for
the operator to delete.

Every failure of the client (:mod:`gba.store.redis.connection`, RESP2 over one pipelined
connection) surfaces as :class:`~gba.errors.StoreError`.
"""

from __future__ import annotations

from gba.store.redis.bsf import RedisBsfStore
from gba.store.redis.naf import RedisNafStore

__all__ = ["RedisBsfStore", "RedisNafStore"]
