"""A push session over OMA DM (seed 002 embodiments 1, 2, 3 and 5: steps 203-210,
303-310, 401-410 and 603-610; docs/push.md §2), both sides as sans-IO objects: octets in,
octets out, ``now`` passed in.

Embodiment 3 (:meth:`UeDmSession.start`, :meth:`NafDmSession.ue_started`): no package 0;
the UE's own pkg1 (Alert 1201, its identity under ``./GBA/UE``) opens the session, the
NAF's first pkg2 carries the GPI (GBA Push) and the signed SA parameters (``./GBA/GPI``,
``./GBA/SAInfo``), the UE's confirmation (step 407: a pkg1 with its credential) gets the
second pkg2 with the pushes. Embodiment 5 (:func:`offer`, :meth:`UeDmSession.offer_received`):
explicit SA parameters on the push channel; the UE picks its key by the key-selection
policy or the B-TID named and answers pkg1 with its choice and identity; a NAF that sent
the parameters unsigned (it lacked the key, step 605's note) fetches Ks_NAF by that B-TID
and is authenticated by its first push instead (the AEAD tag under the SA key).

NAF (:class:`NafDmSession`): package 0 with initiator = 1, the session id, the signed SA
parameters in the vendor part and, for a new SA, the GPI in the placement the config
chose; then, per package the UE sends, the next one: pkg2 (Status for pkg1 and the pushes,
each sealed under the SA, in Add items ``./GBA/Push/<n>``), pkg4 (the end). Past its
deadline, or when the SA key expires, it ends the session with Alert 1223 without waiting
for pkg3 (the SA stays stored). A UE that no longer holds the SA says so (Status 404 on
the SA item in pkg1): the NAF ends this session and must push a new GPI.

UE (:class:`UeDmSession`): checks package 0 (digest, or the Ks_NAF MAC for placement
"digest"), sets up the SA (GPI or bootstrap, :mod:`gba.protocols.push_ue`) or finds the
one the parameters name (reuse: no GPI, no bootstrap, no BSF request), and answers pkg1 with
its device information, its credential (the UE MAC under the SA key) and the SA it used;
decrypts pkg2's pushes into pkg3 (a Status per command: 200, or 401 for a push that fails
its tag or replays); takes pkg4 or Alert 1223 as the end.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, auto
from urllib.parse import quote, unquote

from gba.crypto import aka
from gba.errors import AuthError, CodecError, InvalidInput, ProtocolError
from gba.protocols import gpi, omadm_pkg0, push_info, push_sa, push_ue, syncml
from gba.protocols.push_sa import PushSa, SaId

PUSH_ROOT = "./GBA/Push"
GPI_NODE = "./GBA/GPI"
SA_INFO_NODE = "./GBA/SAInfo"
UE_ROOT = "./GBA/UE"
UI_BACKGROUND = 1
DEVICE_SOURCE = "IMEI:gba-lab-ue"


class End(Enum):
    DONE = auto()
    """pkg3 arrived and pkg4 was sent."""
    TIMED_OUT = auto()
    """No pkg3 in time or the key expired: Alert 1223 sent (steps 210, 310 note)."""
    NEEDS_GPI = auto()
    """The UE holds no SA of that name: push again with a GPI."""
    UE_REFUSED = auto()
    """The UE's credential did not verify."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes:
    try:
        return base64.b64decode(text or "", validate=True)
    except (binascii.Error, ValueError):
        raise CodecError("not base64") from None


def _header(session_id: int, msg_id: int, target: str, source: str,
            cred: syncml.Cred | None = None) -> syncml.SyncHdr:
    return syncml.SyncHdr(str(session_id), msg_id, target, source, cred)


