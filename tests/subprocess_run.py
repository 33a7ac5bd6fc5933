"""Run an outside tool (openssl s_client, gnutls-cli, ...) with stdin, bounded in time."""

from __future__ import annotations

import asyncio


async def run_tool(*args: str, stdin: bytes, timeout: float) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of *args*; killed and TimeoutError past *timeout*."""
    proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.PIPE,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")
