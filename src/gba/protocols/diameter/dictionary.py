"""Diameter dictionary: the AVP table, the command table and the result codes.

Sources, clause by clause:

* Base protocol AVPs, their data types (RFC 6733 §4.2, §4.3) and M-bit rules (RFC 6733
  §4.5: Error-Message, Error-Reporting-Host, Firmware-Revision and Product-Name MUST NOT
  set M; every other base AVP MUST). Result codes: RFC 6733 §7.1.
* Cx AVPs reused on Zh (TS 29.229 §6.3, vendor 10415, V and M set).
* GBA AVPs 400-420 (TS 29.109 §6.3.1.1-§6.3.1.21, vendor 10415): V and M set on all but
  GUSS-Timestamp (409), whose M bit MUST NOT be set. Codes, types and flags as
  freeDiameter's dict_dcca_3gpp (built from 29109-f00.doc, Table 6.1) and Alcatel-Lucent's
  GaaUtils agree; the clause text itself was not read (VERIFIED only by those secondary
  sources). The Zh, Zn and Zpn application ids and the Experimental-Result codes
  5401-5403 (TS 29.109 §6.2; the codes also checked against freeDiameter).

The table is plain data: no part of it imports the codec, so the codec can derive its
per-type checks from it at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum

from gba.errors import InvalidInput

VENDOR_3GPP = 10415
VENDOR_PROJECT = 32473
"""The vendor of this project's own AVPs (Key-Kind). 32473 is the IANA enterprise number
reserved for documentation (RFC 5612 §2): a deployment that needs the AVP across operators
should register its own and change this one constant."""

APP_COMMON = 0
"""Diameter common messages (RFC 6733 §2.4)."""
APP_NASREQ = 1
"""NASREQ (RFC 7155 §1.3): the AA-Request/Answer the roaming AAAs use (docs/roaming.md §1 C)."""
APP_EAP = 5
"""Diameter EAP (RFC 4072 §2.1): DER/DEA carrying EAP-AKA in roaming case D."""
APP_ZN = 16777220
"""Zn, NAF - BSF (TS 29.109)."""
APP_ZH = 16777221
"""Zh, BSF - HSS (TS 29.109)."""
APP_ZPN = 16777268
"""Zpn, NAF - BSF for GBA Push (TS 29.109; the id confirmed in TS 29.230 Table 4.1)."""
APP_RELAY = 0xFFFFFFFF
"""Relay application (RFC 6733 §2.4): a peer announcing it accepts every application."""

CMD_CAPABILITIES_EXCHANGE = 257
CMD_DEVICE_WATCHDOG = 280
CMD_DISCONNECT_PEER = 282
CMD_AA = 265
"""AA-Request/Answer (RFC 7155 §3.1, §3.2)."""
CMD_DIAMETER_EAP = 268
"""Diameter-EAP-Request/Answer (RFC 4072 §3.1, §3.2)."""
CMD_MULTIMEDIA_AUTH = 303
CMD_BOOTSTRAPPING_INFO = 310
CMD_GBA_PUSH_INFO = 312
"""GBAPush-Info (GPR/GPA) on Zpn: three independent Diameter command tables agree on 312;
TS 29.109's table itself was not read (docs/push-formats.md)."""

# Base AVP codes the peer state machine reads and writes (RFC 6733 §4.5).
USER_NAME = 1
HOST_IP_ADDRESS = 257
AUTH_APPLICATION_ID = 258
ACCT_APPLICATION_ID = 259
VENDOR_SPECIFIC_APPLICATION_ID = 260
SESSION_ID = 263
ORIGIN_HOST = 264
SUPPORTED_VENDOR_ID = 265
VENDOR_ID = 266
FIRMWARE_REVISION = 267
RESULT_CODE = 268
PRODUCT_NAME = 269
DISCONNECT_CAUSE = 273
AUTH_SESSION_STATE = 277
ORIGIN_STATE_ID = 278
FAILED_AVP = 279
ERROR_MESSAGE = 281
DESTINATION_REALM = 283
DESTINATION_HOST = 293
ORIGIN_REALM = 296
EXPERIMENTAL_RESULT = 297
EXPERIMENTAL_RESULT_CODE = 298
INBAND_SECURITY_ID = 299


