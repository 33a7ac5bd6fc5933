"""Write freediameter.json: messages a real freeDiameter relay put on the wire.

Run from the repository root, with freeDiameterd installed (Debian: freediameter)::

    .venv/bin/python tests/vectors/diameter/capture_freediameter.py

It starts ``freeDiameterd`` through ``tests/freediameter.py`` as a relay between two
peers of ours (``tests/diameter_peer.py``): a BSF/HSS-like responder the relay connects
to, and a NAF-like client that connects to the relay. Every frame either of ours
receives is kept as it came off the socket; the ones below are written out. Takes about
ten seconds: the relay's DWR only comes after its minimum TwTimer (6 s) of silence.
The values that freeDiameter chooses (hop-by-hop and end-to-end ids, Origin-State-Id,
the Host-IP-Address of the capturing machine) differ on every run.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from ipaddress import ip_address
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2]
if str(TESTS) not in sys.path:  # run as a script: the tests/ helpers are not importable yet
    sys.path.insert(0, str(TESTS))

from diameter_json import describe, dumps  # noqa: E402
from diameter_peer import CapturingPeer, Frame, connect, listening  # noqa: E402
from freediameter import FdPeer, FreeDiameterRelay  # noqa: E402
from gba.protocols import zh, zn  # noqa: E402
from gba.protocols.diameter import Message, PeerIdentity  # noqa: E402
from gba.protocols.diameter import dictionary as d  # noqa: E402

OUT = Path(__file__).with_name("freediameter.json")
RELAY, RELAY_REALM = "relay.fd.test", "fd.test"
NAF = PeerIdentity("naf.visited.test", "visited.test", (ip_address("127.0.0.1"),))
BSF = PeerIdentity("bsf.home.test", "home.test", (ip_address("127.0.0.1"),))
IMPI = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"
BTID = "AAECAwQFBgcICQoLDA0ODw==@bsf.home.test"
NAF_ID = b"naf.visited.test" + bytes.fromhex("0100000002")
MOMENT = datetime(2026, 11, 24, 12, tzinfo=UTC)


def _version() -> str:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "freediameterd"],
                             capture_output=True, text=True, check=True).stdout
        return f"Debian {out.strip()}"
    except (OSError, subprocess.CalledProcessError):
        return "Debian"


def answer(request: Message) -> Message:
    if request.application_id == d.APP_ZN:
        return zn.build_bia(request, BSF, zn.KeyAnswer(IMPI, MOMENT, MOMENT,
                                                       me_key=bytes(range(32))))
    return zh.build_maa(request, BSF, zh.VectorAnswer(
        IMPI, bytes(range(16)), bytes(range(16, 32)), bytes(8), bytes(range(32, 48)),
        bytes(range(48, 64))))


def _pick(peer: CapturingPeer, command: int, request: bool, nth: int = 0) -> Frame:
    found = [f for f in peer.received
             if f.message.command_code == command and f.message.is_request == request]
    return found[nth]


async def capture(workdir: Path) -> list[tuple[str, str, Frame]]:
    apps = [zn.APPLICATION, zh.APPLICATION]
    async with listening(BSF, apps, answer) as listener:
        peers = [FdPeer(BSF.origin_host, BSF.origin_realm, ("127.0.0.1", listener.port)),
                 FdPeer(NAF.origin_host, NAF.origin_realm)]
        async with FreeDiameterRelay(RELAY, RELAY_REALM, peers, workdir, tw_timer=6) as relay:
            responder = await listener.accepted()
            await responder.opened()
            await relay.wait_open(BSF.origin_host)
            client = await connect(NAF, apps, "127.0.0.1", relay.port, tw=1.0)
            await client.opened()
            await client.frame(d.CMD_DEVICE_WATCHDOG, request=False)  # our DWR after 1 s
            await client.request(zn.build_bir(NAF, BSF.origin_realm, "naf.visited.test;1;1",
                                              zn.KeyRequest(BTID, NAF_ID)))
            await client.request(zh.build_mar(NAF, BSF.origin_realm, "naf.visited.test;1;2",
                                              zh.VectorRequest(IMPI)))
            await client.request(zn.build_bir(NAF, "nowhere.test", "naf.visited.test;1;3",
                                              zn.KeyRequest(BTID, NAF_ID)))
            await responder.frame(d.CMD_DEVICE_WATCHDOG, timeout=20.0)  # Tw = 6 s +- 2 s
            await client.close()
        await responder.frame(d.CMD_DISCONNECT_PEER)
    at_responder = "at our responder (the peer freeDiameter connects to)"
    at_client = "at our client (the peer that connects to freeDiameter)"
    return [
        ("cer", f"{at_responder}: the relay's CER on connecting out",
         _pick(responder, d.CMD_CAPABILITIES_EXCHANGE, True)),
        ("cea", f"{at_client}: the relay's CEA to our CER",
         _pick(client, d.CMD_CAPABILITIES_EXCHANGE, False)),
        ("dwr", f"{at_responder}: the relay's DWR after TwTimer = 6 s idle",
         _pick(responder, d.CMD_DEVICE_WATCHDOG, True)),
        ("dwa", f"{at_client}: the relay's DWA to our DWR",
         _pick(client, d.CMD_DEVICE_WATCHDOG, False)),
        ("dpr", f"{at_responder}: the relay's DPR on SIGTERM (cause REBOOTING)",
         _pick(responder, d.CMD_DISCONNECT_PEER, True)),
        ("dpa", f"{at_client}: the relay's DPA to our DPR",
         _pick(client, d.CMD_DISCONNECT_PEER, False)),
        ("zn-bir-relayed", f"{at_responder}: our BIR (zn.build_bir) as relayed, "
         "Route-Record added, hop-by-hop rewritten",
         _pick(responder, d.CMD_BOOTSTRAPPING_INFO, True)),
        ("zn-bia-relayed", f"{at_client}: our BIA (zn.build_bia) as relayed back, "
         "Route-Record of the responder added, hop-by-hop restored",
         _pick(client, d.CMD_BOOTSTRAPPING_INFO, False)),
        ("zh-mar-relayed", f"{at_responder}: our MAR (zh.build_mar) as relayed",
         _pick(responder, d.CMD_MULTIMEDIA_AUTH, True)),
        ("zh-maa-relayed", f"{at_client}: our MAA (zh.build_maa) as relayed back",
         _pick(client, d.CMD_MULTIMEDIA_AUTH, False)),
        ("zn-answer-3002", f"{at_client}: the relay's own answer to a BIR for a realm it "
         "cannot reach (3002 DIAMETER_UNABLE_TO_DELIVER, E bit)",
         _pick(client, d.CMD_BOOTSTRAPPING_INFO, False, 1)),
    ]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="gba-fd-capture-") as tmp:
        frames = asyncio.run(capture(Path(tmp)))
    program = f"freeDiameter 1.2.1 ({_version()})"
    source = (f"{program}, captured {datetime.now(UTC).date().isoformat()} by "
              "tests/vectors/diameter/capture_freediameter.py over loopback TCP")
    document = {"source": source, "messages": [
        {"name": name, "source": f"{program}, captured {how}", "hex": frame.raw.hex(),
         **describe(frame.message)} for name, how, frame in frames]}
    OUT.write_text(dumps(document), encoding="utf-8")
    print(f"wrote {len(frames)} messages to {OUT}")


if __name__ == "__main__":
    main()
