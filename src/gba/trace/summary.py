"""One short, secret-free line per message: what a sequence diagram writes on an arrow.

What is shown, and nothing more:

* HTTP and SIP: method and path (no query), or status and reason; of the credentials only
  the Digest ``username`` (an IMPI or a B-TID, never the response, nonce or password).
* Diameter (RFC 6733 §3): the command abbreviation, the application (Zh, Zn, Zpn; none for
  the base protocol), the Result-Code or Experimental-Result-Code of an answer, User-Name
  of a MAR (with "resync" when it carries AUTS) and the B-TID of a BIR. Never an AVP
  holding a vector, key or GUSS.
* TLS (RFC 8446 §5.1, RFC 5246 §6.2.1): the record types and, for plaintext handshake
  records, the handshake message names; application data only as a length.
"""

from __future__ import annotations

import re
from http import HTTPStatus

from gba.errors import CodecError
from gba.protocols import mikey
from gba.protocols.diameter import (
    APP_ZH,
    APP_ZN,
    APP_ZPN,
    VENDOR_3GPP,
    Message,
    find_command,
)
from gba.protocols.diameter import dictionary as d

MAX_FIELD = 64
"""Longest identifier (username, path, B-TID) shown before it is cut with an ellipsis."""

_APP_NAMES = {APP_ZH: "Zh", APP_ZN: "Zn", APP_ZPN: "Zpn"}
_USERNAME = re.compile(r'(?:^|[\s,])username\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))', re.I)
_PRINTABLE = re.compile(r"[^\x20-\x7e]")

TLS_CONTENT_TYPES = {20: "change cipher spec", 21: "alert", 22: "handshake",
                     23: "application data"}
_HANDSHAKE_NAMES = {
    0: "HelloRequest", 1: "ClientHello", 2: "ServerHello", 4: "NewSessionTicket",
    8: "EncryptedExtensions", 11: "Certificate", 12: "ServerKeyExchange",
    13: "CertificateRequest", 14: "ServerHelloDone", 15: "CertificateVerify",
    16: "ClientKeyExchange", 20: "Finished"}


