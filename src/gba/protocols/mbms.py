"""MBMS key delivery in MIKEY (TS 33.246 §6.3.2.3.1 MSK push, §6.3.3.2.2 MTK delivery).

Sans-IO: each builder returns the octets of one UDP datagram, each verifier takes them and
returns the delivered key or raises. Counter and RAND are passed in; nothing here keeps
state (the receiver stores the last counter, per MUK and per MSK).

Confirmed in the RFC texts (and therefore built so):

* The pre-shared-key method (RFC 3830 §3.1): I_MESSAGE = HDR, T, RAND, [IDi], [IDr],
  {SP}, KEMAC; data type 0; KEMAC = E(encr_key, {key data}) || MAC and, in the
  pre-shared-key case, KEMAC is the last payload and its MAC covers the entire message
  up to the MAC field (§5.2, §6.2).
* Keys from the pre-shared key (the MUK for the MSK message, the MSK for MTK messages,
  RFC 4563 §2): encr_key, salt and auth_key with PRF MIKEY-1 (RFC 3830 §4.1.4,
  ``gba.crypto.mikey_prf``); AES-CM-128 with IV = (S XOR (0x0000 || CSB ID || T)) ||
  0x0000 (§4.2.3); HMAC-SHA-1-160 MAC (§4.2.4).
* The Key ID General Extension, type 3, with Key Domain ID (0), MSK ID (1), MTK ID (2)
  sub-payloads, and the empty CS ID map (type 1) when no SP payload is sent (RFC 4563
  §4, §5).
* Counters: EF_MUK keeps a "Time Stamp Counter ... for MIKEY replay protection in MSK
  delivery" per MUK, EF_MSK one per MSK for MTK delivery (TS 31.102 §4.2.81, §4.2.80),
  so T is the COUNTER type (RFC 3830 §6.6) and a counter not above the stored one is
  refused (:class:`ReplayError`) after, never before, the MAC has verified.

UNVERIFIED (TS 33.246 §6.4 and its annex were not found in any source we could read;
docs/roaming.md §6 lists them as open):

* payload order: MSK message = HDR, EXT, T, RAND, IDi, IDr, KEMAC; MTK message = HDR,
  EXT, T, RAND, KEMAC (RAND in the MTK message follows RFC 3830 §3.1, which makes it
  part of every key derivation; whether TS 33.246 sends it there is not confirmed).
  The verifiers require each payload once and KEMAC last, not a fixed order of the rest;
* HDR: CSB ID = MSK ID (``gba.crypto.mbms.csb_id``), #CS 0, V set when a verification
  message is wanted;
* MUK ID = (IDi, IDr), IDi the BM-SC (sent as a URI-type ID) and IDr the B-TID (an NAI),
  inferred from EF_MUK's Idi/Idr pair;
* key data: the MSK as type TGK (0) with KV SPI = MSK ID; the MTK as TEK+SALT (3) with
  KV SPI = MTK ID; a 2-octet MTK ID.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha1

from gba.crypto import mbms as ids
from gba.crypto.mikey_prf import aes_cm_128, psk_keys, transport_iv
from gba.errors import AuthError, CodecError, InvalidInput, MacFailure
from gba.hexutil import require_length
from gba.protocols import mikey

COUNTER_MAX = 0xFFFFFFFF
RAND_LEN = 16
"""RAND length we send (RFC 3830 §6.11: SHOULD be at least 16 octets)."""


class ReplayError(AuthError):
    """A MIKEY message whose counter is not above the receiver's stored one (RFC 3830
    §5.4; TS 31.102 §4.2.80, §4.2.81 counters). Raised only for authentic messages."""

    def __init__(self, counter: int, last_counter: int) -> None:
        super().__init__(f"MIKEY counter {counter} is not above the stored {last_counter}")
        self.counter = counter
        self.last_counter = last_counter


class UnknownMsk(MacFailure):
    """An MTK message names an MSK the receiver does not hold: no key of ours can
    authenticate it (a UE would then ask for the MSK, TS 33.246 §6.3.2.2)."""

    def __init__(self, msk_id: bytes) -> None:
        super().__init__(f"no MSK with ID {msk_id.hex()}")
        self.msk_id = msk_id


@dataclass(frozen=True, slots=True)
class MskDelivery:
    """An authentic, fresh MSK message's content (TS 33.246 §6.3.2.3.1)."""

    msk_id: bytes
    msk: bytes = field(repr=False)
    counter: int
    key_domain_id: bytes | None
    muk_id: tuple[str, str]
    verification_requested: bool


