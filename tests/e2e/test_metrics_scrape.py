"""Metrics, status and structured logs of a real lab (``gba lab up``): each function
serves Prometheus metrics at the URL lab.json names under ``metrics``, and a status
document beside it; after a UE bootstraps (with a resynchronisation) and fetches from the
NAF over Digest and PSK-TLS, the counters show Ub 401 and 200 at the BSF, Zh MAR 2001 at
the HSS, Zn BIR 2001 at the BSF, a live context and the NAF's open BSF peer. No scrape,
status document or log holds any key material of the run (raw, hex or base64), and the
functions configured with ``format = "json"`` log parseable JSON lines that name the
interface and the IMPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from e2e.labctl import LabFactory
from e2e.test_log_hygiene import _run_flow, forms, lab_logs
from gba import config

JSON_LOGGING = """
[logging]
levels = { "gba.transport" = "INFO" }

[functions.bsf.logging]
format = "json"

[functions.naf.logging]
format = "json"
"""

Sample = tuple[str, dict[str, str], float]


def json_logging_config(tmp_path: Path) -> Path:
    """The sample network with JSON logs for the BSF and the NAF (the HSS keeps text)."""
    path = tmp_path / "network.toml"
    path.write_text(config.SAMPLE_CONFIG.read_text(encoding="utf-8") + JSON_LOGGING,
                    encoding="utf-8")
    return path


def parse(text: str) -> list[Sample]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples]


def total(samples: list[Sample], name: str, **labels: str) -> float:
    """The sum of the samples of *name* whose labels include *labels*."""
    return sum(v for n, have, v in samples
               if n == name and all(have.get(k) == want for k, want in labels.items()))


async def _get(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200, (url, r.status)
        return await r.text()


async def test_metrics_status_and_json_logs_of_a_lab(lab_factory: LabFactory,
                                                     tmp_path: Path) -> None:
    lab = lab_factory(["metrics"], json_logging_config(tmp_path))
    sub = lab.subscriber("metrics")
    keys = await _run_flow(lab, sub)
    info: dict[str, Any] = json.loads((lab.dir / "lab.json").read_text(encoding="utf-8"))
    # a client that speaks HTTP to the PSK-TLS port: a failed handshake
    reader, writer = await asyncio.open_connection(info["naf_host"],
                                                   int(info["naf_psk_tls_port"]))
    writer.write(b"GET / HTTP/1.1\r\nHost: naf\r\n\r\n")
    with contextlib.suppress(ConnectionResetError):  # refused at once: a reset
        await asyncio.wait_for(reader.read(), 10)
    writer.close()
    urls: dict[str, str] = info["metrics"]
    assert set(urls) == {"hss", "bsf", "naf"}
    texts: dict[str, str] = {}
    statuses: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for name, url in urls.items():
            assert url.startswith("http://127.0.0.1:"), url
            assert url.endswith("/metrics"), url
            texts[name] = await _get(http, url)
            statuses[name] = json.loads(await _get(http, url.removesuffix("/metrics")
                                                   + "/status.json"))
    found = {name: parse(text) for name, text in texts.items()}
    bsf, hss, naf = found["bsf"], found["hss"], found["naf"]

    # requests by interface, command and result
    ub = {"function": "bsf", "interface": "ub"}
    assert total(bsf, "gba_requests_total", **ub, result="401") >= 2  # one a resync
    assert total(bsf, "gba_requests_total", **ub, result="200") >= 2
    assert total(hss, "gba_requests_total", function="hss", interface="zh", command="MAR",
                 result="2001") >= 3
    assert total(bsf, "gba_requests_total", function="bsf", interface="zn", command="BIR",
                 result="2001") >= 2
    assert total(bsf, "gba_diameter_sent_total", function="bsf", interface="zh",
                 command="MAR", result="2001") >= 3
    assert total(naf, "gba_requests_total", function="naf", interface="ua",
                 result="200") >= 2
    assert total(naf, "gba_requests_total", function="naf", interface="ua_psk",
                 result="200") >= 2
    psk = {"function": "naf", "interface": "ua_psk", "command": "handshake"}
    assert total(naf, "gba_requests_total", **psk, result="ok") >= 2
    assert total(naf, "gba_requests_total", **psk, result="failed") >= 1
    assert total(bsf, "gba_request_duration_seconds_count", **ub) >= 4
    # state read at scrape time
    assert total(bsf, "gba_bsf_contexts_active", function="bsf") >= 1
    bsf_host = lab.network().bsf.diameter.host
    assert total(naf, "gba_diameter_peer_up", function="naf", peer=bsf_host) == 1
    assert total(naf, "gba_naf_key_cache_total", function="naf", result="miss") >= 2
    assert total(hss, "gba_hss_unknown_impi_requests_total", function="hss") == 0

    # the status documents
    assert {n: (s["function"], s["kind"]) for n, s in statuses.items()} == {
        "hss": ("hss", "hss"), "bsf": ("bsf", "bsf"), "naf": ("naf", "naf")}
    assert {"host": bsf_host, "state": "open"} in statuses["naf"]["peers"]
    assert sub.impi in {c["impi"] for c in statuses["bsf"]["contexts"]}
    assert [s["impi"] for s in statuses["hss"]["subscribers"]] == [sub.impi]
    assert statuses["naf"]["keys_cached"] >= 2

    # no key material in any scrape or status document
    published = {f"{n} metrics": t.encode() for n, t in texts.items()} | {
        f"{n} status": json.dumps(s).encode() for n, s in statuses.items()}
    leaks = [f"{what} in {where}" for what, secret in keys.items() for form in forms(secret)
             for where, text in published.items() if form in text]
    assert len(keys) >= 14
    assert not leaks, f"key material published: {leaks}"

    # JSON logs: every line of the BSF and NAF parses, with the interface and the IMPI
    logs = lab_logs(lab.dir)  # PYTHONUNBUFFERED: each line is written as it is logged
    for name in ("bsf", "naf"):
        lines = [json.loads(line) for line in logs[f"{name}.log"].decode().splitlines()
                 if line.strip()]
        assert all({"time", "level", "function", "logger", "message"} <= set(doc)
                   and doc["function"] == name for doc in lines)
        assert any(doc.get("impi") == sub.impi and doc.get("interface") for doc in lines)
    bsf_lines = [json.loads(line) for line in logs["bsf.log"].decode().splitlines() if line]
    assert any(d.get("interface") == "ub" and d.get("impi") == sub.impi
               and d.get("result") == 200 and d.get("btid") for d in bsf_lines)
    assert b"[interface=zh impi=" + sub.impi.encode() in logs["hss.log"]  # text, with fields
    log_leaks = [f"{what} in {log}" for what, secret in keys.items() for form in forms(secret)
                 for log, text in logs.items() if form in text]
    assert not log_leaks, f"key material in the logs: {log_leaks}"
