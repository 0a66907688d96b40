"""Client settings: checked numbers and TLS material; TLSConfig shows paths, never PEM contents."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from liftbridge_nb import Backoff, ClientOptions, Lift, TLSConfig
from liftbridge_nb.aio import AsyncLift
from liftbridge_nb.config import DEFAULT_ADDRESS, default_address
from liftbridge_nb.server import LocalServer


def test_tls_repr_shows_paths_and_only_the_size_of_pem(tls_files: dict[str, Path]) -> None:
    key = tls_files["client_key"].read_bytes()
    by_path = TLSConfig(
        ca=tls_files["ca_crt"], cert=str(tls_files["client_crt"]), key=tls_files["client_key"]
    )
    assert repr(by_path) == (
        f"TLSConfig(ca={str(tls_files['ca_crt'])!r}, cert={str(tls_files['client_crt'])!r}, "
        f"key={str(tls_files['client_key'])!r}, server_name=None)"
    )
    in_memory = TLSConfig(ca=tls_files["ca_crt"], cert=b"x" * 12, key=key, server_name="localhost")
    assert repr(in_memory) == (
        f"TLSConfig(ca={str(tls_files['ca_crt'])!r}, cert=<12 bytes of PEM>, "
        f"key=<{len(key)} bytes of PEM>, server_name='localhost')"
    )
    as_text = TLSConfig(cert=tls_files["client_crt"].read_bytes(), key=key.decode())  # PEM text, no file name
    assert f"key=<{len(key)} bytes of PEM>" in repr(as_text) and str(as_text) == repr(as_text)
    assert as_text.credentials() is not None


def test_unreadable_tls_files_raise_value_errors_naming_them(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "client.key"
    with pytest.raises(ValueError, match=rf"cannot read the TLS key file '{missing}': No such file"):
        TLSConfig(cert=b"c", key=missing).credentials()
    with pytest.raises(ValueError, match=rf"TLS ca file '{tmp_path}': Is a directory"):
        Lift("127.0.0.1:1", tls=TLSConfig(ca=tmp_path))
    with pytest.raises(ValueError, match=rf"TLS cert file '{missing.with_suffix('.crt')}'"):
        AsyncLift("127.0.0.1:1", tls=TLSConfig(cert=missing.with_suffix(".crt"), key=b"k"))
    with pytest.raises(TypeError, match="TLSConfig key takes a path or PEM bytes, not int"):
        TLSConfig(cert=b"c", key=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cert and key go together"):
        TLSConfig(key=b"k")


def _client_certificate(
    tls_files: dict[str, Path], d: Path, valid: tuple[timedelta, timedelta], *, password: bytes | None = None
) -> tuple[Path, Path]:
    """A client certificate signed by the test CA, valid from now + valid[0] to now + valid[1]."""
    ca_key = serialization.load_pem_private_key(tls_files["ca_key"].read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(tls_files["ca_crt"].read_bytes())
    key, now = ec.generate_private_key(ec.SECP256R1()), datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "client")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid[0])
        .not_valid_after(now + valid[1])
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    crt, pem_key = d / "client.crt", d / "client.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    pem_key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    )
    return crt, pem_key


def test_tls_material_is_checked_before_connecting(
    tls_files: dict[str, Path], mtls_server: LocalServer, tmp_path: Path
) -> None:
    """What gRPC only reports as "Failed to create security handshaker" is refused, saying what is wrong."""
    ca, crt, key = tls_files["ca_crt"], tls_files["client_crt"], tls_files["client_key"]
    dirs = {name: tmp_path / name for name in ("expired", "early", "encrypted")}
    for d in dirs.values():
        d.mkdir()
    expired = _client_certificate(tls_files, dirs["expired"], (timedelta(days=-10), timedelta(days=-1)))
    early = _client_certificate(tls_files, dirs["early"], (timedelta(days=1), timedelta(days=10)))
    encrypted = _client_certificate(
        tls_files, dirs["encrypted"], (timedelta(days=-1), timedelta(days=1)), password=b"pw"
    )
    cases = {
        "the TLS ca (PEM given) holds no PEM certificate": TLSConfig(ca=b"garbage", cert=crt, key=key),
        f"the TLS ca file '{key}' holds no PEM certificate": TLSConfig(ca=key, cert=crt, key=key),
        f"the TLS key file '{crt}' holds a certificate: pass the client's private key": TLSConfig(
            ca=ca, cert=crt, key=crt
        ),
        "the TLS key (PEM given) holds no PEM private key": TLSConfig(ca=ca, cert=crt, key=b"k"),
        f"the TLS key file '{tls_files['rogue_client_key']}' does not belong to the TLS cert file '{crt}'": (
            TLSConfig(ca=ca, cert=crt, key=tls_files["rogue_client_key"])
        ),
        "the TLS cert (PEM given) holds no PEM certificate": TLSConfig(ca=ca, cert=b"c", key=key),
        f"the TLS cert file '{expired[0]}' expired on ": TLSConfig(ca=ca, cert=expired[0], key=expired[1]),
        f"the TLS cert file '{early[0]}' is not valid before": TLSConfig(ca=ca, cert=early[0], key=early[1]),
        f"the TLS key file '{encrypted[1]}' is encrypted": TLSConfig(
            ca=ca, cert=encrypted[0], key=encrypted[1]
        ),
    }
    for words, tls in cases.items():
        with pytest.raises(ValueError, match=re.escape(words)):
            Lift(mtls_server.address, tls=tls)
        with pytest.raises(ValueError, match=re.escape(words)):
            AsyncLift(mtls_server.address, tls=tls)
    for good in (
        TLSConfig(ca=ca, cert=crt, key=key),
        TLSConfig(ca=ca.read_bytes(), cert=crt.read_bytes(), key=key.read_bytes()),
        TLSConfig(ca="# Société\n".encode() + ca.read_bytes(), cert=crt, key=key),  # a bundle's comment
    ):
        with Lift(mtls_server.address, tls=good) as client:
            assert client.fetch_metadata().brokers


def test_client_options_and_backoff_are_checked() -> None:
    assert ClientOptions(timeout=1, resubscribe_wait=0, keepalive=1).resubscribe_wait == 0
    assert Backoff(initial=0.5, maximum=0.5, multiplier=1, jitter=0).delay(3) == 0.5
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"timeout": True}, TypeError, "timeout takes a number of seconds, not bool True"),
        ({"ack_timeout": "5"}, TypeError, "ack_timeout takes a number of seconds, not str '5'"),
        ({"ack_timeout": float("inf")}, ValueError, "ack_timeout must be > 0 and at most 604800 seconds"),
        ({"resubscribe_wait": -5}, ValueError, "resubscribe_wait must be >= 0"),
        ({"keepalive": 0}, ValueError, "keepalive must be > 0"),
        ({"reconnect_backoff": 0.0001}, ValueError, "reconnect_backoff must be at least 0.001 s"),
        ({"retries": 0}, ValueError, "retries must be from 1 to 1000, not 0"),
        ({"max_conns_per_broker": 2.0}, TypeError, "max_conns_per_broker takes an int, not float"),
        ({"max_message_bytes": 2**31}, ValueError, "max_message_bytes must be from 1048576 to 2147483647"),
        ({"nats": 4222}, TypeError, "nats takes an address"),
    ]
    for kwargs, error, words in cases:
        with pytest.raises(error, match=re.escape(words)):
            ClientOptions(**kwargs)
    backoffs: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"initial": 0}, ValueError, "Backoff initial must be > 0"),
        ({"multiplier": 0.5}, ValueError, "Backoff multiplier must be from 1 to 100"),
        ({"jitter": -0.1}, ValueError, "Backoff jitter must be from 0 to 1"),
        ({"jitter": "0.1"}, TypeError, "Backoff jitter takes a number, not str"),
    ]
    for kwargs, error, words in backoffs:
        with pytest.raises(error, match=re.escape(words)):
            Backoff(**kwargs)


def test_default_address_is_one_lookup(
    monkeypatch: pytest.MonkeyPatch, server_address: str, stream_name: str
) -> None:
    """``default_address``: the argument, else $LIFTBRIDGE_ADDRESS, else localhost:9292; read_stream
    and publish_dataframe without a client or an address go through it."""
    import pandas as pd

    from liftbridge_nb import Stream
    from liftbridge_nb.analysis import publish_dataframe
    from liftbridge_nb.frames import read_stream

    monkeypatch.delenv("LIFTBRIDGE_ADDRESS", raising=False)
    assert default_address() == DEFAULT_ADDRESS == "localhost:9292"
    monkeypatch.setenv("LIFTBRIDGE_ADDRESS", server_address)
    assert default_address() == server_address and default_address("given:1") == "given:1"
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
    acks = publish_dataframe(pd.DataFrame({"v": ["a", "b"]}), stream_name, value="v", partition=0)
    assert len(acks) == 2
    assert list(read_stream(stream_name, progress=False)["value"]) == ["a", "b"]
