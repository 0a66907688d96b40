"""Lift and AsyncLift are one client: the same public surface, the same errors for the same faults.

Both are thin shells over liftbridge_nb._core (routing, retries, resubscription,
what an admin call makes stale); these tests hold them to it against a real server.
"""

from __future__ import annotations

import asyncio
import inspect
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from liftbridge_nb import (
    ClientOptions,
    Consumer,
    ErrClientClosed,
    Lift,
    Message,
    Start,
    Stop,
    Stream,
    Subscription,
)
from liftbridge_nb.aio import AsyncConsumer, AsyncLift, AsyncSubscription

PAIRS = [(Lift, AsyncLift), (Subscription, AsyncSubscription), (Consumer, AsyncConsumer)]
ASYNC_ONLY = {(AsyncConsumer, "consumer")}  # the synchronous member an AsyncConsumer drives


def _public(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


def _parameters(fn: Any) -> list[tuple[str, Any, Any]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


@pytest.mark.parametrize(("sync", "aio"), PAIRS, ids=[a.__name__ for a, _ in PAIRS])
def test_both_clients_have_the_same_methods_with_the_same_parameters(sync: type, aio: type) -> None:
    assert _public(sync) == {n for n in _public(aio) if (aio, n) not in ASYNC_ONLY}
    for name in sorted(_public(sync)):
        one, other = inspect.getattr_static(sync, name), inspect.getattr_static(aio, name)
        assert isinstance(one, property) == isinstance(other, property), name
        if callable(one):
            assert _parameters(one) == _parameters(other), name


def test_both_take_the_same_options() -> None:
    assert _parameters(Lift) == _parameters(AsyncLift)
    options = ClientOptions(nats="nats://me:secret@127.0.0.1:4222")
    assert Lift("127.0.0.1:9292", options=options).nats_address == "nats://127.0.0.1:4222"
    assert AsyncLift("127.0.0.1:9292", options=options).nats_address == "nats://127.0.0.1:4222"


Fault = Callable[[Any, str], Any]

FAULTS: dict[str, Fault] = {
    "create a stream that exists": lambda c, s: c.create_stream(Stream(subject=s, name=s)),
    "delete a stream that is not": lambda c, s: c.delete_stream(f"{s}-none"),
    "pause a stream that is not": lambda c, s: c.pause_stream(f"{s}-none"),
    "partition metadata of a stream that is not": lambda c, s: c.fetch_partition_metadata(f"{s}-none"),
    "partition metadata of a partition that is not": lambda c, s: c.fetch_partition_metadata(s, 7),
    "subscribe to a partition that is not": lambda c, s: c.subscribe(s, 7),
    "subscribe to a stream that is not": lambda c, s: c.subscribe(f"{s}-none"),
    "publish to a partition that is not": lambda c, s: c.publish(Message(stream=s, value="x", partition=7)),
    "cursors on a server without them": lambda c, s: c.set_cursor("c", s, 0, 1),
    "a bad partition": lambda c, s: c.subscribe(s, -1),
    "a bad start": lambda c, s: c.subscribe(s, start=Stop.latest()),
    "a bad timeout": lambda c, s: c.fetch_metadata(timeout=-1),
    "a bad name": lambda c, s: c.fetch_metadata(["no spaces allowed"]),
}


def _outcome(call: Callable[[], Any]) -> str:
    try:
        result = call()
    except Exception as exc:
        return type(exc).__name__
    return f"no error: {type(result).__name__}"


def test_the_same_faults_raise_the_same_errors(server_address: str, stream_name: str) -> None:
    aclient = AsyncLift(server_address, timeout=5)

    async def awaited(fault: Fault) -> Any:
        result = fault(aclient, stream_name)
        return await result if isinstance(result, Awaitable) else result

    with Lift(server_address, timeout=5) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        # Each fault in its own asyncio.run: an AsyncLift serves one event loop after another.
        outcomes = {}
        for what, fault in FAULTS.items():
            in_sync = _outcome(lambda: fault(client, stream_name))  # noqa: B023 (called at once)
            in_async = _outcome(lambda: asyncio.run(awaited(fault)))  # noqa: B023
            outcomes[what] = (in_sync, in_async)
        exist_ok: Fault = lambda c, s: c.create_stream(Stream(subject=s, name=s), exist_ok=True)  # noqa: E731
        kept = (
            _outcome(lambda: exist_ok(client, stream_name)),
            _outcome(lambda: asyncio.run(awaited(exist_ok))),
        )
    asyncio.run(aclient.close())
    assert kept == ("no error: NoneType", "no error: NoneType"), "exist_ok: an existing stream is success"
    for what, (sync, aio) in outcomes.items():
        assert sync == aio and not sync.startswith("no error"), f"{what}: Lift {sync}, AsyncLift {aio}"
    assert outcomes["create a stream that exists"][0] == "ErrStreamExists"
    assert outcomes["partition metadata of a stream that is not"][0] == "ErrNoSuchStream"
    closed = {
        "Lift": _outcome(lambda: client.fetch_metadata()),
        "AsyncLift": _outcome(lambda: asyncio.run(aclient.fetch_metadata())),
    }
    assert closed == {"Lift": ErrClientClosed.__name__, "AsyncLift": ErrClientClosed.__name__}


def test_admin_calls_make_the_cached_state_stale_in_both(server_address: str, stream_name: str) -> None:
    admin: list[Callable[[Any, str], Any]] = [
        lambda c, s: c.pause_stream(s),
        lambda c, s: c.set_stream_readonly(s),
        lambda c, s: c.set_stream_readonly(s, readonly=False),
        lambda c, s: c.delete_stream(s),
    ]

    async def run_async(client: AsyncLift, step: Callable[[Any, str], Any]) -> bool:
        await client.fetch_metadata([stream_name])
        fresh = client._cache.route(stream_name, 0, 60) is not None
        await step(client, stream_name)
        return fresh and client._cache.route(stream_name, 0, 60) is None

    with Lift(server_address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        for step in admin:
            client.fetch_metadata([stream_name])
            assert client._cache.route(stream_name, 0, 60) is not None
            step(client, stream_name)
            assert client._cache.route(stream_name, 0, 60) is None, "forgotten: a publish looks again"
        client.create_stream(Stream(subject=stream_name, name=stream_name))

    async def main() -> list[bool]:
        async with AsyncLift(server_address) as aclient:
            return [await run_async(aclient, step) for step in admin]

    assert asyncio.run(main()) == [True] * len(admin)


def test_a_subscription_ends_the_same_way_in_both(server_address: str, stream_name: str) -> None:
    with Lift(server_address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name))
        client.publish(Message(stream=stream_name, value="a"))
        client.set_stream_readonly(stream_name)
        sync = [_outcome(lambda: list(client.subscribe(stream_name, start=Start.earliest())))]
        sync.append(
            _outcome(lambda: list(client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest())))
        )

    async def main() -> list[str]:
        async with AsyncLift(server_address) as aclient:
            out = []
            for stop in (None, Stop.latest()):
                sub = await aclient.subscribe(stream_name, start=Start.earliest(), stop=stop)
                try:
                    out.append(f"no error: {type([m async for m in sub]).__name__}")
                except Exception as exc:
                    out.append(type(exc).__name__)
            return out

    assert sync == asyncio.run(main()) == ["ErrEndOfReadonlyPartition", "no error: list"]


def test_keyed_messages_go_to_the_same_partition_in_both(server_address: str, stream_name: str) -> None:
    # No partition and no partitioner: the key's CRC-32 modulo the partition count, in every method.
    keys = [f"customer-{i}" for i in range(16)]
    expected = [zlib.crc32(k.encode()) % 4 for k in keys]

    async def main() -> dict[str, list[int]]:
        async with AsyncLift(server_address) as aclient:

            def batch(tag: str) -> list[Message]:
                return [Message(stream=stream_name, key=k, value=f"{tag}/{k}") for k in keys]

            one = [await aclient.publish(m) for m in batch("publish")]
            futures = [await aclient.publish_async(m) for m in batch("publish_async")]
            pipelined = [await f for f in futures]
            many = await aclient.publish_many(batch("publish_many"))
            done: dict[str, list[Any]] = {"publish": one, "publish_async": pipelined, "publish_many": many}
            return {name: [a.partition for a in acks] for name, acks in done.items()}

    with Lift(server_address) as client:
        client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=4))
        acks = client.publish_many([Message(stream=stream_name, key=k) for k in keys])
        in_sync = [a.partition for a in acks]
        in_async = asyncio.run(main())
    assert in_sync == expected and in_async == dict.fromkeys(in_async, expected)
    assert len(set(expected)) == 4, "the keys spread over every partition"