def clip(text: str, limit: int = MAX_FIELD) -> str:
    """*text* with control characters replaced, cut to *limit* characters."""
    text = _PRINTABLE.sub("?", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _digest_username(headers: list[tuple[str, str]]) -> str | None:
    for name, value in headers:
        if name.lower() in ("authorization", "proxy-authorization") and \
                value.lstrip().lower().startswith("digest"):
            found = _USERNAME.search(value.lstrip()[6:])
            if found:
                return found.group(1) if found.group(1) is not None else found.group(2)
    return None


def split_head(head: bytes) -> tuple[str, list[tuple[str, str]]]:
    """The start line and the headers of an HTTP or SIP head (no body, no blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # obsolete line folding
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        elif ":" in line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    return lines[0], headers


def _path_of(target: str) -> str:
    if "://" in target:  # absolute form: keep the path only
        target = "/" + target.split("://", 1)[1].partition("/")[2]
    return target.split("?", 1)[0].split("#", 1)[0] or "/"


def http_summary(head: bytes) -> tuple[str, bool]:
    """("GET / (Digest username=...)" or "401 Unauthorized", is it a request)."""
    start, headers = split_head(head)
    parts = start.split(" ", 2)
    if parts[0].startswith("HTTP/"):
        status = parts[1] if len(parts) > 1 else "?"
        reason = parts[2] if len(parts) > 2 else ""
        if not reason and status.isascii() and status.isdigit():
            try:
                reason = HTTPStatus(int(status)).phrase
            except ValueError:
                reason = ""
        return clip(f"{status} {reason}".strip()), False
    line = f"{clip(parts[0], 16)} {clip(_path_of(parts[1]) if len(parts) > 1 else '/')}"
    user = _digest_username(headers)
    return (f"{line} (Digest username={clip(user)})" if user else line), True


def sip_summary(head: bytes) -> tuple[str, bool]:
    """("REGISTER sip:ims.example.org" or "401 Unauthorized (REGISTER)", is it a request)."""
    start, headers = split_head(head)
    parts = start.split(" ", 2)
    if parts[0].startswith("SIP/"):
        cseq = next((v for n, v in headers if n.lower() == "cseq"), "")
        method = cseq.split()[-1] if cseq.split() else ""
        text = " ".join(parts[1:]).strip() or "?"
        return clip(text + (f" ({clip(method, 16)})" if method else "")), False
    uri = parts[1].split(";", 1)[0] if len(parts) > 1 else ""
    line = f"{clip(parts[0], 16)} {clip(uri)}".strip()
    user = _digest_username(headers)
    return (f"{line} (Digest username={clip(user)})" if user else line), True


def _result_text(msg: Message) -> str:
    try:
        code = msg.result_code
    except CodecError:
        return "malformed result"
    if code is None:
        return "no result"
    if code == d.ResultCode.SUCCESS:
        return str(code)
    for table in (d.ResultCode, d.ExperimentalResultCode):
        if code in table._value2member_map_:
            return f"{code} {table(code).name}"
    return str(code)


def _str_avp(msg: Message, code: int, vendor: int = 0) -> str | None:
    found = msg.find(code, vendor)
    if found is None:
        return None
    return clip(found.data.decode("utf-8", errors="replace"))


def _is_resync(msg: Message) -> bool:
    item = msg.find(612, VENDOR_3GPP)  # SIP-Auth-Data-Item (TS 29.229 §6.3.13)
    try:
        return item is not None and item.find(610, VENDOR_3GPP) is not None
    except CodecError:
        return False


def diameter_summary(raw: bytes) -> tuple[str, bool]:
    """("MAR (Zh) <User-Name>", True), ("MAA (Zh) 2001", False), ("CER", True), ..."""
    try:
        msg = Message.decode(raw)
    except CodecError as exc:
        request = len(raw) > 4 and bool(raw[4] & 0x80)
        return f"Diameter, malformed ({clip(str(exc), 80)})", request
    command = find_command(msg.command_code, msg.application_id)
    app = _APP_NAMES.get(msg.application_id)
    if command is not None:
        name = command.request if msg.is_request else command.answer
    else:
        name = f"command {msg.command_code} {'request' if msg.is_request else 'answer'}"
        if app is None and msg.application_id != d.APP_COMMON:
            app = f"app {msg.application_id}"
    text = name + (f" ({app})" if app else "")
    if not msg.is_request:
        return f"{text} {_result_text(msg)}", False
    if msg.command_code == d.CMD_BOOTSTRAPPING_INFO:
        btid = _str_avp(msg, 401, VENDOR_3GPP)  # Transaction-Identifier
        text += f" B-TID {btid}" if btid else ""
    else:
        user = _str_avp(msg, d.USER_NAME)
        text += f" {user}" if user else ""
        text += ", resync" if msg.command_code == d.CMD_MULTIMEDIA_AUTH and _is_resync(msg) \
            else ""
    return text, True


def handshake_names(body: bytes) -> list[str]:
    """The handshake messages (RFC 8446 §4) in the plaintext handshake bytes of one run of
    records, in order; the last may continue in a later run."""
    names: list[str] = []
    pos = 0
    while pos + 4 <= len(body) and body[pos] in _HANDSHAKE_NAMES:
        name = _HANDSHAKE_NAMES[body[pos]]
        if not names or names[-1] != name:
            names.append(name)
        pos += 4 + int.from_bytes(body[pos + 1:pos + 4], "big")
    return names


def tls_summary(content_type: int, bodies: list[bytes], encrypted: bool) -> str:
    """One run of TLS records of one content type, e.g. "TLS handshake (ClientHello)" or
    "TLS application data (245 bytes)"."""
    kind = TLS_CONTENT_TYPES.get(content_type, f"record type {content_type}")
    if content_type == 23:
        return f"TLS {kind} ({sum(len(b) for b in bodies)} bytes)"
    if content_type == 22:
        names = [] if encrypted else handshake_names(b"".join(bodies))
        return f"TLS {kind} ({', '.join(names)})" if names else f"TLS {kind}"
    return f"TLS {kind}"


def datagram_summary(data: bytes) -> str:
    """A UDP payload in one line: a MIKEY message (RFC 3830) named by the MBMS key it
    delivers (TS 33.246: MSK to one UE, MTK to all, by the RFC 4563 Key IDs), an SRTP
    packet by its RTP sequence number (RFC 3711: the header is in clear), else its size.
    Nothing secret is shown: key IDs and sequence numbers only."""
    try:
        message = mikey.decode(data)
    except CodecError:
        message = None
    if message is not None:
        ids: dict[int, bytes] = {}
        for ext in message.all(mikey.GeneralExtension):
            try:
                ids.update((k.id_type, k.value) for k in mikey.parse_key_ids(ext))
            except CodecError:
                continue
        if mikey.KEY_ID_MTK in ids:
            return (f"MIKEY MTK {ids[mikey.KEY_ID_MTK].hex()} under MSK "
                    f"{ids.get(mikey.KEY_ID_MSK, b'').hex()}")
        if mikey.KEY_ID_MSK in ids:
            return f"MIKEY MSK {ids[mikey.KEY_ID_MSK].hex()}"
        return f"MIKEY {len(data)} bytes"
    if len(data) >= 12 and data[0] >> 6 == 2:
        return f"SRTP seq {int.from_bytes(data[2:4], 'big')} ({len(data)} bytes)"
    return f"UDP {len(data)} bytes"
