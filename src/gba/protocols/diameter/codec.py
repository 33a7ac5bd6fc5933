"""Diameter wire format: the message header (RFC 6733 §3) and AVPs (RFC 6733 §4).

Decoding is strict and total: any byte string either decodes or raises
:class:`DiameterCodecError` naming what was wrong and at which offset of the message; no
``IndexError``, ``struct.error``, ``UnicodeDecodeError`` or ``RecursionError`` escapes.
Grouped AVPs (RFC 6733 §4.4) are validated at decode time, without recursion (an explicit
stack), to at most :data:`MAX_AVP_DEPTH` levels and :data:`MAX_AVPS` AVPs per message;
their children are only built into :class:`Avp` objects when :meth:`Avp.children` asks
for them.

The AVP and message classes are frozen; their ``repr`` never shows AVP data, which may be
key material (CK, IK, Ks_NAF).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address, IPv6Address

from gba.errors import CodecError, InvalidInput
from gba.protocols.diameter.dictionary import (
    AVP_BY_KEY,
    AVPS,
    EXPERIMENTAL_RESULT,
    EXPERIMENTAL_RESULT_CODE,
    RESULT_CODE,
    AvpType,
)

# RFC 6733 §3 command flags
FLAG_REQUEST = 0x80
FLAG_PROXIABLE = 0x40
FLAG_ERROR = 0x20
FLAG_RETRANSMIT = 0x10
# RFC 6733 §4.1 AVP flags
AVP_FLAG_VENDOR = 0x80
AVP_FLAG_MANDATORY = 0x40
AVP_FLAG_PROTECTED = 0x20

HEADER_LENGTH = 20
MAX_AVP_DEPTH = 16
"""Levels of Grouped AVPs a message may nest (a top-level AVP is at level 1). The deepest
definition we know (Failed-AVP around an Experimental-Result, in an answer relayed with
Proxy-Info) needs 3; Python's recursion limit is far away either way."""
MAX_AVPS = 4096
"""AVPs a message may carry, every level counted (a CER has about 20, a MAA about 15)."""
AVP_OCCURS_TOO_MANY_TIMES = 5009
"""RFC 6733 §7.1.5 DIAMETER_AVP_OCCURS_TOO_MANY_TIMES: the answer to a message beyond
:data:`MAX_AVPS` or :data:`MAX_AVP_DEPTH` (an AVP occurring more often, or nested deeper,
than any message definition here permits); Failed-AVP names the first AVP past the
limit."""
_MAX_LENGTH = 0xFFFFFF
_HEADER = struct.Struct("!IIIII")
_AVP_HEADER = struct.Struct("!II")
_AVP_VHEADER = struct.Struct("!III")
_U32 = struct.Struct("!I")
_U16 = struct.Struct("!H")
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")  # indexed by len(data) & 3
_ZEROS = (b"", b"\0", b"\0\0", b"\0\0\0")  # indexed by the pad length

# RFC 4330 §3: NTP seconds with the top bit clear belong to the era starting in 2036.
_NTP_EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
_NTP_ERA1 = _NTP_EPOCH + timedelta(seconds=1 << 32)
_NTP_MIN = _NTP_EPOCH + timedelta(seconds=1 << 31)

# What decode checks per AVP type (RFC 6733 §4.2, §4.3); 0 means "any octets".
_K_LEN4, _K_LEN8, _K_UTF8, _K_ADDRESS, _K_GROUPED = 1, 2, 3, 4, 5
_KIND_OF_TYPE = {
    AvpType.INTEGER32: _K_LEN4, AvpType.UNSIGNED32: _K_LEN4, AvpType.FLOAT32: _K_LEN4,
    AvpType.ENUMERATED: _K_LEN4, AvpType.TIME: _K_LEN4,
    AvpType.INTEGER64: _K_LEN8, AvpType.UNSIGNED64: _K_LEN8, AvpType.FLOAT64: _K_LEN8,
    AvpType.UTF8_STRING: _K_UTF8, AvpType.DIAMETER_IDENTITY: _K_UTF8,
    AvpType.DIAMETER_URI: _K_UTF8, AvpType.ADDRESS: _K_ADDRESS, AvpType.GROUPED: _K_GROUPED,
}
_KIND: dict[int, int] = {
    (d.vendor << 32) | d.code: _KIND_OF_TYPE[d.type] for d in AVPS if d.type in _KIND_OF_TYPE
}
_SIGNED = frozenset(
    (d.vendor << 32) | d.code for d in AVPS
    if d.type in (AvpType.INTEGER32, AvpType.INTEGER64, AvpType.ENUMERATED)
)


