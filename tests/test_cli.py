"""The liftbridge-nb console command."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from liftbridge_nb._cli import main
from tests import stub_path


@pytest.mark.parametrize(
    ("stop", "ignore_int"),
    [(signal.SIGINT, False), (signal.SIGTERM, True)],
    ids=["ctrl-c", "sigterm-in-a-background-job"],  # where SIGINT is ignored, as `cmd &` in a script does
)
def test_server_runs_until_ctrl_c_or_sigterm(
    stream_name: str, stop: signal.Signals, ignore_int: bool
) -> None:
    command = [sys.executable, "-m", "liftbridge_nb._cli", "server"]
    proc = subprocess.Popen(
        ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command] if ignore_int else command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("Press Ctrl-C"):
            break
    ready = next(line for line in lines if line.startswith("Liftbridge is ready. Connect to: "))
    address = ready.rsplit(" ", 1)[1].strip()
    assert stub_path.roundtrip(address, stream_name, count=2) == [b"message 0", b"message 1"]
    proc.send_signal(stop)
    rest = proc.stdout.read()
    proc.stdout.close()
    assert proc.wait(timeout=30) == 0
    assert "Stopped; data removed." in rest


def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["server", "--nodes", "0"])
    assert info.value.code == 2
    assert "--nodes must be at least 1" in capsys.readouterr().err
