"""`gba crypto ...` is a stable interface: run the installed command as users do."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from gba.crypto import kdf
from gba.crypto.milenage import Milenage
from vectors import milenage_sets

SETS = milenage_sets()


def gba(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("gba") or str(__import__("pathlib").Path(sys.executable).parent / "gba")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=60, check=False)


def gba_json(*args: str) -> dict[str, Any]:
    proc = gba(*args)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("tv", SETS, ids=[f"set{s['set']}" for s in SETS])
def test_milenage_command_agrees_with_published_vectors(tv: dict[str, Any]) -> None:
    out = gba_json("crypto", "milenage", "--k", tv["k"], "--op", tv["op"], "--rand", tv["rand"],
                   "--sqn", tv["sqn"], "--amf", tv["amf"])
    assert out == {"opc": tv["opc"], "mac_a": tv["f1"], "mac_s": tv["f1star"], "res": tv["f2"],
                   "ck": tv["f3"], "ik": tv["f4"], "ak": tv["f5"], "ak_star": tv["f5star"]}


def test_milenage_command_accepts_opc() -> None:
    tv = SETS[2]
    out = gba_json("crypto", "milenage", "--k", tv["k"], "--opc", tv["opc"], "--rand",
                   tv["rand"], "--sqn", tv["sqn"], "--amf", tv["amf"])
    assert out["res"] == tv["f2"]


def test_ks_naf_command_matches_library() -> None:
    tv = SETS[0]
    out = gba_json("crypto", "ks-naf", "--ck", tv["f3"], "--ik", tv["f4"], "--rand", tv["rand"],
                   "--impi", "user@ims.example.org", "--naf-fqdn", "naf.example.org",
                   "--ua-protocol", "0100000002", "--gba-u")
    ks = kdf.ks(bytes.fromhex(tv["f3"]), bytes.fromhex(tv["f4"]))
    expected = kdf.ks_naf(ks, bytes.fromhex(tv["rand"]), "user@ims.example.org",
                          kdf.naf_id("naf.example.org", bytes.fromhex("0100000002")), gba_u=True)
    assert out == {"ks_naf": expected.hex()}


def test_aka_vector_command_builds_autn_from_milenage() -> None:
    tv = SETS[0]
    out = gba_json("crypto", "aka-vector", "--k", tv["k"], "--opc", tv["opc"], "--sqn",
                   tv["sqn"], "--amf", tv["amf"], "--rand", tv["rand"])
    assert out["xres"] == tv["f2"]
    sqn_xor_ak = int(tv["sqn"], 16) ^ int(tv["f5"], 16)
    assert out["autn"] == f"{sqn_xor_ak:012x}" + tv["amf"] + tv["f1"]
    m = Milenage(bytes.fromhex(tv["k"]), bytes.fromhex(tv["opc"]))
    assert out["ks"] == (m.compute(bytes.fromhex(tv["rand"]), bytes(6), bytes(2)).ck.hex()
                         + tv["f4"])


def test_digest_response_command_matches_rfc7616() -> None:
    out = gba_json("crypto", "digest-response", "--username", "Mufasa", "--realm",
                   "http-auth@example.org", "--password", "Circle of Life", "--uri",
                   "/dir/index.html", "--nonce", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                   "--cnonce", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                   "--algorithm", "SHA-256")
    assert out["response"] == "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"


@pytest.mark.parametrize(
    "args",
    [
        ("crypto", "milenage", "--k", "zz", "--opc", "00" * 16, "--rand", "00" * 16, "--sqn",
         "00" * 6, "--amf", "0000"),
        ("crypto", "milenage", "--k", "00" * 15, "--opc", "00" * 16, "--rand", "00" * 16,
         "--sqn", "00" * 6, "--amf", "0000"),
        ("crypto", "milenage", "--k", "00" * 16, "--rand", "00" * 16, "--sqn", "00" * 6,
         "--amf", "0000"),
        ("crypto", "digest-response", "--username", "u", "--realm", "r", "--nonce", "n",
         "--uri", "/", "--password", "p", "--algorithm", "SHA-1"),
    ],
)
def test_bad_input_exits_2_with_one_line_error(args: tuple[str, ...]) -> None:
    proc = gba(*args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("suite", ["PSK-AES128-GCM-SHA256", "TLS_PSK_WITH_AES_128_GCM_SHA256",
                                   "0x00A8", "00a8"])
def test_ks_naf_command_takes_a_tls_suite_for_psk_tls(suite: str) -> None:
    tv = SETS[0]
    out = gba_json("crypto", "ks-naf", "--ck", tv["f3"], "--ik", tv["f4"], "--rand", tv["rand"],
                   "--impi", "user@ims.example.org", "--naf-fqdn", "naf.example.org",
                   "--tls-suite", suite)
    ks = kdf.ks(bytes.fromhex(tv["f3"]), bytes.fromhex(tv["f4"]))
    # TS 33.220 Annex H.3: NAF_Id = FQDN || 01 00 01 yy zz
    expected = kdf.ks_naf(ks, bytes.fromhex(tv["rand"]), "user@ims.example.org",
                          b"naf.example.org" + bytes.fromhex("01000100a8"))
    assert out == {"ks_naf": expected.hex()}


def test_ks_naf_with_a_tls_suite_equals_the_hex_ua_protocol() -> None:
    tv = SETS[1]
    common = ("crypto", "ks-naf", "--ck", tv["f3"], "--ik", tv["f4"], "--rand", tv["rand"],
              "--impi", "u@h", "--naf-fqdn", "naf.example.org")
    assert (gba_json(*common, "--tls-suite", "DHE-PSK-AES128-GCM-SHA256")
            == gba_json(*common, "--ua-protocol", "01000100aa"))


KS_NAF_BASE = ("crypto", "ks-naf", "--ck", "00" * 16, "--ik", "00" * 16, "--rand", "00" * 16,
               "--impi", "u@h", "--naf-fqdn", "naf.example.org")


@pytest.mark.parametrize("extra", [
    ("--tls-suite", "PSK-NO-SUCH-SUITE"),
    ("--tls-suite", "0x0A8"),
    ("--tls-suite", "00A8", "--ua-protocol", "01000100a8"),
    (),
])
def test_ks_naf_with_a_bad_or_missing_suite_exits_2_with_one_line(extra: tuple[str, ...]
                                                                  ) -> None:
    proc = gba(*KS_NAF_BASE, *extra)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args", [
    ("ue", "naf-key", "--bsf-url", "http://127.0.0.1:9/", "--impi", "u@h", "--k", "00" * 16,
     "--opc", "00" * 16, "--naf-fqdn", "naf.example.org", "--tls-suite", "nonsense"),
    ("ue", "fetch-psk", "--host", "127.0.0.1", "--port", "9", "--naf-fqdn", "naf.example.org",
     "--bsf-url", "http://127.0.0.1:9/", "--impi", "u@h", "--k", "00" * 16, "--opc", "00" * 16,
     "--tls-suite", "0x002F"),
])
def test_ue_commands_refuse_a_bad_suite_before_any_network(args: tuple[str, ...],
                                                           tmp_path: Any) -> None:
    proc = gba(*args, "--state", str(tmp_path / "ue.json"))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "ue.json").exists()