@dataclass(slots=True)
class NafDmSession:
    """The NAF's side of one DM push session."""

    fqdn: str
    session_id: int
    sa: PushSa
    ks_naf: bytes = field(repr=False)
    info: push_info.SaInfo
    pushes: tuple[bytes, ...]
    deadline: datetime
    server_password: bytes = field(repr=False, default=b"")
    nonce: bytes = b""
    gpi: bytes | None = None
    placement: omadm_pkg0.Placement = "trigger"
    skip_ue_check: bool = False
    end: End | None = None
    payloads_acknowledged: int = 0
    _msg_id: int = 0

    def _hdr(self) -> syncml.SyncHdr:
        self._msg_id += 1
        return _header(self.session_id, self._msg_id, DEVICE_SOURCE, self.fqdn)

    def notification(self) -> bytes:
        """Package 0 (steps 203, 303): initiator 1, session id, signed SA parameters,
        and the GPI when the SA is new."""
        pkg = omadm_pkg0.Pkg0(ui_mode=UI_BACKGROUND, initiator=1, session_id=self.session_id,
                              server_id=self.fqdn,
                              vendor=push_info.sign(self.info, self.ks_naf))
        if self.gpi is None:
            return omadm_pkg0.encode(pkg, self.server_password, self.nonce)
        return omadm_pkg0.encode_with_gpi(pkg, self.gpi, self.placement,
                                          server_password=self.server_password,
                                          nonce=self.nonce, ks_naf=self.ks_naf)

    def ue_started(self, data: bytes, now: datetime) -> bytes:
        """Embodiment 3 (steps 401, 404-405): pkg2 carrying the GPI (GBA Push) and the
        signed SA parameters, in answer to the pkg1 the UE sent on its own."""
        msg = self._decode(data)
        if self._timed_out(now):
            return self._abort(End.TIMED_OUT)
        items = [syncml.Item(target=SA_INFO_NODE, format="b64",
                             data=_b64(push_info.sign(self.info, self.ks_naf)))]
        if self.gpi is not None:
            items.insert(0, syncml.Item(target=GPI_NODE, data=_b64(self.gpi), format="b64"))
        return syncml.encode(syncml.pkg2(self._hdr(), msg, [syncml.Add(0, tuple(items))],
                                         header_code=syncml.STATUS_OK))

    def _decode(self, data: bytes | syncml.Message) -> syncml.Message:
        """*data* decoded (or as decoded already by the caller that routed it here), of
        this session."""
        msg = syncml.decode(data) if isinstance(data, bytes) else data
        if msg.header.session_id != str(self.session_id):
            raise ProtocolError(f"a package of session {msg.header.session_id}, not "
                                f"{self.session_id}")
        return msg

    def pkg1_received(self, data: bytes | syncml.Message, now: datetime) -> bytes:
        """pkg2 with the sealed pushes (steps 206-207, 408, 606-607), or Alert 1223 ending
        the session when the UE holds no such SA or its credential fails."""
        msg = self._decode(data)
        if self._timed_out(now):
            return self._abort(End.TIMED_OUT)
        if any(isinstance(c, syncml.Status) and c.data == syncml.STATUS_NOT_FOUND
               for c in msg.commands):
            return self._abort(End.NEEDS_GPI)
        if not self.skip_ue_check:
            cred = msg.header.cred
            expected = push_sa.ue_mac(self.sa.key, self.session_id, self.sa.sa_id)
            try:
                push_sa.verify(expected, _unb64(cred.data if cred else None))
            except (AuthError, CodecError):
                return self._abort(End.UE_REFUSED)
        items = []
        for n, payload in enumerate(self.pushes, 1):
            self.sa, sealed = self.sa.seal(payload, now)
            items.append(syncml.Item(target=f"{PUSH_ROOT}/{n}", data=_b64(sealed),
                                     format="b64"))
        return syncml.encode(syncml.pkg2(self._hdr(), msg, [syncml.Add(0, tuple(items))]))

    def pkg3_received(self, data: bytes | syncml.Message, now: datetime) -> bytes:
        """pkg4, the end (steps 209-210)."""
        msg = self._decode(data)
        if self._timed_out(now):
            return self._abort(End.TIMED_OUT)
        self.payloads_acknowledged = sum(
            1 for c in msg.commands if isinstance(c, syncml.Status) and c.cmd == "Add"
            and c.data == syncml.STATUS_OK)
        self.end = End.DONE
        return syncml.encode(syncml.pkg4(self._hdr(), msg))

    def expire(self, now: datetime) -> bytes | None:
        """Alert 1223 if the UE took too long or the key expired (else None)."""
        return self._abort(End.TIMED_OUT) if self.end is None and self._timed_out(now) \
            else None

    def _timed_out(self, now: datetime) -> bool:
        return now >= self.deadline or not self.sa.usable(now)

    def _abort(self, why: End) -> bytes:
        self.end = why
        return syncml.encode(syncml.abort(self._hdr()))