@dataclass(frozen=True, slots=True)
class MtkDelivery:
    """An authentic, fresh MTK message's content (TS 33.246 §6.3.3.2.2)."""

    msk_id: bytes
    mtk_id: bytes
    mtk: bytes = field(repr=False)
    salt: bytes = field(repr=False)
    counter: int


# ------------------------------------------------------------------ building


def _counter(counter: int) -> mikey.Timestamp:
    if not 0 <= counter <= COUNTER_MAX:
        raise InvalidInput(f"counter {counter} is not a 32-bit unsigned integer")
    return mikey.Timestamp(mikey.TS_COUNTER, counter)


def _key_ids(key_domain_id: bytes | None, msk_id: bytes, mtk_id: bytes | None
             ) -> mikey.GeneralExtension:
    found = []
    if key_domain_id is not None:
        require_length(key_domain_id, "Key Domain ID", ids.KEY_DOMAIN_ID_LEN)
        found.append(mikey.KeyId(mikey.KEY_ID_DOMAIN, key_domain_id))
    found.append(mikey.KeyId(mikey.KEY_ID_MSK, msk_id))
    if mtk_id is not None:
        found.append(mikey.KeyId(mikey.KEY_ID_MTK, mtk_id))
    return mikey.key_id_extension(found)


def _protect(psk: bytes, header: mikey.Header, payloads: list[mikey.Payload],
             stamp: mikey.Timestamp, rand: bytes, key: mikey.KeyData) -> bytes:
    """Append the KEMAC (AES-CM-128 encrypted key data, HMAC-SHA-1-160 over everything
    before the MAC field) and return the message octets (RFC 3830 §4.2.3, §5.2)."""
    keys = psk_keys(psk, header.csb_id, rand)
    iv = transport_iv(keys.salt_key, header.csb_id, stamp.octets)
    encrypted = aes_cm_128(keys.encr_key, iv, mikey.encode_key_data([key]))
    unsigned = mikey.Kemac(mikey.ENCR_AES_CM_128, encrypted, mikey.MAC_HMAC_SHA1_160,
                           bytes(20))
    wire = mikey.encode(mikey.Message(header, (*payloads, unsigned)))
    covered = wire[:-20]
    return covered + hmac.digest(keys.auth_key, covered, sha1)


def build_msk_message(muk: bytes, muk_id: tuple[str, str], msk_id: bytes, msk: bytes,
                      counter: int, rand: bytes, key_domain_id: bytes | None, *,
                      request_verification: bool = False) -> bytes:
    """The BM-SC's MSK message to one UE, protected by its MUK (TS 33.246 §6.3.2.3.1).

    *muk_id* is (IDi, IDr): the BM-SC's identity and the UE's B-TID; *counter* must be
    above every counter sent before under this MUK; *rand* is fresh, 16 octets.
    """
    require_length(muk, "MUK", ids.NAF_KEY_LEN)
    require_length(msk_id, "MSK ID", ids.MSK_ID_LEN)
    require_length(msk, "MSK", ids.MSK_LEN)
    require_length(rand, "RAND", RAND_LEN)
    idi, idr = muk_id
    if not idi or not idr:
        raise InvalidInput("MUK ID needs both IDi and IDr")
    header = mikey.Header(mikey.DATA_PSK_INIT, ids.csb_id(msk_id), v=request_verification)
    stamp = _counter(counter)
    payloads: list[mikey.Payload] = [
        _key_ids(key_domain_id, msk_id, None), stamp, mikey.Rand(rand),
        mikey.Identity(mikey.ID_URI, idi.encode("utf-8")),
        mikey.Identity(mikey.ID_NAI, idr.encode("utf-8"))]
    key = mikey.KeyData(mikey.KEY_TGK, msk, kv=mikey.KvSpi(msk_id))
    return _protect(muk, header, payloads, stamp, rand, key)