KEY_KIND = 1
"""Key-Kind (vendor :data:`VENDOR_PROJECT`): KS_NAF 0 (the default, a key derived for the
NAF_Id asked) or KS 1 (Ks itself, for a visited server to derive from)."""

VENDOR_GBA_LAB_MTC = VENDOR_PROJECT
"""The vendor of the MTC group AVPs and result codes (docs/mtc.md §3): 32473, the IANA
enterprise number reserved for documentation (RFC 5612 §2), used because no 3GPP AVP
carries an MTC device group on Zh or Zn. The same number as :data:`VENDOR_PROJECT`, so
the codes share one space with Key-Kind (code 1)."""

# docs/mtc.md §3 [P]: the MTC AVPs, all M set. docs/mtc.md numbers MTC-Group-Id 1, but
# (1, 32473) is Key-Kind already (docs/roaming.md §2, on the wire since): it takes 7.
MTC_GROUP_ID = 7
"""MTC-Group-Id (UTF8String, MAR): the group identity, ``name@domain``."""
MTC_GROUP_KEY_ID = 2
"""MTC-Group-Key-Id (Unsigned32, MAR): the identifier of the group key the device holds."""
MTC_SMALL_DATA_CAPABILITY = 3
"""MTC-Small-Data-Capability (Unsigned32, MAR and BIA): bit 0 send, bit 1 receive."""
MTC_SECURITY_SETTINGS = 4
"""MTC-Security-Settings (OctetString, MAA and BIA): the MTC security settings XML."""
MTC_ENC_KEY = 5
"""MTC-Enc-Key (OctetString of 16, BIA): K_enc for small data."""
MTC_INT_KEY = 6
"""MTC-Int-Key (OctetString of 32, BIA): K_int for small data."""


class AvpType(StrEnum):
    """AVP data formats (RFC 6733 §4.2 basic, §4.3 derived)."""

    OCTET_STRING = "OctetString"
    INTEGER32 = "Integer32"
    INTEGER64 = "Integer64"
    UNSIGNED32 = "Unsigned32"
    UNSIGNED64 = "Unsigned64"
    FLOAT32 = "Float32"
    FLOAT64 = "Float64"
    GROUPED = "Grouped"
    ADDRESS = "Address"
    TIME = "Time"
    UTF8_STRING = "UTF8String"
    DIAMETER_IDENTITY = "DiameterIdentity"
    DIAMETER_URI = "DiameterURI"
    ENUMERATED = "Enumerated"


class ResultCode(IntEnum):
    """Result-Code AVP values (RFC 6733 §7.1). 3xxx are protocol errors (E bit set)."""

    MULTI_ROUND_AUTH = 1001
    SUCCESS = 2001
    LIMITED_SUCCESS = 2002
    COMMAND_UNSUPPORTED = 3001
    UNABLE_TO_DELIVER = 3002
    REALM_NOT_SERVED = 3003
    TOO_BUSY = 3004
    LOOP_DETECTED = 3005
    APPLICATION_UNSUPPORTED = 3007
    INVALID_HDR_BITS = 3008
    INVALID_AVP_BITS = 3009
    UNKNOWN_PEER = 3010
    AUTHENTICATION_REJECTED = 4001
    AVP_UNSUPPORTED = 5001
    UNKNOWN_SESSION_ID = 5002
    AUTHORIZATION_REJECTED = 5003
    INVALID_AVP_VALUE = 5004
    MISSING_AVP = 5005
    NO_COMMON_APPLICATION = 5010
    UNABLE_TO_COMPLY = 5012
    INVALID_AVP_LENGTH = 5014
    INVALID_MESSAGE_LENGTH = 5015


class ExperimentalResultCode(IntEnum):
    """Experimental-Result-Code values of TS 29.109 (vendor 10415)."""

    IMPI_UNKNOWN = 5401
    NOT_AUTHORIZED = 5402
    TRANSACTION_IDENTIFIER_INVALID = 5403


