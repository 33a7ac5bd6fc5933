"""The Zn-Proxy's decisions (TS 33.220 Annex K; docs/roaming.md §1 cases A and B).

A visited network's NAF asks its own BSF (case A, K.2 b) or a GBA proxy (case B, K.2 a)
for the key of a roaming user's B-TID. The proxy works out the user's home network from
the B-TID's domain (seed 000 step 204; TS 23.003 BSF names, :func:`zn.home_realm`) and
either answers from its own contexts (its own subscriber), asks the home BSF over Zn'
(a new BIR with itself as Origin-Host: a back-to-back proxy the home operator authorises
by name, K.1), or refuses. The answer it relays to the NAF is rebuilt with itself as
origin. Zn' is built as Zn: no TS 29.109 text naming a separate application was found.

Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gba.crypto import kdf
from gba.errors import CodecError
from gba.protocols import zn
from gba.protocols.diameter import ExperimentalResultCode, Message, PeerIdentity, ResultCode
from gba.protocols.diameter.capabilities import error_answer


@dataclass(frozen=True, slots=True)
class AnswerLocally:
    """The B-TID is of this network: the proxy's own BSF answers."""


@dataclass(frozen=True, slots=True)
class AskHome:
    """Ask the home BSF of *realm* over Zn'."""

    realm: str


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer the NAF with *code* (Result-Code or Experimental-Result-Code)."""

    code: int
    reason: str


Decision = AnswerLocally | AskHome | Refuse


def decide(btid: str, own_realm: str, known: Mapping[str, str] | None = None) -> Decision:
    """Where the key for *btid* comes from: a malformed B-TID is refused 5403 (the UE
    then bootstraps again, TS 29.109 §6.2.2.3), a domain that names no network we know
    3003 DIAMETER_REALM_NOT_SERVED (RFC 6733 §7.1.3)."""
    try:
        kdf.parse_btid(btid)
    except CodecError as exc:
        return Refuse(ExperimentalResultCode.TRANSACTION_IDENTIFIER_INVALID, str(exc))
    realm = zn.home_realm(btid, known)
    if realm is None:
        return Refuse(ResultCode.REALM_NOT_SERVED,
                      f"no network known for B-TID domain {btid.rpartition('@')[2]!r}")
    if realm.lower() == own_realm.lower():
        return AnswerLocally()
    return AskHome(realm)


def home_request(req: zn.KeyRequest) -> zn.KeyRequest:
    """The request the proxy sends on: the same B-TID, NAF-Id, service ids and GBA_U
    awareness; the NAF's own identity stays behind (the proxy answers for it)."""
    return zn.KeyRequest(req.btid, req.naf_id, req.gaa_service_ids, req.gba_u_aware)


def relay(request: Message, local: PeerIdentity, result: zn.KeyAnswer | int) -> Message:
    """The proxy's answer to the NAF: the home BSF's user information rebuilt with the
    proxy as origin, or the refusal: 3xxx as a protocol error (E bit, RFC 6733 §7.1.3),
    TS 29.109 codes as Experimental-Result, others as Result-Code."""
    if isinstance(result, zn.KeyAnswer):
        return zn.build_bia(request, local, result)
    if result in set(ExperimentalResultCode):
        return zn.build_bia_error(request, local, result)
    return error_answer(request, local, result)
