"""The %lift_* magics on an in-process IPython shell against the real server."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import pytest
from IPython.core.completer import provisionalcompleter
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from liftbridge_nb import ErrConnection, ErrNoSuchStream, ErrStreamExists, Lift, Start, Stop, TLSConfig
from liftbridge_nb.aio import AsyncLift
from liftbridge_nb.errors import ServerStartError
from liftbridge_nb.magics import MagicError
from liftbridge_nb.server import LocalServer, ServerOptions
from tests.polling import wait_for


@pytest.fixture
def fresh_shell() -> Iterator[InteractiveShell]:
    """A new IPython shell for each test: no magics, settings or namespace left by another."""
    InteractiveShell.clear_instance()
    shell = InteractiveShell.instance()
    yield shell
    InteractiveShell.clear_instance()


@pytest.fixture
def ip(
    fresh_shell: InteractiveShell, server_address: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[InteractiveShell]:
    monkeypatch.chdir(tmp_path)  # no pyproject.toml settings leak in
    shell = fresh_shell
    shell.run_line_magic("load_ext", "liftbridge_nb")
    with capture_output():
        shell.run_line_magic("lift_connect", f"{server_address} --alias test")
    yield shell
    shell.run_line_magic("unload_ext", "liftbridge_nb")


def run(ip: InteractiveShell, magic: str, line: str = "", cell: str | None = None) -> tuple[object, str]:
    with capture_output() as out:
        cell_magic: Any = ip.run_cell_magic
        result = cell_magic(magic, line, cell) if cell is not None else ip.run_line_magic(magic, line)
    return result, out.stdout


def completions(shell: InteractiveShell, text: str) -> list[str]:
    """The lines the kernel's completions make of ``text`` (the API front ends use)."""
    with provisionalcompleter():
        return [text[: c.start] + c.text for c in shell.Completer.completions(text, len(text))]


def test_connect_list_switch_close(ip: InteractiveShell, server_address: str) -> None:
    _, text = run(ip, "lift_connect", f"{server_address} --alias second --timeout 3")
    assert text.startswith(f"Connected to {server_address} as 'second'; brokers: node0")
    _, listing = run(ip, "lift_connect", "--list")
    assert listing.splitlines() == [f"  test: {server_address}", f"* second: {server_address}"]
    _, switched = run(ip, "lift_connect", "test")
    assert switched.strip() == "current connection: test"
    run(ip, "lift_connect", "--close second")
    with pytest.raises(MagicError, match="no connection named 'second'"):
        run(ip, "lift_connect", "--close second")
    _, info = run(ip, "lift_info")
    assert info.startswith(f"connection: test -> {server_address}") and "timeout=5.0" in info


def test_connect_with_nats(ip: InteractiveShell, local_server: LocalServer, stream_name: str) -> None:
    port = local_server.nats_url.rsplit(":", 1)[1]
    _, text = run(
        ip, "lift_connect", f"{local_server.address} --alias fast --nats nats://me:secret@127.0.0.1:{port}"
    )
    assert text.strip().endswith(f"publishing straight to NATS at nats://127.0.0.1:{port}")
    assert "secret" not in text + repr(ip.user_ns.get("_")) + repr(
        ip.magics_manager.registry["LiftMagics"].client.options
    )
    run(ip, "lift_create", stream_name)
    run(ip, "lift_publish", stream_name, '{"n": 1}')
    frame, _ = run(ip, "lift_read", stream_name)
    assert list(frame["value.n"]) == [1]  # type: ignore[index]
    with pytest.raises(MagicError, match="TLS is not supported"):
        run(ip, "lift_connect", f"{local_server.address} --nats tls://127.0.0.1:{port}")


