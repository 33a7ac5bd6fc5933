"""TLS for Diameter Zn (TS 33.220 §4.3: Zn is protected; RFC 6733 §13.1 TLS on connect).

A lab gets its own small PKI: :func:`make_lab_pki` writes a CA, a BSF server certificate
and a NAF client certificate (P-256, one year), so that each side authenticates the other
and the BSF can check that the certificate names the NAF's Origin-Host.
"""

from __future__ import annotations

import datetime as dt
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gba.errors import ConfigError


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """The BSF side; with *client_ca* every NAF must present a certificate it signed."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(cert, key)
        if client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"Zn TLS files {cert}, {key}, {client_ca}: {exc}") from None
    return ctx


def client_context(ca: Path, cert: Path | None = None, key: Path | None = None
                   ) -> ssl.SSLContext:
    """The NAF side: verify the BSF against *ca*; present *cert* when given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_verify_locations(ca)
        if cert is not None:
            ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"Zn TLS files {ca}, {cert}, {key}: {exc}") from None
    return ctx


def certificate_names(cert: dict[str, object] | None) -> frozenset[str]:
    """The DNS names of a peer certificate as :meth:`ssl.SSLSocket.getpeercert` gives it."""
    if not cert:
        return frozenset()
    names = cert.get("subjectAltName", ())
    if not isinstance(names, tuple):
        return frozenset()
    return frozenset(str(v) for k, v in names if k == "DNS")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate, host: str,
           now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name(host))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


def _write_pair(directory: Path, stem: str, cert: x509.Certificate,
                key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass(frozen=True, slots=True)
class LabPki:
    ca: Path
    bsf_cert: Path
    bsf_key: Path
    naf_cert: Path
    naf_key: Path


def make_lab_pki(directory: Path, bsf_host: str, naf_host: str) -> LabPki:
    """A CA, a BSF server certificate and a NAF client certificate, each naming its host."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (x509.CertificateBuilder().subject_name(_name("gba lab CA"))
               .issuer_name(_name("gba lab CA")).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5))
               .not_valid_after(now + dt.timedelta(days=365))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .sign(ca_key, hashes.SHA256()))
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca_path = directory / "ca.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    bsf_cert, bsf_key = _write_pair(directory, "bsf", *_issue(ca_key, ca_cert, bsf_host, now))
    naf_cert, naf_key = _write_pair(directory, "naf", *_issue(ca_key, ca_cert, naf_host, now))
    return LabPki(ca_path, bsf_cert, bsf_key, naf_cert, naf_key)
