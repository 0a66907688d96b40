"""Child processes of the local launchers: start, stop, kill; nothing outlives its owner."""

from __future__ import annotations

import atexit
import contextlib
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import BinaryIO

from ..errors import ServerStartError, redact_url

STOP_TIMEOUT = 10.0
"""Seconds a process has to exit after SIGTERM before it is killed."""

_live: set[ServerProcess] = set()


_PORTS_BELOW = 32768
"""Linux hands out client ports from 32768 up (``ip_local_port_range``); ours come from below."""
_PORT_SPAN = 12000
_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _PORTS_BELOW


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, for a server to bind.

    It is picked at random below the kernel's range of client ports, so that a
    connection some other code opens meanwhile cannot take it before the
    server binds it; this process never hands out the same port twice. A
    server that still loses the race fails with "address already in use",
    which the launchers answer by trying fresh ports.
    """
    top = _ephemeral_floor()
    with _ports_lock:
        for _ in range(200):
            port = random.randrange(max(1024, top - _PORT_SPAN), top)
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port
    raise ServerStartError(f"no free TCP port found on 127.0.0.1 below {top}")


LOG_MODE = 0o600
"""Mode of the logs the launchers write: the server logs its configuration, NATS URLs included."""


def open_log(path: Path, *, append: bool = True) -> BinaryIO:
    """Open a log file for writing, created readable by its owner only (:data:`LOG_MODE`)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, LOG_MODE), "ab" if append else "wb")


def log_tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file (passwords in URLs hidden), or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return redact_url("\n".join(text.splitlines()[-lines:]))


class _Spawner:
    """Starts every server process from one long-lived thread, tied to our life.

    The child asks the kernel (``setpriv --pdeathsig TERM``, util-linux) for
    SIGTERM when its parent goes, so a crashed test run or kernel, even one
    killed by SIGKILL, leaves no server behind. Linux sends that signal when
    the *thread* that forked the child ends, so all forks happen on this
    thread, which lives as long as the process. Nothing runs in Python between
    fork and exec (no ``preexec_fn``), which keeps gRPC's fork handlers out.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue[tuple[Callable[[], subprocess.Popen[bytes]], Future[subprocess.Popen[bytes]]]]
        self._jobs = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._prefix: list[str] | None = None

    def prefix(self) -> list[str]:
        """The argv prefix that makes a child die with us (empty where setpriv is missing)."""
        if self._prefix is None:
            setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
            self._prefix = [setpriv, "--pdeathsig", "TERM", "--"] if setpriv else []
        return self._prefix

    def popen(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        """Run ``start`` (which calls Popen) on the spawner thread and return its process."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="liftbridge-nb-spawner", daemon=True)
                self._thread.start()
        done: Future[subprocess.Popen[bytes]] = Future()
        self._jobs.put((start, done))
        return done.result()

    def _run(self) -> None:
        while True:
            start, done = self._jobs.get()
            try:
                done.set_result(start())
            except BaseException as exc:  # handed to the caller's thread
                done.set_exception(exc)


_spawner = _Spawner()


class ServerProcess:
    """One server process whose output goes to a log file; restartable."""

    def __init__(self, name: str, argv: Sequence[str], log_path: Path) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """Process id while running."""
        return self._proc.pid if self.running and self._proc else None

    @property
    def running(self) -> bool:
        """Whether the process was started and has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the process (appending to its log)."""
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open_log(self.log_path) as log:
            log.write(f"--- liftbridge-nb: starting {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            argv = [*_spawner.prefix(), *self.argv]
            self._proc = _spawner.popen(
                lambda: subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it cleanly
                )
            )
        _live.add(self)

    def check_alive(self) -> None:
        """Raise :class:`ServerStartError` with the log's tail if the process has exited."""
        if self._proc is not None and self._proc.poll() is not None:
            raise ServerStartError(
                f"{self.name} exited with code {self._proc.returncode} while starting.\n"
                f"Last lines of {self.log_path}:\n{log_tail(self.log_path)}",
                self.log_path,
            )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
                proc.send_signal(signal.SIGCONT)  # a paused process handles SIGTERM once continued
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        _live.discard(self)

    def pause(self) -> None:
        """SIGSTOP the process: it hangs, its connections stay open (a broker that stopped answering)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a process :meth:`pause` stopped."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the process and reap it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
        _live.discard(self)


@atexit.register
def _stop_all() -> None:
    for proc in list(_live):
        proc.stop(timeout=2.0)


def wait_port(port: int, *, timeout: float, check_alive: Callable[[], None], what: str) -> None:
    """Poll until something accepts TCP connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while True:
        check_alive()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() >= deadline:
            raise ServerStartError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:g} s")
        time.sleep(0.05)
