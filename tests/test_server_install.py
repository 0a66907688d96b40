"""Finding and building the Liftbridge binary."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from liftbridge_nb.errors import ServerBuildError, ServerNotInstalledError
from liftbridge_nb.server import SERVER_VERSION, build_server, cache_dir, find_server


def _is_static_elf(path: Path) -> bool:
    """No PT_INTERP program header: the binary needs no dynamic loader (runs FROM scratch)."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2, "a 64-bit ELF"
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    types = [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]
    return 3 not in types


def test_cached_build_is_v1_9_0_and_static() -> None:
    binaries = find_server()
    out = subprocess.run(
        [binaries.liftbridge, "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert SERVER_VERSION in out
    assert _is_static_elf(binaries.liftbridge)
    assert binaries.nats_server is not None and _is_static_elf(binaries.nats_server)


def test_build_into_a_fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTBRIDGE_NB_CACHE", str(tmp_path))
    monkeypatch.delenv("LIFTBRIDGE_BIN", raising=False)
    assert cache_dir() == tmp_path
    bin_dir = build_server()
    assert bin_dir == tmp_path / "bin" / SERVER_VERSION
    assert find_server(build=False).liftbridge == bin_dir / "liftbridge"
    assert not (tmp_path / "build").exists(), "the throwaway module is removed"


def test_liftbridge_bin_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = find_server().liftbridge
    monkeypatch.setenv("LIFTBRIDGE_BIN", str(real))
    monkeypatch.setenv("LIFTBRIDGE_NB_CACHE", str(tmp_path))
    assert find_server(build=False).liftbridge == real
    monkeypatch.setenv("LIFTBRIDGE_BIN", str(tmp_path / "nope"))
    with pytest.raises(ServerNotInstalledError, match="LIFTBRIDGE_BIN is not an executable file"):
        find_server()


def test_no_binary_and_no_go_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFTBRIDGE_NB_CACHE", str(tmp_path))
    monkeypatch.delenv("LIFTBRIDGE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ServerNotInstalledError) as info:
        find_server()
    message = str(info.value)
    assert (
        "Go is not installed" in message and "LIFTBRIDGE_BIN" in message and "LiftbridgeContainer" in message
    )


def test_failed_build_names_the_step_and_the_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A `go` that fails stands in for a toolchain that cannot build the server.
    fake_bin = tmp_path / "fakebin"
    fake_bin.mkdir()
    (fake_bin / "go").write_text("#!/bin/sh\necho 'go: cannot reach the module proxy' >&2\nexit 1\n")
    (fake_bin / "go").chmod(0o755)
    monkeypatch.setenv("LIFTBRIDGE_NB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LIFTBRIDGE_BIN", raising=False)
    monkeypatch.setenv("PATH", str(fake_bin))
    with pytest.raises(ServerBuildError, match="cannot reach the module proxy") as info:
        find_server()
    assert info.value.log_path == tmp_path / "cache" / "build.log"
    assert "exited 1" in str(info.value)
