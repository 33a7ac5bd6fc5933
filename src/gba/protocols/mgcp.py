"""A bounded, sans-IO MGCP 1.0 message codec (RFC 3435 §3, Appendix A).

* Commands (§3.2): a command line ``VERB SP txid SP endpoint SP MGCP SP 1.0 [SP profile]``
  and parameter lines ``Name: value`` (§3.2.2). Verbs are four letters or digits, starting
  with a letter (the nine of §2.3 or an extension verb, App. A), compared upper-cased.
* Responses (§3.3): ``code SP txid [SP /package] [SP commentary]`` and parameter lines;
  the package name goes with the package-specific 8xx codes (§2.4).
* Transaction ids are 1*9 digits, 1..999999999 (§3.2.1.2); endpoint names are
  ``local-name@domain`` (§2.1.1, §3.2.1.3): local name terms split by ``/``, each ``*``,
  ``$`` or visible characters but ``$ * / @``; domain a host name, ``#number`` or an
  ``[IP address]``.
* Lines end in CRLF or LF (§3.1, App. A ``EOL``); we send CRLF [P]. Verbs and parameter
  names are case-insensitive. A blank line starts a session description (§3.2.3), which is
  skipped [P]; a line of ``.`` (piggy-backing, §3.6) is refused [P]; a parameter given
  twice is refused [P]. Text is UTF-8 without control characters other than tab.

Limits [P]: at most :data:`MAX_MESSAGE` octets, :data:`MAX_LINES` lines, lines of
:data:`MAX_LINE` octets. A malformed message is an :class:`MgcpError` that says which
return code (§2.4) answers it and, when readable, the transaction id. Pure: no sockets,
no clock.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from gba.errors import CodecError, InvalidInput

MAX_MESSAGE = 8 * 1024
"""Largest message accepted or sent, in octets [P] (RFC 3435 §3.5.5 MaxMGCPDatagram >= 4000)."""
MAX_LINES = 64
"""Most lines in one message, session description included [P]."""
MAX_LINE = 1024
"""Longest line, in octets [P]."""
MAX_TXID = 999_999_999
VERSION = "1.0"

PROTOCOL_ERROR = 510
"""§2.4: protocol error detected."""
UNKNOWN_COMMAND = 504
"""§2.4: unknown or unsupported command."""
BAD_VERSION = 528
"""§2.4: incompatible protocol version."""

VERBS = frozenset({"EPCF", "CRCX", "MDCX", "DLCX", "RQNT", "NTFY", "AUEP", "AUCX", "RSIP"})
"""The commands of RFC 3435 §2.3."""

_VERB = re.compile(r"[A-Za-z][A-Za-z0-9]{3}")
_TXID = re.compile(r"[0-9]{1,9}")
_CODE = re.compile(r"[0-9]{3}")
_WSP = re.compile(r"[ \t]+")
_PARAM_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9+/-]{0,39})")  # App. A codes + extensions
_PACKAGE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?")  # App. A packageName
_LOCAL_TERM = re.compile(r"[$*]|[\x21-\x23\x25-\x29\x2b-\x2e\x30-\x3f\x41-\x7e]+")
_HOST_NAME = re.compile(r"[A-Za-z0-9.-]{1,255}")
_CTL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_COMMENTARY = re.compile(r"[\x20-\x7e]*")


class MgcpError(CodecError):
    """Bytes that are not one well-formed MGCP message. ``code`` is the §2.4 return code
    that answers it, ``txid`` its transaction id when the first line gave one, and
    ``is_command`` whether it was a command (only commands are answered), None if unknown."""

    def __init__(self, message: str, *, code: int = PROTOCOL_ERROR, txid: int | None = None,
                 is_command: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.txid = txid
        self.is_command = is_command


def _lookup(params: tuple[tuple[str, str], ...], name: str) -> str | None:
    key = name.upper()
    for pname, value in params:
        if pname.upper() == key:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Command:
    """An MGCP command (RFC 3435 §3.2): verb (upper case), transaction id, endpoint name,
    parameter lines in their order (names as sent)."""

    verb: str
    txid: int
    endpoint: str
    params: tuple[tuple[str, str], ...] = ()
    profile: str = ""

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` (case-insensitive), None when absent."""
        return _lookup(self.params, name)


@dataclass(frozen=True, slots=True)
class Response:
    """An MGCP response (RFC 3435 §3.3): return code, transaction id, the package of an 8xx
    code, the commentary and parameter lines."""

    code: int
    txid: int
    commentary: str = ""
    params: tuple[tuple[str, str], ...] = ()
    package: str | None = None

    def param(self, name: str) -> str | None:
        """The value of parameter ``name`` (case-insensitive), None when absent."""
        return _lookup(self.params, name)


# --- checks shared by parser and writer ----------------------------------------------------