def build_mtk_message(msk: bytes, msk_id: bytes, mtk_id: bytes, mtk: bytes, salt: bytes,
                      counter: int, rand: bytes, *, key_domain_id: bytes | None = None
                      ) -> bytes:
    """The BM-SC's MTK message to every receiver of the service, protected by the MSK
    (TS 33.246 §6.3.3.2.2; RFC 4563 §2)."""
    require_length(msk, "MSK", ids.MSK_LEN)
    require_length(msk_id, "MSK ID", ids.MSK_ID_LEN)
    require_length(mtk_id, "MTK ID", ids.MTK_ID_LEN)
    require_length(mtk, "MTK", ids.MTK_LEN)
    require_length(salt, "MTK salt", ids.MTK_SALT_LEN)
    require_length(rand, "RAND", RAND_LEN)
    header = mikey.Header(mikey.DATA_PSK_INIT, ids.csb_id(msk_id))
    stamp = _counter(counter)
    payloads: list[mikey.Payload] = [_key_ids(key_domain_id, msk_id, mtk_id), stamp,
                                     mikey.Rand(rand)]
    key = mikey.KeyData(mikey.KEY_TEK_SALT, mtk, salt, mikey.KvSpi(mtk_id))
    return _protect(msk, header, payloads, stamp, rand, key)


# ------------------------------------------------------------------ verifying


@dataclass(frozen=True, slots=True)
class _Parts:
    """What the MAC check needs: the parsed message, its RAND and its final KEMAC."""

    message: mikey.Message
    rand: bytes
    kemac: mikey.Kemac


def _one(message: mikey.Message, kind: type[mikey.P], name: str) -> mikey.P:
    found = message.all(kind)
    if len(found) != 1:
        raise CodecError(f"{len(found)} {name} payloads, expected exactly one")
    return found[0]


def _parts(data: bytes) -> _Parts:
    """Parse, and find what keys and MAC need; nothing else is looked at before the MAC."""
    message = mikey.decode(data)
    last = message.payloads[-1] if message.payloads else None
    if not isinstance(last, mikey.Kemac):
        raise CodecError("KEMAC is not the last payload (RFC 3830 §6.2, pre-shared key)")
    return _Parts(message, _one(message, mikey.Rand, "RAND").value, last)


def _read_key_ids(message: mikey.Message) -> dict[int, bytes]:
    """The RFC 4563 Key IDs of the one General Extension, by Key ID type."""
    found: dict[int, bytes] = {}
    for key_id in mikey.parse_key_ids(_one(message, mikey.GeneralExtension, "EXT")):
        if key_id.id_type in found:
            raise CodecError(f"Key ID type {key_id.id_type} twice")
        found[key_id.id_type] = key_id.value
    return found


def _open(psk: bytes, data: bytes, parts: _Parts) -> tuple[mikey.Timestamp, mikey.KeyData]:
    """Check the MAC, then the rest of the profile, then decrypt the one Key data
    sub-payload (RFC 3830 §5.3: verify before anything else is used)."""
    header, kemac = parts.message.header, parts.kemac
    keys = psk_keys(psk, header.csb_id, parts.rand)
    if kemac.mac_alg != mikey.MAC_HMAC_SHA1_160:
        raise MacFailure(f"MAC algorithm {kemac.mac_alg} is not HMAC-SHA-1-160")
    covered, mac = mikey.split_mac(data, parts.message)
    if not hmac.compare_digest(hmac.digest(keys.auth_key, covered, sha1), mac):
        raise MacFailure("MIKEY KEMAC MAC does not verify")
    # authentic from here on: a violation is the sender's, reported as CodecError
    if header.data_type != mikey.DATA_PSK_INIT or header.prf_func != mikey.PRF_MIKEY_1:
        raise CodecError(f"data type {header.data_type} / PRF {header.prf_func}, expected "
                         "pre-shared key (0) with MIKEY-1 (0)")
    stamp = _one(parts.message, mikey.Timestamp, "T")
    if stamp.ts_type != mikey.TS_COUNTER:
        raise CodecError(f"TS type {stamp.ts_type}, expected COUNTER (2)")
    if kemac.encr_alg != mikey.ENCR_AES_CM_128:
        raise CodecError(f"encryption algorithm {kemac.encr_alg}, expected AES-CM-128 (1)")
    iv = transport_iv(keys.salt_key, header.csb_id, stamp.octets)
    items = mikey.decode_key_data(aes_cm_128(keys.encr_key, iv, kemac.encr_data))
    if len(items) != 1:
        raise CodecError(f"{len(items)} Key data sub-payloads, expected one")
    return stamp, items[0]


def _msk_id_of(key_ids: Mapping[int, bytes]) -> bytes:
    msk_id = key_ids.get(mikey.KEY_ID_MSK)
    if msk_id is None or len(msk_id) != ids.MSK_ID_LEN:
        raise CodecError("the Key ID extension carries no 4-octet MSK ID")
    return msk_id


