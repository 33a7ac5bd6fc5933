"""TLS for Diameter (TS 33.220 §4.3: Zn is protected; RFC 6733 §13.1 TLS on connect).

A lab gets its own small PKI: :class:`LabCa` makes a CA and a certificate per Diameter
node (P-256, one year), so that each side authenticates the other and a node can check
that a peer's certificate names its Origin-Host. While capture is on, every context
appends its TLS secrets to the capture's key log (:func:`gba.capture.tap.keylog`).
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gba.capture.tap import keylog
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
    return keylog(ctx)


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
    return keylog(ctx)


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
           now: dt.datetime, also: tuple[str, ...] = ()
           ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(n) for n in dict.fromkeys((host, *also))]
    cert = (x509.CertificateBuilder().subject_name(_name(host))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return cert, key


class LabCa:
    """The lab's certificate authority: one CA (``ca.pem`` in *directory*, made on first
    use, its key kept in ``ca-key.pem``), and a certificate per Diameter host that it
    signs, naming the host (RFC 6733 §13: the peer's identity is checked against it)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ca = directory / "ca.pem"
        key_path = directory / "ca-key.pem"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        if self.ca.exists() and key_path.exists():
            self._cert = x509.load_pem_x509_certificate(self.ca.read_bytes())
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), None)
            if not isinstance(loaded, ec.EllipticCurvePrivateKey):
                raise ConfigError(f"{key_path} is not an EC key")
            self._key = loaded
            return
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._cert = (x509.CertificateBuilder().subject_name(_name("gba lab CA"))
                      .issuer_name(_name("gba lab CA")).public_key(self._key.public_key())
                      .serial_number(x509.random_serial_number())
                      .not_valid_before(now - dt.timedelta(minutes=5))
                      .not_valid_after(now + dt.timedelta(days=365))
                      .add_extension(x509.BasicConstraints(ca=True, path_length=0),
                                     critical=True)
                      .sign(self._key, hashes.SHA256()))
        self.ca.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        key_path.touch(mode=0o600)
        key_path.write_bytes(self._key.private_bytes(serialization.Encoding.PEM,
                                                     serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))

    def issue(self, host: str, cert_path: Path, key_path: Path, also: tuple[str, ...] = ()
              ) -> None:
        """A certificate for *host* (and the names *also*, e.g. a NAF's FQDN for HTTPS;
        server and client use) and its key, owner-only."""
        cert, key = _issue(self._key, self._cert, host, dt.datetime.now(dt.UTC), also)
        for path in (cert_path, key_path):
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.touch(mode=0o600)
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
