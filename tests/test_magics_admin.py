"""%lift_create, %lift_delete, %lift_pause, %lift_readonly (liftbridge_nb/magics/_admin.py)."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell

from liftbridge_nb import ErrStreamExists, Lift
from liftbridge_nb.magics import MagicError
from tests import magic_shell
from tests.kernel import Kernel
from tests.magic_shell import one_line_error, run

fresh_shell, ip, lift_kernel = magic_shell.fresh_shell, magic_shell.ip, magic_shell.lift_kernel


def test_create_exist_ok_readonly_pause_delete(
    ip: InteractiveShell, stream_name: str, server_address: str
) -> None:
    _, text = run(
        ip, "lift_create", f"{stream_name} --partitions 2 --retention-max-age 7d --compact --min-isr 1"
    )
    assert text.strip() == f"created stream '{stream_name}' (subject '{stream_name}', 2 partition(s))"
    with pytest.raises(ErrStreamExists, match="stream already exists; choose another name"):
        run(ip, "lift_create", stream_name)
    _, out = run(ip, "lift_create", f"{stream_name} --exist-ok")  # a cell that creates can run again
    assert out.strip() == f"stream {stream_name!r} exists already; kept as it is (--exist-ok)"
    _, text = run(ip, "lift_readonly", f"{stream_name} --partitions 1")
    assert "readonly" in text
    _, text = run(ip, "lift_readonly", f"{stream_name} --partitions 1 --off")
    assert "writable" in text
    _, text = run(ip, "lift_pause", f"{stream_name} --partitions 0 --resume-all")
    assert text.strip() == f"paused '{stream_name}' partitions [0]"
    _, text = run(ip, "lift_delete", stream_name)
    assert text.strip() == f"deleted stream '{stream_name}'"
    with Lift(server_address) as client:
        assert stream_name not in client.fetch_metadata().streams


def test_durations_compound_and_negative(ip: InteractiveShell, lift_kernel: Kernel, stream_name: str) -> None:
    _, text = run(ip, "lift_create", f"{stream_name} --retention-max-age 1h30m --auto-pause-time 10min")
    assert text.startswith(f"created stream '{stream_name}'")
    line = one_line_error(lift_kernel.run(f"%lift_create {stream_name} --retention-max-age -2h"))
    assert line.startswith("MagicError: %lift_create: argument --retention-max-age: '-2h' is negative")
    assert "1h30m" in line and "10min" in line


def test_create_errors_name_the_magic(ip: InteractiveShell, stream_name: str) -> None:
    with pytest.raises(
        MagicError, match=r"^%lift_create --partitions: partitions must be from 1 to 10000, not 0"
    ):
        run(ip, "lift_create", f"{stream_name} --partitions 0")
    with pytest.raises(MagicError, match=r"^%lift_create: .*did you mean --partitions"):
        run(ip, "lift_create", f"{stream_name} --partitoins 3")
