"""Fixtures: real Liftbridge servers (never stand-ins) and unique stream names.

``LIFTBRIDGE_TEST_BACKEND`` picks what the ``server_address`` fixture points at:
``local`` (default; a LocalServer for the session), ``container`` (a
LiftbridgeContainer on the local Docker engine) or ``HOST:PORT`` (a server you
run). A test that needs a server and gets none fails; nothing here skips.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from liftbridge_nb import Lift
from liftbridge_nb.server import LiftbridgeContainer, LocalCluster, LocalServer, ServerOptions, build_image


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


@pytest.fixture
def stream_name(request: pytest.FixtureRequest) -> str:
    """A stream name unique to this test (and run)."""
    base = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:40]
    return f"t-{base}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl."""
    d = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl(
        "req", "-x509", *key, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=lbnb-test-ca"
    )
    for name, san in (("server", "IP:127.0.0.1,DNS:localhost"), ("client", "DNS:client")):
        openssl("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(f"subjectAltName={san}\n")
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext",
        )  # fmt: skip
    return {p.stem + p.suffix.replace(".", "_"): p for p in d.iterdir()}


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
