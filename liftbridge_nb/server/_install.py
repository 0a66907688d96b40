"""Find, or build with Go, the Liftbridge server binary (and the NATS server a cluster shares)."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import ServerBuildError, ServerNotInstalledError

SERVER_VERSION = "v1.9.0"
"""The Liftbridge release the local launchers run: :func:`build_server` builds this tag with Go."""
SERVER_MODULE = "github.com/liftbridge-io/liftbridge"
# The NATS server a LocalCluster shares: built from the version Liftbridge itself embeds.
NATS_PACKAGE = "github.com/nats-io/nats-server/v2"

_HOW_TO_INSTALL = (
    "No Liftbridge server binary was found and Go is not installed to build one.\n"
    "Do one of:\n"
    "  - install Go 1.21 or newer (https://go.dev/doc/install, or `apt-get install golang`), then retry:\n"
    f"    liftbridge-nb builds {SERVER_MODULE}@{SERVER_VERSION} once and caches it;\n"
    "  - point LIFTBRIDGE_BIN at an existing liftbridge binary;\n"
    "  - use Docker instead: liftbridge_nb.server.LiftbridgeContainer."
)


@dataclass(frozen=True)
class ServerBinaries:
    """Paths of the executables the local launchers run."""

    liftbridge: Path
    nats_server: Path | None


def cache_dir() -> Path:
    """Where built binaries are kept: ``$LIFTBRIDGE_NB_CACHE``, else ``~/.cache/liftbridge-nb``."""
    env = os.environ.get("LIFTBRIDGE_NB_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "liftbridge-nb"


def _bin_dir() -> Path:
    return cache_dir() / "bin" / SERVER_VERSION


def _executable(path: Path | str, what: str) -> Path:
    p = Path(path).expanduser()
    if not (p.is_file() and os.access(p, os.X_OK)):
        raise ServerNotInstalledError(f"{what} is not an executable file: {p}")
    return p


def find_server(binary: Path | str | None = None, *, build: bool = True) -> ServerBinaries:
    """Return the Liftbridge binary to run, building it with Go into the cache on first use.

    Order: ``binary``, then ``$LIFTBRIDGE_BIN``, then the cache, then a Go build
    (when ``build`` is true). The NATS server used by clusters is looked up
    the same way (``$LIFTBRIDGE_NATS_BIN``, the cache, ``nats-server`` on PATH);
    it is ``None`` when none exists and nothing was built.
    """
    cached = _bin_dir()
    explicit = binary or os.environ.get("LIFTBRIDGE_BIN")
    nats_env = os.environ.get("LIFTBRIDGE_NATS_BIN")
    if explicit:
        lift = _executable(explicit, "LIFTBRIDGE_BIN" if binary is None else "binary")
    elif (cached / "liftbridge").is_file():
        lift = cached / "liftbridge"
    elif build:
        build_server()
        lift = cached / "liftbridge"
    else:
        raise ServerNotInstalledError(_HOW_TO_INSTALL)
    if nats_env:
        nats: Path | None = _executable(nats_env, "LIFTBRIDGE_NATS_BIN")
    elif (cached / "nats-server").is_file():
        nats = cached / "nats-server"
    else:
        found = shutil.which("nats-server")
        nats = Path(found) if found else None
    return ServerBinaries(lift, nats)


def require_nats_server(binaries: ServerBinaries) -> Path:
    """The NATS server binary, building it (with Liftbridge) when it is missing."""
    if binaries.nats_server is not None:
        return binaries.nats_server
    build_server()
    return _bin_dir() / "nats-server"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_server(*, force: bool = False) -> Path:
    """Build Liftbridge and its NATS server with Go into the cache; return the bin directory.

    ``go install github.com/liftbridge-io/liftbridge@v1.9.0`` is run inside a
    throwaway module that requires that version: a module context lets the
    same command build the matching NATS server, and does not depend on the
    module proxy serving the project's version list (``go install pkg@version``
    reads it for deprecation notices, and some proxies refuse it). Binaries are
    static (``CGO_ENABLED=0``), so they also run in a ``FROM scratch`` image.
    """
    go = shutil.which("go")
    if go is None:
        raise ServerNotInstalledError(_HOW_TO_INSTALL)
    bin_dir = _bin_dir()
    root = cache_dir()
    with _locked(root / "build.lock"):
        if not force and (bin_dir / "liftbridge").is_file() and (bin_dir / "nats-server").is_file():
            return bin_dir
        work = root / "build"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        (work / "go.mod").write_text(
            f"module liftbridge-nb.local/serverbuild\n\ngo 1.21\n\nrequire {SERVER_MODULE} {SERVER_VERSION}\n"
        )
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOBIN": str(work / "bin"),
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=mod -buildvcs=false",
        }
        log_path = root / "build.log"
        print(
            f"liftbridge-nb: building Liftbridge {SERVER_VERSION} with {go} (first use only; "
            f"a few minutes; log: {log_path})",
            file=sys.stderr,
            flush=True,
        )
        steps = [
            [go, "version"],
            [go, "get", f"{SERVER_MODULE}@{SERVER_VERSION}"],
            [go, "install", "-trimpath", "-ldflags=-s -w", SERVER_MODULE, NATS_PACKAGE],
        ]
        with log_path.open("w") as log:
            for argv in steps:
                log.write(f"$ {' '.join(argv)}\n")
                log.flush()
                code = subprocess.run(
                    argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                ).returncode
                if code != 0:
                    tail = "\n".join(log_path.read_text().splitlines()[-15:])
                    raise ServerBuildError(
                        f"building Liftbridge {SERVER_VERSION} failed: `{' '.join(argv)}` exited {code}.\n"
                        f"Last lines of {log_path}:\n{tail}",
                        log_path,
                    )
        bin_dir.mkdir(parents=True, exist_ok=True)
        for name in ("liftbridge", "nats-server"):
            (work / "bin" / name).replace(bin_dir / name)
        shutil.rmtree(work, ignore_errors=True)
    return bin_dir