class DiameterCodecError(CodecError):
    """Malformed Diameter bytes. ``result_code`` is the RFC 6733 §7.1 code to answer with."""

    def __init__(self, message: str, *, offset: int | None = None,
                 result_code: int = 5014, failed: Avp | None = None) -> None:
        super().__init__(message)
        self.offset = offset
        self.result_code = result_code
        self.failed = failed
        """The AVP to put in Failed-AVP of the error answer (RFC 6733 §7.5), if known."""


class MissingAvp(DiameterCodecError):
    """A mandatory AVP is absent: answer 5005 with a Failed-AVP example (RFC 6733 §7.5)."""

    def __init__(self, code: int, vendor: int = 0, where: str = "message") -> None:
        super().__init__(f"{where} lacks AVP {code}" + (f" (vendor {vendor})" if vendor else ""),
                         result_code=5005)
        self.code = code
        self.vendor = vendor


def need_avp(container: Message | Avp, code: int, vendor: int = 0, where: str = "message"
             ) -> Avp:
    """The first AVP (code, vendor) of a message or grouped AVP, or :class:`MissingAvp`
    (answer 5005, RFC 6733 §7.5)."""
    found = container.find(code, vendor)
    if found is None:
        raise MissingAvp(code, vendor, where)
    return found


@dataclass(frozen=True, slots=True, repr=False)
class Avp:
    """One AVP (RFC 6733 §4.1): code, flags (V/M/P), vendor id and raw data octets.

    ``data`` excludes the padding. A Grouped AVP's ``data`` is the concatenation of its
    encoded children; :meth:`children` decodes them.
    """

    code: int
    data: bytes
    flags: int = AVP_FLAG_MANDATORY
    vendor: int = 0

    @classmethod
    def grouped(cls, code: int, children: Iterable[Avp], flags: int = AVP_FLAG_MANDATORY,
                vendor: int = 0) -> Avp:
        """A Grouped AVP (RFC 6733 §4.4) whose data is its children, encoded."""
        return cls(code, b"".join([_encode_avp(c) for c in children]), flags, vendor)

    def __repr__(self) -> str:
        definition = AVP_BY_KEY.get((self.vendor << 32) | self.code)
        name = f" {definition.name}" if definition else ""
        vendor = f" vendor={self.vendor}" if self.vendor else ""
        return f"<Avp {self.code}{name}{vendor} flags=0x{self.flags:02x} len={len(self.data)}>"

    @property
    def is_mandatory(self) -> bool:
        return bool(self.flags & AVP_FLAG_MANDATORY)

    @property
    def is_vendor_specific(self) -> bool:
        return bool(self.flags & AVP_FLAG_VENDOR)

    def encode(self) -> bytes:
        """Header, data and zero padding to a 4-byte boundary (RFC 6733 §4.1)."""
        return _encode_avp(self)

    def as_bytes(self) -> bytes:
        return self.data

    def as_str(self) -> str:
        """UTF8String / DiameterIdentity / DiameterURI value (RFC 6733 §4.3)."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DiameterCodecError(f"AVP {self.code} is not valid UTF-8 at data offset "
                                     f"{exc.start}", offset=exc.start, result_code=5004) from None

    def as_int(self) -> int:
        """(Unsigned|Integer)(32|64) or Enumerated value; the sign comes from the dictionary."""
        if len(self.data) not in (4, 8):
            raise DiameterCodecError(f"AVP {self.code} data length {len(self.data)} is not "
                                     "4 or 8 for an integer")
        signed = ((self.vendor << 32) | self.code) in _SIGNED
        return int.from_bytes(self.data, "big", signed=signed)

    def as_time(self) -> datetime:
        """Time value (RFC 6733 §4.3.1: NTP seconds since 1900, RFC 4330 §3 eras), UTC."""
        if len(self.data) != 4:
            raise DiameterCodecError(f"AVP {self.code} Time length {len(self.data)} != 4")
        seconds = _U32.unpack(self.data)[0]
        base = _NTP_EPOCH if seconds & 0x80000000 else _NTP_ERA1
        return base + timedelta(seconds=seconds)

    def as_address(self) -> IPv4Address | IPv6Address:
        """Address value (RFC 6733 §4.3.1): 2-byte family (1 IPv4, 2 IPv6) then the address."""
        family = _U16.unpack(self.data[:2])[0] if len(self.data) >= 2 else -1
        if family == 1 and len(self.data) == 6:
            return IPv4Address(self.data[2:])
        if family == 2 and len(self.data) == 18:
            return IPv6Address(self.data[2:])
        raise DiameterCodecError(f"AVP {self.code} is not an IPv4/IPv6 Address "
                                 f"(family {family}, length {len(self.data)})", result_code=5004)

    def children(self) -> tuple[Avp, ...]:
        """The AVPs inside a Grouped AVP (RFC 6733 §4.4)."""
        out: list[Avp] = []
        _parse_avps(self.data, 0, len(self.data), out)
        return tuple(out)

    def find(self, code: int, vendor: int = 0) -> Avp | None:
        """The first child with this code and vendor, or None."""
        return _find(self.children(), code, vendor)


def time_to_bytes(moment: datetime) -> bytes:
    """Encode a Time value (RFC 6733 §4.3.1, RFC 4330 §3 era rule); naive means UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if not _NTP_MIN <= moment < _NTP_ERA1 + timedelta(seconds=1 << 31):
        raise InvalidInput(f"time {moment.isoformat()} is outside the Diameter Time range")
    seconds = int((moment - _NTP_EPOCH).total_seconds()) & 0xFFFFFFFF
    return _U32.pack(seconds)


