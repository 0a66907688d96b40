"""LocalServer and LocalCluster: real Liftbridge processes on 127.0.0.1, in temporary directories."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import NoReturn, Self

import grpc

from ..errors import ServerStartError
from ._config import ServerOptions, nats_config, node_entries, render_config
from ._install import find_server, require_nats_server
from ._probe import channel_credentials, partition_leader, wait_ready
from ._process import ServerProcess, free_port, log_tail, wait_port

FAILOVER_TUNING: dict[str, object] = {
    "clustering.replica.max.idle.wait": "3s",
    "clustering.replica.fetch.timeout": "2s",
    "clustering.replica.max.leader.timeout": "6s",
    "clustering.replica.max.lag.time": "6s",
}
"""Replication timings a LocalCluster uses unless ``ServerOptions.extra`` overrides them.

The server defaults (15 s leader timeout, 10 s idle wait) make a failover take
half a minute; these make it take seconds, which tests and demos need.
"""


_ROOT_PREFIX = "liftbridge-nb-"
_START_ATTEMPTS = 3
_ADDRESS_IN_USE = "address already in use"
_OWNER_FILE = "owner.pid"


def sweep_orphans() -> list[Path]:
    """Delete the directories of launchers whose Python process died without cleaning up.

    A process killed outright (SIGKILL, a crashed kernel) cannot remove its
    temporary directory; its servers die with it (see ``ServerProcess``), and
    the next launcher removes what is left. Returns the directories removed.
    """
    removed = []
    for root in Path(tempfile.gettempdir()).glob(f"{_ROOT_PREFIX}*"):
        try:
            owner = int((root / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if owner != os.getpid() and not Path(f"/proc/{owner}").exists():
            shutil.rmtree(root, ignore_errors=True)
            removed.append(root)
    return removed


class _Node:
    """One Liftbridge process: its directory, configuration and lifecycle."""

    def __init__(
        self,
        *,
        root: Path,
        server_id: str,
        binary: Path,
        port: int,
        nats_url: str,
        options: ServerOptions,
        embedded_nats_port: int | None = None,
        peers: list[str] | None = None,
    ) -> None:
        self.server_id = server_id
        self.port = port
        self.dir = root / server_id
        self.data_dir = self.dir / "data"
        self.log_path = self.dir / "liftbridge.log"
        self.dir.mkdir(parents=True)
        nats_conf = None
        if embedded_nats_port is not None:
            nats_conf = self.dir / "nats.conf"
            nats_conf.write_text(nats_config(embedded_nats_port))
        entries = node_entries(
            server_id=server_id,
            port=port,
            data_dir=self.data_dir,
            nats_url=nats_url,
            options=options,
            embedded_nats_config=nats_conf,
            bootstrap_peers=peers,
        )
        config = self.dir / "liftbridge.yaml"
        config.write_text(render_config(entries))
        self.process = ServerProcess(
            f"Liftbridge {server_id}", [str(binary), "--config", str(config)], self.log_path
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, *, credentials: grpc.ChannelCredentials | None, timeout: float, brokers: int) -> None:
        self.process.start()
        try:
            wait_ready(
                self.address,
                credentials=credentials,
                timeout=timeout,
                brokers=brokers,
                check_alive=self.process.check_alive,
                what=f"Liftbridge {self.server_id}",
            )
        except ServerStartError as exc:
            if exc.log_path is not None:  # the process died; the error already shows its log
                raise
            tail = log_tail(self.log_path)
            raise ServerStartError(f"{exc}\nLast lines of {self.log_path}:\n{tail}", self.log_path) from exc


class _Launcher:
    """What LocalServer and LocalCluster share: a temporary root, processes, cleanup."""

    def __init__(
        self, options: ServerOptions | None, binary: Path | str | None, startup_timeout: float
    ) -> None:
        self.options = options or ServerOptions()
        self.startup_timeout = startup_timeout
        self._binary = binary
        self._root: Path | None = None
        self._nodes: list[_Node] = []
        self._helpers: list[ServerProcess] = []

    @property
    def credentials(self) -> grpc.ChannelCredentials | None:
        """Channel credentials that gRPC clients of this server need (``None`` without TLS)."""
        return channel_credentials(self.options)

    def _make_root(self) -> Path:
        sweep_orphans()
        self._root = Path(tempfile.mkdtemp(prefix=_ROOT_PREFIX))
        (self._root / _OWNER_FILE).write_text(str(os.getpid()))
        return self._root

    def _start(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        """Start every process and wait until the server is ready; cleans up if that fails."""
        if self._root is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        attempt = 1
        while True:
            try:
                self._start()
                return self
            except ServerStartError as exc:
                if attempt < _START_ATTEMPTS and self._ports_are_ours and _ADDRESS_IN_USE in str(exc):
                    self.close()  # another process took a port we picked: pick again
                    attempt += 1
                    continue
                self._fail(exc)
            except BaseException:
                self.close()
                raise

    @property
    def _ports_are_ours(self) -> bool:
        return True

    def _fail(self, exc: ServerStartError) -> NoReturn:
        # The directory goes; the logs stay in the temp dir, and the error names their new place.
        kept = self._keep_logs()
        self.close()
        message = str(exc)
        for old, new in kept.items():
            message = message.replace(str(old), str(new))
        listing = "".join(f"\n  {new}" for new in kept.values())
        raise ServerStartError(
            f"{message}\nLogs kept:{listing}", kept.get(exc.log_path) if exc.log_path else None
        ) from exc

    def _keep_logs(self) -> dict[Path, Path]:
        kept = {}
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for proc in [*self._helpers, *(n.process for n in self._nodes)]:
            if proc.log_path.exists():
                dest = Path(tempfile.gettempdir()) / f"liftbridge-nb-{stamp}-{proc.log_path.parent.name}.log"
                shutil.copyfile(proc.log_path, dest)
                kept[proc.log_path] = dest
        return kept

    def close(self) -> None:
        """Stop every process (SIGTERM, then SIGKILL after a bound) and delete the directory."""
        for node in self._nodes:
            node.process.stop()
        for helper in self._helpers:
            helper.stop()
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
        self._nodes, self._helpers, self._root = [], [], None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _started_nodes(self) -> list[_Node]:
        if not self._nodes:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._nodes


class LocalServer(_Launcher):
    """A single Liftbridge node with embedded NATS, both on free ports of 127.0.0.1.

    Use as a context manager (or call :meth:`start` and :meth:`close`)::

        with LocalServer() as server:
            client = Lift(server.address)

    Ready means a metadata leader answers, not just an open port. Data lives
    in a fresh temporary directory that :meth:`close` deletes; the log is at
    :attr:`log_path`. :meth:`stop`/:meth:`kill` and :meth:`restart` keep the
    data directory and port, to test a node that goes away and comes back.
    """

    def __init__(
        self,
        options: ServerOptions | None = None,
        *,
        binary: Path | str | None = None,
        port: int | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        super().__init__(options, binary, startup_timeout)
        self._port = port
        self.nats_url = ""  # its embedded NATS, once started: for ClientOptions(nats=...)

    @property
    def _ports_are_ours(self) -> bool:
        return self._port is None

    def _start(self) -> None:
        root = self._make_root()
        binaries = find_server(self._binary)
        port = self._port or free_port()
        nats_port = free_port()
        self.nats_url = f"nats://127.0.0.1:{nats_port}"
        self._nodes = [
            _Node(
                root=root,
                server_id="node0",
                binary=binaries.liftbridge,
                port=port,
                nats_url=self.nats_url,
                options=self.options,
                embedded_nats_port=nats_port,
            )
        ]
        self._node.start(credentials=self.credentials, timeout=self.startup_timeout, brokers=1)

    @property
    def _node(self) -> _Node:
        return self._started_nodes()[0]

    @property
    def address(self) -> str:
        """``"127.0.0.1:PORT"``, the gRPC address clients connect to."""
        return self._node.address

    @property
    def data_dir(self) -> Path:
        """The node's data directory."""
        return self._node.data_dir

    @property
    def log_path(self) -> Path:
        """The node's log file (server and embedded NATS output)."""
        return self._node.log_path

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._node.process.pid

    def stop(self) -> None:
        """Stop the server gracefully, keeping its data for :meth:`restart`."""
        self._node.process.stop()

    def kill(self) -> None:
        """SIGKILL the server, keeping its data for :meth:`restart`."""
        self._node.process.kill()

    def restart(self) -> None:
        """Start the server again on the same port and data directory; wait until ready."""
        self._node.process.stop()
        self._node.start(credentials=self.credentials, timeout=self.startup_timeout, brokers=1)


