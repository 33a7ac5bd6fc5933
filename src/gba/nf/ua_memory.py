"""What a NAF keeps in its own memory on the Ua path (issue 16: each Ua request cost a
store read and a committed store write).

* :class:`RecentKeys`: the Ks_NAF keys this process used last. A key for (B-TID, NAF_Id)
  never changes once the BSF gave it (TS 33.220 §4.5.3: it is derived from Ks, which the
  B-TID names) and nothing revokes it before Key-ExpiryTime, so this copy answers as the
  store would until that time. The store stays the cache shared with other processes.
* :class:`MemoryNonceCounts`: the nonce counts of RFC 7616 §3.4 for nonces only this
  process can verify (a NonceMint secret of its own, lost when the process stops: a
  nonce from before a restart is refused by the mint, so its counts need not outlive the
  process either). Workers sharing one port share their mint's secret and keep their
  counts in the store instead (:mod:`gba.nf.naf_service`).

Both are bounded: the oldest entry leaves first, and counts are only recorded for
requests whose Digest response verified (after the key check, :mod:`gba.protocols.ua_naf`).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Final

from gba.clock import Clock, utc_now
from gba.store.naf import NafKey

MAX_KEYS: Final = 65_536
"""Keys held at most; past it the oldest inserted leaves (it is still in the store)."""
MAX_NONCES: Final = 524_288
"""Nonces counted at most (about 150 MB); past it a new nonce is refused as stale until
expired ones leave (1,700 new Digest sessions per second at the 5-minute nonce life)."""


class RecentKeys:
    """Ks_NAF per (B-TID, NAF_Id), up to *max_keys*, each until its expiry."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self._keys: OrderedDict[tuple[str, bytes], NafKey] = OrderedDict()

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, btid: str, naf_id: bytes, now: datetime) -> NafKey | None:
        """The key if held and live at *now*; an expired one is dropped."""
        key = self._keys.get((btid, naf_id))
        if key is None:
            return None
        if key.expires <= now:
            del self._keys[(btid, naf_id)]
            return None
        return key

    def put(self, key: NafKey) -> None:
        """Hold *key*; the oldest held key leaves when *max_keys* are held."""
        slot = (key.btid, key.naf_id)
        if slot not in self._keys and len(self._keys) >= self.max_keys:
            self._keys.popitem(last=False)
        self._keys[slot] = key


class MemoryNonceCounts:
    """RFC 7616 §3.4 nonce counts of this process's own nonces, up to *max_nonces*."""

    def __init__(self, clock: Clock = utc_now, max_nonces: int = MAX_NONCES) -> None:
        self.clock = clock
        self.max_nonces = max_nonces
        self._seen: OrderedDict[str, tuple[int, datetime]] = OrderedDict()
        """nonce -> (highest nc, expiry), in order of first use (about expiry order)."""

    def __len__(self) -> int:
        return len(self._seen)

    async def check(self, nonce: str, nc: int, expires: datetime) -> bool:
        """True, and remember *nc*, if above every nc seen with *nonce*; False for a
        replay, and for a new nonce while *max_nonces* live ones are counted."""
        seen = self._seen.get(nonce)
        if seen is not None:
            if seen[0] >= nc:
                return False
            self._seen[nonce] = (nc, max(expires, seen[1]))
            return True
        self._forget_expired()
        if len(self._seen) >= self.max_nonces:
            return False
        self._seen[nonce] = (nc, expires)
        return True

    def _forget_expired(self) -> None:
        """Drop expired nonces from the oldest on, up to the first live one (first use
        follows issue closely, so those behind it leave at a later call): memory follows
        the live nonces, at the cost of one look at the oldest per new nonce."""
        now = self.clock()
        while self._seen:
            nonce, (_, expires) = next(iter(self._seen.items()))
            if expires > now:
                return
            del self._seen[nonce]
