"""ServerOptions and the configuration files they become."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from liftbridge_nb.server import ServerOptions
from liftbridge_nb.server._config import nats_config, node_entries, render_config


def test_defaults_leave_the_server_defaults() -> None:
    assert ServerOptions().entries() == {"logging.level": "info"}


def test_stream_defaults_and_extra() -> None:
    options = ServerOptions(
        retention_max_age=timedelta(days=2),
        retention_max_messages=10,
        compact=False,
        auto_pause_time=timedelta(seconds=1.5),
        extra={"clustering.replication.max.bytes": 2048, "logging.level": "debug"},
    )
    assert options.entries() == {
        "logging.level": "debug",
        "streams.retention.max.age": "172800000ms",
        "streams.retention.max.messages": 10,
        "streams.compact.enabled": False,
        "streams.auto.pause.time": "1500ms",
        "clustering.replication.max.bytes": 2048,
    }


def test_tls_and_client_auth(tmp_path: Path) -> None:
    options = ServerOptions(
        tls_cert=tmp_path / "s.crt", tls_key=tmp_path / "s.key", tls_client_ca=tmp_path / "ca"
    )
    entries = options.entries()
    assert options.tls
    assert entries["tls.cert"] == str(tmp_path / "s.crt")
    assert entries["tls.client.auth.enabled"] is True


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cursors_partitions": -1}, "cursors_partitions"),
        ({"tls_key": Path("k")}, "tls_cert and tls_key"),
        ({"tls_client_ca": Path("ca")}, "needs tls_cert"),
        ({"log_level": "trace"}, "log_level"),
    ],
)
def test_invalid_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ServerOptions(**kwargs)  # type: ignore[arg-type]


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        ServerOptions(retention_max_age=timedelta(seconds=-1)).entries()


def test_single_node_and_cluster_files() -> None:
    single = node_entries(
        server_id="a", port=1234, data_dir="/d", nats_url="nats://127.0.0.1:5", options=ServerOptions(),
        embedded_nats_config="/n.conf",
    )  # fmt: skip
    assert single["listen"] == "127.0.0.1:1234" and single["port"] == 1234
    assert single["clustering.raft.bootstrap.seed"] is True and single["nats.embedded"] is True
    peers = node_entries(
        server_id="b",
        port=1,
        data_dir="/d",
        nats_url="n",
        options=ServerOptions(),
        bootstrap_peers=["a", "b"],
    )
    assert "clustering.raft.bootstrap.seed" not in peers and peers["clustering.raft.bootstrap.peers"] == [
        "a",
        "b",
    ]
    assert render_config({"a.b": "x", "n": [1], "t": True}) == 'a.b: "x"\nn: [1]\nt: true\n'
    assert nats_config(42) == 'listen: "127.0.0.1:42"\n'


def test_tls_files_are_paths_in_pairs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tls_client_cert and tls_client_key go together"):
        ServerOptions(tls_cert=tmp_path / "s.crt", tls_key=tmp_path / "s.key", tls_client_cert=tmp_path / "c")
    with pytest.raises(TypeError, match="ServerOptions tls_key takes a file path, not bytes") as info:
        ServerOptions(tls_cert=tmp_path / "s.crt", tls_key=b"-----BEGIN PRIVATE KEY-----\nsecret\n")  # type: ignore[arg-type]
    assert "secret" not in str(info.value)