class LocalCluster(_Launcher):
    """N Liftbridge nodes sharing one NATS server, all on 127.0.0.1.

    Nodes are numbered from 0; node *i* has server id ``node<i>``, its own port
    and data directory. :meth:`kill`, :meth:`stop` and :meth:`restart` act on
    one node; :meth:`leader_of` tells which node leads a partition. Replication
    timings follow :data:`FAILOVER_TUNING` so that failovers take seconds.
    """

    def __init__(
        self,
        nodes: int = 3,
        options: ServerOptions | None = None,
        *,
        binary: Path | str | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"a cluster needs at least one node, not {nodes}")
        base = options or ServerOptions()
        tuned = replace(base, extra={**FAILOVER_TUNING, **base.extra})
        super().__init__(tuned, binary, startup_timeout)
        self.size = nodes
        self.nats_url = ""

    def _start(self) -> None:
        root = self._make_root()
        binaries = find_server(self._binary)
        nats_port = free_port()
        self.nats_url = f"nats://127.0.0.1:{nats_port}"
        nats = ServerProcess(
            "NATS server",
            [str(require_nats_server(binaries)), "-a", "127.0.0.1", "-p", str(nats_port)],
            root / "nats" / "nats.log",
        )
        self._helpers = [nats]
        nats.start()
        wait_port(nats_port, timeout=self.startup_timeout, check_alive=nats.check_alive, what="NATS server")
        ids = [f"node{i}" for i in range(self.size)]
        self._nodes = [
            _Node(
                root=root,
                server_id=server_id,
                binary=binaries.liftbridge,
                port=free_port(),
                nats_url=self.nats_url,
                options=self.options,
                peers=ids,
            )
            for server_id in ids
        ]
        for node in self._nodes:
            node.process.start()
        for node in self._nodes:
            node.start(credentials=self.credentials, timeout=self.startup_timeout, brokers=self.size)

    @property
    def addresses(self) -> list[str]:
        """Every node's gRPC address, by node index."""
        return [n.address for n in self._started_nodes()]

    @property
    def server_ids(self) -> list[str]:
        """Every node's server id, by node index."""
        return [n.server_id for n in self._started_nodes()]

    @property
    def data_dirs(self) -> list[Path]:
        """Every node's data directory, by node index."""
        return [n.data_dir for n in self._started_nodes()]

    @property
    def log_paths(self) -> list[Path]:
        """Every node's log file, by node index."""
        return [n.log_path for n in self._started_nodes()]

    def is_running(self, node: int) -> bool:
        """Whether node ``node``'s process is running."""
        return self._started_nodes()[node].process.running

    def stop(self, node: int) -> None:
        """Stop one node gracefully (SIGTERM), keeping its data."""
        self._started_nodes()[node].process.stop()

    def kill(self, node: int) -> None:
        """SIGKILL one node, keeping its data."""
        self._started_nodes()[node].process.kill()

    def pause(self, node: int) -> None:
        """SIGSTOP one node: a hung broker, not a dead one (its connections stay open). See :meth:`resume`."""
        self._signal(node, signal.SIGSTOP)

    def resume(self, node: int) -> None:
        """SIGCONT a node that :meth:`pause` stopped."""
        self._signal(node, signal.SIGCONT)

    def _signal(self, node: int, sig: signal.Signals) -> None:
        pid = self._started_nodes()[node].process.pid
        if pid is None:
            raise ValueError(f"node{node} is not running")
        os.kill(pid, sig)

    def restart(self, node: int) -> None:
        """Start one node again on its port and data directory; wait until it is ready."""
        n = self._started_nodes()[node]
        n.process.stop()
        n.start(credentials=self.credentials, timeout=self.startup_timeout, brokers=1)

    def leader_of(self, stream: str, partition: int = 0) -> int | None:
        """Index of the node leading a partition, asked of the running nodes; None if none leads."""
        for node in self._started_nodes():
            if not node.process.running:
                continue
            try:
                leader = partition_leader(node.address, self.credentials, stream, partition)
            except grpc.RpcError:
                continue
            ids = self.server_ids
            return ids.index(leader) if leader in ids else None
        return None
