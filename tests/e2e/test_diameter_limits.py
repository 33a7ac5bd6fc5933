"""The attack run of issue 10 item 3, against a real lab HSS (``gba lab up``) on its Zh
port: a 4.8 KB message of 600 nested Grouped AVPs, before and after CER, then N
connections each sending a frame header of 1 MiB and most of its body.

Each connection gets an answer or a clean close; the HSS log grows by a bounded number
of lines with no traceback; the HSS's RSS stays bounded; and the HSS still serves a real
bootstrap afterwards. The RSS numbers are printed (``pytest -s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from pathlib import Path

from e2e.labctl import Lab, LabFactory
from e2e.wire import capabilities_exchange, closed_by_server, hang_up, open_raw, read_message
from gba.protocols import zh
from gba.protocols.diameter import (
    APP_ZH,
    CMD_MULTIMEDIA_AUTH,
    Avp,
    Message,
    ResultCode,
)
from gba.ue.client import GbaClient

N_PARTIAL = 200
"""Connections sending a 1 MiB partial frame (the attack run used 1,000)."""
WAVE = 50
"""Of them, this many at once."""
PARTIAL_LENGTH = 1 << 20
RSS_GROWTH_LIMIT_KB = 64 * 1024
"""Before the fix the HSS buffered about 1 MiB per connection (200 MB for these 200; 95 ->
1,186 MB for the 1,000 of the attack run). After it, a connection is closed once the
header is in: over plain TCP the HSS grows by ~2 MB; over TLS by ~40 MB, the TLS
buffers of the connections of a wave (allocator pages, reused by the next waves)."""
PROXY_INFO = 284


def nested_message(levels: int = 600, hop_by_hop: int = 0x0DEE9) -> bytes:
    """A MAR-shaped request whose one AVP is *levels* nested Proxy-Info (4.8 KB)."""
    inner = Avp(PROXY_INFO, b"")
    for _ in range(levels - 1):
        inner = Avp(PROXY_INFO, inner.encode())
    return Message.new(CMD_MULTIMEDIA_AUTH, APP_ZH, avps=[inner], hop_by_hop=hop_by_hop,
                       end_to_end=hop_by_hop).encode()


PARTIAL_FRAME = (struct.pack(">IIIII", 0x01000000 | PARTIAL_LENGTH,
                             0x80000000 | CMD_MULTIMEDIA_AUTH, APP_ZH, 1, 1)
                 + bytes(PARTIAL_LENGTH - 24))
"""A request header announcing 1 MiB, and all of it but the last 4 bytes."""


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def log_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()


async def partial_frame_connection(lab: Lab) -> str:
    """One attack connection: 'closed' (by the server), 'refused' (could not even
    connect) or 'open' (still open at the deadline: a failure)."""
    try:
        reader, writer = await open_raw(lab, lab.hss_zh)
    except OSError:  # refused during the TLS handshake
        return "refused"
    try:
        with contextlib.suppress(OSError):
            writer.write(PARTIAL_FRAME)
            await asyncio.wait_for(writer.drain(), 5.0)
        closed, received = await closed_by_server(reader)
        assert received == b"", "nothing is answered before CER"
        return "closed" if closed else "open"
    except TimeoutError:
        return "open"
    finally:
        with contextlib.suppress(OSError, TimeoutError):
            await asyncio.wait_for(hang_up(writer), 2.0)


async def test_hss_survives_nested_avps_and_partial_frames(lab_factory: LabFactory) -> None:
    started = time.monotonic()
    lab = lab_factory(("limits",))
    pid = lab.pids["hss"]
    log_file = lab.dir / "hss.log"
    await asyncio.sleep(0.5)  # let the HSS settle after the BSF connected
    rss_before = rss_kb(pid)
    lines_before = len(log_lines(log_file))

    # 1. the nested message before CER: a clean close, nothing answered
    reader, writer = await open_raw(lab, lab.hss_zh)
    try:
        writer.write(nested_message())
        await writer.drain()
        closed, received = await closed_by_server(reader)
    finally:
        await hang_up(writer)
    assert closed
    assert received == b""

    # 2. the nested message after CER (as the BSF): error answer 5009 (RFC 6733 §7.1.5)
    reader, writer = await open_raw(lab, lab.hss_zh)
    try:
        cea = await capabilities_exchange(reader, writer, lab.network().bsf.diameter,
                                          zh.APPLICATION)
        assert cea.result_code == ResultCode.SUCCESS
        writer.write(nested_message(hop_by_hop=0xDEE9))
        await writer.drain()
        answer = await read_message(reader)
    finally:
        await hang_up(writer)
    assert (answer.hop_by_hop, answer.result_code) == (0xDEE9, 5009)
    assert answer.is_error is False  # 5xxx is not a protocol error (RFC 6733 §7.1.3)

    # 3. N connections with a 1 MiB partial frame, WAVE at a time
    outcomes: list[str] = []
    peak = rss_before
    for _ in range(N_PARTIAL // WAVE):
        outcomes += await asyncio.gather(*(partial_frame_connection(lab)
                                           for _ in range(WAVE)))
        peak = max(peak, rss_kb(pid))
    await asyncio.sleep(0.5)
    rss_after = rss_kb(pid)
    print(f"\nHSS VmRSS: before {rss_before} kB, peak {peak} kB, after {rss_after} kB "
          f"({N_PARTIAL} partial-frame connections: "
          f"{ {o: outcomes.count(o) for o in set(outcomes)} })")
    assert "open" not in outcomes, "every attack connection is closed by the HSS"
    assert peak - rss_before < RSS_GROWTH_LIMIT_KB
    assert rss_after - rss_before < RSS_GROWTH_LIMIT_KB

    # 4. the log: at most a line per connection, no traceback
    grown = log_lines(log_file)[lines_before:]
    print(f"HSS log: {len(grown)} new lines")
    assert len(grown) <= N_PARTIAL + 10
    assert not any("Traceback" in line for line in grown)

    # 5. and the HSS still serves a real bootstrap (BSF -> HSS over Zh)
    sub = lab.subscriber("limits")
    async with GbaClient(sub.impi, sub.usim(), lab.bsf_url) as ue:
        boot = await ue.bootstrap()
    assert boot.btid.endswith("@" + lab.bsf_server_name)
    print(f"test took {time.monotonic() - started:.1f} s")