def test_create_publish_read_admin(ip: InteractiveShell, stream_name: str, server_address: str) -> None:
    _, text = run(
        ip, "lift_create", f"{stream_name} --partitions 2 --retention-max-age 7d --compact --min-isr 1"
    )
    assert text.strip() == f"created stream '{stream_name}' (subject '{stream_name}', 2 partition(s))"
    with pytest.raises(ErrStreamExists, match="stream already exists; choose another name"):
        run(ip, "lift_create", stream_name)
    _, out = run(ip, "lift_create", f"{stream_name} --exist-ok")  # a cell that creates can run again
    assert out.strip() == f"stream {stream_name!r} exists already; kept as it is (--exist-ok)"
    ip.user_ns["order_id"] = 42
    _, text = run(ip, "lift_publish", f"{stream_name} --key c1 --header source=nb --ack all --json",
                  '{"order": {{ order_id }}, "note": "{x} stays"}')  # fmt: skip
    assert text.strip() == f"published 1 message(s) to '{stream_name}' partition 0: offsets [0]"
    _, text = run(ip, "lift_publish", f"{stream_name} --lines --partition 1", "a\nb\n\nc\n")
    assert text.strip() == f"published 3 message(s) to '{stream_name}' partition 1: offsets [0, 1, 2]"
    _, text = run(ip, "lift_publish", f"{stream_name} hello from a line")
    assert "offsets [1]" in text
    _, text = run(ip, "lift_publish", f"{stream_name} fire and forget --ack none")
    assert "ack policy none" in text
    df, _ = run(ip, "lift_read", f"{stream_name} --partition 0 --to 2 --no-progress")
    assert isinstance(df, pd.DataFrame) and list(df["offset"]) == [0, 1]
    assert df["value.order"].iloc[0] == 42 and df["headers"].iloc[0] == {"source": "nb"}
    assert df["key"].iloc[0] == "c1"
    assert "{x} stays" in df["value"].iloc[0], "IPython's own expansion is off"
    raw, _ = run(
        ip, "lift_read", f"{stream_name} --from 1 --partition 1 --decode bytes --limit 1 --no-progress"
    )
    assert isinstance(raw, pd.DataFrame) and list(raw["value"]) == [b"b"]
    streams, _ = run(ip, "lift_streams", f"{stream_name[:-3]}*")
    assert isinstance(streams, pd.DataFrame) and set(streams["stream"]) == {stream_name}
    brokers, _ = run(ip, "lift_brokers")
    assert isinstance(brokers, pd.DataFrame) and list(brokers["id"]) == ["node0"]
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


def test_errors_are_one_line_and_fail_the_cell(ip: InteractiveShell, stream_name: str) -> None:
    run(ip, "lift_create", stream_name)
    with pytest.raises(ErrNoSuchStream, match=f"did you mean '{stream_name}'") as refused:
        run(ip, "lift_delete", stream_name + "x")
    assert isinstance(refused.value.__cause__, grpc.RpcError), "the server's refusal stays the cause"
    assert f"on stream '{stream_name}x': stream does not exist" in str(refused.value)
    with pytest.raises(MagicError, match="did you mean --partitions"):
        run(ip, "lift_create", "s --partitoins 3")
    with pytest.raises(MagicError, match="not a duration"):
        run(ip, "lift_create", "s --retention-max-age 7days")
    with pytest.raises(MagicError, match=r"not JSON.*nothing was published"):
        run(ip, "lift_publish", f"{stream_name} --json", "{not json")
    with pytest.raises(MagicError, match="no variable 'ordr_id' in the notebook; did you mean order_id"):
        ip.user_ns["order_id"] = 1
        run(ip, "lift_publish", stream_name, "{{ ordr_id }}")
    with pytest.raises(MagicError, match="nothing to publish"):
        run(ip, "lift_publish", stream_name, "\n")
    with pytest.raises(MagicError, match="subject"):
        run(ip, "lift_create", "bad --subject 'a..b'")
    with Lift(ip.magics_manager.registry["LiftMagics"].client.addresses[0]) as client:
        assert list(client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest())) == []
    result = ip.run_cell(f"%lift_delete {stream_name}-missing")  # type: ignore[no-untyped-call]
    assert result.error_in_exec is not None, "the cell fails, so nbval and nbclient see it"
    lines = result.error_in_exec._render_traceback_()
    assert lines == [
        f"ErrNoSuchStream: delete failed on stream '{stream_name}-missing': stream does not exist; "
        "check the name (fetch_metadata() or %lift_streams lists streams) or create it first; "
        f"did you mean '{stream_name}'?"
    ]


