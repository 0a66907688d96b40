"""%lift_read (liftbridge_nb/magics/_read.py): positions, durations, hints in flag form, help."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell

from liftbridge_nb import Lift, Message
from tests import magic_shell
from tests.kernel import Kernel
from tests.magic_shell import one_line_error, run

fresh_shell, ip, lift_kernel = magic_shell.fresh_shell, magic_shell.ip, magic_shell.lift_kernel


def test_read_flags(ip: InteractiveShell, stream_name: str) -> None:
    run(ip, "lift_create", f"{stream_name} --partitions 2")
    run(ip, "lift_publish", f"{stream_name} --lines --partition 1", "a\nb\nc")
    raw, _ = run(
        ip, "lift_read", f"{stream_name} --from 1 --partition 1 --decode bytes --limit 1 --no-progress"
    )
    assert isinstance(raw, pd.DataFrame) and list(raw["value"]) == [b"b"]
    recent, _ = run(ip, "lift_read", f"{stream_name} --from 1h30m --to latest --no-progress")
    assert isinstance(recent, pd.DataFrame) and list(recent["value"]) == ["a", "b", "c"]


@pytest.mark.parametrize(
    "flags", ["--from -5", "--from -2h", "--to -1", "--limit -1", "--limit 0", "--from 1h30"]
)
def test_negative_and_bad_positions_are_one_line(lift_kernel: Kernel, stream_name: str, flags: str) -> None:
    lift_kernel.run(f"%lift_create {stream_name}")
    line = one_line_error(lift_kernel.run(f"%lift_read {stream_name} {flags} --no-progress"))
    flag = flags.split()[0]
    assert line.startswith(f"MagicError: %lift_read: argument {flag}: "), line
    if flag != "--limit":
        assert "1h30m" in line and "10min" in line and "earliest" in line, "the accepted forms are listed"
    else:
        assert "whole number >= 1" in line


def test_hints_are_flags(lift_kernel: Kernel, server_address: str, stream_name: str) -> None:
    """The error of a value that does not decode, and of a start past the end, say the magic's flags."""
    with Lift(server_address) as client:
        lift_kernel.run(f"%lift_create {stream_name}")
        client.publish(Message(stream=stream_name, value=b"\xff\xfe"))
    line = one_line_error(lift_kernel.run(f"%lift_read {stream_name} --decode utf8 --no-progress"))
    assert line.startswith("ErrDecode: %lift_read: cannot decode partition 0 offset 0")
    assert "--errors coerce" in line and "errors=" not in line
    cell = lift_kernel.run(
        f"df = %lift_read {stream_name} --decode utf8 --errors coerce --no-progress\nlen(df)"
    )
    assert cell.status == "ok" and cell.displays[-1]["text/plain"] == "1", cell.shown
    line = one_line_error(lift_kernel.run(f"%lift_read {stream_name} --from 100 --no-progress"))
    assert line.startswith(f"ErrOutOfRange: %lift_read: start offset 100 is past the end of '{stream_name}'")
    assert "--from earliest or latest" in line and "start=" not in line


def test_help_lists_every_flag_and_the_examples(lift_kernel: Kernel) -> None:
    from liftbridge_nb.magics._read import READ

    for code in ("%lift_read --help", "%lift_read -h", "%lift_read?"):
        if code.endswith("?"):  # the pager's text reaches the front end in the reply's payload
            reply = lift_kernel.client.execute_interactive(code, timeout=60, output_hook=lambda _: None)
            assert reply["content"]["status"] == "ok", reply["content"]
            shown = reply["content"]["payload"][0]["data"]["text/plain"]
        else:
            cell = lift_kernel.run(code)
            assert cell.status == "ok" and cell.error is None, cell.shown
            shown = cell.shown
        for action in READ._actions:
            for flag in action.option_strings:
                assert flag in shown, f"{code}: {flag} missing"
            assert action.help and action.help.split("(")[0].strip()[:20] in " ".join(shown.split())
        assert "examples:" in shown and "%lift_read orders --from 2h --decode json --limit 50" in shown
        assert "required" not in shown
