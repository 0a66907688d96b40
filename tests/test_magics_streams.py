"""%lift_streams and %lift_brokers (liftbridge_nb/magics/_streams.py): all rows returned, few shown."""

from __future__ import annotations

import html

import pandas as pd
from IPython.core.interactiveshell import InteractiveShell

from liftbridge_nb.magics import ShownFrame
from tests import magic_shell
from tests.kernel import Kernel
from tests.magic_shell import run

fresh_shell, ip, lift_kernel = magic_shell.fresh_shell, magic_shell.ip, magic_shell.lift_kernel


def test_streams_and_brokers(ip: InteractiveShell, stream_name: str) -> None:
    run(ip, "lift_create", stream_name)
    streams, _ = run(ip, "lift_streams", f"{stream_name[:-3]}*")
    assert isinstance(streams, pd.DataFrame) and set(streams["stream"]) == {stream_name}
    brokers, _ = run(ip, "lift_brokers")
    assert isinstance(brokers, pd.DataFrame) and list(brokers["id"]) == ["node0"]


def test_every_row_is_returned_and_the_display_says_how_many(lift_kernel: Kernel, stream_name: str) -> None:
    cell = lift_kernel.run(
        f"%lift_create {stream_name} --partitions 24\n"
        f"streams = %lift_streams {stream_name}\n"
        "print(len(streams), len(streams.head(30)), type(streams[streams.partition > 0]).__name__)\n"
        f"%lift_streams {stream_name}"
    )
    assert cell.status == "ok", cell.shown
    assert cell.stdout.splitlines()[-1] == "24 24 DataFrame", "all rows; derived frames are plain"
    shown = cell.displays[-1]
    assert shown["text/plain"].endswith(
        "showing 20 of 24 rows (all are in the frame; %config LiftMagics.display_limit)"
    )
    rows = {line.split()[0] for line in shown["text/plain"].splitlines()[1:-1] if line[:1].isdigit()}
    assert rows == {str(i) for i in range(20)}, "rows 0 to 19, then the note"
    assert shown["text/html"].count("<tr>") == 20 and "showing 20 of 24 rows" in shown["text/html"]
    cell = lift_kernel.run(f"%config LiftMagics.display_limit = 0\n%lift_streams {stream_name}")
    assert "showing" not in cell.shown and cell.displays[-1]["text/html"].count("<tr>") == 24
    lift_kernel.run("%config LiftMagics.display_limit = 20")


def test_nothing_matched_says_so(lift_kernel: Kernel, stream_name: str) -> None:
    cell = lift_kernel.run(f"%lift_create {stream_name}\nnone = %lift_streams nothing-{stream_name}*\nnone")
    assert cell.status == "ok", cell.shown
    text = cell.displays[-1]["text/plain"]
    assert text.startswith(f"no stream matches 'nothing-{stream_name}*' (streams: ") and stream_name in text
    assert html.escape(text) in cell.displays[-1]["text/html"]
    assert (
        lift_kernel.run("print(len(none), list(none.columns)[:2])").stdout.strip()
        == "0 ['stream', 'partition']"
    )


def test_shown_frame_is_a_dataframe() -> None:
    frame = pd.DataFrame({"a": range(5)})
    shown = ShownFrame.of(frame, 2)
    assert len(shown) == 5 and shown.equals(frame) and type(shown.head()) is pd.DataFrame
    assert repr(shown).endswith(
        "showing 2 of 5 rows (all are in the frame; %config LiftMagics.display_limit)"
    )
