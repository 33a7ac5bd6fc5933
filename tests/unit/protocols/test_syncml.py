"""SyncML 1.2 / OMA DM 1.2 messages (gba.protocols.syncml): round trips, packages 1-4,
hostile documents."""

from __future__ import annotations

import contextlib

import defusedxml.ElementTree as safe_et
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gba.errors import CodecError, InvalidInput
from gba.protocols import syncml as sm

pytestmark = pytest.mark.push

NS = "{SYNCML:SYNCML1.2}"
MI = "{syncml:metinf}"

# Identifiers are stripped on decode, so they carry no surrounding whitespace; Data keeps
# everything XML can carry (no CR, no control characters).
_chars = st.characters(categories=("L", "N", "P", "S"))
idents = st.text(_chars, min_size=1, max_size=12)
datas = st.text(st.characters(categories=("L", "N", "P", "S", "Zs"), include_characters="\t\n"),
                max_size=20)
ints = st.integers(0, sm.MAX_INT)

items = st.builds(sm.Item, target=st.none() | idents, source=st.none() | idents,
                  data=st.none() | datas, format=st.none() | idents, type=st.none() | idents)
item_tuples = st.lists(items, min_size=1, max_size=3).map(tuple)
chals = st.builds(sm.Chal, type=idents, format=st.none() | idents, next_nonce=st.none() | idents)
commands = st.one_of(
    st.builds(sm.Alert, ints, ints, st.lists(items, max_size=2).map(tuple), st.booleans()),
    st.builds(sm.Status, ints, ints, ints, idents, ints, st.lists(idents, max_size=2).map(tuple),
              st.lists(idents, max_size=2).map(tuple), st.none() | chals,
              st.lists(items, max_size=2).map(tuple)),
    st.builds(sm.Results, ints, ints, item_tuples, st.none() | ints),
    *(st.builds(cls, ints, item_tuples, st.booleans())
      for cls in (sm.Add, sm.Replace, sm.Delete, sm.Get, sm.Exec)),
)
creds = st.builds(sm.Cred, data=datas, type=idents, format=st.none() | idents)
headers = st.builds(sm.SyncHdr, session_id=idents, msg_id=ints, target=idents, source=idents,
                    cred=st.none() | creds, resp_uri=st.none() | idents, no_resp=st.booleans())
messages = st.builds(sm.Message, headers, st.lists(commands, max_size=4).map(tuple), st.booleans())

SERVER = "https://naf.example.org/dm"
DEVICE = "IMEI:490154203237518"
INFO = sm.DevInfo(dev_id=DEVICE, man="Example", mod="UE-1")
CRED = sm.Cred("bWQ1ZGlnZXN0Cg==")


def _hdr(msg_id: int, client: bool = True) -> sm.SyncHdr:
    target, source = (SERVER, DEVICE) if client else (DEVICE, SERVER)
    return sm.SyncHdr("4660", msg_id, target, source, CRED if client else None)


@given(messages)
def test_round_trip(msg: sm.Message) -> None:
    assert sm.decode(sm.encode(msg)) == msg


def test_encoded_header_uses_dm_names_and_namespace() -> None:
    root = safe_et.fromstring(sm.encode(sm.pkg1(_hdr(1), INFO)))
    assert root.tag == NS + "SyncML"
    hdr = root.find(NS + "SyncHdr")
    assert hdr is not None
    assert [local.tag.removeprefix(NS) for local in hdr] == [
        "VerDTD", "VerProto", "SessionID", "MsgID", "Target", "Source", "Cred"]
    assert hdr.findtext(NS + "VerDTD") == "1.2"
    assert hdr.findtext(NS + "VerProto") == "DM/1.2"
    assert hdr.findtext(f"{NS}Target/{NS}LocURI") == SERVER
    assert hdr.findtext(f"{NS}Cred/{NS}Meta/{MI}Type") == "syncml:auth-md5"
    assert hdr.findtext(f"{NS}Cred/{NS}Meta/{MI}Format") == "b64"
    assert hdr.findtext(f"{NS}Cred/{NS}Data") == CRED.data