@dataclass(frozen=True, slots=True)
class Bootstrapped:
    """The UE's normal-GBA key for the pushing NAF (its Ks_NAF, B-TID and expiry)."""

    ks_naf: bytes = field(repr=False)
    btid: str
    expires: datetime


class UeDmSession:
    """The UE's side of one DM push session."""

    def __init__(self, store: push_ue.SaStore, usim: aka.Usim, impi: str,
                 device: syncml.DevInfo, server_id: str, server_password: bytes,
                 nonce: bytes = b"", bootstrap: Bootstrapped | None = None,
                 skip_naf_auth: bool = False) -> None:
        self.store = store
        self.usim = usim
        self.impi = impi
        self.device = device
        self.server_id = server_id
        self.server_password = server_password
        self.nonce = nonce
        self.bootstrap = bootstrap
        self.skip_naf_auth = skip_naf_auth
        self.session_id = 0
        self.sa_id: SaId | None = None
        self.reused = False
        self.server_initiated = True
        self.payloads: list[bytes] = []
        self.ended = False
        self._msg_id = 0

    def _hdr(self, cred: syncml.Cred | None = None) -> syncml.SyncHdr:
        self._msg_id += 1
        return _header(self.session_id, self._msg_id, self.server_id, DEVICE_SOURCE, cred)

    def notification_received(self, data: bytes, now: datetime) -> bytes:
        """pkg1 (steps 204-205, 304-305): the SA set up or found, the NAF authenticated.
        Raises (and stores nothing) for a package 0 that does not verify, a GPI that
        fails, or a NAF MAC that fails; answers Status 404 for an unknown SA without
        a GPI."""
        pkg, gpi_octets, placement = omadm_pkg0.extract_gpi(data)
        if pkg.server_id != self.server_id or pkg.initiator != 1:
            raise ProtocolError(f"package 0 from {pkg.server_id!r} is not from our NAF")
        if placement != "digest" and not omadm_pkg0.verify_digest(
                data, self.server_id, self.server_password, self.nonce):
            raise AuthError("package 0 digest does not verify")
        self.session_id = pkg.session_id
        sa = self._establish(pkg.vendor, gpi_octets, now)
        if sa is None:
            return self._unknown_sa(push_info.read_signed(pkg.vendor)[0].sa_id)
        if placement == "digest" and gpi_octets is not None and not \
                omadm_pkg0.verify_gpi_mac(data, self._ks_naf_of(sa, pkg.vendor)):
            raise AuthError("package 0 MAC under Ks_NAF does not verify")
        return self._confirm(sa)

    def _establish(self, signed_info: bytes, gpi_octets: bytes | None, now: datetime
                   ) -> PushSa | None:
        """The SA the signed parameters name: found (reuse), set up from the GPI or from
        the bootstrap; None when it is unknown and nothing sets it up. Nothing is stored
        until every check has passed."""
        info, body, mac = push_info.read_signed(signed_info)
        sa = self.store.find(info.sa_id, now)
        if sa is not None and gpi_octets is None:
            # reuse: the NAF still proves it holds the SA's key
            push_sa.verify(push_sa.naf_mac(self._base_key(sa, info), body), mac)
            self.reused = True
            return sa
        if gpi_octets is not None:
            return push_ue.sa_from_gpi(self.usim, self.impi, self.server_id, gpi_octets,
                                       signed_info, now)
        if self.bootstrap is not None:
            b = self.bootstrap
            return push_ue.sa_from_bootstrap(b.ks_naf, b.btid, b.expires, self.server_id,
                                             signed_info, now,
                                             skip_naf_auth=self.skip_naf_auth)
        return None

    def setup_sa(self, signed_info: bytes, gpi_octets: bytes | None, now: datetime
                 ) -> PushSa:
        """Embodiment 4 (step 503): the SA signed parameters on the push channel set up or
        name, stored; the pushes then come over PSK-TLS, not in DM packages."""
        sa = self._establish(signed_info, gpi_octets, now)
        if sa is None:
            raise AuthError("the parameters name an SA the UE lacks and carry no GPI")
        self.store.put(sa)
        self.sa_id = sa.sa_id
        return sa

    def _confirm(self, sa: PushSa) -> bytes:
        """pkg1 (or embodiment 3's confirmation, step 407): credential and the SA used.
        The SA is stored once the answer is built."""
        cred = syncml.Cred(_b64(push_sa.ue_mac(sa.key, self.session_id, sa.sa_id)),
                           syncml.AUTH_MAC)
        used = {"Kind": sa.sa_id.kind.value, "TID": sa.tid, "Algorithm": sa.algorithm,
                "Identity": self.impi}
        extra = [syncml.Replace(0, syncml.sa_items(sa_segment(sa.sa_id), used))]
        answer = syncml.encode(syncml.pkg1(self._hdr(cred), self.device, extra=extra,
                                           server_initiated=self.server_initiated))
        self.store.put(sa)
        self.sa_id = sa.sa_id
        return answer

    def _base_key(self, sa: PushSa, info: push_info.SaInfo) -> bytes:
        """The key the NAF signs with: Ks_NAF, which is the SA key unless derived."""
        if info.key_derivation is None:
            return sa.key
        if self.bootstrap is not None:
            return self.bootstrap.ks_naf
        raise AuthError("a derived SA reused without its Ks_NAF")

    def _ks_naf_of(self, sa: PushSa, signed_info: bytes) -> bytes:
        if push_info.read_signed(signed_info)[0].key_derivation is not None:
            raise AuthError('placement "digest" with a derived SA key is not supported')
        return sa.key

    def _unknown_sa(self, sa_id: SaId) -> bytes:
        status = syncml.Status(0, 0, 0, "Replace", syncml.STATUS_NOT_FOUND,
                               target_refs=(f"{syncml.SA_ROOT}/{sa_segment(sa_id)}",))
        return syncml.encode(syncml.pkg1(self._hdr(), self.device, extra=[status]))

    def start(self, session_id: int, held: SaId | None = None) -> bytes:
        """Embodiment 3, step 401: the UE's own pkg1 (Alert 1201) with its identity,
        under normal GBA its B-TID, and the SA it holds for this NAF (*held*: the NAF
        may reuse it); no package 0 came before it."""
        if not 1 <= session_id <= 0xFFFF:
            raise ProtocolError(f"session id {session_id} is not 16-bit")
        self.session_id = session_id
        self.server_initiated = False
        hello = {"Identity": self.impi}
        if self.bootstrap is not None:
            hello["BTID"] = self.bootstrap.btid
        if held is not None:
            hello["SA"] = held.encode().decode("utf-8")
        items = tuple(syncml.Item(target=f"{UE_ROOT}/{name}", data=value,
                                  format=syncml.FORMAT_CHR) for name, value in hello.items())
        return syncml.encode(syncml.pkg1(self._hdr(), self.device, server_initiated=False,
                                         extra=[syncml.Replace(0, items)]))

    def offer_received(self, data: bytes, now: datetime) -> bytes:
        """Embodiment 5 (steps 603-605): the key found by the key-selection policy or the
        B-TID named (or set up from the GPI that came with the parameters), the NAF
        authenticated when it signed them; pkg1 returns the choice and the identity."""
        session_id, gpi_octets, signed_info, signed = read_offer(data)
        if not 1 <= session_id <= 0xFFFF:
            raise ProtocolError(f"SA offer with session id {session_id}")
        self.session_id = session_id
        info, body, mac = push_info.read_signed(signed_info)
        held = self.store.find(info.sa_id, now)
        if gpi_octets is not None:
            sa = push_ue.sa_from_gpi(self.usim, self.impi, self.server_id, gpi_octets,
                                     signed_info, now)
        elif held is not None and signed:
            sa = held  # reuse: the NAF signed with the SA's key
            push_sa.verify(push_sa.naf_mac(held.key, body), mac)
            self.reused = True
        else:
            b = self.bootstrap
            if b is None:
                raise AuthError("SA parameters with no key to select: bootstrap first")
            if info.key_selection not in ("btid", "latest"):
                raise AuthError(f"key selection {info.key_selection!r} is not supported")
            if info.key_selection == "btid" and info.tid is None:
                raise AuthError('key selection "btid" names no B-TID')
            # unsigned: the NAF lacked the key; its first push authenticates it instead
            sa = push_ue.sa_from_bootstrap(b.ks_naf, b.btid, b.expires, self.server_id,
                                           signed_info, now,
                                           skip_naf_auth=self.skip_naf_auth or not signed)
        return self._confirm(sa)

    def pkg2_received(self, data: bytes, now: datetime) -> bytes | None:
        """pkg3 (steps 208-209): every push decrypted, a Status per command; None when
        the NAF ended the session (Alert 1223). In embodiment 3 the first pkg2 carries
        the SA parameters (and the GPI): the answer is the confirmation (step 407)."""
        msg = syncml.decode(data)
        if self._ends(msg):
            return None
        if self.sa_id is None:
            return self._sa_from_pkg2(msg, now)
        codes: dict[int, int] = {}
        for command in msg.commands:
            if not isinstance(command, syncml.Add):
                continue
            code = syncml.STATUS_OK
            for item in command.items:
                if not (item.target or "").startswith(PUSH_ROOT + "/"):
                    continue
                try:
                    self.payloads.append(self.store.open(self.sa_id, _unb64(item.data), now))
                except (AuthError, CodecError):
                    code = syncml.STATUS_UNAUTHORIZED
            codes[command.cmd_id] = code
        return syncml.encode(syncml.pkg3(self._hdr(), msg, codes))

    def _sa_from_pkg2(self, msg: syncml.Message, now: datetime) -> bytes:
        nodes = {item.target: item.data for command in msg.commands
                 if isinstance(command, syncml.Add) for item in command.items}
        if SA_INFO_NODE not in nodes:
            raise ProtocolError("pkg2 before any SA: no SA parameters in it")
        gpi_text = nodes.get(GPI_NODE)
        sa = self._establish(_unb64(nodes[SA_INFO_NODE]),
                             _unb64(gpi_text) if gpi_text is not None else None, now)
        if sa is None:
            raise AuthError("pkg2 names an SA the UE lacks and carries no GPI")
        return self._confirm(sa)

    def pkg4_received(self, data: bytes) -> None:
        """The end of the session (step 210)."""
        syncml.decode(data)  # well formed; pkg4 or Alert 1223 both end it
        self.ended = True

    def _ends(self, msg: syncml.Message) -> bool:
        if any(isinstance(c, syncml.Alert) and c.data == syncml.ALERT_SESSION_ABORT
               for c in msg.commands):
            self.ended = True
        return self.ended