class DisconnectCause(IntEnum):
    """Disconnect-Cause AVP values (RFC 6733 §5.4.3)."""

    REBOOTING = 0
    BUSY = 1
    DO_NOT_WANT_TO_TALK_TO_YOU = 2


def avp_key(code: int, vendor: int = 0) -> int:
    """One integer per (code, vendor) pair: a cheaper dictionary key than a tuple."""
    return (vendor << 32) | code


@dataclass(frozen=True, slots=True)
class AvpDef:
    """One row of the AVP table: what the code means and how its flags are set."""

    code: int
    name: str
    type: AvpType
    vendor: int = 0
    mandatory: bool = True
    enum: tuple[tuple[int, str], ...] = ()

    @property
    def flags(self) -> int:
        """AVP header flags as the defining spec requires them (RFC 6733 §4.1)."""
        return (0x80 if self.vendor else 0) | (0x40 if self.mandatory else 0)


@dataclass(frozen=True, slots=True)
class CommandDef:
    """One row of the command table (RFC 6733 §3.2 Command Code Format)."""

    code: int
    application_id: int
    name: str
    request: str
    answer: str
    proxiable: bool = True


_T = AvpType
_3G = VENDOR_3GPP

AVPS: tuple[AvpDef, ...] = (
    # RFC 6733 §4.5 base protocol AVPs
    AvpDef(USER_NAME, "User-Name", _T.UTF8_STRING),
    AvpDef(25, "Class", _T.OCTET_STRING),
    AvpDef(27, "Session-Timeout", _T.UNSIGNED32),
    AvpDef(33, "Proxy-State", _T.OCTET_STRING),
    AvpDef(44, "Acct-Session-Id", _T.OCTET_STRING),
    AvpDef(50, "Acct-Multi-Session-Id", _T.UTF8_STRING),
    AvpDef(55, "Event-Timestamp", _T.TIME),
    AvpDef(85, "Acct-Interim-Interval", _T.UNSIGNED32),
    AvpDef(HOST_IP_ADDRESS, "Host-IP-Address", _T.ADDRESS),
    AvpDef(AUTH_APPLICATION_ID, "Auth-Application-Id", _T.UNSIGNED32),
    AvpDef(ACCT_APPLICATION_ID, "Acct-Application-Id", _T.UNSIGNED32),
    AvpDef(VENDOR_SPECIFIC_APPLICATION_ID, "Vendor-Specific-Application-Id", _T.GROUPED),
    AvpDef(261, "Redirect-Host-Usage", _T.ENUMERATED),
    AvpDef(262, "Redirect-Max-Cache-Time", _T.UNSIGNED32),
    AvpDef(SESSION_ID, "Session-Id", _T.UTF8_STRING),
    AvpDef(ORIGIN_HOST, "Origin-Host", _T.DIAMETER_IDENTITY),
    AvpDef(SUPPORTED_VENDOR_ID, "Supported-Vendor-Id", _T.UNSIGNED32),
    AvpDef(VENDOR_ID, "Vendor-Id", _T.UNSIGNED32),
    AvpDef(FIRMWARE_REVISION, "Firmware-Revision", _T.UNSIGNED32, mandatory=False),
    AvpDef(RESULT_CODE, "Result-Code", _T.UNSIGNED32),
    AvpDef(PRODUCT_NAME, "Product-Name", _T.UTF8_STRING, mandatory=False),
    AvpDef(270, "Session-Binding", _T.UNSIGNED32),
    AvpDef(271, "Session-Server-Failover", _T.ENUMERATED, enum=(
        (0, "REFUSE_SERVICE"), (1, "TRY_AGAIN"), (2, "ALLOW_SERVICE"),
        (3, "TRY_AGAIN_ALLOW_SERVICE"))),
    AvpDef(272, "Multi-Round-Time-Out", _T.UNSIGNED32),
    AvpDef(DISCONNECT_CAUSE, "Disconnect-Cause", _T.ENUMERATED, enum=(
        (0, "REBOOTING"), (1, "BUSY"), (2, "DO_NOT_WANT_TO_TALK_TO_YOU"))),
    AvpDef(274, "Auth-Request-Type", _T.ENUMERATED, enum=(
        (1, "AUTHENTICATE_ONLY"), (2, "AUTHORIZE_ONLY"), (3, "AUTHORIZE_AUTHENTICATE"))),
    AvpDef(276, "Auth-Grace-Period", _T.UNSIGNED32),
    AvpDef(AUTH_SESSION_STATE, "Auth-Session-State", _T.ENUMERATED, enum=(
        (0, "STATE_MAINTAINED"), (1, "NO_STATE_MAINTAINED"))),
    AvpDef(ORIGIN_STATE_ID, "Origin-State-Id", _T.UNSIGNED32),
    AvpDef(FAILED_AVP, "Failed-AVP", _T.GROUPED),
    AvpDef(280, "Proxy-Host", _T.DIAMETER_IDENTITY),
    AvpDef(ERROR_MESSAGE, "Error-Message", _T.UTF8_STRING, mandatory=False),
    AvpDef(282, "Route-Record", _T.DIAMETER_IDENTITY),
    AvpDef(DESTINATION_REALM, "Destination-Realm", _T.DIAMETER_IDENTITY),
    AvpDef(284, "Proxy-Info", _T.GROUPED),
    AvpDef(285, "Re-Auth-Request-Type", _T.ENUMERATED, enum=(
        (0, "AUTHORIZE_ONLY"), (1, "AUTHORIZE_AUTHENTICATE"))),
    AvpDef(287, "Accounting-Sub-Session-Id", _T.UNSIGNED64),
    AvpDef(291, "Authorization-Lifetime", _T.UNSIGNED32),
    AvpDef(292, "Redirect-Host", _T.DIAMETER_URI),
    AvpDef(DESTINATION_HOST, "Destination-Host", _T.DIAMETER_IDENTITY),
    AvpDef(294, "Error-Reporting-Host", _T.DIAMETER_IDENTITY, mandatory=False),
    AvpDef(295, "Termination-Cause", _T.ENUMERATED, enum=(
        (1, "LOGOUT"), (2, "SERVICE_NOT_PROVIDED"), (3, "BAD_ANSWER"), (4, "ADMINISTRATIVE"),
        (5, "LINK_BROKEN"), (6, "AUTH_EXPIRED"), (7, "USER_MOVED"), (8, "SESSION_TIMEOUT"))),
    AvpDef(ORIGIN_REALM, "Origin-Realm", _T.DIAMETER_IDENTITY),
    AvpDef(EXPERIMENTAL_RESULT, "Experimental-Result", _T.GROUPED),
    AvpDef(EXPERIMENTAL_RESULT_CODE, "Experimental-Result-Code", _T.UNSIGNED32),
    AvpDef(INBAND_SECURITY_ID, "Inband-Security-Id", _T.UNSIGNED32),
    AvpDef(480, "Accounting-Record-Type", _T.ENUMERATED, enum=(
        (1, "EVENT_RECORD"), (2, "START_RECORD"), (3, "INTERIM_RECORD"), (4, "STOP_RECORD"))),
    AvpDef(483, "Accounting-Realtime-Required", _T.ENUMERATED, enum=(
        (1, "DELIVER_AND_GRANT"), (2, "GRANT_AND_STORE"), (3, "GRANT_AND_LOSE"))),
    AvpDef(485, "Accounting-Record-Number", _T.UNSIGNED32),
    # RFC 4072 §4 Diameter EAP AVPs
    AvpDef(462, "EAP-Payload", _T.OCTET_STRING),
    AvpDef(463, "EAP-Reissued-Payload", _T.OCTET_STRING),
    AvpDef(464, "EAP-Master-Session-Key", _T.OCTET_STRING),
    # TS 29.229 §6.3 Cx AVPs used on Zh
    AvpDef(600, "Visited-Network-Identifier", _T.OCTET_STRING, _3G),
    AvpDef(601, "Public-Identity", _T.UTF8_STRING, _3G),
    AvpDef(602, "Server-Name", _T.UTF8_STRING, _3G),
    AvpDef(607, "SIP-Number-Auth-Items", _T.UNSIGNED32, _3G),
    AvpDef(608, "SIP-Authentication-Scheme", _T.UTF8_STRING, _3G),
    AvpDef(609, "SIP-Authenticate", _T.OCTET_STRING, _3G),
    AvpDef(610, "SIP-Authorization", _T.OCTET_STRING, _3G),
    AvpDef(611, "SIP-Authentication-Context", _T.OCTET_STRING, _3G),
    AvpDef(612, "SIP-Auth-Data-Item", _T.GROUPED, _3G),
    AvpDef(613, "SIP-Item-Number", _T.UNSIGNED32, _3G),
    AvpDef(625, "Confidentiality-Key", _T.OCTET_STRING, _3G),
    AvpDef(626, "Integrity-Key", _T.OCTET_STRING, _3G),
    # TS 29.109 §6 GBA AVPs
    AvpDef(400, "GBA-UserSecSettings", _T.OCTET_STRING, _3G),
    AvpDef(401, "Transaction-Identifier", _T.OCTET_STRING, _3G),
    AvpDef(402, "NAF-Id", _T.OCTET_STRING, _3G),
    AvpDef(403, "GAA-Service-Identifier", _T.OCTET_STRING, _3G),
    AvpDef(404, "Key-ExpiryTime", _T.TIME, _3G),
    AvpDef(405, "ME-Key-Material", _T.OCTET_STRING, _3G),
    AvpDef(406, "UICC-Key-Material", _T.OCTET_STRING, _3G),
    AvpDef(407, "GBA_U-Awareness-Indicator", _T.ENUMERATED, _3G, enum=((0, "NO"), (1, "YES"))),
    AvpDef(408, "BootstrapInfoCreationTime", _T.TIME, _3G),
    AvpDef(409, "GUSS-Timestamp", _T.TIME, _3G, mandatory=False),  # §6.3.1.10: V only
    AvpDef(410, "GBA-Type", _T.ENUMERATED, _3G, enum=((0, "3G_GBA"), (1, "2G_GBA"))),
    AvpDef(411, "UE-Id", _T.OCTET_STRING, _3G),
    AvpDef(412, "UE-Id-Type", _T.ENUMERATED, _3G, enum=(
        (0, "PRIVATE_USER_IDENTITY"), (1, "PUBLIC_USER_IDENTITY"))),
    AvpDef(413, "UICC-App-Label", _T.OCTET_STRING, _3G),
    AvpDef(414, "UICC-ME", _T.ENUMERATED, _3G, enum=((0, "GBA_ME"), (1, "GBA_U"))),
    AvpDef(415, "Requested-Key-Lifetime", _T.TIME, _3G),
    AvpDef(416, "Private-Identity-Request", _T.ENUMERATED, _3G, enum=(
        (0, "PRIVATE_IDENTITY_REQUESTED"), (1, "PRIVATE_IDENTITY_NOT_REQUESTED"))),
    AvpDef(417, "GBA-Push-Info", _T.OCTET_STRING, _3G),
    AvpDef(418, "NAF-SA-Identifier", _T.OCTET_STRING, _3G),
    AvpDef(419, "Security-Feature-Request", _T.OCTET_STRING, _3G),  # §6.3.1.20
    AvpDef(420, "Security-Feature-Response", _T.OCTET_STRING, _3G),  # §6.3.1.21
    # this project's (docs/roaming.md §2): what ME-Key-Material holds when a home BSF
    # answers a visited network; M set so that a peer without it refuses (5001)
    AvpDef(KEY_KIND, "Key-Kind", _T.ENUMERATED, VENDOR_PROJECT, enum=(
        (0, "KS_NAF"), (1, "KS"))),
    # this project's MTC group AVPs (docs/mtc.md §3), M set so that a peer without them
    # refuses the group (5001) rather than ignoring it
    AvpDef(MTC_GROUP_ID, "MTC-Group-Id", _T.UTF8_STRING, VENDOR_GBA_LAB_MTC),
    AvpDef(MTC_GROUP_KEY_ID, "MTC-Group-Key-Id", _T.UNSIGNED32, VENDOR_GBA_LAB_MTC),
    AvpDef(MTC_SMALL_DATA_CAPABILITY, "MTC-Small-Data-Capability", _T.UNSIGNED32,
           VENDOR_GBA_LAB_MTC),
    AvpDef(MTC_SECURITY_SETTINGS, "MTC-Security-Settings", _T.OCTET_STRING,
           VENDOR_GBA_LAB_MTC),
    AvpDef(MTC_ENC_KEY, "MTC-Enc-Key", _T.OCTET_STRING, VENDOR_GBA_LAB_MTC),
    AvpDef(MTC_INT_KEY, "MTC-Int-Key", _T.OCTET_STRING, VENDOR_GBA_LAB_MTC),
)