def test_status_children_follow_dtd_order() -> None:
    st_ = sm.Status(1, 1, 0, "SyncHdr", 401, ("t",), ("s",), sm.Chal(next_nonce="Tm9uY2U="))
    msg = sm.Message(_hdr(2, client=False), (st_,))
    el = safe_et.fromstring(sm.encode(msg)).find(f"{NS}SyncBody/{NS}Status")
    assert el is not None
    assert [c.tag.removeprefix(NS) for c in el] == [
        "CmdID", "MsgRef", "CmdRef", "Cmd", "TargetRef", "SourceRef", "Chal", "Data"]
    assert el.findtext(f"{NS}Chal/{NS}Meta/{MI}NextNonce") == "Tm9uY2U="


def test_pkg1_alerts_1200_after_a_notification_and_reports_devinfo() -> None:
    msg = sm.decode(sm.encode(sm.pkg1(_hdr(1), INFO)))
    alert, devinfo = msg.commands
    assert alert == sm.Alert(1, sm.ALERT_SERVER_INITIATED)
    assert isinstance(devinfo, sm.Replace)
    assert devinfo.cmd_id == 2
    assert {i.source: i.data for i in devinfo.items} == {
        "./DevInfo/DevId": DEVICE, "./DevInfo/Man": "Example", "./DevInfo/Mod": "UE-1",
        "./DevInfo/Lang": "en", "./DevInfo/DmV": "1.2"}
    assert msg.header.cred == CRED
    assert msg.final


def test_pkg1_client_initiated_alerts_1201() -> None:
    assert sm.pkg1(_hdr(1), INFO, server_initiated=False).commands[0] == sm.Alert(1, 1201)


def test_alert_codes_match_dm_sources() -> None:
    # hostap oma_dm_client.c and the Samsung DM client agree on these values
    assert (sm.ALERT_SERVER_INITIATED, sm.ALERT_CLIENT_INITIATED, sm.ALERT_SESSION_ABORT) == (
        1200, 1201, 1223)


def test_session_of_four_packages() -> None:
    p1 = sm.decode(sm.encode(sm.pkg1(_hdr(1), INFO)))
    sa = sm.sa_items("p-tid-1", {"NAFId": "naf.example.org", "Algorithm": "HMAC-SHA-256",
                                 "BTID": "b@bsf"})
    p2 = sm.decode(sm.encode(sm.pkg2(_hdr(1, client=False), p1,
                                     [sm.Add(0, sa), sm.Exec(0, (sm.Item(target="./GBA/Run"),))])))
    statuses = [c for c in p2.commands if isinstance(c, sm.Status)]
    assert [(s.cmd_ref, s.cmd, s.data) for s in statuses] == [
        (0, "SyncHdr", 212), (1, "Alert", 200), (2, "Replace", 200)]
    add = p2.commands[3]
    assert isinstance(add, sm.Add)
    assert add.cmd_id == 4
    assert [i.target for i in add.items] == [
        "./GBA/SA/p-tid-1/NAFId", "./GBA/SA/p-tid-1/Algorithm", "./GBA/SA/p-tid-1/BTID"]
    p3 = sm.decode(sm.encode(sm.pkg3(_hdr(2), p2, {5: sm.STATUS_NOT_FOUND})))
    assert [(c.cmd_ref, c.cmd, c.data) for c in p3.commands if isinstance(c, sm.Status)] == [
        (0, "SyncHdr", 200), (4, "Add", 200), (5, "Exec", 404)]
    p4 = sm.decode(sm.encode(sm.pkg4(_hdr(2, client=False), p3)))
    assert p4.final
    assert all(isinstance(c, sm.Status) for c in p4.commands)
    assert [(c.cmd_ref, c.cmd) for c in p4.commands if isinstance(c, sm.Status)] == [
        (0, "SyncHdr")]


