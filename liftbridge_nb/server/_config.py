"""Settings of a local Liftbridge server and their rendering as configuration files."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

LOG_LEVELS = ("debug", "info", "warn", "error")
_TLS_FILES = ("tls_cert", "tls_key", "tls_client_ca", "tls_ca", "tls_client_cert", "tls_client_key")


@dataclass(frozen=True)
class ServerOptions:
    """What a local server (or every node of a cluster) is configured with.

    ``None`` leaves the server's default. Stream defaults apply to streams
    created without their own setting. ``extra`` takes any other Liftbridge
    configuration key verbatim, e.g. ``{"clustering.replication.max.bytes": 2048}``.

    TLS: ``tls_cert``/``tls_key`` make the server speak TLS; ``tls_client_ca``
    additionally requires client certificates signed by that CA. The
    launcher's own readiness probe connects like a client does, trusting
    ``tls_ca`` (default: ``tls_cert`` itself, for a self-signed certificate)
    and presenting ``tls_client_cert``/``tls_client_key`` when given (which
    ``tls_client_ca`` needs). Each is a file path, never the PEM itself: the
    repr and the configuration files show paths only.
    """

    cursors_partitions: int = 0
    activity_stream: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    tls_ca: Path | None = None
    tls_client_cert: Path | None = None
    tls_client_key: Path | None = None
    retention_max_age: timedelta | None = None
    retention_max_bytes: int | None = None
    retention_max_messages: int | None = None
    compact: bool | None = None
    auto_pause_time: timedelta | None = None
    auto_pause_disable_if_subscribers: bool | None = None
    log_level: str = "info"
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.log_level not in LOG_LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(LOG_LEVELS)}, not {self.log_level!r}")
        if self.cursors_partitions < 0:
            raise ValueError(f"cursors_partitions must be >= 0, not {self.cursors_partitions}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        if self.tls_client_ca is not None and self.tls_cert is None:
            raise ValueError("tls_client_ca needs tls_cert and tls_key: client auth runs over TLS")
        if (self.tls_client_cert is None) != (self.tls_client_key is None):
            raise ValueError("tls_client_cert and tls_client_key go together: give both or neither")
        for name in _TLS_FILES:
            value = getattr(self, name)
            if value is not None and not isinstance(value, str | os.PathLike):
                # A path, never the PEM itself: the repr and the config file show these.
                raise TypeError(f"ServerOptions {name} takes a file path, not {type(value).__name__}")

    @property
    def tls(self) -> bool:
        """Whether clients must connect with TLS."""
        return self.tls_cert is not None

    def entries(self) -> dict[str, object]:
        """Configuration keys for these options (flat, dotted Liftbridge names)."""
        out: dict[str, object] = {"logging.level": self.log_level}
        if self.cursors_partitions:
            out["cursors.stream.partitions"] = self.cursors_partitions
        if self.activity_stream:
            out["activity.stream.enabled"] = True
        if self.tls_cert is not None and self.tls_key is not None:
            out["tls.cert"] = str(Path(self.tls_cert).resolve())
            out["tls.key"] = str(Path(self.tls_key).resolve())
        if self.tls_client_ca is not None:
            out["tls.client.auth.enabled"] = True
            out["tls.client.auth.ca"] = str(Path(self.tls_client_ca).resolve())
        optional: dict[str, object | None] = {
            "streams.retention.max.age": _duration(self.retention_max_age),
            "streams.retention.max.bytes": self.retention_max_bytes,
            "streams.retention.max.messages": self.retention_max_messages,
            "streams.compact.enabled": self.compact,
            "streams.auto.pause.time": _duration(self.auto_pause_time),
            "streams.auto.pause.disable.if.subscribers": self.auto_pause_disable_if_subscribers,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        out.update(self.extra)
        return out


def _duration(value: timedelta | None) -> str | None:
    if value is None:
        return None
    if value < timedelta(0):
        raise ValueError(f"durations must not be negative: {value}")
    return f"{value // timedelta(milliseconds=1)}ms"


def render_config(entries: Mapping[str, object]) -> str:
    """Render flat dotted keys as a Liftbridge YAML file (JSON scalars are valid YAML)."""
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in entries.items())


def node_entries(
    *,
    server_id: str,
    port: int,
    data_dir: Path | str,
    nats_url: str,
    options: ServerOptions,
    embedded_nats_config: Path | str | None = None,
    bootstrap_peers: list[str] | None = None,
    listen_host: str = "127.0.0.1",
) -> dict[str, object]:
    """All configuration keys of one node, listening on ``listen_host`` (127.0.0.1 unless in a container).

    A single node bootstraps Raft as its own seed; cluster nodes get the full
    list of peer ids instead, so that they elect one metadata leader.
    """
    out: dict[str, object] = {
        "listen": f"{listen_host}:{port}",
        # The address brokers advertise in metadata is host:port, not listen.
        "host": "127.0.0.1",
        "port": port,
        "data.dir": str(data_dir),
        "nats.servers": [nats_url],
        "clustering.server.id": server_id,
    }
    if embedded_nats_config is not None:
        out["nats.embedded"] = True
        out["nats.embedded.config"] = str(embedded_nats_config)
    if bootstrap_peers:
        out["clustering.raft.bootstrap.peers"] = bootstrap_peers
    else:
        out["clustering.raft.bootstrap.seed"] = True
    out.update(options.entries())
    return out


def nats_config(port: int, host: str = "127.0.0.1") -> str:
    """An embedded NATS server configuration (127.0.0.1 only, unless in a container)."""
    return f'listen: "{host}:{port}"\n'
