"""LiftbridgeContainer: a Liftbridge server in Docker, through testcontainers."""

from __future__ import annotations

import contextlib
import io
import tarfile
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import grpc

from ..errors import ServerError, ServerStartError, redact_url
from ._config import ServerOptions, nats_config, node_entries, render_config
from ._install import SERVER_VERSION, find_server
from ._probe import channel_credentials, wait_ready
from ._process import free_port

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

DEFAULT_IMAGE = "liftbridge/standalone-dev:latest"
"""The image a user with Docker gets: Liftbridge with embedded NATS, from Docker Hub."""

LOCAL_IMAGE = f"liftbridge-nb/liftbridge:{SERVER_VERSION}"
"""The tag :func:`build_image` gives the image it builds from the local binary."""

CONTAINER_PORT = 9292
_CONF_DIR = "/liftbridge-nb"

_DOCKERFILE = """\
FROM scratch
COPY liftbridge /liftbridge
EXPOSE 9292 4222
ENTRYPOINT ["/liftbridge"]
CMD ["--embedded-nats", "--raft-bootstrap-seed", "--data-dir", "/data"]
"""


def _docker_error(exc: Exception) -> ServerError:
    return ServerError(
        f"Docker is not reachable ({exc}). Start a Docker engine, or set DOCKER_HOST to its socket; "
        "or run a server without Docker: liftbridge_nb.server.LocalServer."
    )


def build_image(tag: str = LOCAL_IMAGE, *, binary: Path | str | None = None) -> str:
    """Build a ``FROM scratch`` image around the static Liftbridge binary; return its tag.

    For machines that cannot pull :data:`DEFAULT_IMAGE`. The binary is the one
    :func:`find_server` returns (built with ``CGO_ENABLED=0``, so it needs no
    libc); a binary of your own must be static too.
    """
    import docker  # comes with testcontainers

    lift = find_server(binary).liftbridge
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        dockerfile = _DOCKERFILE.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(lift, arcname="liftbridge")
    context.seek(0)
    try:
        with contextlib.closing(docker.from_env()) as client:
            client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    except docker.errors.DockerException as exc:
        raise _docker_error(exc) from exc
    return tag


