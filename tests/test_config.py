"""Client settings: TLSConfig shows paths but never PEM contents, and names a file it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from liftbridge_nb import Lift, TLSConfig
from liftbridge_nb.aio import AsyncLift


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
