"""LiftMagics (liftbridge_nb/magics/_magic.py, its frames in _shown.py): settings, completion, loading."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from liftbridge_nb import ErrConnection
from liftbridge_nb.config import DEFAULT_TIMEOUT
from liftbridge_nb.magics import MagicError
from tests import magic_shell
from tests.kernel import Kernel
from tests.magic_shell import completions

fresh_shell, ip, lift_kernel = magic_shell.fresh_shell, magic_shell.ip, magic_shell.lift_kernel


def test_settings_pyproject_and_completion(
    fresh_shell: InteractiveShell,
    server_address: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    stream_name: str,
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.liftbridge_nb]\ntimeout = 7.5\ndisplay_limit = 3\n")
    (tmp_path / "nb").mkdir()
    monkeypatch.chdir(tmp_path / "nb")
    monkeypatch.setenv("LIFTBRIDGE_ADDRESS", server_address)
    shell = fresh_shell
    shell.run_line_magic("load_ext", "liftbridge_nb")
    try:
        magics = shell.magics_manager.registry["LiftMagics"]
        assert (magics.timeout, magics.display_limit) == (7.5, 3)
        with capture_output() as out:
            shell.run_line_magic("lift_connect", "")
        assert f"Connected to {server_address}" in out.stdout
        shell.run_line_magic("config", "LiftMagics.decode = 'bytes'")
        assert magics.decode == "bytes"
        shell.run_line_magic("config", "LiftMagics.decode = 'yaml'")  # %config logs the refusal
        assert magics.decode == "bytes"
        assert sum(type(c).__name__ == "LiftMagics" for c in shell.configurables) == 1
        with capture_output():
            shell.run_line_magic("lift_create", f"{stream_name} --partitions 2")
        assert f"%lift_read {stream_name}" in completions(shell, f"%lift_read {stream_name[:12]}")
        assert "%lift_create x --partitions" in completions(shell, "%lift_create x --parti")
        assert "%lift_connect --list" in completions(shell, "%lift_connect --lis")
    finally:
        shell.run_line_magic("unload_ext", "liftbridge_nb")


def test_connect_without_an_address_uses_the_default_address(
    fresh_shell: InteractiveShell, server_address: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LIFTBRIDGE_ADDRESS", server_address)
    fresh_shell.run_line_magic("load_ext", "liftbridge_nb")
    try:
        with capture_output() as out:
            fresh_shell.run_line_magic("lift_connect", "--alias env")
        assert out.stdout.startswith(f"Connected to {server_address} as 'env'")
        fresh_shell.run_line_magic("config", "LiftMagics.address = '127.0.0.1:1'")  # the setting comes first
        with pytest.raises(ErrConnection, match=r"^%lift_connect: .*127\.0\.0\.1:1"):
            fresh_shell.run_line_magic("lift_connect", "--alias setting --timeout 1")
    finally:
        fresh_shell.run_line_magic("unload_ext", "liftbridge_nb")


def test_timeout_defaults_to_the_clients(
    fresh_shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    fresh_shell.run_line_magic("load_ext", "liftbridge_nb")
    try:
        assert fresh_shell.magics_manager.registry["LiftMagics"].timeout == DEFAULT_TIMEOUT
    finally:
        fresh_shell.run_line_magic("unload_ext", "liftbridge_nb")


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("display_limit = -1", "LiftMagics.display_limit must be >= 0"),
        ("timeout = 0", "LiftMagics.timeout must be > 0"),
        ("timeout = -5", "LiftMagics.timeout must be > 0"),
        ("timeout = float('nan')", "LiftMagics.timeout must be > 0"),
        ("address = 'host:70000'", "port from 1 to 65535"),
        ("decode = 'yaml'", "yaml"),
    ],
)
def test_every_setting_is_checked(lift_kernel: Kernel, setting: str, words: str) -> None:
    name = setting.split()[0]
    show = f"print(repr(get_ipython().magics_manager.registry['LiftMagics'].{name}))"
    before = lift_kernel.run(show).stdout
    cell = lift_kernel.run(f"%config LiftMagics.{setting}")
    assert words in cell.shown, cell.shown
    assert lift_kernel.run(show).stdout == before, "the old value is kept"


def test_a_bad_pyproject_setting_is_refused(
    fresh_shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for table, words in (
        ("display_limit = -1", "display_limit must be >= 0"),
        ("display_limt = 5", "no setting 'display_limt'; did you mean display_limit?"),
    ):
        (tmp_path / "pyproject.toml").write_text(f"[tool.liftbridge_nb]\n{table}\n")
        with pytest.raises(MagicError, match=words):
            fresh_shell.run_line_magic("load_ext", "liftbridge_nb")
        manager: Any = fresh_shell.extension_manager
        manager.loaded.discard("liftbridge_nb")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%lift_create x --re", ["--replication-factor", "--retention-max-age", "--retention-max-bytes",
                                 "--retention-max-messages"]),
        ("%lift_read s --fr", ["--from"]),
        ("%lift_connect --lis", ["--list"]),
        ("%lift_read s --decode j", ["json"]),
        ("%lift_publish s --ack ", ["all", "leader", "none"]),
    ],
)  # fmt: skip
def test_flag_completion_offers_only_the_magics_flags(
    ip: InteractiveShell, text: str, expected: list[str]
) -> None:
    ip.run_cell("from liftbridge_nb.frames import read_stream")  # type: ignore[no-untyped-call]
    start = text.rsplit(" ", 1)[0]
    assert completions(ip, text) == [f"{start} {flag}" for flag in expected]


def test_a_flags_value_is_not_a_stream_name(ip: InteractiveShell, stream_name: str) -> None:
    with capture_output():
        ip.run_line_magic("lift_create", stream_name)
    assert f"%lift_read {stream_name}" in completions(ip, f"%lift_read {stream_name[:12]}")
    assert not [c for c in completions(ip, f"%lift_read x --from {stream_name[:12]}") if stream_name in c]


def test_flag_completion_in_a_real_kernel(lift_kernel: Kernel) -> None:
    lift_kernel.run("from liftbridge_nb.frames import read_stream")
    code = "%lift_create x --re"
    msg_id = lift_kernel.client.complete(code, len(code))
    deadline = time.monotonic() + 60
    while True:
        reply = lift_kernel.client.get_shell_msg(timeout=max(1.0, deadline - time.monotonic()))
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    content = reply["content"]
    offered = [code[: content["cursor_start"]] + m for m in content["matches"]]
    assert offered == [
        "%lift_create x --replication-factor", "%lift_create x --retention-max-age",
        "%lift_create x --retention-max-bytes", "%lift_create x --retention-max-messages",
    ]  # fmt: skip


def test_unload_removes_the_completer(
    fresh_shell: InteractiveShell, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    before = list(fresh_shell.Completer.custom_matchers)
    fresh_shell.run_line_magic("load_ext", "liftbridge_nb")
    assert len(fresh_shell.Completer.custom_matchers) == len(before) + 1
    fresh_shell.run_line_magic("unload_ext", "liftbridge_nb")
    assert fresh_shell.Completer.custom_matchers == before
    with capture_output():
        assert "lift_read" not in fresh_shell.magics_manager.magics["line"]


def test_loading_the_extension_does_not_import_pandas() -> None:
    # %load_ext is typed in the first cell: pandas (about 250 ms) waits for the first magic that makes
    # a frame, and the frames' class is still at hand.
    script = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'liftbridge_nb')\n"
        "assert 'pandas' not in sys.modules, 'pandas imported'\n"
        "from liftbridge_nb.magics import ShownFrame\n"
        "import pandas as pd\n"
        "assert issubclass(ShownFrame, pd.DataFrame)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
