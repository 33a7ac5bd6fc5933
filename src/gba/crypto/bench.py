"""Throughput of the crypto core on one core (``gba bench crypto``).

Every figure is also given as a ratio of the machine's floor measured in the same run:
the rate of single-block AES-128 encryptions through the same library, divided by the
number of block encryptions one Milenage vector needs (TEMP, f1, f2/f5, f3, f4: five).
This is a benchmark, not a test: it measures and prints, it asserts nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gba.crypto import digest, kdf, ua_protocols
from gba.crypto.milenage import Milenage

AES_BLOCKS_PER_VECTOR = 5


def rate(fn: Callable[[int], None], seconds: float, rounds: int = 3) -> float:
    """Best calls/s of ``fn(n)`` (which performs n operations) over *rounds* timed rounds."""
    n = 1000
    while True:  # calibrate a batch of about a tenth of the budget
        start = time.perf_counter()
        fn(n)
        elapsed = time.perf_counter() - start
        if elapsed >= seconds / 10 or n >= 1 << 26:
            break
        n *= 2
    best = n / elapsed
    deadline = time.perf_counter() + seconds
    for _ in range(rounds):
        start = time.perf_counter()
        fn(n)
        best = max(best, n / (time.perf_counter() - start))
        if time.perf_counter() > deadline:
            break
    return best


def bench_crypto(seconds: float = 1.0) -> dict[str, float]:
    """Measure AES floor, Milenage (cached and new key), KDF and Digest verification."""
    rands = [os.urandom(16) for _ in range(256)]
    keys = [os.urandom(16) for _ in range(256)]
    opc = os.urandom(16)
    sqn, amf = bytes.fromhex("000000000020"), b"\x00\x00"

    enc = Cipher(algorithms.AES(keys[0]), modes.ECB()).encryptor()  # noqa: S305
    update = enc.update
    block = rands[0]

    def aes(n: int) -> None:
        for _ in range(n):
            update(block)

    mil = Milenage(keys[0], opc)

    def milenage_cached(n: int) -> None:
        compute = mil.compute
        for i in range(n):
            compute(rands[i & 255], sqn, amf)

    def milenage_new_key(n: int) -> None:
        for i in range(n):
            Milenage(keys[i & 255], opc).compute(rands[i & 255], sqn, amf)

    ks = os.urandom(32)
    nid = kdf.naf_id("naf.example.org", ua_protocols.HTTP_DIGEST)
    impi = "001010000000001@ims.mnc001.mcc001.3gppnetwork.org"

    def kdf_runs(n: int) -> None:
        for i in range(n):
            kdf.ks_naf(ks, rands[i & 255], impi, nid)

    nonce = digest.aka_nonce(rands[0], rands[1])
    res = os.urandom(8)
    d = digest.DigestInput(algorithm_token="AKAv1-MD5", username=impi, realm="ims.example.org",
                           password=res, uri="/", nonce=nonce, qop="auth-int",
                           cnonce="0a4f113b")
    received = digest.response(d, "GET")

    def digest_runs(n: int) -> None:
        for _ in range(n):
            digest.verify(digest.response(d, "GET"), received)

    aes_rate = rate(aes, seconds)
    floor = aes_rate / AES_BLOCKS_PER_VECTOR
    cached = rate(milenage_cached, seconds)
    new_key = rate(milenage_new_key, seconds)
    return {
        "aes_blocks_per_s": aes_rate,
        "milenage_floor_per_s": floor,
        "milenage_per_s": cached,
        "milenage_floor_ratio": cached / floor,
        "milenage_new_key_per_s": new_key,
        "milenage_new_key_floor_ratio": new_key / floor,
        "kdf_per_s": rate(kdf_runs, seconds),
        "digest_per_s": rate(digest_runs, seconds),
    }