def test_pkg2_can_challenge() -> None:
    p1 = sm.pkg1(_hdr(1), INFO)
    p2 = sm.pkg2(_hdr(1, client=False), p1, header_code=401, chal=sm.Chal(next_nonce="bg=="))
    first = p2.commands[0]
    assert isinstance(first, sm.Status)
    assert first.data == 401
    assert first.chal is not None


def test_statuses_skip_no_resp_commands() -> None:
    msg = sm.Message(_hdr(1), (sm.Add(1, (sm.Item(target="a"),), no_resp=True),))
    assert len(sm.statuses_for(msg)) == 1


def test_abort_is_alert_1223() -> None:
    assert sm.decode(sm.encode(sm.abort(_hdr(3)))).commands == (sm.Alert(1, 1223),)


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_sa_items_reject_bad_segments(bad: str) -> None:
    with pytest.raises(InvalidInput):
        sm.sa_items(bad, {"x": "y"})
    with pytest.raises(InvalidInput):
        sm.sa_items("ok", {bad: "y"})


def test_cred_repr_hides_data() -> None:
    assert CRED.data not in repr(CRED)
    assert CRED.data not in repr(_hdr(1))


def test_decode_reads_pretty_printed_documents() -> None:
    doc = b"""<?xml version="1.0"?>
<SyncML xmlns="SYNCML:SYNCML1.2">
  <SyncHdr>
    <VerDTD>1.2</VerDTD>
    <VerProto>DM/1.2</VerProto>
    <SessionID>1</SessionID>
    <MsgID>1</MsgID>
    <Target><LocURI>
      http://server</LocURI></Target>
    <Source><LocURI>IMEI:1</LocURI><LocName>me</LocName></Source>
    <Meta><MaxMsgSize xmlns="syncml:metinf">10000</MaxMsgSize></Meta>
  </SyncHdr>
  <SyncBody>
    <!-- comment -->
    <Alert><CmdID> 1 </CmdID><Data>1200</Data></Alert>
    <Final/>
  </SyncBody>
</SyncML>"""
    msg = sm.decode(doc)
    assert msg.header.target == "http://server"
    assert msg.commands == (sm.Alert(1, 1200),)


# ------------------------------------------------------------------------- encode errors


@pytest.mark.parametrize("text", ["a\x00b", "a\rb", "\x1b", "\ud800", "\ufffe"])
def test_encode_rejects_characters_xml_cannot_carry(text: str) -> None:
    with pytest.raises(InvalidInput, match="character"):
        sm.encode(sm.Message(_hdr(1), (sm.Add(1, (sm.Item(data=text),)),)))


def test_encode_rejects_item_command_without_items() -> None:
    with pytest.raises(InvalidInput, match="Item"):
        sm.encode(sm.Message(_hdr(1), (sm.Replace(1, ()),)))


def test_encode_rejects_negative_numbers() -> None:
    with pytest.raises(InvalidInput, match="MsgID"):
        sm.encode(sm.Message(sm.SyncHdr("1", -1, "t", "s")))


def test_encode_rejects_oversize() -> None:
    big = sm.Item(data="x" * sm.MAX_SYNCML)
    with pytest.raises(InvalidInput, match="exceeds"):
        sm.encode(sm.Message(_hdr(1), (sm.Add(1, (big,)),)))


# ------------------------------------------------------------------------- decode errors

GOOD = sm.encode(sm.pkg1(_hdr(1), INFO)).decode()