_OFFER = struct.Struct(">BHH")
OFFER_SIGNED = 1
OFFER_UNSIGNED = 0


def offer(session_id: int, info: push_info.SaInfo, key: bytes | None,
          gpi_octets: bytes | None = None) -> bytes:
    """Embodiment 5's explicit SA parameters (step 603) [P]: flag (1 signed with *key*,
    0 unsigned: the NAF lacks the key), session id, GPI length, GPI, parameters || MAC
    (zeros when unsigned)."""
    gpi_part = gpi_octets or b""
    if not 1 <= session_id <= 0xFFFF or len(gpi_part) > gpi.MAX_GPI:
        raise InvalidInput("SA offer session id not 16-bit or GPI too long")
    if key is None and gpi_octets is not None:
        raise ProtocolError("a GPI comes with its key: sign the parameters")
    body = push_info.encode(info)
    mac = push_sa.naf_mac(key, body) if key is not None else bytes(push_sa.MAC_LEN)
    return _OFFER.pack(OFFER_SIGNED if key is not None else OFFER_UNSIGNED, session_id,
                       len(gpi_part)) + gpi_part + body + mac


def read_offer(data: bytes) -> tuple[int, bytes | None, bytes, bool]:
    """(session id, GPI or None, parameters || MAC, signed); :class:`CodecError` if
    malformed."""
    if len(data) < _OFFER.size:
        raise CodecError("SA offer shorter than its header")
    flag, session_id, gpi_len = _OFFER.unpack_from(data)
    if flag not in (OFFER_SIGNED, OFFER_UNSIGNED):
        raise CodecError(f"SA offer flag {flag} unknown")
    rest = data[_OFFER.size:]
    if gpi_len > len(rest):
        raise CodecError("SA offer GPI runs past the end")
    gpi_octets, signed_info = rest[:gpi_len], rest[gpi_len:]
    if gpi_len and flag != OFFER_SIGNED:
        raise CodecError("an unsigned SA offer carries a GPI")
    push_info.read_signed(signed_info)  # well formed
    return session_id, gpi_octets or None, signed_info, flag == OFFER_SIGNED