def check_txid(txid: int) -> int:
    """A transaction id within 1..999999999 (RFC 3435 §3.2.1.2)."""
    if isinstance(txid, bool) or not isinstance(txid, int) or not 1 <= txid <= MAX_TXID:
        raise InvalidInput(f"transaction id {txid!r} is not within 1..{MAX_TXID}")
    return txid


def is_endpoint(name: str) -> bool:
    """Whether ``name`` is an RFC 3435 §2.1.1 / App. A EndpointName."""
    local, sep, domain = name.rpartition("@")
    if not sep or not local or len(local) > 255 or "@" in local:
        return False
    if not all(_LOCAL_TERM.fullmatch(term) for term in local.split("/")):
        return False
    if domain.startswith("[") and domain.endswith("]") and "%" not in domain:
        try:
            ipaddress.ip_address(domain[1:-1])
        except ValueError:
            return False
        return True
    if domain.startswith("#"):
        return domain[1:].isascii() and domain[1:].isdigit()
    return _HOST_NAME.fullmatch(domain) is not None


def check_endpoint(name: str) -> str:
    """``name`` if it is an endpoint name (RFC 3435 §2.1.1), else :class:`InvalidInput`."""
    if not is_endpoint(name):
        raise InvalidInput(f"{name!r} is not an MGCP endpoint name")
    return name


def _check_params(params: tuple[tuple[str, str], ...]) -> None:
    seen: set[str] = set()
    for name, value in params:
        if _PARAM_NAME.fullmatch(name) is None:
            raise InvalidInput(f"{name!r} is not an MGCP parameter name")
        if name.upper() in seen:
            raise InvalidInput(f"parameter {name!r} given twice")
        seen.add(name.upper())
        if _CTL.search(value) or value != value.strip(" \t"):
            raise InvalidInput(f"parameter {name!r} has a control character or edge blanks")


def _finish(lines: list[str]) -> bytes:
    data = ("".join(line + "\r\n" for line in lines)).encode("utf-8")
    if len(data) > MAX_MESSAGE or len(lines) > MAX_LINES:
        raise InvalidInput(f"MGCP message of {len(data)} octets / {len(lines)} lines too large")
    if any(len(line.encode("utf-8")) > MAX_LINE for line in lines):
        raise InvalidInput(f"an MGCP line longer than {MAX_LINE} octets")
    return data


def format_command(cmd: Command) -> bytes:
    """The bytes of ``cmd`` (RFC 3435 §3.2), CRLF line ends; :class:`InvalidInput` if a
    field breaks the grammar or the limits."""
    if _VERB.fullmatch(cmd.verb) is None:
        raise InvalidInput(f"{cmd.verb!r} is not an MGCP verb")
    check_txid(cmd.txid)
    check_endpoint(cmd.endpoint)
    if _CTL.search(cmd.profile) or cmd.profile != cmd.profile.strip():
        raise InvalidInput("bad profile name")
    _check_params(cmd.params)
    head = f"{cmd.verb.upper()} {cmd.txid} {cmd.endpoint} MGCP {VERSION}"
    if cmd.profile:
        head += f" {cmd.profile}"
    return _finish([head, *(f"{name}: {value}" for name, value in cmd.params)])


def format_response(resp: Response) -> bytes:
    """The bytes of ``resp`` (RFC 3435 §3.3): ``code txid [/package] [commentary]``."""
    if isinstance(resp.code, bool) or not 0 <= resp.code <= 999:
        raise InvalidInput(f"return code {resp.code!r} is not three digits")
    check_txid(resp.txid)
    head = f"{resp.code:03d} {resp.txid}"
    if resp.package is not None:
        if _PACKAGE.fullmatch(resp.package) is None:
            raise InvalidInput(f"{resp.package!r} is not a package name")
        head += f" /{resp.package}"
    if _COMMENTARY.fullmatch(resp.commentary) is None:
        raise InvalidInput("commentary must be printable ASCII")
    if resp.commentary.strip():
        if resp.commentary.startswith("/"):
            raise InvalidInput("commentary must not start with '/'")
        head += f" {resp.commentary.strip()}"
    _check_params(resp.params)
    return _finish([head, *(f"{name}: {value}" for name, value in resp.params)])


# --- parsing -----------------------------------------------------------------------------


def _peek_txid(first: str) -> tuple[int | None, bool | None]:
    """The transaction id and kind of a first line, for the error answer, when readable."""
    tokens = _WSP.split(first.strip(" \t"), 2)
    if len(tokens) < 2 or _TXID.fullmatch(tokens[1]) is None or int(tokens[1]) == 0:
        return None, None
    is_command = _VERB.fullmatch(tokens[0]) is not None
    if not is_command and _CODE.fullmatch(tokens[0]) is None:
        return None, None
    return int(tokens[1]), is_command