def test_a_bad_flag_is_named(ip: InteractiveShell, stream_name: str) -> None:
    run(ip, "lift_create", stream_name)
    with pytest.raises(MagicError, match=r"^%lift_tail --seconds: max_seconds must be positive"):
        run(ip, "lift_tail", f"{stream_name} --seconds -1")
    with pytest.raises(MagicError, match=r"^%lift_tail --messages: max_messages must be positive"):
        run(ip, "lift_tail", f"{stream_name} --messages 0")
    with pytest.raises(MagicError, match=r"^%lift_read --limit: max_messages must be"):
        run(ip, "lift_read", f"{stream_name} --limit 0")
    with pytest.raises(
        MagicError, match=r"^%lift_create --partitions: partitions must be from 1 to 10000, not 0"
    ):
        run(ip, "lift_create", f"{stream_name}-new --partitions 0")


def test_no_nats_password_shows(ip: InteractiveShell, server_address: str) -> None:
    for url in (
        "nats://me:s3cret@127.0.0.1:99999",
        "me:s3cret@127.0.0.1:port",
        "tls://me:s3cret@127.0.0.1:1",  # a bad scheme, port (two ways) and host
        "nats://me:s3cret@:4222",
    ):
        with pytest.raises(MagicError, match=r"^%lift_connect --nats: the NATS address") as info:
            run(ip, "lift_connect", f"{server_address} --alias n --nats {url}")
        shown = "".join(traceback.format_exception(info.value))  # with every cause in the chain
        assert "me:***@" in shown and "s3cret" not in shown


def test_not_connected(fresh_shell: InteractiveShell, server_address: str) -> None:
    shell = fresh_shell
    shell.run_line_magic("load_ext", "liftbridge_nb")
    try:
        with pytest.raises(MagicError, match="not connected"):
            shell.run_line_magic("lift_streams", "")
    finally:
        shell.run_line_magic("unload_ext", "liftbridge_nb")


def test_widget_magics(ip: InteractiveShell, stream_name: str) -> None:
    from liftbridge_nb.widgets import ClusterView, LiveTail, StreamBrowser

    run(ip, "lift_create", stream_name)
    tail, _ = run(ip, "lift_tail", f"{stream_name} --window 3 --seconds 30 --messages 2")
    assert isinstance(tail, LiveTail) and tail.window == 3
    run(ip, "lift_publish", f"{stream_name} one")
    run(ip, "lift_publish", f"{stream_name} two")
    wait_for(lambda: (not tail.running) or None, timeout=20, what="the tail's message bound")
    assert tail.received == 2
    browser, _ = run(ip, "lift_browse", f"{stream_name} --page-size 5")
    assert isinstance(browser, StreamBrowser) and len(browser.to_dataframe()) == 2
    view, _ = run(ip, "lift_cluster")
    assert isinstance(view, ClusterView) and stream_name in view.partitions.value
    with pytest.raises(ErrNoSuchStream, match=f"did you mean '{stream_name}'"):
        run(ip, "lift_tail", f"{stream_name}x")
    with pytest.raises(MagicError, match="must be positive"):
        run(ip, "lift_tail", f"{stream_name} --window 0")


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


def test_local_server_from_a_magic(fresh_shell: InteractiveShell) -> None:
    shell = fresh_shell
    shell.run_line_magic("load_ext", "liftbridge_nb")
    try:
        with capture_output() as out:
            shell.run_line_magic("lift_connect", "--local --alias mine")
        assert "as 'mine'" in out.stdout
        conn = shell.magics_manager.registry["LiftMagics"].connections.get()
        server = conn.server
        assert server is not None and server.pid is not None
        shell.run_line_magic("lift_connect", "--close mine")
        assert server._nodes == []
    finally:
        shell.run_line_magic("unload_ext", "liftbridge_nb")