@dataclass(frozen=True, slots=True)
class Hello:
    """What a UE's own pkg1 says of it (embodiment 3, step 401)."""

    session_id: int
    identity: str
    btid: str | None
    sa: SaId | None = None
    """The SA the UE holds for this NAF, which the NAF may reuse."""


@dataclass(frozen=True, slots=True)
class Choice:
    """The SA a UE's pkg1 says it used (steps 205, 407, 605; claims 11-12, 16)."""

    sa_id: SaId
    tid: str
    identity: str
    algorithm: str


def _session(msg: syncml.Message) -> int:
    try:
        value = int(msg.header.session_id)
    except ValueError:
        raise CodecError("SessionID is not a number") from None
    if not 1 <= value <= 0xFFFF:
        raise CodecError(f"SessionID {value} is not 16-bit")
    return value


def hello_of(data: bytes) -> tuple[syncml.Message, Hello | None]:
    """The message and, when it is a UE's own pkg1 (Alert 1201), its hello."""
    msg = syncml.decode(data)
    if not any(isinstance(c, syncml.Alert) and c.data == syncml.ALERT_CLIENT_INITIATED
               for c in msg.commands):
        return msg, None
    nodes = _nodes(msg, UE_ROOT)
    if not nodes.get("Identity") or "/" in nodes["Identity"]:
        raise CodecError("a client-initiated pkg1 without the UE's identity")
    held = None
    if nodes.get("SA"):
        kind, _, value = nodes["SA"].partition(":")
        try:
            held = SaId(push_sa.IdKind(kind), value)
        except ValueError:
            raise CodecError("pkg1 names an SA of an unknown kind") from None
        if not value:
            raise CodecError("pkg1 names an SA without a value")
    return msg, Hello(_session(msg), nodes["Identity"], nodes.get("BTID") or None, held)


