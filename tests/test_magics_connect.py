"""%lift_connect and %lift_info (liftbridge_nb/magics/_connect.py) against the real server."""

from __future__ import annotations

import logging
import re
import traceback
from dataclasses import replace
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from liftbridge_nb import ErrConnection, Lift, TLSConfig
from liftbridge_nb.aio import AsyncLift
from liftbridge_nb.errors import ServerStartError
from liftbridge_nb.magics import MagicError
from liftbridge_nb.server import LocalServer, ServerOptions
from tests import magic_shell
from tests.kernel import Kernel
from tests.magic_shell import one_line_error, run

fresh_shell, ip, lift_kernel = magic_shell.fresh_shell, magic_shell.ip, magic_shell.lift_kernel


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


def test_flags_with_an_existing_connection_apply_or_refuse(
    lift_kernel: Kernel, server_address: str, tmp_path: Path
) -> None:
    """``%lift_connect ALIAS --flag`` never ignores the flag: it connects again with it, or refuses."""
    missing = tmp_path / "nope.pem"
    line = one_line_error(lift_kernel.run(f"%lift_connect {server_address} --tls-ca {missing}"))
    assert line.startswith("MagicError: %lift_connect: cannot read the TLS ca file") and str(missing) in line
    cell = lift_kernel.run(f"%lift_connect {server_address} --timeout 3\n%lift_info")
    assert cell.status == "ok" and "timeout: 3 s" in cell.stdout, cell.shown
    lift_kernel.run(f"%lift_connect {server_address} --alias prod")
    line = one_line_error(lift_kernel.run("%lift_connect prod --timeout 1"))
    assert line.startswith(
        "MagicError: %lift_connect: 'prod' is a connection's alias, and --timeout set up"
    ), line
    cell = lift_kernel.run("%lift_connect prod\n%lift_connect --close prod")
    assert cell.stdout.splitlines() == ["current connection: prod", "closed prod"], cell.shown
    cell = lift_kernel.run(f"%lift_connect {server_address}\n%lift_info")
    assert cell.stdout.startswith(f"current connection: {server_address}") and "timeout: 3 s" in cell.stdout
