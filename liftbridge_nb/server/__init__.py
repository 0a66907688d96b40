"""Real Liftbridge servers for tests, demos and notebooks.

- :class:`LocalServer`: one node with embedded NATS on 127.0.0.1.
- :class:`LocalCluster`: N nodes sharing one NATS server, with kill/restart per node.
- :class:`LiftbridgeContainer`: a server in Docker, through testcontainers.
- :func:`find_server` / :func:`build_server`: the server binary, built once with Go and cached.
"""

from ._config import ServerOptions
from ._container import DEFAULT_IMAGE, LiftbridgeContainer, build_image
from ._install import SERVER_VERSION, ServerBinaries, build_server, cache_dir, find_server
from ._local import FAILOVER_TUNING, LocalCluster, LocalServer

__all__ = [
    "DEFAULT_IMAGE",
    "FAILOVER_TUNING",
    "SERVER_VERSION",
    "LiftbridgeContainer",
    "LocalCluster",
    "LocalServer",
    "ServerBinaries",
    "ServerOptions",
    "build_image",
    "build_server",
    "cache_dir",
    "find_server",
]
