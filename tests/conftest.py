"""Fixtures: real Liftbridge servers (never stand-ins) and unique stream names.

``LIFTBRIDGE_TEST_BACKEND`` picks what the ``server_address`` fixture points at:
``local`` (default; a LocalServer for the session), ``container`` (a
LiftbridgeContainer on the local Docker engine) or ``HOST:PORT`` (a server you
run). A test that needs a server and gets none fails; nothing here skips.
"""

from __future__ import annotations

import ipaddress
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from liftbridge_nb import Lift
from liftbridge_nb.server import LiftbridgeContainer, LocalCluster, LocalServer, ServerOptions, build_image
from tests.kernel import Kernel


def _backend() -> str:
    return os.environ.get("LIFTBRIDGE_TEST_BACKEND", "local")


@pytest.fixture(scope="session")
def local_server() -> Iterator[LocalServer]:
    """A single real node with embedded NATS, shared by the session."""
    with LocalServer() as server:
        yield server


@pytest.fixture(scope="session")
def container() -> Iterator[LiftbridgeContainer]:
    """A real server in Docker: the image built from the local binary, on the host network.

    Needs a Docker engine (``make test`` starts one; see scripts/docker-engine.sh).
    """
    image = os.environ.get("LIFTBRIDGE_TEST_IMAGE") or build_image()
    with LiftbridgeContainer(image, host_network=True) as server:
        yield server


@pytest.fixture(scope="session")
def server_address(request: pytest.FixtureRequest) -> str:
    """The address of the server chosen by ``LIFTBRIDGE_TEST_BACKEND``."""
    backend = _backend()
    if backend == "local":
        return str(request.getfixturevalue("local_server").address)
    if backend == "container":
        return str(request.getfixturevalue("container").address)
    if ":" not in backend:
        raise pytest.UsageError(
            f"LIFTBRIDGE_TEST_BACKEND must be local, container or HOST:PORT, not {backend!r}"
        )
    return backend


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A real local 3-node cluster (one per test module: tests kill its nodes)."""
    with LocalCluster(3) as c:
        yield c


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """A real Jupyter kernel (ipykernel, its own process) for one test module, started in a scratch folder."""
    k = Kernel(tmp_path_factory.mktemp("kernel"))
    yield k
    k.close()


@pytest.fixture
def stream_name(request: pytest.FixtureRequest) -> str:
    """A stream name unique to this test (and run)."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    usage: x509.ObjectIdentifier | None = None,
    names: Sequence[x509.GeneralName] = (),
) -> x509.Certificate:
    """A certificate valid for two days: a CA's own (``issuer=None``) or a leaf signed by ``issuer``."""
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )  # fmt: skip
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Certificates and keys (PEM files) for TLS tests, made with ``cryptography``.

    ``ca``: the test CA. ``server``: signed by it, for IP 127.0.0.1 and DNS localhost.
    ``client``: a client certificate signed by it. ``rogue_ca``: another CA with the
    test CA's very name, and ``rogue_client``: a client certificate it signed.
    Keys are ``<name>_key`` (PKCS#8, unencrypted, mode 0600), certificates ``<name>_crt``.
    """
    d = tmp_path_factory.mktemp("tls")
    out: dict[str, Path] = {}

    def save(name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> None:
        crt, pem_key = d / f"{name}.crt", d / f"{name}.key"
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        pem_key.touch(mode=0o600)
        pem_key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        out[f"{name}_crt"], out[f"{name}_key"] = crt, pem_key

    for prefix in ("", "rogue_"):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _certificate("lbnb-test-ca", ca_key, None, ca_key)
        save(f"{prefix}ca", ca, ca_key)
        client_key = ec.generate_private_key(ec.SECP256R1())
        client = _certificate(
            f"{prefix}client", client_key, ca, ca_key,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH, names=[x509.DNSName(f"{prefix.replace('_', '-')}client")],
        )  # fmt: skip
        save(f"{prefix}client", client, client_key)
        if not prefix:
            server_key = ec.generate_private_key(ec.SECP256R1())
            names = [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            server = _certificate(
                "server", server_key, ca, ca_key, usage=ExtendedKeyUsageOID.SERVER_AUTH, names=names
            )
            save("server", server, server_key)
    return out


@pytest.fixture
def local_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[timezone]:
    """This process's local time made UTC+05:30, so that a naive time read as UTC would show."""
    monkeypatch.setenv("TZ", "IST-5:30")
    time.tzset()
    yield timezone(timedelta(hours=5, minutes=30))
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def client(server_address: str) -> Iterator[Lift]:
    """A client of the configured backend's server."""
    with Lift(server_address) as c:
        yield c


@pytest.fixture(scope="module")
def cursors_server() -> Iterator[LocalServer]:
    """A single node with a 2-partition cursors stream (cursors and consumer groups)."""
    with LocalServer(ServerOptions(cursors_partitions=2)) as server:
        yield server


@pytest.fixture(scope="session")
def mutual_tls(tls_files: dict[str, Path]) -> ServerOptions:
    """A server that requires client certificates from the test CA (its probe presents the client's)."""
    return ServerOptions(
        tls_cert=tls_files["server_crt"],
        tls_key=tls_files["server_key"],
        tls_client_ca=tls_files["ca_crt"],
        tls_ca=tls_files["ca_crt"],
        tls_client_cert=tls_files["client_crt"],
        tls_client_key=tls_files["client_key"],
    )


@pytest.fixture(scope="module")
def tls_server(tls_files: dict[str, Path]) -> Iterator[LocalServer]:
    """A single node speaking TLS with the test CA's server certificate (no client certificates)."""
    options = ServerOptions(
        tls_cert=tls_files["server_crt"], tls_key=tls_files["server_key"], tls_ca=tls_files["ca_crt"]
    )
    with LocalServer(options) as server:
        yield server


@pytest.fixture(scope="module")
def mtls_server(mutual_tls: ServerOptions) -> Iterator[LocalServer]:
    """A single node that requires client certificates signed by the test CA."""
    with LocalServer(mutual_tls) as server:
        yield server