class LiftbridgeContainer:
    """A Liftbridge server in a Docker container, ready when a metadata leader answers.

    By default it runs :data:`DEFAULT_IMAGE` with its own configuration and
    publishes port 9292 on a random host port; :attr:`address` is where to
    connect. That image advertises host ``0.0.0.0``, so clients must keep
    using the address they were given (liftbridge_nb's client does).

    With ``host_network=True`` (Linux engines only) the container shares the
    host's network and is configured like :class:`LocalServer`: Liftbridge and
    its embedded NATS listen on free ports of 127.0.0.1. ``options`` (and a
    ``host_network`` container always) replace the image's configuration with
    ours, copied into the container. The image's entrypoint must be the
    liftbridge binary (true of :data:`DEFAULT_IMAGE` and of :func:`build_image`'s).

    Needs the ``docker`` extra (testcontainers) and a reachable Docker engine.
    """

    def __init__(
        self,
        image: str = DEFAULT_IMAGE,
        options: ServerOptions | None = None,
        *,
        host_network: bool = False,
        startup_timeout: float = 60.0,
        docker_client_kw: dict[str, Any] | None = None,
    ) -> None:
        self.image = image
        self.options = options or ServerOptions()
        self.host_network = host_network
        self.startup_timeout = startup_timeout
        self._configured = host_network or options is not None
        self._docker_client_kw = docker_client_kw
        self._container: DockerContainer | None = None
        self._address: str | None = None

    @property
    def credentials(self) -> grpc.ChannelCredentials | None:
        """Channel credentials that gRPC clients of this server need (``None`` without TLS)."""
        return channel_credentials(self.options)

    @property
    def address(self) -> str:
        """``"HOST:PORT"`` to connect to."""
        if self._address is None:
            raise RuntimeError("LiftbridgeContainer is not started")
        return self._address

    @property
    def container(self) -> DockerContainer:
        """The underlying testcontainers ``DockerContainer``."""
        if self._container is None:
            raise RuntimeError("LiftbridgeContainer is not started")
        return self._container

    def _configure(self, container: DockerContainer) -> int:
        """Copy our configuration into the container; return the port Liftbridge listens on."""
        port = free_port() if self.host_network else CONTAINER_PORT
        nats_port = free_port() if self.host_network else 4222
        listen = "127.0.0.1" if self.host_network else "0.0.0.0"
        files: dict[str, bytes] = {}

        def staged(path: Path | None, name: str) -> Path | None:
            if path is None:
                return None
            files[name] = Path(path).read_bytes()
            return Path(f"{_CONF_DIR}/{name}")

        inner = replace(
            self.options,
            tls_cert=staged(self.options.tls_cert, "tls.crt"),
            tls_key=staged(self.options.tls_key, "tls.key"),
            tls_client_ca=staged(self.options.tls_client_ca, "client-ca.crt"),
        )
        entries = node_entries(
            server_id="container",
            port=port,
            data_dir="/data",
            nats_url=f"nats://127.0.0.1:{nats_port}",
            options=inner,
            embedded_nats_config=f"{_CONF_DIR}/nats.conf",
            listen_host=listen,
        )
        files["nats.conf"] = nats_config(nats_port, host=listen).encode()
        files["liftbridge.yaml"] = render_config(entries).encode()
        for name, data in files.items():
            container.with_copy_into_container(data, f"{_CONF_DIR}/{name}")
        container.with_command(["--config", f"{_CONF_DIR}/liftbridge.yaml"])
        return port

    def start(self) -> Self:
        """Create and start the container; wait until Liftbridge is ready."""
        try:
            from testcontainers.core.container import DockerContainer
        except ImportError as exc:
            raise ServerError(
                "LiftbridgeContainer needs testcontainers: pip install 'liftbridge-nb[docker]'"
            ) from exc
        import docker

        self._ensure_image(docker)
        container = DockerContainer(self.image, docker_client_kw=self._docker_client_kw)
        port = self._configure(container) if self._configured else CONTAINER_PORT
        if self.host_network:
            container.with_kwargs(network_mode="host")
        else:
            container.with_exposed_ports(port)
        try:
            container.start()
        except docker.errors.DockerException as exc:
            raise ServerStartError(f"starting a container of {self.image} failed: {exc}") from exc
        self._container = container
        try:
            if self.host_network:
                self._address = f"127.0.0.1:{port}"
            else:
                self._address = f"{container.get_container_host_ip()}:{container.get_exposed_port(port)}"
            wait_ready(
                self._address,
                credentials=self.credentials,
                timeout=self.startup_timeout,
                check_alive=self._check_alive,
                what=f"Liftbridge container {self.image}",
            )
        except BaseException as exc:
            logs = self.logs()
            self.stop()
            if isinstance(exc, ServerStartError):
                raise ServerStartError(f"{exc}\nContainer log:\n{logs}") from exc
            raise
        return self

    def _ensure_image(self, docker: Any) -> None:
        """Pull the image unless the engine has it; say how to do without a registry if that fails."""
        try:
            with contextlib.closing(docker.from_env(**(self._docker_client_kw or {}))) as client:
                try:
                    client.images.get(self.image)
                except docker.errors.ImageNotFound:
                    client.images.pull(self.image)
        except docker.errors.APIError as exc:
            raise ServerError(
                f"Docker image {self.image!r} is not on this engine and could not be pulled ({exc}). "
                "Without registry access, build one from the local binary: "
                "liftbridge_nb.server.build_image(), then LiftbridgeContainer(that_tag, host_network=True)."
            ) from exc
        except docker.errors.DockerException as exc:
            raise _docker_error(exc) from exc

    def _check_alive(self) -> None:
        wrapped = self.container.get_wrapped_container()
        wrapped.reload()
        if wrapped.status in ("exited", "dead"):
            raise ServerStartError(f"container {self.image} exited while starting:\n{self.logs()}")

    def logs(self, lines: int = 40) -> str:
        """The last lines the container wrote (stdout and stderr; passwords in URLs hidden)."""
        if self._container is None:
            return ""
        out, err = self._container.get_logs()
        text = (out + err).decode(errors="replace")
        return redact_url("\n".join(text.splitlines()[-lines:]))

    def stop(self) -> None:
        """Stop and remove the container."""
        if self._container is not None:
            self._container.stop()
            self._container = None
            self._address = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