def _fresh(counter: int, last_counter: int) -> None:
    if counter <= last_counter:
        raise ReplayError(counter, last_counter)


def _spi(key: mikey.KeyData, expected: bytes, name: str) -> None:
    if not isinstance(key.kv, mikey.KvSpi) or key.kv.spi != expected:
        raise CodecError(f"key validity is not SPI = {name}")


def verify_msk_message(muk: bytes, data: bytes, last_counter: int, *,
                       muk_id: tuple[str, str] | None = None) -> MskDelivery:
    """The UE's check of an MSK message under its MUK (TS 33.246 §6.3.2.3.1).

    Raises :class:`CodecError` if the octets are not such a message,
    :class:`MacFailure` if the MAC does not verify under *muk* (nothing is returned or
    decrypted), :class:`ReplayError` if the counter is not above *last_counter*, and
    :class:`AuthError` if *muk_id* is given and the message names another MUK.
    """
    require_length(muk, "MUK", ids.NAF_KEY_LEN)
    parts = _parts(data)
    stamp, key = _open(muk, data, parts)
    identities = parts.message.all(mikey.Identity)
    if len(identities) != 2:
        raise CodecError(f"{len(identities)} ID payloads, expected IDi and IDr")
    try:
        sent_id = (identities[0].value.decode("utf-8"), identities[1].value.decode("utf-8"))
    except UnicodeDecodeError:
        raise CodecError("IDi or IDr is not UTF-8") from None
    if muk_id is not None and sent_id != muk_id:
        raise AuthError("the MSK message is for another MUK ID")
    key_ids = _read_key_ids(parts.message)
    msk_id = _msk_id_of(key_ids)
    if ids.csb_id(msk_id) != parts.message.header.csb_id:
        raise CodecError("CSB ID is not the MSK ID")
    if key.key_type != mikey.KEY_TGK or len(key.key) != ids.MSK_LEN:
        raise CodecError(f"key data type {key.key_type} of {len(key.key)} octets is not "
                         "a 16-octet MSK (TGK)")
    _spi(key, msk_id, "MSK ID")
    _fresh(stamp.value, last_counter)
    return MskDelivery(msk_id, key.key, stamp.value, key_ids.get(mikey.KEY_ID_DOMAIN),
                       sent_id, parts.message.header.v)


def verify_mtk_message(msks: Mapping[bytes, bytes], data: bytes,
                       last_counter: int | Mapping[bytes, int]) -> MtkDelivery:
    """The UE's check of an MTK message under the MSK it names (TS 33.246 §6.3.3.2.2).

    *msks* maps MSK ID -> MSK; *last_counter* is the stored counter, or a map of them
    per MSK ID (missing = 0). Raises :class:`UnknownMsk` (a :class:`MacFailure`) when
    the MSK is not held, :class:`MacFailure`, :class:`ReplayError`, :class:`CodecError`
    as :func:`verify_msk_message`.
    """
    parts = _parts(data)
    key_ids = _read_key_ids(parts.message)  # the MSK ID picks the key: read before the MAC
    msk_id = _msk_id_of(key_ids)
    msk = msks.get(msk_id)
    if msk is None:
        raise UnknownMsk(msk_id)
    require_length(msk, "MSK", ids.MSK_LEN)
    stamp, key = _open(msk, data, parts)
    if ids.csb_id(msk_id) != parts.message.header.csb_id:
        raise CodecError("CSB ID is not the MSK ID")
    mtk_id = key_ids.get(mikey.KEY_ID_MTK)
    if mtk_id is None or len(mtk_id) != ids.MTK_ID_LEN:
        raise CodecError("the Key ID extension carries no 2-octet MTK ID")
    if (key.key_type != mikey.KEY_TEK_SALT or len(key.key) != ids.MTK_LEN
            or key.salt is None or len(key.salt) != ids.MTK_SALT_LEN):
        raise CodecError("key data is not a 16-octet MTK with a 14-octet salt (TEK+SALT)")
    _spi(key, mtk_id, "MTK ID")
    last = (last_counter if isinstance(last_counter, int)
            else last_counter.get(msk_id, 0))
    _fresh(stamp.value, last)
    return MtkDelivery(msk_id, mtk_id, key.key, key.salt, stamp.value)
