"""A home network in memory around the sans-IO Ub and Ua machines, for socket-free tests.

* :class:`MemoryHss`: the HSS/AuC side of AKA on a real Milenage (TS 33.102 §6.3.2,
  resynchronisation §6.3.5), answering Zh vector requests as the BSF machine asks them.
* :class:`MemoryBsf`: drives :class:`~gba.protocols.ub_bsf.BsfUbExchange`, with dicts as
  its store and :class:`~gba.protocols.ratelimit.ChallengeLimits` as its rate limits; the
  actions each request produced are kept for assertions.
* :class:`MemoryNaf`: drives :class:`~gba.protocols.ua_naf.NafDigestExchange`; Ks_NAF
  comes from the BSF's contexts as Zn would hand it (TS 33.220 §4.5.3).
* :func:`bootstrap` and :func:`fetch`: a UE machine driven against them.

K and OPc are those of TS 35.208 test set 1, read from the vector file.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from gba.crypto import aka, kdf, ua_protocols
from gba.crypto.milenage import Milenage
from gba.errors import GbaError
from gba.protocols import ua
from gba.protocols.actions import (
    AdmitChallenge,
    Bootstrapped,
    CheckNonceCount,
    Done,
    NeedKey,
    NeedVector,
    Respond,
    Send,
    ServeResource,
    StoreChallenge,
    StoreContext,
    TakeChallenge,
)
from gba.protocols.diameter import ExperimentalResultCode, ResultCode
from gba.protocols.http import HttpRequest, HttpResponse
from gba.protocols.ratelimit import ChallengeLimits
from gba.protocols.ua_naf import NafDigestConfig, NafDigestExchange
from gba.protocols.ua_ue import UeDigestAction, UeDigestExchange
from gba.protocols.ub import Bootstrap
from gba.protocols.ub_bsf import BsfUbConfig, BsfUbExchange
from gba.protocols.ub_ue import UeUbExchange
from gba.protocols.zh import VectorAnswer, VectorRequest
from gba.store.base import BootstrapContext, NafKey
from gba.store.base import Challenge as PendingChallenge
from vectors import milenage_sets

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
IMPI = "user@home.example.org"
REALM = "home.example.org"
BSF_NAME = "bsf.home.example.org"
NAF_FQDN = "naf.example.org"
NAF_ID = NAF_FQDN.encode() + ua_protocols.HTTP_DIGEST
CONFIG = BsfUbConfig(REALM, BSF_NAME, key_lifetime=timedelta(hours=1))

_SET = milenage_sets()[0]
K = bytes.fromhex(_SET["k"])
OPC = bytes.fromhex(_SET["opc"])


def counter_rng(seed: int = 0) -> aka.Rng:
    """Deterministic 'randomness': distinct, reproducible octet strings."""
    counter = itertools.count(seed)

    def rng(n: int) -> bytes:
        return next(counter).to_bytes(n, "big")

    return rng


def usim(seq: int = 0) -> aka.Usim:
    """A USIM on test set 1 whose every IND slot has seen SEQ *seq*."""
    return aka.Usim(K, OPC, aka.SqnArray(seq=[seq] * aka.IND_COUNT))


class MemoryHss:
    """Vectors for one subscriber; SQN steps per vector and follows a verified AUTS."""

    def __init__(self, impi: str = IMPI, k: bytes = K, guss: str | None = None,
                 resync: bool = True) -> None:
        self.impi = impi
        self.milenage = Milenage(k, OPC)
        self.guss = guss
        self.resync = resync
        self.sqn = 0
        self.requests: list[VectorRequest] = []
        self._rand = counter_rng(1000)

    def __call__(self, request: VectorRequest) -> VectorAnswer | int:
        self.requests.append(request)
        if request.impi != self.impi:
            return ExperimentalResultCode.IMPI_UNKNOWN
        if self.resync and request.auts is not None and request.resync_rand is not None:
            try:
                sqn_ms = aka.resync_sqn(self.milenage, request.resync_rand, request.auts)
            except GbaError:  # as nf/hss.py: a MAC-S that does not verify
                return ResultCode.AUTHENTICATION_REJECTED
            self.sqn = aka.sqn_after_resync(self.sqn, sqn_ms)
        self.sqn = aka.next_sqn(self.sqn)
        v = aka.generate_vector(self.milenage, self.sqn, b"\x00\x00", rng=self._rand)
        return VectorAnswer(self.impi, v.rand, v.autn, v.xres, v.ck, v.ik, self.guss)


class MemoryBsf:
    """The BSF machine with dicts for its store and *hss* for Zh."""

    def __init__(self, hss: Callable[[VectorRequest], VectorAnswer | int],
                 config: BsfUbConfig = CONFIG, limits: ChallengeLimits | None = None,
                 rng: aka.Rng | None = None) -> None:
        self.hss = hss
        self.config = config
        self.limits = limits or ChallengeLimits()
        self.rng = rng or counter_rng(9000)
        self.challenges: dict[str, PendingChallenge] = {}
        self.contexts: dict[str, BootstrapContext] = {}
        self.actions: list[object] = []

    def __call__(self, request: HttpRequest, now: datetime = NOW,
                 peer: str | None = None) -> HttpResponse:
        exchange = BsfUbExchange(self.config, request, now, peer=peer, rng=self.rng)
        action = exchange.start()
        while True:
            self.actions.append(action)
            if isinstance(action, Respond):
                return action.response
            if isinstance(action, AdmitChallenge):
                action = exchange.challenge_admitted(
                    self.limits.admit(action.impi, action.source, action.now))
            elif isinstance(action, TakeChallenge):
                pending = self.challenges.pop(action.nonce, None)
                if pending is not None and pending.expires <= action.now:
                    pending = None
                action = exchange.challenge_taken(pending)
            elif isinstance(action, NeedVector):
                action = exchange.vector_received(self.hss(action.request))
            elif isinstance(action, StoreChallenge):
                self.challenges[action.challenge.nonce] = action.challenge
                action = exchange.challenge_stored()
            else:
                assert isinstance(action, StoreContext)
                self.contexts[action.context.btid] = action.context
                action = exchange.context_stored()


class MemoryNaf:
    """The NAF Digest machine; Ks_NAF from *bsf*'s contexts as over Zn."""

    def __init__(self, bsf: MemoryBsf, fqdn: str = NAF_FQDN, rng: aka.Rng | None = None,
                 tls_suite: int | None = None) -> None:
        """*tls_suite*: serve as if inside a TLS connection with that suite (TS 33.222
        §5.3), so that NAF_Id ends 01 00 01 yy zz; None is plain HTTP."""
        self.bsf = bsf
        self.tls_suite = tls_suite
        self.naf_ids: list[bytes] = []
        self.config = NafDigestConfig.for_naf(fqdn, ua.NonceMint(b"\x05" * 32))
        self.counts: dict[str, int] = {}
        self.rng = rng or counter_rng(5000)

    def key(self, btid: str, naf_id: bytes, now: datetime) -> NafKey | None:
        ctx = self.bsf.contexts.get(btid)
        if ctx is None or ctx.expires <= now:
            return None
        return NafKey(btid, naf_id, kdf.ks_naf(ctx.ks, ctx.rand, ctx.impi, naf_id), ctx.impi,
                      ctx.expires)

    def __call__(self, request: HttpRequest, now: datetime = NOW) -> HttpResponse:
        exchange = NafDigestExchange(self.config, request, now, rng=self.rng,
                                     tls_suite=self.tls_suite)
        action = exchange.start()
        while not isinstance(action, Respond):
            if isinstance(action, NeedKey):
                self.naf_ids.append(action.naf_id)
                action = exchange.key_received(self.key(action.btid, action.naf_id, now))
            elif isinstance(action, CheckNonceCount):
                fresh = action.nc > self.counts.get(action.nonce, 0)
                if fresh:
                    self.counts[action.nonce] = action.nc
                action = exchange.nonce_count_checked(fresh)
            else:
                assert isinstance(action, ServeResource)
                body = f"hello {action.key.impi} at {action.path}".encode()
                action = exchange.resource_ready(body)
        return action.response


Server = Callable[[HttpRequest], HttpResponse]


def bootstrap(ue: UeUbExchange, bsf: Server) -> Bootstrap:
    """Run a UE's Ub exchange to the end against *bsf*."""
    action: Send | Bootstrapped = ue.start()
    while isinstance(action, Send):
        action = ue.response_received(bsf(action.request))
    return action.bootstrap


def fetch(ue: UeDigestExchange, naf: Server, key_for: Callable[[bool], tuple[str, bytes]]
          ) -> HttpResponse:
    """Run a UE's Ua Digest exchange to the end; *key_for(force)* gives (B-TID, Ks_NAF)."""
    action: UeDigestAction = ue.start()
    while True:
        if isinstance(action, Done):
            return action.response
        if isinstance(action, Send):
            action = ue.response_received(naf(action.request))
        else:
            action = ue.key_received(*key_for(action.force_bootstrap))
