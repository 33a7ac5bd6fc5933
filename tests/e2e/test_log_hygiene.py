"""Log hygiene: the lab's logs never hold key material, and garbage costs little log.

* An end-to-end run (a bootstrap that starts with a resynchronisation, a Digest fetch, a
  PSK-TLS fetch, a forced re-bootstrap) records every key the UE side knows: K and OPc of
  the subscription, RES, CK, IK of every AKA run, Ks of every bootstrap, Ks_NAF for
  Digest and for PSK-TLS. After ``gba lab down`` no log of the lab holds any of them, as
  raw octets, hex (either case) or base64 (with or without padding, either alphabet).
  STYLE.md: secrets never reach logs.
* A flood of connections sending garbage to the HSS's Zh port, the BSF's Ub port and the
  NAF's PSK-TLS port adds at most one log line per connection, and no traceback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from pathlib import Path

from e2e.labctl import Lab, Subscriber, running_lab
from gba.crypto import aka, ua_protocols
from gba.ue.client import GbaClient

IO_TIMEOUT = 5.0
"""Seconds to wait for a server to close a connection sent garbage."""


class KeyRecordingUsim(aka.Usim):
    """A USIM that keeps RES, CK and IK of every challenge it accepts."""

    def __init__(self, sub: Subscriber, sqn_array: aka.SqnArray) -> None:
        super().__init__(sub.k, sub.opc, sqn_array)
        self.secrets: dict[str, bytes] = {}
        self.sync_failures = 0

    def authenticate(self, rand: bytes, autn: bytes) -> aka.AkaResult:
        result = super().authenticate(rand, autn)
        n = len(self.secrets) // 3
        if isinstance(result, aka.AkaSuccess):
            self.secrets |= {f"RES#{n}": result.res, f"CK#{n}": result.ck,
                             f"IK#{n}": result.ik}
        else:
            self.sync_failures += 1
        return result


def forms(secret: bytes) -> set[bytes]:
    """How a secret could be written into a log."""
    out = {secret, secret.hex().encode(), secret.hex().upper().encode()}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(secret)
        out |= {text, text.rstrip(b"=")}
    return out


def lab_logs(lab_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(lab_dir.glob("*.log"))}


async def _run_flow(lab: Lab, sub: Subscriber) -> dict[str, bytes]:
    """Every key material the UE side sees in one end-to-end run, by name."""
    info = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
    # the USIM stands ahead of the HSS: the first bootstrap is a resynchronisation
    ahead = aka.SqnArray()
    ahead.accept(aka.join_sqn(1000, 0))
    usim = KeyRecordingUsim(sub, ahead)
    keys: dict[str, bytes] = {"K": sub.k, "OPc": sub.opc}
    suite = ua_protocols.TLS_PSK_WITH_AES_128_CBC_SHA
    async with GbaClient(sub.impi, usim, lab.bsf_url) as ue:
        for round_ in range(2):
            boot = await ue.bootstrap(force=True)
            keys[f"Ks#{round_}"] = boot.ks
            reply = await ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)
            assert reply.status == 200, reply
            keys[f"Ks_NAF digest#{round_}"] = ue.naf_key(lab.naf_fqdn,
                                                         ua_protocols.HTTP_DIGEST).key
            body = await ue.fetch_psk_tls(info["naf_host"], int(info["naf_psk_tls_port"]),
                                          lab.naf_fqdn, ciphersuite=suite)
            assert b" 200 " in body.split(b"\r\n", 1)[0], body[:200]
            keys[f"Ks_NAF psk-tls#{round_}"] = ue.naf_key(lab.naf_fqdn,
                                                          ua_protocols.psk_tls(suite)).key
    assert usim.sync_failures == 1, "the run should include one resynchronisation"
    keys |= usim.secrets
    return keys


async def test_logs_hold_no_key_material(tmp_path: Path) -> None:
    with running_lab(tmp_path / "lab", ["hygiene"]) as lab:
        keys = await _run_flow(lab, lab.subscriber("hygiene"))
        impi = lab.subscriber("hygiene").impi
    logs = lab_logs(tmp_path / "lab")  # after `gba lab down`: every line is written
    found = [f"{name} in {log}" for name, secret in keys.items() for form in forms(secret)
             for log, text in logs.items() if form in text]
    lines = sum(text.count(b"\n") for text in logs.values())
    patterns = sum(len(forms(secret)) for secret in keys.values())
    print(f"\nlog hygiene: {len(keys)} key materials ({patterns} patterns: raw, hex, "
          f"base64) searched in {len(logs)} logs ({lines} lines): {len(found)} found")
    assert impi.encode() in b"".join(logs.values()), "the run left no trace in the logs"
    assert len(keys) >= 14
    assert not found, f"key material in the lab logs: {found}"


# --- flood ---------------------------------------------------------------------------

FLOOD = 200
CONCURRENCY = 50
GARBAGE = b"\x16\x03\x01\x00\x05garbage\x00\xff" + bytes(range(256)) + b"\r\n\r\n"
"""A TLS-ish record header, then bytes no protocol accepts."""


async def _garbage(host: str, port: int) -> None:
    """Connect, send garbage, wait for the server to close (or give up), close."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(GARBAGE)
        await writer.drain()
        async with asyncio.timeout(IO_TIMEOUT):
            while await reader.read(4096):
                pass
    except (TimeoutError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _flood(host: str, port: int) -> None:
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one() -> None:
        async with gate:
            await _garbage(host, port)

    await asyncio.gather(*(one() for _ in range(FLOOD)))


def _lines(log: Path) -> int:
    return log.read_bytes().count(b"\n")


async def test_garbage_connections_cost_at_most_a_log_line_each(tmp_path: Path) -> None:
    lab_dir = tmp_path / "lab"
    with running_lab(lab_dir, ["flood"]) as lab:
        info = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
        targets = {
            "hss": lab.hss_zh,
            "bsf": (lab.bsf_url.split("//")[1].split(":")[0],
                    int(lab.bsf_url.split(":")[2].strip("/"))),
            "naf": (str(info["naf_host"]), int(info["naf_psk_tls_port"])),
        }
        added: dict[str, int] = {}
        for name, (host, port) in targets.items():
            before = _lines(lab_dir / f"{name}.log")
            await _flood(host, port)
            # a full flow after the flood: every function has moved past the garbage
            sub = lab.subscriber("flood")
            async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
                assert (await ue.fetch_digest(lab.naf_url + "/", lab.naf_fqdn)).status == 200
            added[name] = _lines(lab_dir / f"{name}.log") - before
    logs = lab_logs(lab_dir)
    tracebacks = {name: text.count(b"Traceback") for name, text in logs.items()}
    print(f"\nlog flood: {FLOOD} garbage connections per port; log lines added "
          f"(flood + one UE flow): {added}; tracebacks: {tracebacks}")
    for name, count in added.items():
        # one line per connection at most, plus the few of the UE flow after it
        assert count <= 20, f"{name}: {count} log lines for {FLOOD} connections"
    assert not any(tracebacks.values()), f"tracebacks in the logs: {tracebacks}"
