"""LiftbridgeContainer on a real Docker engine (testcontainers), with host networking."""

from __future__ import annotations

import pytest

from liftbridge_nb._proto import api_pb2
from liftbridge_nb.errors import ServerError
from liftbridge_nb.server import DEFAULT_IMAGE, LiftbridgeContainer
from tests import stub_path

pytestmark = pytest.mark.container


def test_container_roundtrip(container: LiftbridgeContainer, stream_name: str) -> None:
    assert container.address.startswith("127.0.0.1:")
    values = stub_path.roundtrip(container.address, stream_name, count=4)
    assert values == [f"message {i}".encode() for i in range(4)]


def test_container_advertises_a_loopback_broker(container: LiftbridgeContainer) -> None:
    channel, api = stub_path.stub(container.address)
    with channel:
        (broker,) = api.FetchMetadata(api_pb2.FetchMetadataRequest(), timeout=5).brokers
    assert (broker.host, broker.port) == ("127.0.0.1", int(container.address.rsplit(":", 1)[1]))
    assert "Server became metadata leader" in container.logs(lines=200)


def test_unavailable_image_says_how_to_build_one() -> None:
    # No registry is reachable here, as on an offline laptop: the default image cannot be pulled.
    with pytest.raises(ServerError, match=r"build_image\(\)") as info:
        LiftbridgeContainer(DEFAULT_IMAGE, startup_timeout=5).start()
    assert DEFAULT_IMAGE in str(info.value)
