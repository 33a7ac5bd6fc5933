"""freeDiameter (``freeDiameterd``) as a real RFC 6733 relay agent between our peers.

:class:`FreeDiameterRelay` writes a configuration into a directory of the test's, starts
``freeDiameterd -c <conf>``, waits until its TCP port accepts connections (polling, no
fixed sleep) and stops it with SIGTERM (SIGKILL after a grace period). Its output goes
to ``freeDiameterd.log`` next to the configuration; every error raised here ends with
the tail of that log.

Configuration it relies on (checked against freeDiameter 1.2.1 as packaged by Debian,
``libfdcore/fdd.y``, ``libfdcore/config.c``, ``extensions/acl_wl``, ``doc/*.sample``):

* ``Identity``, ``Realm``: the relay's own Origin-Host / Origin-Realm.
* ``Port = N; SecPort = 0;`` and no ``TLS_Cred``/``TLS_old_method``: with the TLS port
  disabled and the in-band method off, 1.2.1 accepts a configuration without TLS
  credentials ("TLS is disabled" notice); ``Port = 0`` would disable listening, so the
  fixture picks a free port itself.
* ``No_SCTP; No_IPv6;``: plain TCP over IPv4 only.
* ``ListenOn`` is *not* used: 1.2.1 silently drops loopback addresses from it
  (``fd_ep_add_merge`` filters 127/8 unless the address comes from ``ConnectTo``), so the
  relay listens on every interface (0.0.0.0:port). It also needs at least one
  non-loopback address to put in Host-IP-Address, or it refuses to start.
* ``TcTimer = 1;``: reconnect to a ``ConnectPeer`` after 1 s (default 30) when our
  listening peer is not up yet. ``TwTimer`` (watchdog, >= 6) defaults to 30.
* ``ConnectPeer = "<host>" { ConnectTo = "127.0.0.1"; Port = N; No_TLS; No_SCTP;
  Realm = "<realm>"; };`` for each :class:`FdPeer` with an address: freeDiameter connects
  out, sends CER and requires the CEA's Origin-Host to be ``<host>`` and its
  Origin-Realm ``<realm>``.
* ``LoadExtension = "acl_wl.fdx" : "<file>"`` whose file reads ``ALLOW_IPSEC <host> ...``
  for each :class:`FdPeer` without an address: by default freeDiameter answers the CER
  of a host it has no ``ConnectPeer`` for with CEA 3010 DIAMETER_UNKNOWN_PEER; acl_wl
  whitelists the Origin-Host, and without the ``ALLOW_IPSEC`` flag ("implicitly
  protected", i.e. no TLS) it only accepts TLS-protected peers. The realm of such a peer
  is not configured: the relay learns it from the peer's CER.
* No ``rt_default.fdx`` and no dictionary extension: the core's own out-routing scores
  a peer whose CER realm equals Destination-Realm (FD_SCORE_REALM) and drops peers that
  did not advertise the message's application id (or Relay), which is all a
  single-hop realm route needs. Unknown applications and AVPs (Zn 16777220, Zh 16777221,
  vendor 10415) are relayed untouched because the relay advertises the Relay
  application (0xffffffff, ``NoRelay`` not set) and only parses the routing AVPs (it
  logs "Operation not supported" for the unknown command, and relays it anyway).

Quirks seen with 1.2.1:

* Its CER and CEA announce only ``Auth-Application-Id = 0xffffffff`` (plus
  ``Inband-Security-Id = 0`` in the CER, Product-Name "freeDiameter", Firmware-Revision
  10201), and the machine's non-loopback address as Host-IP-Address.
* It adds a Route-Record to answers too (naming the peer the answer came from); the
  ``RouteRecordInAnswers`` switch only exists in later versions.
* Its own error answers (3002 DIAMETER_UNABLE_TO_DELIVER for an unreachable realm) have
  the E bit but not the P bit of the request, and no application AVPs.
* The first connection to a ``ConnectPeer`` comes either at once or about 4 s later: a
  peer state machine thread that starts after the core has started adds the 0-4 s
  reconnect jitter (``p_psm_th`` reads ``started`` unlocked; ``random()`` is unseeded,
  hence always ~3.98 s). Wait for it (:meth:`FreeDiameterRelay.wait_open`), never sleep.
* The readiness probe (a bare TCP connect) makes it log one harmless
  ``fd_cnx_receive ... Transport endpoint is not connected`` error.
* SIGTERM: DPR with Disconnect-Cause REBOOTING to every open peer, then exit status 0.

Verified by ``tests/interop/test_freediameter_relay.py``: CER/CEA both ways, a Zn BIR
and a Zh MAR relayed by Destination-Realm with a Route-Record naming the sender added
and the hop-by-hop id rewritten, the answers returned with the sender's hop-by-hop id
and the same End-to-End id, 3002 for an unknown realm, 3010 for a peer missing from the
whitelist, DPR on SIGTERM, and a start failure reported with the log.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

FREEDIAMETERD = shutil.which("freeDiameterd")
"""The daemon, or None when the package is not installed (the tests then skip)."""
EXTENSIONS = Path("/usr/lib/freeDiameter")
READY_LINE = "freeDiameterd daemon initialized."


class FreeDiameterError(RuntimeError):
    """freeDiameterd did not start, or did not do what a test waited for."""


@dataclass(frozen=True, slots=True)
class FdPeer:
    """A Diameter peer of ours as the relay sees it.

    ``address`` is where the relay connects to (a ``ConnectPeer``); None means the peer
    connects to the relay and is let in by the acl_wl whitelist.
    """

    host: str
    realm: str
    address: tuple[str, int] | None = None


def free_port() -> int:
    """A TCP port free on every interface (the relay binds 0.0.0.0), at the time of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class FreeDiameterRelay:
    """``freeDiameterd`` as a relay agent; a context manager, sync or async.

    Use ``async with`` inside a test running an event loop: the relay does its CER, DWR
    and DPR exchanges with our asyncio peers while it starts and stops, and the async
    variants wait without blocking the loop those peers run on.
    """

    def __init__(self, identity: str, realm: str, peers: list[FdPeer], workdir: Path,
                 port: int = 0, *, tc_timer: int = 1, tw_timer: int = 30,
                 dump_messages: bool = False, start_timeout: float = 10.0,
                 stop_timeout: float = 20.0) -> None:
        if tw_timer < 6:
            raise ValueError("freeDiameter refuses TwTimer < 6 (RFC 3539 §3.4.1)")
        self.identity = identity
        self.realm = realm
        self.peers = list(peers)
        self.workdir = Path(workdir)
        self.port = port
        self.tc_timer = tc_timer
        self.tw_timer = tw_timer
        self.dump_messages = dump_messages
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.conf_path = self.workdir / "freeDiameter.conf"
        self.acl_path = self.workdir / "acl_wl.conf"
        self.log_path = self.workdir / "freeDiameterd.log"
        self._fixed_port = port != 0
        self._proc: subprocess.Popen[bytes] | None = None

    # ------------------------------------------------------------------ configuration

    def config_text(self) -> str:
        """The freeDiameter.conf for the current port (see the module docstring)."""
        lines = [
            f'Identity = "{self.identity}";',
            f'Realm = "{self.realm}";',
            f"Port = {self.port};",
            "SecPort = 0;",
            "No_SCTP;",
            "No_IPv6;",
            f"TcTimer = {self.tc_timer};",
            f"TwTimer = {self.tw_timer};",
        ]
        if any(p.address is None for p in self.peers):
            lines.append(f'LoadExtension = "{EXTENSIONS / "acl_wl.fdx"}" : "{self.acl_path}";')
        if self.dump_messages:  # sent/received messages in full, one per line
            lines.append(f'LoadExtension = "{EXTENSIONS / "dbg_msg_dumps.fdx"}" : "0x0040";')
        for peer in self.peers:
            if peer.address is not None:
                host, port = peer.address
                lines.append(f'ConnectPeer = "{peer.host}" {{ ConnectTo = "{host}"; '
                             f'Port = {port}; No_TLS; No_SCTP; Realm = "{peer.realm}"; }};')
        return "\n".join(lines) + "\n"

    def acl_text(self) -> str:
        """acl_wl whitelist: the peers that connect to us, accepted without TLS."""
        hosts = [p.host for p in self.peers if p.address is None]
        return f"ALLOW_IPSEC {' '.join(hosts)}\n" if hosts else ""

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self._fixed_port:
            self.port = free_port()
        self.conf_path.write_text(self.config_text(), encoding="utf-8")
        self.acl_path.write_text(self.acl_text(), encoding="utf-8")

    # ------------------------------------------------------------------ the process

    def log(self) -> str:
        """Everything freeDiameterd printed so far."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log()[-chars:]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _spawn(self) -> subprocess.Popen[bytes]:
        if FREEDIAMETERD is None:
            raise FreeDiameterError("freeDiameterd is not installed (Debian: freediameter)")
        self._write_config()
        with self.log_path.open("wb") as out:
            self._proc = subprocess.Popen([FREEDIAMETERD, "-c", str(self.conf_path)],
                                          stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, cwd=self.workdir)
        return self._proc

    def _started(self, proc: subprocess.Popen[bytes]) -> bool | None:
        """True when up, None while starting, False when the process exited."""
        if proc.poll() is not None:
            return False
        return True if READY_LINE in self.log() and _accepts(self.port) else None

    def _failure(self, why: str) -> FreeDiameterError:
        return FreeDiameterError(f"freeDiameterd {why}; config {self.conf_path}:\n"
                                 f"{self.config_text()}--- log tail:\n{self.log_tail()}")

    def start(self) -> None:
        """Start and wait until the port accepts; a picked port is retried if taken."""
        for _ in range(1 if self._fixed_port else 3):
            proc = self._spawn()
            deadline = time.monotonic() + self.start_timeout
            while (state := self._started(proc)) is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if state:
                return
            if state is None:
                self.stop()
                raise self._failure(f"did not accept on port {self.port} within "
                                    f"{self.start_timeout:g}s")
        raise self._failure(f"exited at start (code {proc.returncode})")

    async def astart(self) -> None:
        """:meth:`start` in a worker thread: the event loop stays free to answer the CER
        the relay sends our listening peers while it starts."""
        await asyncio.to_thread(self.start)

    def stop(self) -> int | None:
        """SIGTERM (freeDiameter sends DPR to its open peers), SIGKILL after the grace
        period; returns the exit status."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    async def astop(self) -> int | None:
        """:meth:`stop` in a worker thread: the loop must answer the relay's DPR."""
        return await asyncio.to_thread(self.stop)

    # ------------------------------------------------------------------ waiting on the log

    def wait_for_log_sync(self, text: str, timeout: float = 10.0) -> None:
        """Wait until ``text`` appears in the log; fail with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            if time.monotonic() >= deadline:
                raise self._failure(f"never logged {text!r} within {timeout:g}s")
            time.sleep(0.02)

    async def wait_for_log(self, text: str, timeout: float = 10.0) -> None:
        """:meth:`wait_for_log_sync` without blocking the event loop."""
        await asyncio.to_thread(self.wait_for_log_sync, text, timeout)

    async def wait_open(self, host: str, timeout: float = 10.0) -> None:
        """Wait until the relay has the peer ``host`` in state Open (its PSM log line)."""
        await self.wait_for_log(f"-> 'STATE_OPEN'\t'{host}'", timeout)

    # ------------------------------------------------------------------ context managers

    def __enter__(self) -> FreeDiameterRelay:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._check_exit(self.stop(), exc)

    async def __aenter__(self) -> FreeDiameterRelay:
        await self.astart()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._check_exit(await self.astop(), exc)

    def _check_exit(self, status: int | None, exc: BaseException | None) -> None:
        """A relay that crashed or had to be killed fails the block, with its log."""
        if status not in (0, None) and exc is None:
            raise self._failure(f"exited with status {status}")


__all__ = ["EXTENSIONS", "FREEDIAMETERD", "FdPeer", "FreeDiameterError", "FreeDiameterRelay",
           "free_port"]