COMMANDS: tuple[CommandDef, ...] = (
    # RFC 6733 §5.3, §5.4, §5.5: peer-to-peer messages, never proxied
    CommandDef(CMD_CAPABILITIES_EXCHANGE, APP_COMMON, "Capabilities-Exchange", "CER", "CEA",
               proxiable=False),
    CommandDef(CMD_DEVICE_WATCHDOG, APP_COMMON, "Device-Watchdog", "DWR", "DWA",
               proxiable=False),
    CommandDef(CMD_DISCONNECT_PEER, APP_COMMON, "Disconnect-Peer", "DPR", "DPA",
               proxiable=False),
    # TS 29.109: Zh and Zn commands
    CommandDef(CMD_MULTIMEDIA_AUTH, APP_ZH, "Multimedia-Auth", "MAR", "MAA"),
    CommandDef(CMD_BOOTSTRAPPING_INFO, APP_ZN, "Bootstrapping-Info", "BIR", "BIA"),
    # RFC 7155 §3.1-§3.2 (NASREQ) and RFC 4072 §3.1-§3.2 (Diameter EAP)
    CommandDef(CMD_AA, APP_NASREQ, "AA", "AAR", "AAA"),
    CommandDef(CMD_DIAMETER_EAP, APP_EAP, "Diameter-EAP", "DER", "DEA"),
    # TS 29.109 Zpn: 312 per three command tables (docs/push-formats.md)
    CommandDef(CMD_GBA_PUSH_INFO, APP_ZPN, "GBA-Push-Info", "GPIR", "GPIA"),
)

