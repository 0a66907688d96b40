"""LocalServer and LocalCluster against the real Liftbridge binary."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import grpc
import pytest

from liftbridge_nb import AckPolicy, ErrConnection, Lift, Message, Start, Stop, Stream, TLSConfig
from liftbridge_nb._proto import api_pb2, api_pb2_grpc
from liftbridge_nb.errors import ServerStartError
from liftbridge_nb.server import LocalCluster, LocalServer, ServerOptions, _local
from liftbridge_nb.server._local import sweep_orphans
from liftbridge_nb.server._process import free_port
from tests import stub_path
from tests.polling import listening_addresses, process_gone, wait_for


def test_roundtrip_through_the_configured_backend(server_address: str, stream_name: str) -> None:
    values = stub_path.roundtrip(server_address, stream_name)
    assert values == [f"message {i}".encode() for i in range(5)]


def test_single_node_exposes_address_data_and_log(local_server: LocalServer) -> None:
    assert re.fullmatch(r"127\.0\.0\.1:\d+", local_server.address)
    assert local_server.data_dir.is_dir()
    log = local_server.log_path.read_text()
    assert "Liftbridge Version:        v1.9.0" in log
    assert "Server became metadata leader" in log
    channel, api = stub_path.stub(local_server.address)
    with channel:
        (broker,) = api.FetchMetadata(api_pb2.FetchMetadataRequest(), timeout=5).brokers
    assert (broker.id, f"{broker.host}:{broker.port}") == ("node0", local_server.address)


def test_single_node_listens_only_on_loopback(local_server: LocalServer) -> None:
    assert local_server.pid is not None
    addresses = listening_addresses(local_server.pid)
    assert f"127.0.0.1:{local_server.address.rsplit(':', 1)[1]}" in addresses
    assert len(addresses) >= 2, "gRPC and the embedded NATS"
    assert all(a.startswith("127.0.0.1:") for a in addresses), addresses


def test_close_leaves_no_process_and_no_directory() -> None:
    server = LocalServer().start()
    pid, root = server.pid, server.data_dir.parent.parent
    assert pid is not None and root.is_dir()
    server.close()
    assert process_gone(pid)
    assert not root.exists()


def test_interrupt_inside_with_block_cleans_up() -> None:
    seen: dict[str, object] = {}
    with pytest.raises(KeyboardInterrupt), LocalServer() as server:
        seen["pid"], seen["root"] = server.pid, server.data_dir.parent.parent
        raise KeyboardInterrupt
    assert isinstance(seen["pid"], int) and process_gone(seen["pid"])
    assert isinstance(seen["root"], Path) and not seen["root"].exists()


def test_server_dies_with_a_killed_parent() -> None:
    script = (
        "from liftbridge_nb.server import LocalServer\n"
        "s = LocalServer().start()\n"
        "print(s.pid, s.data_dir, flush=True)\n"
        "import time; time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid, data_dir = parent.stdout.readline().split()
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    wait_for(lambda: process_gone(int(pid)), timeout=20, what="the orphaned server to exit")
    root = Path(data_dir).parent.parent
    assert root.is_dir(), "nobody could remove it yet"
    assert root in sweep_orphans(), "the next launcher removes what a killed one left"
    assert not root.exists()


def test_a_port_taken_meanwhile_is_replaced(monkeypatch: pytest.MonkeyPatch, stream_name: str) -> None:
    # Another process binds a port between our pick and the server's bind: start picks again.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        picks = iter([taken.getsockname()[1]])
        monkeypatch.setattr(_local, "free_port", lambda: next(picks, None) or free_port())
        with LocalServer() as server:
            assert server.address != f"127.0.0.1:{taken.getsockname()[1]}"
            stub_path.roundtrip(server.address, stream_name, count=1)


def test_restart_keeps_data_and_address(stream_name: str) -> None:
    with LocalServer() as server:
        stub_path.roundtrip(server.address, stream_name, count=3)
        address, data_dir = server.address, server.data_dir
        # Liftbridge v1.9.0 writes a partition's high watermark to disk every 5 s (and not on
        # shutdown); after a restart only messages up to the saved one are served until new
        # ones arrive. Wait for the checkpoint, then kill the node outright.
        wait_for(
            lambda: (
                [p for p in data_dir.rglob("replication-offset-checkpoint") if p.read_text() == "2"] or None
            ),
            timeout=20,
            what="the high watermark checkpoint",
        )
        server.kill()
        server.restart()
        assert (server.address, server.data_dir) == (address, data_dir)
        channel, api = stub_path.stub(server.address)
        with channel:
            got = wait_for(
                lambda: stub_path.read_all(api, stream_name) or None, timeout=30, what="data after restart"
            )
        assert [m.value for m in got] == [b"message 0", b"message 1", b"message 2"]


def test_options_reach_the_server() -> None:
    options = ServerOptions(
        cursors_partitions=2,
        activity_stream=True,
        retention_max_age=timedelta(hours=1),
        compact=True,
        auto_pause_time=timedelta(minutes=5),
    )
    with LocalServer(options) as server:
        log = server.log_path.read_text()
        assert "Default Retention Policy:  [Age: 1 hour, Compact: true]" in log
        assert "Default Partition Pausing: 5 minutes" in log
        channel, api = stub_path.stub(server.address)

        def internal_streams() -> dict[str, int] | None:
            resp = api.FetchMetadata(api_pb2.FetchMetadataRequest(), timeout=5)
            found = {m.name: len(m.partitions) for m in resp.streamMetadata}
            return found if {"__cursors", "__activity"} <= found.keys() else None

        with channel:
            streams = wait_for(internal_streams, timeout=30, what="__cursors and __activity")
        assert streams["__cursors"] == 2 and streams["__activity"] == 1


def test_start_failure_names_the_cause_and_keeps_the_log() -> None:
    server = LocalServer(ServerOptions(extra={"no.such.setting": 1}))
    with pytest.raises(ServerStartError, match=r'Unknown configuration setting "no\.such\.setting"') as info:
        server.start()
    kept = info.value.log_path
    assert kept is not None and kept.is_file() and str(kept) in str(info.value)
    assert "no.such.setting" in kept.read_text()
    kept.unlink()


def test_a_failed_start_hides_nats_passwords_and_keeps_its_log_private() -> None:
    nats = f"nats://user:hunter2@127.0.0.1:{free_port()}"  # nothing listens there
    options = ServerOptions(extra={"nats.servers": [nats], "nats.embedded": False})
    with pytest.raises(ServerStartError, match="failed to connect to NATS") as info:
        LocalServer(options).start()
    kept = info.value.log_path
    assert kept is not None
    try:
        assert "NATS Servers:" in str(info.value) and "nats://user:***@127.0.0.1:" in str(info.value)
        assert "hunter2" not in str(info.value) and "hunter2" not in kept.read_text()
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    finally:
        kept.unlink()


def test_logs_are_readable_by_their_owner_only(local_server: LocalServer) -> None:
    assert stat.S_IMODE(local_server.log_path.stat().st_mode) == 0o600


def test_tls_with_client_certificates(
    tls_files: dict[str, Path], mtls_server: LocalServer, stream_name: str
) -> None:
    server = mtls_server  # ready means the probe got through with the client cert
    plain = grpc.insecure_channel(server.address)
    with plain, pytest.raises(grpc.RpcError):
        stub_path.create_stream(api_pb2_grpc.APIStub(plain), stream_name)
    ca = tls_files["ca_crt"].read_bytes()
    rogue_pair = (tls_files["rogue_client_key"].read_bytes(), tls_files["rogue_client_crt"].read_bytes())
    for refused in (grpc.ssl_channel_credentials(ca), grpc.ssl_channel_credentials(ca, *rogue_pair)):
        with grpc.secure_channel(server.address, refused) as channel, pytest.raises(grpc.RpcError):
            stub_path.create_stream(api_pb2_grpc.APIStub(channel), stream_name)
    assert server.credentials is not None
    with grpc.secure_channel(server.address, server.credentials) as channel:
        api = api_pb2_grpc.APIStub(channel)
        stub_path.create_stream(api, stream_name)
        assert stub_path.publish(api, stream_name, [b"secret"]) == [0]


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="tls_cert and tls_key"):
        ServerOptions(tls_cert=Path("x.crt"))
    with pytest.raises(ValueError, match="log_level"):
        ServerOptions(log_level="loud")
    with pytest.raises(ValueError, match="at least one node"):
        LocalCluster(0)


@pytest.mark.cluster
def test_cluster_failover_keeps_acked_data(cluster: LocalCluster, stream_name: str) -> None:
    assert len(set(cluster.addresses)) == 3 and cluster.server_ids == ["node0", "node1", "node2"]
    channel, api = stub_path.stub(cluster.addresses[0])
    with channel:
        brokers = api.FetchMetadata(api_pb2.FetchMetadataRequest(), timeout=5).brokers
        advertised = {b.id: f"{b.host}:{b.port}" for b in brokers}
        assert advertised == dict(zip(cluster.server_ids, cluster.addresses, strict=True))
        stub_path.create_stream(api, stream_name, replication=3)
        values = [f"replicated {i}".encode() for i in range(20)]
        assert stub_path.publish(api, stream_name, values, ack_policy=api_pb2.ALL) == list(range(20))

    leader = wait_for(lambda: cluster.leader_of(stream_name), timeout=10, what="a partition leader")
    before = _partition(cluster, leader, stream_name)
    assert sorted(before.isr) == cluster.server_ids

    cluster.kill(leader)
    killed = cluster.server_ids[leader]
    new_leader = wait_for(
        lambda: n if (n := cluster.leader_of(stream_name)) not in (None, leader) else None,
        timeout=90,
        what="a new partition leader",
    )
    assert cluster.server_ids[new_leader] in before.isr
    wait_for(
        lambda: killed not in _partition(cluster, new_leader, stream_name).isr,
        timeout=60,
        what="the ISR to shrink",
    )
    channel, api = stub_path.stub(cluster.addresses[new_leader])
    with channel:
        assert [m.value for m in stub_path.read_all(api, stream_name)] == values

    cluster.restart(leader)
    wait_for(
        lambda: killed in _partition(cluster, new_leader, stream_name).isr,
        timeout=90,
        what="the node to rejoin",
    )


def _partition(cluster: LocalCluster, node: int, stream: str) -> api_pb2.PartitionMetadata:
    channel, api = stub_path.stub(cluster.addresses[node])
    with channel:
        return stub_path.partition_metadata(api, stream)


def test_a_refused_tls_probe_fails_the_start_at_once_and_says_why(
    tls_files: dict[str, Path], mutual_tls: ServerOptions
) -> None:
    started = time.monotonic()
    cases = {
        "ServerOptions(tls_client_cert=..., tls_client_key=...)": replace(
            mutual_tls, tls_client_cert=None, tls_client_key=None
        ),
        "not trusted: pass the CA that signed it as ServerOptions(tls_ca=...)": replace(
            mutual_tls, tls_ca=tls_files["rogue_ca_crt"]
        ),
        "or one expired or not signed by the broker's client CA": replace(
            mutual_tls,
            tls_client_cert=tls_files["rogue_client_crt"],
            tls_client_key=tls_files["rogue_client_key"],
        ),
    }
    for hint, options in cases.items():
        with pytest.raises(ServerStartError, match="refused the launcher's TLS probe") as info:
            LocalServer(options).start()
        assert hint in str(info.value)
        if info.value.log_path is not None:
            info.value.log_path.unlink()
    assert time.monotonic() - started < 30, "each start should fail at the first refusal, not time out"


@pytest.mark.cluster
def test_mutual_tls_cluster(tls_files: dict[str, Path], mutual_tls: ServerOptions, stream_name: str) -> None:
    member = TLSConfig(ca=tls_files["ca_crt"], cert=tls_files["client_crt"], key=tls_files["client_key"])
    values = [b"one", b"two", b"three"]
    with LocalCluster(3, mutual_tls) as cluster, Lift(addresses=cluster.addresses, tls=member) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
        acks = [
            client.publish(Message(stream=stream_name, value=v, ack_policy=AckPolicy.ALL)) for v in values
        ]
        assert [a.offset if a else None for a in acks] == [0, 1, 2]
        got = client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest())
        assert [m.value for m in got] == values
        leader = cluster.leader_of(stream_name)  # asked through the probe's client certificate
        assert leader is not None and len(client.fetch_partition_metadata(stream_name, 0).isr) == 3
        rogue = TLSConfig(
            ca=tls_files["ca_crt"], cert=tls_files["rogue_client_crt"], key=tls_files["rogue_client_key"]
        )
        with Lift(addresses=cluster.addresses, tls=rogue, timeout=3) as outsider:
            with pytest.raises(ErrConnection, match="refused the client certificate") as info:
                outsider.fetch_metadata()
            assert sorted(info.value.addresses) == sorted(cluster.addresses)
