"""Bounded polling for tests: wait for state, never sleep for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for(probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.2) -> T:
    """Call ``probe`` until it returns neither None nor False; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what} (last: {value!r})")
        time.sleep(interval)


def process_gone(pid: int) -> bool:
    """Whether process ``pid`` no longer exists (or is only a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(") ", 1)[-1].startswith("Z")


def listening_addresses(pid: int) -> set[str]:
    """``IP:PORT`` of every IPv4/IPv6 TCP socket the process listens on (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            cols = line.split()
            local, state, inode = cols[1], cols[3], cols[9]
            if state == "0A" and inode in inodes:  # LISTEN
                ip_hex, port_hex = local.split(":")
                raw = bytes.fromhex(ip_hex)
                if len(raw) == 4:
                    ip = ".".join(str(b) for b in raw[::-1])
                else:
                    words = [raw[i : i + 4][::-1] for i in range(0, 16, 4)]
                    ip = "[" + b"".join(words).hex() + "]"
                found.add(f"{ip}:{int(port_hex, 16)}")
    return found
