"""Channels against the real server: keepalive pings the server tolerates, on idle connections and streams.

A Liftbridge server keeps grpc-go's default enforcement: a ping at most every 5
minutes, none on a connection without a call; a client that pings more often is
sent GOAWAY "too_many_pings" (gRPC logs it to stderr) and its calls break.

``LBNB_IDLE_SECONDS`` sets how long the idle test idles (30 s in the suite; run
it once with 600 to see a 10-minute idle connection and subscription survive).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import grpc
import pytest

from liftbridge_nb import Lift, Message, Start, Stream
from liftbridge_nb._proto import api_pb2, api_pb2_grpc
from liftbridge_nb.client._connections import channel_options
from liftbridge_nb.config import ClientOptions
from tests.polling import wait_for

IDLE = float(os.environ.get("LBNB_IDLE_SECONDS", "30"))
REFUSED = ("too_many_pings", "GOAWAY")


@pytest.mark.timeout(IDLE + 120)
def test_an_idle_connection_and_subscription_outlive_the_servers_ping_policy(
    server_address: str, stream_name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    assert ClientOptions().keepalive >= 300, "the server allows a ping every 5 minutes at most"
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        sub = client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=0)
        got: list[Message] = []
        errors: list[BaseException] = []

        def read() -> None:
            try:
                got.extend(sub)
            except BaseException as exc:
                errors.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(IDLE)  # the idling is what is tested: nothing to wait for
        client.publish(Message(stream=stream_name, value="after the idle"))  # on the idle connection
        wait_for(lambda: got or errors, timeout=30, what="the message published after the idle")
        sub.close()
        reader.join(timeout=30)
    assert not errors and [m.value for m in got] == [b"after the idle"]
    assert sub.resubscribes == 0
    out, err = capfd.readouterr()
    assert not [line for line in (out + err).splitlines() if any(s in line for s in REFUSED)]


def test_a_keepalive_the_server_refuses_breaks_the_stream_and_grpc_prints_nothing(
    server_address: str, stream_name: str, capfd: pytest.CaptureFixture[str]
) -> None:
    # What the test above would see with a ping a second (the old default of 30 s took 90-150 s).
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
    eager = [(k, v) for k, v in channel_options(ClientOptions(), None) if k != "grpc.keepalive_time_ms"]
    with grpc.insecure_channel(server_address, options=[*eager, ("grpc.keepalive_time_ms", 1000)]) as channel:
        call: Any = api_pb2_grpc.APIStub(channel).Subscribe(
            api_pb2.SubscribeRequest(stream=stream_name), timeout=60
        )
        next(call)  # the handshake; then nothing comes but pings
        with pytest.raises(grpc.RpcError, match="too_many_pings"):
            next(call)
    # gRPC's C core logs it to stderr unless liftbridge_nb._logs turned its logging off (see test_logs).
    assert "too_many_pings" not in capfd.readouterr().err
