"""The fence's own certificate authority, and the short-lived leaf certificates it signs.

One CA per user, created on first need in the user's data directory (key mode 0600 in a
0700 directory). Only wrapped commands trust it: their CA variables name a bundle that
holds this CA and nothing else. Leaves are made per host in memory by the agent, valid for
a day, and cached for its lifetime (a restart makes new ones). ``cryptography`` is
imported only here, and only when a key or a certificate is made.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import ipaddress
import os
import ssl
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, cast

CA_KEY = "ca-key.pem"
CA_CERT = "ca.pem"
LEAF_DAYS = 1


@dataclass(frozen=True)
class CAFiles:
    directory: str

    @property
    def key(self) -> str:
        return os.path.join(self.directory, CA_KEY)

    @property
    def cert(self) -> str:
        """The bundle wrapped commands trust: the CA's certificate alone."""
        return os.path.join(self.directory, CA_CERT)

    @property
    def cert_dir(self) -> str:
        """For SSL_CERT_DIR: a directory that holds nothing but the CA's certificate."""
        return os.path.join(self.directory, "certs")


def _private_dir(path: str) -> None:
    os.makedirs(path, mode=0o700, exist_ok=True)
    st = os.stat(path)
    if st.st_uid != os.getuid():
        raise PermissionError(f"{path} is not yours")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)


def ensure_ca(directory: str) -> CAFiles:
    """Create the CA in ``directory`` unless it is there; return its files."""
    files = CAFiles(directory)
    if os.path.exists(files.cert) and os.path.exists(files.key) and os.path.isdir(
            files.cert_dir):
        return files
    _private_dir(directory)
    with open(os.path.join(directory, ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (os.path.exists(files.cert) and os.path.exists(files.key)):
            key_pem, cert_pem = _new_ca()
            _write(files.key, key_pem, 0o600)
            _write(files.cert, cert_pem, 0o644)
        _private_dir(files.cert_dir)
        link = os.path.join(files.cert_dir, "pipwrap-fence-ca.pem")
        if not os.path.exists(link):
            with open(files.cert, "rb") as source:
                _write(link, source.read(), 0o644)
    return files


def _write(path: str, data: bytes, mode: int) -> None:
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _new_ca() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    user = os.environ.get("USER") or str(os.getuid())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pipwrap"),
        x509.NameAttribute(NameOID.COMMON_NAME, f"pipwrap fence CA ({user}@{os.uname().nodename})"),
    ])
    now = _now()
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=False, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


class LeafFactory:
    """Server-side TLS contexts, one per host, signed by the CA (made once per host)."""

    def __init__(self, files: CAFiles, workdir: str) -> None:
        self._files = files
        self._workdir = workdir
        self._lock = threading.Lock()
        self._contexts: dict[str, tuple[ssl.SSLContext, datetime.datetime]] = {}
        self._signer: tuple[Any, Any, Any] | None = None

    def context(self, host: str) -> ssl.SSLContext:
        host = host.lower().strip("[]")
        with self._lock:
            found = self._contexts.get(host)
            if found and found[1] > _now() + datetime.timedelta(hours=1):
                return found[0]
            context, expires = self._make(host)
            self._contexts[host] = (context, expires)
            return context

    def _make(self, host: str) -> tuple[ssl.SSLContext, datetime.datetime]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        if self._signer is None:
            with open(self._files.key, "rb") as handle:
                key_data = handle.read()
            with open(self._files.cert, "rb") as handle:
                cert_data = handle.read()
            self._signer = (serialization.load_pem_private_key(key_data, None),
                            x509.load_pem_x509_certificate(cert_data),
                            ec.generate_private_key(ec.SECP256R1()))
        ca_key, ca_cert, leaf_key = cast("tuple[Any, Any, Any]", self._signer)
        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        now = _now()
        expires = now + datetime.timedelta(days=LEAF_DAYS)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(ca_cert.subject)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(expires)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        # The ssl module loads a certificate chain only from files: a private temporary
        # file, removed as soon as it is loaded.
        fd, path = tempfile.mkstemp(dir=self._workdir, prefix="leaf-", suffix=".pem")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(leaf_key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
                handle.write(cert.public_bytes(serialization.Encoding.PEM))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        return context, expires
