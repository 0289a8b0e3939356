"""Small static simple indexes on loopback, plain or https with a test CA, for the fence.

``tree(root, wheels)`` writes PEP 503 pages (``/simple/NAME/``, files under ``/files/``);
``serve(root, ...)`` answers them from a thread, redirecting a name it does not hold to a
fallback index with a 303 as pypiserver and ``pipwrap serve`` do.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import http.server
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def tree(root: Path, wheels: list[Path], *, wrong_hash: bool = False) -> Path:
    (root / "files").mkdir(parents=True, exist_ok=True)
    projects: dict[str, list[str]] = {}
    for wheel in wheels:
        data = wheel.read_bytes()
        (root / "files" / wheel.name).write_bytes(data)
        digest = hashlib.sha256(data + (b"x" if wrong_hash else b"")).hexdigest()
        name = normalize(wheel.name.split("-")[0])
        projects.setdefault(name, []).append(
            f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a><br>')
    for name, links in projects.items():
        page = root / "simple" / name / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")
    (root / "simple").mkdir(exist_ok=True)
    (root / "simple" / "index.html").write_text(
        "".join(f'<a href="{n}/">{n}</a>\n' for n in sorted(projects)))
    return root


@dataclass
class TestCA:
    cert: Path
    key: object
    certificate: object

    def server_context(self, directory: Path) -> ssl.SSLContext:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(self.certificate.subject)  # type: ignore[attr-defined]
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                self.certificate.public_key()), critical=False)  # type: ignore[attr-defined]
            .sign(self.key, hashes.SHA256())  # type: ignore[arg-type]
        )
        directory.mkdir(parents=True, exist_ok=True)
        pem = directory / "server.pem"
        pem.write_bytes(
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
            + cert.public_bytes(serialization.Encoding.PEM))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(pem)
        return context


def make_ca(directory: Path) -> TestCA:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pipwrap test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "test-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return TestCA(path, key, cert)


class _Handler(http.server.SimpleHTTPRequestHandler):
    fallback: str | None = None
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        match = re.fullmatch(r"/simple/([^/]+)/", self.path)
        if match and self.fallback and not Path(self.translate_path(self.path)).is_dir():
            self.send_response(303)
            self.send_header("Location", f"{self.fallback}{match.group(1)}/")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()


@dataclass
class Server:
    url: str
    port: int
    server: http.server.ThreadingHTTPServer


@contextlib.contextmanager
def serve(root: Path, *, fallback: str | None = None,
          context: ssl.SSLContext | None = None) -> Iterator[Server]:
    handler = type("Handler", (_Handler,), {"fallback": fallback})

    def factory(*args: object) -> http.server.BaseHTTPRequestHandler:
        return handler(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)  # type: ignore[arg-type]
    server.daemon_threads = True
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    scheme = "https" if context is not None else "http"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"{scheme}://127.0.0.1:{port}/simple/", port, server)
    finally:
        server.shutdown()
        server.server_close()
