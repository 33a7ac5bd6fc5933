"""Ub does not tell who is subscribed, and probing it does not burn SQNs: HSS, BSF and NAF
as separate processes (``gba lab up``), probed over real HTTP.

Before (issue 10 item 6): a well-formed first Ub request for an IMPI the HSS does not
know was answered ``403`` with the body ``HSS refused: 5401`` and no WWW-Authenticate,
one for a subscribed IMPI ``401`` with a challenge, so anyone could list subscribers;
and every probe of a subscribed IMPI made the HSS issue a vector, so 20 rapid probes
moved its SQN 20 steps ahead of the USIM.

After: both get a 401 of the same shape (realm, algorithm, qop, Server; a nonce of 32
octets showing the same AMF), the unknown one a decoy the BSF recognises; answering
it fails as a wrong RES does; and new challenges are rate-limited per IMPI (default 10 a
minute) and per source before the HSS is asked, with 429 and Retry-After.
"""

from __future__ import annotations

import base64
import os

import aiohttp

from e2e.labctl import Lab, LabFactory
from e2e.wire import Reply, challenge_of, get, ub_answer, ub_initial, usim_res
from gba.protocols.ratelimit import DEFAULT_PER_IMPI

VOLATILE = {"date", "www-authenticate", "content-length"}


def shape(reply: Reply) -> tuple[object, ...]:
    """What a prober can compare of two challenges without knowing K."""
    challenge = challenge_of(reply)
    raw = base64.b64decode(challenge.nonce)
    headers = sorted((k.lower(), v) for k, v in reply.headers.items()
                     if k.lower() not in VOLATILE)
    return (reply.status, sorted(k.lower() for k in reply.headers), headers, reply.body,
            (challenge.realm, challenge.algorithm, challenge.qop, challenge.stale,
             challenge.opaque), len(challenge.nonce), len(raw), raw[22:24])


def seq(lab: Lab, impi: str) -> int:
    return int(lab.hss_rows()[impi]["seq"])


async def test_known_and_unknown_impis_get_the_same_challenge_and_probes_spend_few_sqns(
        lab_factory: LabFactory) -> None:
    lab = lab_factory(("enum-known",))
    known = lab.subscriber("enum-known")
    unknown = f"nobody-{os.urandom(4).hex()}@{lab.realm}"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        known_reply = await get(http, lab.bsf_url, ub_initial(known.impi))
        unknown_reply = await get(http, lab.bsf_url, ub_initial(unknown))
        assert known_reply.status == unknown_reply.status == 401
        assert shape(unknown_reply) == shape(known_reply)

        # the answer to a decoy fails exactly as a wrong RES to a real challenge
        res = usim_res(known.usim(), challenge_of(known_reply))
        wrong = bytes(b ^ 0x55 for b in res)
        refused = await get(http, lab.bsf_url,
                            ub_answer(known.impi, challenge_of(known_reply), wrong))
        decoy = await get(http, lab.bsf_url,
                          ub_answer(unknown, challenge_of(unknown_reply), wrong))
        assert refused.status == decoy.status == 403
        assert decoy.body == refused.body

        before = seq(lab, known.impi)
        probes = [await get(http, lab.bsf_url, ub_initial(known.impi)) for _ in range(20)]
    after = seq(lab, known.impi)
    statuses = [p.status for p in probes]
    assert after - before == statuses.count(401)
    assert after - before <= DEFAULT_PER_IMPI.count
    assert statuses.count(429) >= 20 - DEFAULT_PER_IMPI.count
    limited = next(p for p in probes if p.status == 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in limited.headers
