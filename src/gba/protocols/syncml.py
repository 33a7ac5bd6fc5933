"""SyncML 1.2 messages as OMA DM 1.2 uses them (packages 1-4), XML form.

Element names and order (sources):

* Root ``SyncML`` in namespace ``SYNCML:SYNCML1.2``; ``SyncHdr`` with ``VerDTD`` 1.2,
  ``VerProto`` DM/1.2, ``SessionID``, ``MsgID``, ``Target``/``Source`` each with a
  ``LocURI``; ``SyncBody`` with ``Alert`` (``CmdID``, ``Data``), ``Status`` (``CmdID``,
  ``MsgRef``, ``CmdRef``, ``Cmd``, ``Data``, ``TargetRef``), ``Results``, ``Replace`` of
  ``./DevInfo/<name>`` items (``Source``/``LocURI``, ``Meta`` with ``Format``/``Type`` in
  namespace ``syncml:metinf``, ``Data``), ``Exec`` items with ``Target``/``LocURI``, and
  ``Final``: VERIFIED from hostap ``hs20/client/oma_dm_client.c`` (a DM 1.2 client).
* Alert codes 1200 server-initiated management, 1201 client-initiated management, 1223
  session abort, 1226 generic alert: VERIFIED from hostap (``DM_SERVER_INITIATED_MGMT
  1200``, ``DM_CLIENT_INITIATED_MGMT 1201``) and the Samsung DM client
  (``Eduardob3677/com_wssyncmldm_2:smali/com/idm/core/syncml/Constants.smali``:
  ``ALERT_SERVER_INITIATED_MGMT 1200``, ``ALERT_CLIENT_INITIATED_MGMT 1201``,
  ``ALERT_SESSION_ABORT 1223``). The brief that asked for this module had 1200/1201 the
  other way round; the sources win.
* Status codes 200, 212 (authentication accepted), 401, 407, ...: hostap (OMA-TS-SyncML-
  RepPro-V1_2_2 §10).
* ``SyncHdr (VerDTD, VerProto, SessionID, MsgID, Target, Source, RespURI?, NoResp?,
  Cred?, Meta?)`` and ``Status (CmdID, MsgRef, CmdRef, Cmd, TargetRef*, SourceRef*,
  Cred?, Chal?, Data, Item*)``: the DTD as quoted in Borqs' SyncML parser
  (``com.borqs.syncml.ds.imp.tag.TagSyncHdr``/``TagStatus``).
* ``Cred`` = ``Meta`` (``Type`` syncml:auth-md5 / auth-basic / auth-MAC, ``Format`` b64)
  + ``Data``; ``Chal`` carries ``Meta`` with ``NextNonce`` in b64: OMA DM 1.2
  representation §4.1.1.2 as rendered in ``MarcoRosso/OMA-DM.Documents``.
* Item order ``(Target?, Source?, Meta?, Data?)``, ``Results (CmdID, MsgRef?, CmdRef,
  Meta?, TargetRef?, SourceRef?, Item+)`` and the ``NoResp``/``Meta`` positions in
  commands: from memory of the 1.2 DTD, UNVERIFIED; we write that order and read any.

Not supported (a CodecError on decode): ``Atomic``, ``Sequence``, ``Copy``, ``Map``,
``Sync``, and element content inside ``Data`` (DM servers that send TNDS send it as
escaped text or CDATA, which reads fine). ``LocName``, ``SourceParent``, ``MaxMsgSize``
and other metadata are skipped on decode.

``./GBA/SA/<id>/...`` (the SA parameters items) is this project's own node tree [P]; no
specification defines a GBA Push DM management object. :func:`sa_items` builds it
from caller-chosen leaf names; the items themselves are generic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from xml.etree.ElementTree import Element, SubElement, tostring

from gba.errors import CodecError, InvalidInput
from gba.protocols.xmlutil import MAX_XML, local, parse_xml

NAMESPACE = "SYNCML:SYNCML1.2"
METINF = "syncml:metinf"
VER_DTD = "1.2"
VER_PROTO = "DM/1.2"
MAX_SYNCML = MAX_XML
MAX_DEPTH = 10
"""SyncML > SyncBody > Status > Chal > Meta > NextNonce is 6 deep; Item adds 2 more."""
MAX_INT = 2**31 - 1

ALERT_SERVER_INITIATED = 1200
ALERT_CLIENT_INITIATED = 1201
ALERT_NEXT_MESSAGE = 1222
ALERT_SESSION_ABORT = 1223
ALERT_GENERIC = 1226
STATUS_OK = 200
STATUS_AUTH_ACCEPTED = 212
STATUS_BAD_REQUEST = 400
STATUS_UNAUTHORIZED = 401
STATUS_NOT_FOUND = 404
STATUS_MISSING_CREDENTIALS = 407
STATUS_COMMAND_FAILED = 500
AUTH_MD5 = "syncml:auth-md5"
AUTH_BASIC = "syncml:auth-basic"
AUTH_MAC = "syncml:auth-MAC"
FORMAT_B64 = "b64"
FORMAT_CHR = "chr"
SA_ROOT = "./GBA/SA"


@dataclass(frozen=True, slots=True)
class Cred:
    """``Cred``: the authentication type and the credential (already b64 for md5)."""

    data: str
    type: str = AUTH_MD5
    format: str | None = FORMAT_B64

    def __repr__(self) -> str:
        return f"Cred(type={self.type!r}, format={self.format!r}, data=<redacted>)"


@dataclass(frozen=True, slots=True)
class Chal:
    """``Chal``: the scheme the sender must use next time and its nonce (b64 text)."""

    type: str = AUTH_MD5
    format: str | None = FORMAT_B64
    next_nonce: str | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """``Item``: a node by URI (``target``, ``source``) and its value."""

    target: str | None = None
    source: str | None = None
    data: str | None = None
    format: str | None = None
    type: str | None = None


@dataclass(frozen=True, slots=True)
class SyncHdr:
    session_id: str
    msg_id: int
    target: str
    source: str
    cred: Cred | None = None
    resp_uri: str | None = None
    no_resp: bool = False


@dataclass(frozen=True, slots=True)
class Alert:
    cmd_id: int
    data: int
    items: tuple[Item, ...] = ()
    no_resp: bool = False


@dataclass(frozen=True, slots=True)
class Status:
    cmd_id: int
    msg_ref: int
    cmd_ref: int
    cmd: str
    data: int
    target_refs: tuple[str, ...] = ()
    source_refs: tuple[str, ...] = ()
    chal: Chal | None = None
    items: tuple[Item, ...] = ()


@dataclass(frozen=True, slots=True)
class Results:
    cmd_id: int
    cmd_ref: int
    items: tuple[Item, ...]
    msg_ref: int | None = None


@dataclass(frozen=True, slots=True)
class Add:
    cmd_id: int
    items: tuple[Item, ...]
    no_resp: bool = False


@dataclass(frozen=True, slots=True)
class Replace:
    cmd_id: int
    items: tuple[Item, ...]
    no_resp: bool = False


@dataclass(frozen=True, slots=True)
class Delete:
    cmd_id: int
    items: tuple[Item, ...]
    no_resp: bool = False


@dataclass(frozen=True, slots=True)
class Get:
    cmd_id: int
    items: tuple[Item, ...]
    no_resp: bool = False


@dataclass(frozen=True, slots=True)
class Exec:
    cmd_id: int
    items: tuple[Item, ...]
    no_resp: bool = False


ItemCommand = Add | Replace | Delete | Get | Exec
Command = Alert | Status | Results | ItemCommand
_ITEM_COMMANDS: dict[str, type[ItemCommand]] = {
    "Add": Add, "Replace": Replace, "Delete": Delete, "Get": Get, "Exec": Exec}


@dataclass(frozen=True, slots=True)
class Message:
    header: SyncHdr
    commands: tuple[Command, ...] = ()
    final: bool = True


@dataclass(frozen=True, slots=True)
class DevInfo:
    """The ./DevInfo management object a client reports in package 1."""

    dev_id: str
    man: str
    mod: str
    lang: str = "en"
    dm_v: str = "1.2"


# --------------------------------------------------------------------------- encode

# XML 1.0 Char minus CR, which end-of-line normalisation would turn into LF.
_BAD_CHARS = re.compile("[^\t\n\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(parent: Element, name: str, value: str | int, ns: str | None = None) -> None:
    text = str(value)
    bad = _BAD_CHARS.search(text)
    if bad:
        raise InvalidInput(f"SyncML {name}: character {ord(bad.group()):#x} cannot travel in XML")
    el = SubElement(parent, name)
    if ns:
        el.set("xmlns", ns)
    el.text = text


def _loc(parent: Element, name: str, uri: str) -> None:
    _text(SubElement(parent, name), "LocURI", uri)


def _meta(parent: Element, fmt: str | None, typ: str | None, nonce: str | None = None) -> None:
    if fmt is None and typ is None and nonce is None:
        return
    meta = SubElement(parent, "Meta")
    if fmt is not None:
        _text(meta, "Format", fmt, METINF)
    if typ is not None:
        _text(meta, "Type", typ, METINF)
    if nonce is not None:
        _text(meta, "NextNonce", nonce, METINF)


def _item(parent: Element, item: Item) -> None:
    el = SubElement(parent, "Item")
    if item.target is not None:
        _loc(el, "Target", item.target)
    if item.source is not None:
        _loc(el, "Source", item.source)
    _meta(el, item.format, item.type)
    if item.data is not None:
        _text(el, "Data", item.data)


def _cred(parent: Element, cred: Cred) -> None:
    el = SubElement(parent, "Cred")
    _meta(el, cred.format, cred.type)
    _text(el, "Data", cred.data)


def _command(body: Element, cmd: Command) -> None:
    name = type(cmd).__name__
    el = SubElement(body, name)
    _text(el, "CmdID", _check_int(cmd.cmd_id, "CmdID"))
    if isinstance(cmd, Status):
        _text(el, "MsgRef", _check_int(cmd.msg_ref, "MsgRef"))
        _text(el, "CmdRef", _check_int(cmd.cmd_ref, "CmdRef"))
        _text(el, "Cmd", cmd.cmd)
        for ref in cmd.target_refs:
            _text(el, "TargetRef", ref)
        for ref in cmd.source_refs:
            _text(el, "SourceRef", ref)
        if cmd.chal is not None:
            _meta(SubElement(el, "Chal"), cmd.chal.format, cmd.chal.type, cmd.chal.next_nonce)
        _text(el, "Data", _check_int(cmd.data, "Status Data"))
    elif isinstance(cmd, Results):
        if cmd.msg_ref is not None:
            _text(el, "MsgRef", _check_int(cmd.msg_ref, "MsgRef"))
        _text(el, "CmdRef", _check_int(cmd.cmd_ref, "CmdRef"))
    else:
        if cmd.no_resp:
            SubElement(el, "NoResp")
        if isinstance(cmd, Alert):
            _text(el, "Data", _check_int(cmd.data, "Alert Data"))
    if not isinstance(cmd, Alert | Status) and not cmd.items:
        raise InvalidInput(f"SyncML {name} needs at least one Item")
    for item in cmd.items:
        _item(el, item)


def _check_int(value: int, what: str) -> int:
    if not 0 <= value <= MAX_INT:
        raise InvalidInput(f"SyncML {what} {value} not in 0..{MAX_INT}")
    return value


def encode(msg: Message) -> bytes:
    """The message as UTF-8 XML (OMA DM 1.2 representation, ``application/vnd.syncml.dm+xml``)."""
    root = Element("SyncML", {"xmlns": NAMESPACE})
    hdr = SubElement(root, "SyncHdr")
    h = msg.header
    _text(hdr, "VerDTD", VER_DTD)
    _text(hdr, "VerProto", VER_PROTO)
    _text(hdr, "SessionID", h.session_id)
    _text(hdr, "MsgID", _check_int(h.msg_id, "MsgID"))
    _loc(hdr, "Target", h.target)
    _loc(hdr, "Source", h.source)
    if h.resp_uri is not None:
        _text(hdr, "RespURI", h.resp_uri)
    if h.no_resp:
        SubElement(hdr, "NoResp")
    if h.cred is not None:
        _cred(hdr, h.cred)
    body = SubElement(root, "SyncBody")
    for cmd in msg.commands:
        _command(body, cmd)
    if msg.final:
        SubElement(body, "Final")
    xml: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    out = b'<?xml version="1.0" encoding="UTF-8"?>' + xml
    if len(out) > MAX_SYNCML:
        raise InvalidInput(f"SyncML message of {len(out)} octets exceeds {MAX_SYNCML}")
    return out


# --------------------------------------------------------------------------- decode


def _children(el: Element, where: str) -> dict[str, list[Element]]:
    out: dict[str, list[Element]] = {}
    for child in el:
        if not isinstance(child.tag, str):  # comments, processing instructions
            continue
        out.setdefault(local(child.tag), []).append(child)
    return out


def _leaf_text(el: Element, where: str, strip: bool = True) -> str:
    # Identifiers (LocURI, SessionID, Cmd, Meta values) are stripped, as a pretty-printed
    # document indents them; Data is kept exactly.
    if len(el):
        raise CodecError(f"SyncML {where}: element content where text was expected")
    text = el.text or ""
    return text.strip() if strip else text


def _one(kids: dict[str, list[Element]], name: str, where: str) -> Element:
    found = kids.get(name, [])
    if len(found) != 1:
        raise CodecError(f"SyncML {where}: {len(found)} {name} elements, expected 1")
    return found[0]


def _opt(kids: dict[str, list[Element]], name: str, where: str) -> Element | None:
    found = kids.get(name, [])
    if len(found) > 1:
        raise CodecError(f"SyncML {where}: {len(found)} {name} elements, expected at most 1")
    return found[0] if found else None


def _str(kids: dict[str, list[Element]], name: str, where: str, strip: bool = True) -> str:
    return _leaf_text(_one(kids, name, where), f"{where}/{name}", strip)


def _opt_str(kids: dict[str, list[Element]], name: str, where: str,
             strip: bool = True) -> str | None:
    el = _opt(kids, name, where)
    return None if el is None else _leaf_text(el, f"{where}/{name}", strip)


def _int(kids: dict[str, list[Element]], name: str, where: str) -> int:
    text = _str(kids, name, where)
    if not (text.isascii() and text.isdigit() and len(text) <= 10) or int(text) > MAX_INT:
        raise CodecError(f"SyncML {where}/{name}: {text[:20]!r} is not a number in 0..{MAX_INT}")
    return int(text)


def _loc_uri(el: Element | None, where: str) -> str | None:
    if el is None:
        return None
    return _str(_children(el, where), "LocURI", where)


def _meta_fields(el: Element | None, where: str) -> tuple[str | None, str | None, str | None]:
    if el is None:
        return None, None, None
    kids = _children(el, where)
    return (_opt_str(kids, "Format", where), _opt_str(kids, "Type", where),
            _opt_str(kids, "NextNonce", where))


def _parse_item(el: Element, where: str) -> Item:
    kids = _children(el, where)
    fmt, typ, _ = _meta_fields(_opt(kids, "Meta", where), f"{where}/Meta")
    return Item(target=_loc_uri(_opt(kids, "Target", where), f"{where}/Target"),
                source=_loc_uri(_opt(kids, "Source", where), f"{where}/Source"),
                data=_opt_str(kids, "Data", where, strip=False), format=fmt, type=typ)


def _items(kids: dict[str, list[Element]], where: str) -> tuple[Item, ...]:
    return tuple(_parse_item(el, f"{where}/Item") for el in kids.get("Item", []))


def _parse_command(el: Element, index: int) -> Command:
    name = local(el.tag)
    where = f"SyncBody/{name}[{index}]"
    kids = _children(el, where)
    cmd_id = _int(kids, "CmdID", where)
    items = _items(kids, where)
    no_resp = _opt(kids, "NoResp", where) is not None
    if name == "Alert":
        return Alert(cmd_id, _int(kids, "Data", where), items, no_resp)
    if name == "Status":
        chal_el = _opt(kids, "Chal", where)
        chal = None
        if chal_el is not None:
            ckids = _children(chal_el, f"{where}/Chal")
            fmt, typ, nonce = _meta_fields(_one(ckids, "Meta", f"{where}/Chal"), f"{where}/Chal")
            chal = Chal(typ or AUTH_MD5, fmt, nonce)
        return Status(cmd_id, _int(kids, "MsgRef", where), _int(kids, "CmdRef", where),
                      _str(kids, "Cmd", where), _int(kids, "Data", where),
                      tuple(_leaf_text(r, where) for r in kids.get("TargetRef", [])),
                      tuple(_leaf_text(r, where) for r in kids.get("SourceRef", [])),
                      chal, items)
    if not items:
        raise CodecError(f"SyncML {where}: no Item")
    if name == "Results":
        msg_ref = _int(kids, "MsgRef", where) if "MsgRef" in kids else None
        return Results(cmd_id, _int(kids, "CmdRef", where), items, msg_ref)
    cls = _ITEM_COMMANDS.get(name)
    if cls is None:
        raise CodecError(f"SyncML {where}: command {name[:20]!r} is not supported")
    return cls(cmd_id, items, no_resp)


def _check_depth(root: Element) -> None:
    stack = [(root, 1)]
    while stack:
        el, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise CodecError(f"SyncML: elements nested deeper than {MAX_DEPTH}")
        stack.extend((child, depth + 1) for child in el)


def decode(data: bytes) -> Message:
    """Parse one SyncML DM message; anything malformed, oversized, nested too deep or
    carrying a DTD/entity is a CodecError."""
    root = parse_xml(data, "SyncML")
    _check_depth(root)
    if local(root.tag) != "SyncML":
        raise CodecError(f"SyncML root element is {local(root.tag)[:20]!r}")
    top = _children(root, "SyncML")
    hkids = _children(_one(top, "SyncHdr", "SyncML"), "SyncHdr")
    for name, want in (("VerDTD", VER_DTD), ("VerProto", VER_PROTO)):
        got = _str(hkids, name, "SyncHdr")
        if got != want:
            raise CodecError(f"SyncML SyncHdr/{name} {got[:20]!r}, expected {want!r}")
    cred = None
    cred_el = _opt(hkids, "Cred", "SyncHdr")
    if cred_el is not None:
        ckids = _children(cred_el, "SyncHdr/Cred")
        fmt, typ, _ = _meta_fields(_opt(ckids, "Meta", "SyncHdr/Cred"), "SyncHdr/Cred/Meta")
        cred = Cred(_str(ckids, "Data", "SyncHdr/Cred", strip=False), typ or AUTH_BASIC, fmt)
    header = SyncHdr(
        session_id=_str(hkids, "SessionID", "SyncHdr"),
        msg_id=_int(hkids, "MsgID", "SyncHdr"),
        target=_loc_uri(_one(hkids, "Target", "SyncHdr"), "SyncHdr/Target") or "",
        source=_loc_uri(_one(hkids, "Source", "SyncHdr"), "SyncHdr/Source") or "",
        cred=cred, resp_uri=_opt_str(hkids, "RespURI", "SyncHdr"),
        no_resp=_opt(hkids, "NoResp", "SyncHdr") is not None)
    body = _one(top, "SyncBody", "SyncML")
    commands: list[Command] = []
    final = False
    for index, el in enumerate(body):
        if not isinstance(el.tag, str):
            continue
        if local(el.tag) == "Final":
            final = True
            continue
        if final:
            raise CodecError(f"SyncML SyncBody: {local(el.tag)[:20]!r} after Final")
        commands.append(_parse_command(el, index))
    return Message(header, tuple(commands), final)


# --------------------------------------------------------------------------- packages


def numbered(commands: Iterable[Command], first: int = 1) -> tuple[Command, ...]:
    """*commands* with CmdIDs renumbered from *first* (unique within a message)."""
    return tuple(replace(cmd, cmd_id=first + i) for i, cmd in enumerate(commands))


def devinfo_items(info: DevInfo) -> tuple[Item, ...]:
    """The ./DevInfo leaves as package 1 reports them (Source LocURI, chr text)."""
    return tuple(Item(source=f"./DevInfo/{leaf}", data=value, format=FORMAT_CHR)
                 for leaf, value in (("DevId", info.dev_id), ("Man", info.man),
                                     ("Mod", info.mod), ("Lang", info.lang),
                                     ("DmV", info.dm_v)))


def sa_items(sa_id: str, params: Mapping[str, str], fmt: str = FORMAT_CHR) -> tuple[Item, ...]:
    """``./GBA/SA/<sa_id>/<name>`` items [P] for Add or Replace, one per parameter
    (e.g. ``NAFId``, ``Algorithm``, ``ProtocolVersion``, ``KeySelection``, ``BTID``)."""
    for seg in (sa_id, *params):
        if not seg or "/" in seg or seg in (".", ".."):
            raise InvalidInput(f"SA node name {seg[:20]!r} is empty or not one URI segment")
    return tuple(Item(target=f"{SA_ROOT}/{sa_id}/{name}", data=value, format=fmt)
                 for name, value in params.items())


def statuses_for(msg: Message, codes: Mapping[int, int] | None = None, *,
                 header_code: int = STATUS_OK, default: int = STATUS_OK,
                 first_cmd_id: int = 1) -> tuple[Status, ...]:
    """The Status for *msg*'s SyncHdr (CmdRef 0) and for each of its commands that
    wants one (not Status, not NoResp), codes by the command's CmdID."""
    codes = codes or {}
    h = msg.header
    out = [Status(first_cmd_id, h.msg_id, 0, "SyncHdr", header_code, (h.target,), (h.source,))]
    for cmd in msg.commands:
        if isinstance(cmd, Status) or getattr(cmd, "no_resp", False):
            continue
        targets = tuple(i.target for i in cmd.items if i.target is not None)
        out.append(Status(first_cmd_id + len(out), h.msg_id, cmd.cmd_id, type(cmd).__name__,
                          codes.get(cmd.cmd_id, default), targets))
    return tuple(out)


