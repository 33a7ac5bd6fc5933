"""A push session over OMA DM (seed 002 embodiments 1 and 2, steps 203-210 and 303-310;
docs/push.md §2), both sides as sans-IO objects: octets in, octets out, ``now`` passed in.

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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, auto

from gba.crypto import aka
from gba.errors import AuthError, CodecError, ProtocolError
from gba.protocols import omadm_pkg0, push_info, push_sa, push_ue, syncml
from gba.protocols.push_sa import PushSa, SaId

PUSH_ROOT = "./GBA/Push"
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

    def pkg1_received(self, data: bytes, now: datetime) -> bytes:
        """pkg2 with the sealed pushes (steps 206-207), or Alert 1223 ending the session
        when the UE holds no such SA or its credential fails."""
        msg = syncml.decode(data)
        if msg.header.session_id != str(self.session_id):
            raise ProtocolError(f"pkg1 of session {msg.header.session_id}, not "
                                f"{self.session_id}")
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

    def pkg3_received(self, data: bytes, now: datetime) -> bytes:
        """pkg4, the end (steps 209-210)."""
        msg = syncml.decode(data)
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
        pkg, gpi, placement = omadm_pkg0.extract_gpi(data)
        if pkg.server_id != self.server_id or pkg.initiator != 1:
            raise ProtocolError(f"package 0 from {pkg.server_id!r} is not from our NAF")
        if placement != "digest" and not omadm_pkg0.verify_digest(
                data, self.server_id, self.server_password, self.nonce):
            raise AuthError("package 0 digest does not verify")
        self.session_id = pkg.session_id
        info, body, mac = push_info.read_signed(pkg.vendor)
        sa = self.store.find(info.sa_id, now)
        if sa is not None and gpi is None:
            self.reused = True  # reuse: the NAF still proves it holds the SA's key
            push_sa.verify(push_sa.naf_mac(self._base_key(sa, info), body), mac)
        elif gpi is not None:
            sa = push_ue.sa_from_gpi(self.usim, self.impi, self.server_id, gpi, pkg.vendor,
                                     now)
            if placement == "digest" and not omadm_pkg0.verify_gpi_mac(
                    data, self._ks_naf_of(sa, info)):
                raise AuthError("package 0 MAC under Ks_NAF does not verify")
        elif self.bootstrap is not None:
            b = self.bootstrap
            sa = push_ue.sa_from_bootstrap(b.ks_naf, b.btid, b.expires, self.server_id,
                                           pkg.vendor, now, skip_naf_auth=self.skip_naf_auth)
        else:
            return self._unknown_sa(info.sa_id)
        self.store.put(sa)
        self.sa_id = sa.sa_id
        cred = syncml.Cred(_b64(push_sa.ue_mac(sa.key, self.session_id, sa.sa_id)),
                           syncml.AUTH_MAC)
        used = syncml.Replace(0, syncml.sa_items(sa.sa_id.value, {
            "Kind": sa.sa_id.kind.value, "TID": sa.tid, "Algorithm": sa.algorithm}))
        return syncml.encode(syncml.pkg1(self._hdr(cred), self.device, extra=[used]))

    def _base_key(self, sa: PushSa, info: push_info.SaInfo) -> bytes:
        """The key the NAF signs with: Ks_NAF, which is the SA key unless derived."""
        if info.key_derivation is None:
            return sa.key
        if self.bootstrap is not None:
            return self.bootstrap.ks_naf
        raise AuthError("a derived SA reused without its Ks_NAF")

    def _ks_naf_of(self, sa: PushSa, info: push_info.SaInfo) -> bytes:
        if info.key_derivation is not None:
            raise AuthError('placement "digest" with a derived SA key is not supported')
        return sa.key

    def _unknown_sa(self, sa_id: SaId) -> bytes:
        status = syncml.Status(0, 0, 0, "Replace", syncml.STATUS_NOT_FOUND,
                               target_refs=(f"{syncml.SA_ROOT}/{sa_id.value}",))
        return syncml.encode(syncml.pkg1(self._hdr(), self.device, extra=[status]))

    def pkg2_received(self, data: bytes, now: datetime) -> bytes | None:
        """pkg3 (steps 208-209): every push decrypted, a Status per command; None when
        the NAF ended the session (Alert 1223)."""
        msg = syncml.decode(data)
        if self._ends(msg) or self.sa_id is None:
            return None
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

    def pkg4_received(self, data: bytes) -> None:
        """The end of the session (step 210)."""
        syncml.decode(data)  # well formed; pkg4 or Alert 1223 both end it
        self.ended = True

    def _ends(self, msg: syncml.Message) -> bool:
        if any(isinstance(c, syncml.Alert) and c.data == syncml.ALERT_SESSION_ABORT
               for c in msg.commands):
            self.ended = True
        return self.ended


def deadline(now: datetime, seconds: float) -> datetime:
    """When a NAF stops waiting for pkg3."""
    return now + timedelta(seconds=seconds)