def choice_of(msg: syncml.Message) -> Choice | None:
    """The SA the UE reports in a pkg1 (None if it reports none)."""
    for command in msg.commands:
        if not isinstance(command, syncml.Replace):
            continue
        for item in command.items:
            target = item.target or ""
            if target.startswith(syncml.SA_ROOT + "/") and target.endswith("/Kind"):
                name = target[len(syncml.SA_ROOT) + 1:-len("/Kind")]
                nodes = _nodes(msg, f"{syncml.SA_ROOT}/{name}")
                name = unquote(name)
                try:
                    kind = push_sa.IdKind(nodes.get("Kind", ""))
                except ValueError:
                    raise CodecError("pkg1 names an unknown SA identifier kind") from None
                if not name or not nodes.get("TID") or not nodes.get("Identity"):
                    raise CodecError("pkg1's SA lacks its TID or the UE's identity")
                return Choice(SaId(kind, name), nodes["TID"], nodes["Identity"],
                              nodes.get("Algorithm", push_sa.ALGORITHM))
    return None


def sa_segment(sa_id: SaId) -> str:
    """The SA's name as one URI segment of ``./GBA/SA`` (percent-encoded, RFC 3986
    §2.1: a B-TID's base64 may hold "/")."""
    return quote(sa_id.value, safe="")


def _nodes(msg: syncml.Message, root: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for command in msg.commands:
        if isinstance(command, syncml.Replace):
            for item in command.items:
                target = item.target or ""
                if target.startswith(root + "/") and "/" not in target[len(root) + 1:]:
                    out[target[len(root) + 1:]] = item.data or ""
    return out


def deadline(now: datetime, seconds: float) -> datetime:
    """When a NAF stops waiting for pkg3."""
    return now + timedelta(seconds=seconds)