def _split_lines(data: bytes) -> list[str]:
    if len(data) > MAX_MESSAGE:
        first = data[:MAX_LINE].split(b"\n", 1)[0].decode("ascii", "replace")
        txid, is_command = _peek_txid(first)
        raise MgcpError(f"message of {len(data)} octets exceeds {MAX_MESSAGE}",
                        txid=txid, is_command=is_command)
    raw = data.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()
    if not raw:
        raise MgcpError("empty message")
    first_raw = raw[0][:-1] if raw[0].endswith(b"\r") else raw[0]
    txid, is_command = _peek_txid(first_raw[:MAX_LINE].decode("ascii", "replace"))

    def fail(why: str, code: int = PROTOCOL_ERROR) -> MgcpError:
        return MgcpError(why, code=code, txid=txid, is_command=is_command)

    if len(raw) > MAX_LINES:
        raise fail(f"more than {MAX_LINES} lines")
    lines: list[str] = []
    for number, line in enumerate(raw, 1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if len(line) > MAX_LINE:
            raise fail(f"line {number} longer than {MAX_LINE} octets")
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise fail(f"line {number} is not UTF-8") from None
        if _CTL.search(text):
            raise fail(f"line {number} has a control character")
        lines.append(text)
    return lines


def _parse_params(lines: list[str]) -> tuple[tuple[tuple[str, str], ...], int]:
    """Parameter lines up to a blank line (§3.2.2); returns them and how many lines used."""
    params: list[tuple[str, str]] = []
    seen: set[str] = set()
    used = 0
    for line in lines:
        if line == "":
            break
        used += 1
        if line.strip(" \t") == ".":
            raise MgcpError("piggy-backed messages (RFC 3435 §3.6) are not accepted")
        name, colon, value = line.partition(":")
        if not colon or _PARAM_NAME.fullmatch(name) is None:
            raise MgcpError(f"bad parameter line {line[:40]!r}")
        if name.upper() in seen:
            raise MgcpError(f"parameter {name!r} given twice")
        seen.add(name.upper())
        params.append((name, value.strip(" \t")))
    return tuple(params), used


def _parse_command(first: str) -> Command:
    tokens = _WSP.split(first)
    if len(tokens) < 5:
        raise MgcpError("command line needs verb, txid, endpoint, MGCP, version")
    verb, txid_text, endpoint, proto, version = tokens[:5]
    if _TXID.fullmatch(txid_text) is None or int(txid_text) == 0:
        raise MgcpError(f"bad transaction id {txid_text[:12]!r}")
    if _VERB.fullmatch(verb) is None:
        raise MgcpError(f"bad verb {verb[:8]!r}", code=UNKNOWN_COMMAND)
    if not is_endpoint(endpoint):
        raise MgcpError(f"bad endpoint name {endpoint[:40]!r}")
    if proto.upper() != "MGCP" or re.fullmatch(r"[0-9]+\.[0-9]+", version) is None:
        raise MgcpError("command line does not end in 'MGCP 1.0'")
    if version != VERSION:
        raise MgcpError(f"MGCP version {version[:8]} is not {VERSION}", code=BAD_VERSION)
    return Command(verb.upper(), int(txid_text), endpoint, (), " ".join(tokens[5:]))


def _parse_response(first: str) -> Response:
    tokens = _WSP.split(first, 2)
    if len(tokens) < 2 or _CODE.fullmatch(tokens[0]) is None:
        raise MgcpError("response line needs a 3-digit code and a txid")
    if _TXID.fullmatch(tokens[1]) is None or int(tokens[1]) == 0:
        raise MgcpError(f"bad transaction id {tokens[1][:12]!r}")
    rest = tokens[2] if len(tokens) > 2 else ""
    package: str | None = None
    if rest.startswith("/"):
        pkg, _, rest = rest[1:].partition(" ")
        if _PACKAGE.fullmatch(pkg) is None:
            raise MgcpError(f"bad package name {pkg[:20]!r}")
        package = pkg
    return Response(int(tokens[0]), int(tokens[1]), rest.strip(" \t"), (), package)


def parse(data: bytes) -> Command | Response:
    """One MGCP message (RFC 3435 §3.1-§3.3); :class:`MgcpError` when malformed."""
    lines = _split_lines(data)
    first = lines[0]
    txid, is_command = _peek_txid(first)
    try:
        if first != first.strip(" \t") or not first:
            raise MgcpError("blank or indented first line")
        head: Command | Response
        head = _parse_response(first) if first[:1].isdigit() else _parse_command(first)
        params, used = _parse_params(lines[1:])
        if any(line.strip(" \t") == "." for line in lines[1 + used:]):
            raise MgcpError("piggy-backed messages (RFC 3435 §3.6) are not accepted")
    except MgcpError as exc:
        raise MgcpError(str(exc), code=exc.code, txid=txid, is_command=is_command) from None
    if isinstance(head, Command):
        return Command(head.verb, head.txid, head.endpoint, params, head.profile)
    return Response(head.code, head.txid, head.commentary, params, head.package)