AVP_BY_NAME: dict[str, AvpDef] = {d.name: d for d in AVPS}
AVP_BY_KEY: dict[int, AvpDef] = {avp_key(d.code, d.vendor): d for d in AVPS}
COMMAND_BY_KEY: dict[tuple[int, int], CommandDef] = {
    (c.code, c.application_id): c for c in COMMANDS
}


def avp_def(name: str) -> AvpDef:
    """The table row for an AVP name; :class:`InvalidInput` if the name is unknown."""
    try:
        return AVP_BY_NAME[name]
    except KeyError:
        raise InvalidInput(f"unknown Diameter AVP name {name!r}") from None


def find_avp_def(code: int, vendor: int = 0) -> AvpDef | None:
    """The table row for (code, vendor), or None for an AVP this dictionary lacks."""
    return AVP_BY_KEY.get(avp_key(code, vendor))


def find_command(code: int, application_id: int) -> CommandDef | None:
    """The command row for (code, application id), or None."""
    return COMMAND_BY_KEY.get((code, application_id))


def enum_value(definition: AvpDef, label: str) -> int:
    """The integer of an Enumerated label (e.g. ``"GBA_U"`` for UICC-ME)."""
    for number, name in definition.enum:
        if name == label:
            return number
    raise InvalidInput(f"{definition.name} has no value named {label!r}")