def _find(avps: tuple[Avp, ...], code: int, vendor: int) -> Avp | None:
    for a in avps:
        if a.code == code and a.vendor == vendor:
            return a
    return None


@dataclass(frozen=True, slots=True)
class Message:
    """A Diameter message (RFC 6733 §3): header fields and the top-level AVPs."""

    command_code: int
    application_id: int
    flags: int
    hop_by_hop: int
    end_to_end: int
    avps: tuple[Avp, ...]

    @classmethod
    def new(cls, command_code: int, application_id: int, *, request: bool = True,
            proxiable: bool = True, error: bool = False, avps: Iterable[Avp] = (),
            hop_by_hop: int = 0, end_to_end: int = 0) -> Message:
        flags = ((FLAG_REQUEST if request else 0) | (FLAG_PROXIABLE if proxiable else 0)
                 | (FLAG_ERROR if error else 0))
        return cls(command_code, application_id, flags, hop_by_hop, end_to_end, tuple(avps))

    @property
    def is_request(self) -> bool:
        return bool(self.flags & FLAG_REQUEST)

    @property
    def is_proxiable(self) -> bool:
        return bool(self.flags & FLAG_PROXIABLE)

    @property
    def is_error(self) -> bool:
        return bool(self.flags & FLAG_ERROR)

    @property
    def is_retransmit(self) -> bool:
        return bool(self.flags & FLAG_RETRANSMIT)

    def find(self, code: int, vendor: int = 0) -> Avp | None:
        """The first top-level AVP with this code and vendor, or None."""
        return _find(self.avps, code, vendor)

    def find_all(self, code: int, vendor: int = 0) -> list[Avp]:
        return [a for a in self.avps if a.code == code and a.vendor == vendor]

    @property
    def result_code(self) -> int | None:
        """Result-Code, else the Experimental-Result-Code inside Experimental-Result
        (RFC 6733 §7.1, §7.6), else None."""
        found = _find(self.avps, RESULT_CODE, 0)
        if found is not None:
            return found.as_int()
        group = _find(self.avps, EXPERIMENTAL_RESULT, 0)
        inner = group.find(EXPERIMENTAL_RESULT_CODE) if group is not None else None
        return inner.as_int() if inner is not None else None

    def with_ids(self, hop_by_hop: int, end_to_end: int) -> Message:
        return Message(self.command_code, self.application_id, self.flags, hop_by_hop,
                       end_to_end, self.avps)

    def with_flags(self, flags: int) -> Message:
        return Message(self.command_code, self.application_id, flags, self.hop_by_hop,
                       self.end_to_end, self.avps)

    def with_avps(self, avps: Iterable[Avp]) -> Message:
        return Message(self.command_code, self.application_id, self.flags, self.hop_by_hop,
                       self.end_to_end, tuple(avps))

    def answer(self, avps: Iterable[Avp] = (), *, error: bool = False) -> Message:
        """The answer to this request (RFC 6733 §6.2): same command, application and
        identifiers, R cleared, P copied, E set for protocol errors (§7.1.3)."""
        flags = (self.flags & FLAG_PROXIABLE) | (FLAG_ERROR if error else 0)
        return Message(self.command_code, self.application_id, flags, self.hop_by_hop,
                       self.end_to_end, tuple(avps))

    def encode(self) -> bytes:
        """RFC 6733 §3 header (version 1, 3-byte length) followed by the padded AVPs."""
        try:
            body = b"".join([_encode_avp(a) for a in self.avps])
            length = HEADER_LENGTH + len(body)
            if length > _MAX_LENGTH:
                raise InvalidInput(f"Diameter message length {length} > {_MAX_LENGTH}")
            return _HEADER.pack(0x01000000 | length, (self.flags << 24) | self.command_code,
                                self.application_id, self.hop_by_hop, self.end_to_end) + body
        except struct.error as exc:
            raise InvalidInput(f"Diameter field out of range: {exc}") from None

    @classmethod
    def decode(cls, data: bytes | bytearray | memoryview) -> Message:
        """Decode exactly one message; see :func:`message_length` for stream framing."""
        buf = data if type(data) is bytes else bytes(data)
        length = message_length(buf)
        if length is None:
            raise DiameterCodecError(f"truncated header: {len(buf)} < {HEADER_LENGTH} bytes "
                                     "at offset 0", offset=0, result_code=5015)
        if length != len(buf):
            raise DiameterCodecError(f"message length field {length} != {len(buf)} bytes "
                                     "at offset 1", offset=1, result_code=5015)
        _, flags_cmd, app, hbh, e2e = _HEADER.unpack_from(buf)
        out: list[Avp] = []
        _parse_avps(buf, HEADER_LENGTH, length, out)
        return cls(flags_cmd & 0xFFFFFF, app, flags_cmd >> 24, hbh, e2e, tuple(out))