def test_no_private_key_shows_anywhere(
    ip: InteractiveShell,
    tls_files: dict[str, Path],
    mutual_tls: ServerOptions,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    """Reprs, errors, the DEBUG log, the server's log and the magics show key paths, never key contents."""
    caplog.set_level(logging.DEBUG, logger="liftbridge_nb")
    keys = {name: path for name, path in tls_files.items() if name.endswith("_key")}
    pem = {name: path.read_bytes() for name, path in tls_files.items()}
    texts: list[str] = []
    options = replace(mutual_tls, log_level="debug")
    in_memory = TLSConfig(ca=pem["ca_crt"], cert=pem["client_crt"], key=pem["client_key"])
    as_text = TLSConfig(ca=pem["ca_crt"], cert=pem["client_crt"].decode(), key=pem["client_key"].decode())
    texts += [repr(options), str(options), repr(in_memory), repr(as_text)]
    with LocalServer(options) as server:
        with Lift(server.address, tls=in_memory) as client:
            client.fetch_metadata()
            texts.append(repr(client))
        texts.append(repr(AsyncLift(server.address, tls=as_text)))
        refused = [
            TLSConfig(ca=pem["ca_crt"]),
            TLSConfig(ca=pem["ca_crt"], cert=pem["rogue_client_crt"], key=pem["rogue_client_key"]),
            TLSConfig(ca=pem["rogue_ca_crt"], cert=pem["client_crt"], key=pem["client_key"]),
            None,
        ]
        for tls in refused:
            with (
                Lift(server.address, tls=tls, timeout=3) as outsider,
                pytest.raises(ErrConnection, match=server.address) as info,
            ):
                outsider.fetch_metadata()
            texts += [str(info.value), repr(info.value), "".join(info.value._render_traceback_())]
        with pytest.raises(ValueError, match=re.escape(str(tmp_path))) as unreadable:
            Lift(server.address, tls=TLSConfig(ca=pem["ca_crt"], cert=pem["client_crt"], key=tmp_path))
        texts.append(str(unreadable.value))
        rogue_probe = replace(
            options, tls_client_cert=tls_files["rogue_client_crt"], tls_client_key=keys["rogue_client_key"]
        )
        with pytest.raises(ServerStartError, match="refused the launcher's TLS probe") as probe:
            LocalServer(rogue_probe).start()
        texts.append(str(probe.value))
        if probe.value.log_path is not None:
            texts.append(probe.value.log_path.read_text())
            probe.value.log_path.unlink()

        def flags(name: str, key: Path) -> str:
            return f"--tls-ca {tls_files['ca_crt']} --tls-cert {tls_files[name + '_crt']} --tls-key {key}"

        secure = f"{server.address} --alias secure {flags('client', keys['client_key'])}"
        _, connected = run(ip, "lift_connect", secure)
        _, info_text = run(ip, "lift_info")
        _, listing = run(ip, "lift_connect", "--list")
        texts += [connected, info_text, listing]
        assert f"key='{keys['client_key']}'" in info_text, "key paths may show"
        for bad in (flags("rogue_client", keys["rogue_client_key"]), flags("client", tmp_path)):
            with pytest.raises((ErrConnection, MagicError)) as magic_error:
                run(ip, "lift_connect", f"{server.address} --alias bad {bad}")
            texts.append(str(magic_error.value))
        texts += [server.log_path.read_text(), (server.log_path.parent / "liftbridge.yaml").read_text()]
    texts += [record.getMessage() for record in caplog.records]
    assert any(record.levelno == logging.DEBUG for record in caplog.records)

    seen = "\n".join(texts)
    assert f"<{len(pem['client_key'])} bytes of PEM>" in seen and str(keys["server_key"]) in seen
    for name, body in pem.items():
        if name.endswith("_key"):
            lines = [line for line in body.decode().splitlines() if line and not line.startswith("-----")]
            assert lines and not [line for line in lines if line in seen], f"{name}'s PEM shows"