@pytest.mark.parametrize(("old", "new", "match"), [
    ("<VerDTD>1.2</VerDTD>", "<VerDTD>1.1</VerDTD>", "VerDTD"),
    ("<VerProto>DM/1.2</VerProto>", "<VerProto>SyncML/1.2</VerProto>", "VerProto"),
    ("<MsgID>1</MsgID>", "<MsgID>-1</MsgID>", "MsgID"),
    ("<MsgID>1</MsgID>", "<MsgID>99999999999</MsgID>", "MsgID"),
    ("<MsgID>1</MsgID>", "<MsgID>\u0661</MsgID>", "MsgID"),
    ("<MsgID>1</MsgID>", "", "0 MsgID"),
    ("<MsgID>1</MsgID>", "<MsgID>1</MsgID><MsgID>2</MsgID>", "2 MsgID"),
    ("<CmdID>1</CmdID>", "<CmdID><b>1</b></CmdID>", "element content"),
    ("<Data>1200</Data>", "<Data>abc</Data>", "Data"),
    ("<Final />", "<Final /><Alert><CmdID>9</CmdID><Data>1</Data></Alert>", "after Final"),
    ("<Final />", "<Atomic><CmdID>9</CmdID><Item /></Atomic>", "not supported"),
    ("<Final />", "<Add><CmdID>9</CmdID></Add>", "no Item"),
    ("<Final />", "<Status><CmdID>9</CmdID></Status>", "MsgRef"),
    ("<Final />", "<Status><CmdID>9</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>x</Cmd>"
                  "<Chal /><Data>401</Data></Status>", "Meta"),
    (f"<Source><LocURI>{DEVICE}</LocURI>", f"<Source><URI>{DEVICE}</URI>", "LocURI"),
    ('<SyncML xmlns="SYNCML:SYNCML1.2">', '<SyncDM xmlns="SYNCML:SYNCML1.2">', "malformed"),
])
def test_decode_rejects_malformed(old: str, new: str, match: str) -> None:
    assert old in GOOD
    with pytest.raises(CodecError, match=match):
        sm.decode(GOOD.replace(old, new, 1).encode())


def test_decode_rejects_wrong_root() -> None:
    with pytest.raises(CodecError, match="root"):
        sm.decode(b"<SyncDM/>")


def test_decode_rejects_missing_body() -> None:
    with pytest.raises(CodecError, match="SyncBody"):
        sm.decode(GOOD.split("<SyncBody>")[0].encode() + b"</SyncML>")


def test_decode_rejects_billion_laughs() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE SyncML [<!ENTITY a "aaaaaaaaaa">'
            + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">'
                       % ((98 + i,) + (97 + i,) * 10) for i in range(8))
            + b']><SyncML xmlns="SYNCML:SYNCML1.2">&i;</SyncML>')
    with pytest.raises(CodecError, match="malformed"):
        sm.decode(bomb)


def test_decode_rejects_external_entity() -> None:
    doc = (b'<?xml version="1.0"?><!DOCTYPE SyncML [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<SyncML>&x;</SyncML>')
    with pytest.raises(CodecError, match="malformed"):
        sm.decode(doc)


def test_decode_rejects_oversize() -> None:
    with pytest.raises(CodecError, match="exceeds"):
        sm.decode(GOOD.replace("<Final />", "<!--" + "x" * sm.MAX_SYNCML + "--><Final />")
                  .encode())


def test_decode_rejects_deep_nesting() -> None:
    deep = "<a>" * 50 + "</a>" * 50
    with pytest.raises(CodecError, match="deeper"):
        sm.decode(GOOD.replace("<Final />", deep + "<Final />").encode())


def test_decode_rejects_very_deep_nesting_without_recursion_error() -> None:
    deep = "<a>" * 20000 + "</a>" * 20000
    with pytest.raises(CodecError):
        sm.decode(deep.encode())


@given(st.binary(max_size=300))
def test_garbage_raises_only_codec_error(data: bytes) -> None:
    with contextlib.suppress(CodecError):
        sm.decode(data)


@given(messages, st.data())
def test_truncated_or_mutated_documents_raise_only_codec_error(msg: sm.Message,
                                                                data: st.DataObject) -> None:
    raw = sm.encode(msg)
    cut = data.draw(st.integers(0, len(raw)))
    pos = data.draw(st.integers(0, len(raw) - 1))
    mutated = raw[:pos] + data.draw(st.binary(min_size=1, max_size=3)) + raw[pos + 1:]
    for doc in (raw[:cut], mutated):
        with contextlib.suppress(CodecError):
            sm.decode(doc)