def message_length(buf: bytes | bytearray | memoryview, offset: int = 0) -> int | None:
    """Length of the message starting at ``offset`` (RFC 6733 §3), or None while fewer than
    20 bytes are there. Raises for a version other than 1 or an impossible length."""
    if len(buf) - offset < HEADER_LENGTH:
        return None
    word: int = _U32.unpack_from(buf, offset)[0]
    if word >> 24 != 1:
        raise DiameterCodecError(f"version {word >> 24} != 1 at offset {offset}",
                                 offset=offset, result_code=5015)
    length = word & _MAX_LENGTH
    if length < HEADER_LENGTH or length & 3:
        raise DiameterCodecError(f"message length {length} is not a multiple of 4 >= 20 "
                                 f"at offset {offset + 1}", offset=offset + 1,
                                 result_code=5015)
    return length


def _encode_avp(a: Avp) -> bytes:
    data = a.data
    n = len(data)
    if n > _MAX_LENGTH - 12:
        raise InvalidInput(f"AVP {a.code} data of {n} bytes does not fit a 3-byte length")
    if a.flags & AVP_FLAG_VENDOR:
        return _AVP_VHEADER.pack(a.code, (a.flags << 24) | (n + 12), a.vendor) + data + _PAD[n & 3]
    if a.vendor:
        raise InvalidInput(f"AVP {a.code} has vendor {a.vendor} but no V flag")
    return _AVP_HEADER.pack(a.code, (a.flags << 24) | (n + 8)) + data + _PAD[n & 3]


# Building an Avp through its member descriptors skips the frozen-dataclass __setattr__
# detour of __init__ and nearly halves the cost per AVP in decode.
_new = object.__new__
_set_code = Avp.__dict__["code"].__set__
_set_data = Avp.__dict__["data"].__set__
_set_flags = Avp.__dict__["flags"].__set__
_set_vendor = Avp.__dict__["vendor"].__set__


