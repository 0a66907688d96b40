"""The one error policy of every magic (liftbridge_nb/magics/_command.py), in a real kernel.

Every LiftbridgeError shows as one line naming the magic, with its class kept; a bad argument
becomes a MagicError naming the magic and the flag.
"""

from __future__ import annotations

import grpc
import pytest
from IPython.core.interactiveshell import InteractiveShell

from liftbridge_nb import ErrNoSuchStream, Lift, Message, Start, Stop
from liftbridge_nb.magics import MagicError
from liftbridge_nb.magics._command import in_flags
from liftbridge_nb.magics._read import READ
from tests import magic_shell
from tests.kernel import Kernel
from tests.magic_shell import one_line_error, run

fresh_shell, ip, lift_kernel = magic_shell.fresh_shell, magic_shell.ip, magic_shell.lift_kernel


def test_every_error_class_is_one_line_naming_the_magic(
    lift_kernel: Kernel, server_address: str, stream_name: str
) -> None:
    with Lift(server_address) as client:
        lift_kernel.run(f"%lift_create {stream_name}\n%lift_create {stream_name}-ro")
        client.set_stream_readonly(f"{stream_name}-ro")
        client.publish(Message(stream=stream_name, value="x"))
    cases = {
        f"%lift_delete {stream_name}x": (
            f"ErrNoSuchStream: %lift_delete: delete failed on stream '{stream_name}x': stream does not exist",
            f"did you mean '{stream_name}'?",
        ),
        f"%lift_create {stream_name}": (
            "ErrStreamExists: %lift_create: create failed",
            "choose another name",
        ),
        f"%lift_publish {stream_name}-ro x": ("ErrReadonlyPartition: %lift_publish: publish failed", "--off"),
        "%lift_connect 127.0.0.1:1 --alias far --timeout 1": (
            "ErrConnection: %lift_connect: ",
            "tried 127.0.0.1:1",
        ),
        f"%lift_read {stream_name} --partition 5": (
            "ErrNoSuchPartition: %lift_read: no partition 5",
            "0 to 0",
        ),
        f"%lift_tail {stream_name} --window 0": (
            "MagicError: %lift_tail --window: window must be positive",
            "",
        ),
        f"%lift_create {stream_name} --partitoins 3": (
            "MagicError: %lift_create: unrecognized arguments: --partitoins",
            "did you mean --partitions?",
        ),
    }
    for code, (start, end) in cases.items():
        line = one_line_error(lift_kernel.run(code))
        assert line.startswith(start) and end in line, f"{code}: {line}"
    cell = lift_kernel.run(
        "from liftbridge_nb import ErrNoSuchStream\n"
        f"try:\n    %lift_delete {stream_name}x\n"
        "except ErrNoSuchStream as e:\n    print('caught', type(e).__name__)"
    )
    assert cell.stdout.strip() == "caught ErrNoSuchStream", "the class is kept: except works"


def test_errors_keep_class_and_cause(ip: InteractiveShell, stream_name: str) -> None:
    run(ip, "lift_create", stream_name)
    with pytest.raises(ErrNoSuchStream, match=f"did you mean '{stream_name}'") as refused:
        run(ip, "lift_delete", stream_name + "x")
    assert isinstance(refused.value.__cause__, grpc.RpcError), "the server's refusal stays the cause"
    assert str(refused.value).startswith(
        f"%lift_delete: delete failed on stream '{stream_name}x': stream does not"
    )
    with pytest.raises(
        MagicError, match=r"not a duration: '7dayz' \(use 500ms, 90s, 10min, 30m, 1\.5h, 1h30m"
    ):
        run(ip, "lift_create", "s --retention-max-age 7dayz")
    with pytest.raises(MagicError, match="no variable 'ordr_id' in the notebook; did you mean order_id"):
        ip.user_ns["order_id"] = 1
        run(ip, "lift_publish", stream_name, "{{ ordr_id }}")
    with pytest.raises(MagicError, match="subject"):
        run(ip, "lift_create", "bad --subject 'a..b'")
    with Lift(ip.magics_manager.registry["LiftMagics"].client.addresses[0]) as client:
        assert list(client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest())) == []
    result = ip.run_cell(f"%lift_delete {stream_name}-missing")  # type: ignore[no-untyped-call]
    assert result.error_in_exec is not None, "the cell fails, so nbval and nbclient see it"
    assert result.error_in_exec._render_traceback_() == [
        f"ErrNoSuchStream: %lift_delete: delete failed on stream '{stream_name}-missing': "
        "stream does not exist; check the name (fetch_metadata() or %lift_streams lists streams) "
        "or create it first; "
        f"did you mean '{stream_name}'?"
    ]


def test_a_bad_flag_is_named(ip: InteractiveShell, stream_name: str) -> None:
    run(ip, "lift_create", stream_name)
    with pytest.raises(MagicError, match=r"^%lift_tail --seconds: max_seconds must be positive"):
        run(ip, "lift_tail", f"{stream_name} --seconds -1")
    with pytest.raises(MagicError, match=r"^%lift_tail --messages: max_messages must be positive"):
        run(ip, "lift_tail", f"{stream_name} --messages 0")
    with pytest.raises(MagicError, match=r"^%lift_read: argument --limit: not a count: '0'"):
        run(ip, "lift_read", f"{stream_name} --limit 0")


def test_python_hints_become_flags() -> None:
    assert in_flags(READ, "(errors='coerce' keeps the raw bytes)") == "(--errors coerce keeps the raw bytes)"
    assert in_flags(READ, "or start='earliest' or 'latest'") == "or --from earliest or latest"
    assert in_flags(READ, "leave it out with partitions=[...]") == "leave it out with --partition ..."
    assert in_flags(READ, "subscribe with resume=True") == "subscribe with resume=True", "no such flag: kept"
