"""ServerProcess: log capture, crash reports, SIGTERM-then-SIGKILL shutdown."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from liftbridge_nb.errors import ServerStartError
from liftbridge_nb.server._process import ServerProcess, free_port, wait_port
from tests.polling import process_gone, wait_for


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    proc = ServerProcess(
        "stubborn", ["sh", "-c", "trap '' TERM; echo started; exec sleep 60"], tmp_path / "p.log"
    )
    proc.start()
    pid = proc.pid
    assert pid is not None
    wait_for(lambda: "started" in (tmp_path / "p.log").read_text() or None, timeout=10, what="the trap")
    proc.stop(timeout=0.5)
    assert process_gone(pid) and not proc.running


def test_a_crash_is_reported_with_the_log(tmp_path: Path) -> None:
    proc = ServerProcess("crasher", ["sh", "-c", "echo 'bad config' >&2; exit 3"], tmp_path / "c.log")
    proc.start()
    with pytest.raises(ServerStartError, match="exited with code 3") as info:
        wait_port(free_port(), timeout=10, check_alive=proc.check_alive, what="crasher")
    assert "bad config" in str(info.value) and info.value.log_path == tmp_path / "c.log"


def test_a_process_outlives_the_thread_that_started_it(tmp_path: Path) -> None:
    # Linux sends the parent-death signal when the forking *thread* ends; all forks
    # happen on one long-lived thread, so a server a short-lived thread restarted lives on.
    proc = ServerProcess("sleeper", ["sh", "-c", "echo started; exec sleep 60"], tmp_path / "s.log")
    starter = threading.Thread(target=proc.start)
    starter.start()
    starter.join()
    try:
        wait_for(lambda: "started" in (tmp_path / "s.log").read_text() or None, timeout=10, what="the start")
        assert proc.running
    finally:
        proc.stop()


def test_free_ports_come_from_below_the_client_port_range() -> None:
    floor = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50 and all(1024 <= p < floor for p in ports)