def _parse_avps(buf: bytes, pos: int, end: int, out: list[Avp] | None) -> None:
    """Walk the AVPs in ``buf[pos:end]`` (RFC 6733 §4.1) and, depth first, inside every
    Grouped AVP (§4.4); append the AVPs of the first level to ``out`` unless it is None.
    Offsets in errors are into ``buf``.

    No recursion: entering a Grouped AVP pushes where the walk resumes on a list, so
    the depth is bounded by :data:`MAX_AVP_DEPTH` (checked), not by Python's stack.
    At most :data:`MAX_AVPS` AVPs are walked, every level counted.

    ``pos`` is 4-aligned in ``buf`` (a message or a Grouped AVP's data both start so), so
    an AVP's padded end is its end rounded up to a multiple of 4.
    """
    unpack2 = _AVP_HEADER.unpack_from
    unpack3 = _AVP_VHEADER.unpack_from
    kind_of = _KIND.get
    first_level = out.append if out is not None else None
    append = first_level
    resume: list[tuple[int, int]] = []  # (pos, end) of each enclosing level
    budget = MAX_AVPS
    while True:
        while pos < end:
            left = end - pos
            if left >= 12:
                code, word, vendor = unpack3(buf, pos)
            elif left >= 8:
                code, word = unpack2(buf, pos)
                vendor = 0  # a V-flagged AVP cannot fit in fewer than 12 bytes: caught below
            else:
                raise DiameterCodecError(f"truncated AVP header: {left} < 8 bytes at offset "
                                         f"{pos}", offset=pos)
            flags = word >> 24
            if flags & AVP_FLAG_VENDOR:
                start = pos + 12
            else:
                start = pos + 8
                vendor = 0
            stop = pos + (word & 0xFFFFFF)
            if stop < start or stop > end:
                raise _length_error(code, word, pos, end)
            padded = stop
            if stop & 3:
                padded = (stop + 3) & -4
                if padded > end or buf[stop:padded] != _ZEROS[padded - stop]:
                    raise _padding_error(code, stop, padded, end)
            data = buf[start:stop]
            if append is not None:
                a = _new(Avp)
                _set_code(a, code)
                _set_data(a, data)
                _set_flags(a, flags)
                _set_vendor(a, vendor)
                append(a)
            pos = padded
            kind = kind_of((vendor << 32) | code)
            if kind is None:
                pass
            # The commonest checks inline: a call per AVP costs more than the test.
            elif kind == _K_LEN4:
                if stop - start != 4:
                    raise DiameterCodecError(f"AVP {code} data length {stop - start} != 4 at "
                                             f"offset {start}", offset=start)
            elif kind == _K_UTF8:
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DiameterCodecError(f"AVP {code} is not valid UTF-8 at offset "
                                             f"{start + exc.start}", offset=start + exc.start,
                                             result_code=5004) from None
            elif kind == _K_GROUPED:
                if stop > start:  # descend; the walk resumes after it at this level
                    if len(resume) + 1 >= MAX_AVP_DEPTH:
                        raise _limit_error(f"Grouped AVPs nested deeper than {MAX_AVP_DEPTH}",
                                           buf, code, flags, vendor, start, stop)
                    resume.append((pos, end))
                    pos, end = start, stop
                    append = None
            else:
                _check_value(kind, code, buf, start, stop)
            # counted once its value is known good, so that Failed-AVP holds a valid AVP
            budget -= 1
            if budget < 0:
                raise _limit_error(f"more than {MAX_AVPS} AVPs", buf, code, flags, vendor,
                                   start, stop)
        if not resume:
            return
        pos, end = resume.pop()
        if not resume:
            append = first_level


def _limit_error(what: str, buf: bytes, code: int, flags: int, vendor: int, start: int,
                 stop: int) -> DiameterCodecError:
    """A message past :data:`MAX_AVPS` or :data:`MAX_AVP_DEPTH`: 5009 with the first AVP
    past the limit for Failed-AVP (RFC 6733 §7.1.5, §7.5). A Grouped one goes without its
    children, so that the answer stays small and shallow whatever the request nested."""
    kind = _KIND.get((vendor << 32) | code)
    failed = _new(Avp)
    _set_code(failed, code)
    _set_data(failed, b"" if kind == _K_GROUPED else buf[start:stop])
    _set_flags(failed, flags)
    _set_vendor(failed, vendor)
    offset = start - (12 if flags & AVP_FLAG_VENDOR else 8)
    return DiameterCodecError(f"{what}: AVP {code} at offset {offset}", offset=offset,
                              result_code=AVP_OCCURS_TOO_MANY_TIMES, failed=failed)


def _length_error(code: int, word: int, pos: int, end: int) -> DiameterCodecError:
    length = word & 0xFFFFFF
    header = 12 if word >> 24 & AVP_FLAG_VENDOR else 8
    if length < header:
        return DiameterCodecError(f"AVP {code} length {length} < {header} at offset {pos}",
                                  offset=pos)
    return DiameterCodecError(f"AVP {code} length {length} overruns its container by "
                              f"{pos + length - end} bytes at offset {pos}", offset=pos)


def _padding_error(code: int, stop: int, padded: int, end: int) -> DiameterCodecError:
    if padded > end:
        return DiameterCodecError(f"AVP {code} padding missing at offset {stop}", offset=stop)
    return DiameterCodecError(f"AVP {code} non-zero padding at offset {stop}", offset=stop)


def _check_value(kind: int, code: int, buf: bytes, start: int, stop: int) -> None:
    """The per-type length rules of RFC 6733 §4.2 and §4.3 not inlined in the walk."""
    n = stop - start
    if kind == _K_LEN8:
        if n != 8:
            raise DiameterCodecError(f"AVP {code} data length {n} != 8 at offset {start}",
                                     offset=start)
    elif kind == _K_ADDRESS:
        family = _U16.unpack_from(buf, start)[0] if n >= 2 else -1
        if family < 0 or (family == 1 and n != 6) or (family == 2 and n != 18):
            raise DiameterCodecError(f"AVP {code} Address family {family} with data length "
                                     f"{n} at offset {start}", offset=start)