def pkg1(header: SyncHdr, info: DevInfo, *, server_initiated: bool = True,
         extra: Iterable[Command] = ()) -> Message:
    """Package 1 (client): Alert 1200 after a package 0 (1201 if the client started),
    Replace ./DevInfo, any *extra* commands; ``header.cred`` carries the credentials."""
    alert = Alert(0, ALERT_SERVER_INITIATED if server_initiated else ALERT_CLIENT_INITIATED)
    return Message(header, numbered([alert, Replace(0, devinfo_items(info)), *extra]), True)


def pkg2(header: SyncHdr, request: Message, commands: Iterable[Command] = (), *,
         header_code: int = STATUS_AUTH_ACCEPTED, chal: Chal | None = None) -> Message:
    """Package 2 (server): Status for package 1 (212 for its SyncHdr once the client is
    authenticated), then the management commands (Add/Replace/Get/Exec of SA items)."""
    statuses = list(statuses_for(request, header_code=header_code))
    if chal is not None:
        statuses[0] = replace(statuses[0], chal=chal)
    return Message(header, numbered([*statuses, *commands]), True)


def pkg3(header: SyncHdr, request: Message, codes: Mapping[int, int] | None = None,
         results: Iterable[Results] = ()) -> Message:
    """Package 3 (client): a Status per package 2 command (codes by CmdID, default 200),
    then Results for its Gets."""
    return Message(header, numbered([*statuses_for(request, codes), *results]), True)


def pkg4(header: SyncHdr, request: Message) -> Message:
    """Package 4 (server): Status for package 3 and Final, with no further commands:
    the session ends."""
    return Message(header, numbered(statuses_for(request)), True)


def abort(header: SyncHdr) -> Message:
    """Alert 1223: either side gives up the session."""
    return Message(header, (Alert(1, ALERT_SESSION_ABORT),), True)
