"""AsyncLift against the real server, inside a running event loop."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import start_new_kernel

from liftbridge_nb import (
    Ack,
    AckPolicy,
    ClientOptions,
    ErrAckTimeout,
    ErrClientClosed,
    ErrConnection,
    ErrIncorrectOffset,
    ErrMessageTooLarge,
    ErrNoSuchPartition,
    ErrStreamExists,
    Lift,
    LiftbridgeError,
    Message,
    Start,
    Stop,
    Stream,
)
from liftbridge_nb.aio import AsyncLift, AsyncSubscription
from liftbridge_nb.server import LocalCluster, LocalServer
from tests import faults
from tests.polling import wait_for
from tests.test_nats import OURS, LoneNats
from tests.tooling import ROOT


def test_async_client_end_to_end(server_address: str, stream_name: str) -> None:
    async def main() -> None:
        async with AsyncLift(server_address, timeout=5) as client:
            await client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
            with pytest.raises(ErrStreamExists):
                await client.create_stream(Stream(subject=stream_name, name=stream_name))
            ack = await client.publish(Message(stream=stream_name, value="a", ack_policy="all"))
            assert ack is not None and ack.offset == 0 and ack.ack_policy == AckPolicy.ALL
            assert await client.publish(Message(stream=stream_name, value="b", ack_policy="none")) is None
            acks = await client.publish_many([Message(stream=stream_name, value=f"m{i}") for i in range(500)])
            assert [(a.partition, a.offset) for a in acks] == [(0, o) for o in range(2, 502)], "after a and b"
            future = await client.publish_async(
                Message(stream=stream_name, value="k", key="k", partitioner="key")
            )
            keyed = await future
            assert keyed is not None and keyed.partition == zlib.crc32(b"k") % 2, "the key partitioner's"
            sub = await client.subscribe(stream_name, start=Start.earliest(), stop=Stop.at_offset(1))
            async with sub:
                assert [m.value async for m in sub] == [b"a", b"b"]
            meta = await client.fetch_metadata([stream_name])
            assert sorted(meta.streams[stream_name].partitions) == [0, 1]
            info = await client.fetch_partition_metadata(stream_name, 0)
            assert info.newest_offset == 501 + (keyed.partition == 0)
            with pytest.raises(ErrNoSuchPartition):
                await client.publish(Message(stream=stream_name, value="x", partition=5))

    asyncio.run(main())


def test_async_live_subscription_and_occ(server_address: str, stream_name: str) -> None:
    async def main() -> None:
        async with AsyncLift(server_address) as client:
            await client.create_stream(
                Stream(subject=stream_name, name=stream_name, optimistic_concurrency_control=True)
            )
            sub = await client.subscribe(stream_name)  # new messages only

            async def first_two() -> list[int]:
                got = []
                async for m in sub:
                    got.append(m.offset)
                    if len(got) == 2:
                        break
                return got

            reader = asyncio.create_task(first_two())
            await client.publish(Message(stream=stream_name, value="1", expected_offset=0))
            await client.publish(Message(stream=stream_name, value="2", expected_offset=1))
            assert await asyncio.wait_for(reader, 10) == [0, 1]
            sub.close()
            with pytest.raises(ErrIncorrectOffset):
                await client.publish(Message(stream=stream_name, value="stale", expected_offset=0))

    asyncio.run(main())


def test_async_cursors_and_unreachable(stream_name: str) -> None:
    async def main() -> None:
        from liftbridge_nb.server import ServerOptions

        with LocalServer(ServerOptions(cursors_partitions=1)) as server:
            async with AsyncLift(server.address) as client:
                await client.create_stream(Stream(subject=stream_name, name=stream_name))
                await client.set_cursor("c", stream_name, 0, 3)
                assert await client.fetch_cursor("c", stream_name, 0) == 3
        async with AsyncLift("127.0.0.1:1", timeout=1) as down:
            with pytest.raises(ErrConnection):
                await down.fetch_metadata()

    asyncio.run(main())


@pytest.mark.cluster
def test_async_subscription_survives_a_leader_kill(cluster: LocalCluster, stream_name: str) -> None:
    async def main() -> None:
        async with AsyncLift(addresses=cluster.addresses) as client:
            await client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
            for i in range(5):
                await client.publish(Message(stream=stream_name, value=str(i), ack_policy="all"))
            sub = await client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=90)
            got = [await sub.__anext__() for _ in range(5)]
            leader = cluster.leader_of(stream_name)
            assert leader is not None
            await asyncio.to_thread(cluster.kill, leader)
            for i in range(5, 8):
                for _ in range(300):
                    try:
                        await client.publish(
                            Message(stream=stream_name, value=str(i), ack_policy="all"), timeout=3
                        )
                        break
                    except LiftbridgeError:  # the failover: no leader yet, or the old one gone
                        await asyncio.sleep(0.3)
                else:
                    pytest.fail(f"message {i} was never acked after the leader was killed")
            got += [await asyncio.wait_for(sub.__anext__(), 90) for _ in range(3)]
            sub.close()
            assert [m.offset for m in got] == list(range(8))
            await asyncio.to_thread(cluster.restart, leader)

    asyncio.run(main())


def test_async_consumer_group(cursors_server: LocalServer, stream_name: str) -> None:
    async def main() -> None:
        async with AsyncLift(cursors_server.address) as client:
            await client.create_stream(Stream(subject=stream_name, name=stream_name, partitions=2))
            for i in range(6):
                await client.publish(Message(stream=stream_name, value=str(i), partition=i % 2))
            async with await client.consumer(
                f"g-{stream_name}", [stream_name], auto_offset="earliest"
            ) as member:
                got = []
                async for message in member:
                    got.append(message.value)
                    if len(got) == 6:
                        break
            assert sorted(got) == [str(i).encode() for i in range(6)]

    asyncio.run(main())


def test_async_mutual_tls_and_its_refusals(
    tls_files: dict[str, Path], mtls_server: LocalServer, stream_name: str
) -> None:
    from liftbridge_nb import TLSConfig

    ca, cert, key = tls_files["ca_crt"], tls_files["client_crt"], tls_files["client_key"]

    async def main() -> None:
        async with AsyncLift(mtls_server.address, tls=TLSConfig(ca=ca, cert=cert, key=key)) as client:
            await client.create_stream(Stream(subject=stream_name, name=stream_name))
            ack = await client.publish(Message(stream=stream_name, value="sealed", ack_policy=AckPolicy.ALL))
            assert ack is not None and ack.offset == 0
            sub = await client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest())
            got = [m.value async for m in sub]
            assert got == [b"sealed"]
        refusals = {
            "requires a client certificate": TLSConfig(ca=ca),
            "refused the client certificate": TLSConfig(
                ca=ca, cert=tls_files["rogue_client_crt"], key=tls_files["rogue_client_key"]
            ),
            "not trusted: pass the CA that signed it": TLSConfig(
                ca=tls_files["rogue_ca_crt"], cert=cert, key=key
            ),
        }
        for hint, tls in refusals.items():
            async with AsyncLift(mtls_server.address, tls=tls, timeout=3) as outsider:
                with pytest.raises(ErrConnection, match=hint) as info:
                    await outsider.fetch_metadata()
                assert info.value.reason and info.value.reason in str(info.value)

    asyncio.run(main())


def test_async_close_from_another_task_ends_iteration_and_closed_clients_say_so(stream_name: str) -> None:
    with LocalServer() as server:
        client = AsyncLift(server.address)

        async def drain(sub: AsyncSubscription) -> list[bytes]:
            return [m.value async for m in sub]

        async def main() -> None:
            await client.create_stream(Stream(subject=stream_name, name=stream_name))
            await client.publish(Message(stream=stream_name, value="a"))
            sub = await client.subscribe(stream_name, start=Start.earliest())
            reader = asyncio.create_task(drain(sub))
            await asyncio.sleep(0.5)  # the reader waits for more
            sub.close()  # from this task: the reader's async for simply ends
            assert await asyncio.wait_for(reader, 10) == [b"a"]
            reader = asyncio.create_task(drain(await client.subscribe(stream_name, start=Start.earliest())))
            await asyncio.sleep(0.5)
            server.pause()  # a call under way when the client closes: hung on the broker
            pending = asyncio.create_task(client.fetch_metadata(timeout=30))
            await asyncio.sleep(0.5)
            await client.close()
            with pytest.raises(ErrClientClosed, match="closed"):
                await asyncio.wait_for(pending, 10)
            assert await asyncio.wait_for(reader, 10) == [b"a"], "a subscription of a closed client ends"
            server.resume()
            with pytest.raises(ErrClientClosed, match="closed"):
                await client.fetch_metadata()
            with pytest.raises(ErrClientClosed, match="closed"):
                await client.subscribe(stream_name)

        asyncio.run(main())


def test_cancelling_the_reading_task_closes_the_subscription(server_address: str, stream_name: str) -> None:
    async def main() -> None:
        async with AsyncLift(server_address) as client:
            await client.create_stream(Stream(subject=stream_name, name=stream_name))
            sub = await client.subscribe(stream_name)  # new messages only: it waits
            reader = asyncio.create_task(sub.__anext__())
            await asyncio.sleep(0.3)
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            assert sub.closed
            with pytest.raises(StopAsyncIteration):
                await sub.__anext__()

    asyncio.run(main())


def test_async_subscriptions_await_their_batches_in_the_native_runtime_without_a_thread_each(
    server_address: str, stream_name: str
) -> None:
    """Awaiting the next batch takes no thread (it once took one per subscription, in an executor).

    Each subscription still has its watch (a thread that checks a silent broker, as a Subscription does).
    """
    n = 12

    async def main() -> None:
        async with AsyncLift(server_address) as client:
            names = [f"{stream_name}-{i}" for i in range(n)]
            for name in names:
                await client.create_stream(Stream(subject=name, name=name))
            before = {t.name for t in threading.enumerate()}
            subs = [await client.subscribe(name) for name in names]
            readers = [asyncio.create_task(sub.__anext__()) for sub in subs]
            await asyncio.sleep(0)  # each reader's first step: it now awaits its first batch
            assert not any(r.done() for r in readers)
            new = [
                t.name
                for t in threading.enumerate()
                if t.name.startswith("liftbridge") and t.name not in before
            ]
            assert sorted(new) == sorted(f"liftbridge-watch-{name}" for name in names)
            for name in names:
                await client.publish(Message(value=name.encode(), stream=name))
            got = await asyncio.wait_for(asyncio.gather(*readers), 10)
            assert [m.value for m in got] == [name.encode() for name in names]
            assert [m.offset for m in got] == [0] * n
            for sub in subs:
                sub.close()

    asyncio.run(main())


def test_the_interpreter_exits_cleanly_while_async_subscriptions_await_batches(
    server_address: str, stream_name: str
) -> None:
    """A batch awaited in the native runtime at the interpreter's exit is not handed to a dead interpreter."""
    script = f"""
import asyncio, threading
from liftbridge_nb import Stream
from liftbridge_nb.aio import AsyncLift

awaiting = threading.Event()

async def main():
    client = AsyncLift({server_address!r})
    await client.create_stream(Stream(subject={stream_name!r}, name={stream_name!r}))
    subs = [await client.subscribe({stream_name!r}) for _ in range(4)]
    readers = [asyncio.ensure_future(sub.__anext__()) for sub in subs]
    await asyncio.sleep(0)
    awaiting.set()
    await asyncio.gather(*readers)

threading.Thread(target=asyncio.run, args=(main(),), daemon=True).start()
assert awaiting.wait(30)
print("exiting")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "exiting\n", "")


def test_an_async_client_serves_a_second_event_loop(server_address: str, stream_name: str) -> None:
    client = AsyncLift(server_address)

    async def first() -> None:
        await client.create_stream(Stream(subject=stream_name, name=stream_name))
        await client.publish(Message(stream=stream_name, value="a"))

    async def second() -> list[bytes]:
        sub = await client.subscribe(stream_name, start=Start.earliest(), stop=Stop.latest())
        got = [m.value async for m in sub]
        await client.close()
        return got

    asyncio.run(first())
    assert asyncio.run(second()) == [b"a"]


@pytest.mark.cluster
def test_async_subscription_on_a_hung_leader_moves_to_the_new_one(
    cluster: LocalCluster, stream_name: str
) -> None:
    async def main() -> list[int]:
        async with AsyncLift(addresses=cluster.addresses, timeout=3) as client:
            await client.create_stream(Stream(subject=stream_name, name=stream_name, replication_factor=3))
            await asyncio.to_thread(faults.wait_in_isr, cluster, stream_name)
            await client.publish(Message(stream=stream_name, value="before", ack_policy="all"))
            sub = await client.subscribe(stream_name, start=Start.earliest(), resubscribe_wait=60)
            got = [await asyncio.wait_for(sub.__anext__(), 30)]
            hung = await asyncio.to_thread(faults.leader, cluster, stream_name)
            reader = asyncio.create_task(sub.__anext__())  # waits on the leader about to hang
            cluster.pause(hung)
            try:
                await asyncio.to_thread(faults.leader, cluster, stream_name, other_than=hung)
                with Lift(addresses=cluster.addresses, timeout=3) as sync:
                    await asyncio.to_thread(
                        faults.publish_until_acked,
                        sync,
                        Message(stream=stream_name, value="after", ack_policy="all"),  # not in doubt
                    )
                got.append(await asyncio.wait_for(reader, 30))  # within 30 s of the election
            finally:
                sub.close()
                cluster.resume(hung)
            assert sub.resubscribes >= 1 and sub.address != cluster.addresses[hung]
            await asyncio.to_thread(faults.wait_in_isr, cluster, stream_name)
            return [m.offset for m in got]

    assert asyncio.run(main()) == [0, 1]


def _read_all(client: Lift, stream: str) -> list[Message]:
    return list(client.subscribe(stream, start=Start.earliest(), stop=Stop.latest()))


def test_async_publishing_at_once_stores_each_message_once(
    local_server: LocalServer, stream_name: str
) -> None:
    # 1,000 publish_async tasks, 10 publish_many and 200 publish at once, on one event loop.
    async def main() -> list[object]:
        async with AsyncLift(local_server.address) as client:
            await client.create_stream(Stream(subject=stream_name, name=stream_name))

            async def one_async(i: int) -> Ack | None:
                return await (await client.publish_async(Message(stream=stream_name, value=f"a{i}")))

            async def many(i: int) -> list[Ack]:
                return await client.publish_many(
                    [Message(stream=stream_name, value=f"m{i}-{j}") for j in range(100)]
                )

            async def one(i: int) -> Ack | None:
                return await client.publish(Message(stream=stream_name, value=f"p{i}", ack_policy="all"))

            outcomes = await asyncio.gather(
                *(one_async(i) for i in range(1_000)),
                *(many(i) for i in range(10)),
                *(one(i) for i in range(200)),
                return_exceptions=True,
            )
            return list(outcomes)

    outcomes = asyncio.run(main())
    acks = [a for o in outcomes for a in (o if isinstance(o, list) else [o])]
    assert all(isinstance(a, Ack) for a in acks), [a for a in acks if not isinstance(a, Ack)][:3]
    expected = {f"a{i}" for i in range(1_000)} | {f"p{i}" for i in range(200)}
    expected |= {f"m{i}-{j}" for i in range(10) for j in range(100)}
    with Lift(local_server.address) as reader:
        stored = [m.value.decode() for m in _read_all(reader, stream_name)]
    assert len(stored) == len(expected) == len(acks) and set(stored) == expected
    assert sorted(a.offset for a in acks if isinstance(a, Ack)) == list(range(len(expected)))


def test_async_publishing_behaves_as_lifts(
    local_server: LocalServer, stream_name: str, tmp_path: Path
) -> None:
    # The same machinery as Lift's: ClientOptions(nats=...) is honoured, an ack that does not come is
    # ErrAckTimeout, a pause it makes is known at once, an oversized message fails alone, and
    # publish_many checks every message first.
    async def main() -> None:
        async with AsyncLift(local_server.address) as admin:
            await admin.create_stream(Stream(subject=stream_name, name=stream_name))
        with LoneNats(tmp_path) as nats:  # no Liftbridge listens on it: nothing acks
            async with AsyncLift(local_server.address, options=ClientOptions(nats=nats.url())) as client:
                with pytest.raises(ErrAckTimeout):
                    await client.publish(Message(stream=stream_name, value="swallowed"), timeout=0.3)
            wait_for(lambda: nats.in_msgs() == 1, timeout=10, what="the message to reach NATS")
        options = ClientOptions(nats=local_server.nats_url)
        async with AsyncLift(local_server.address, options=options) as client:
            acks = [await client.publish(Message(stream=stream_name, value=str(i))) for i in range(25)]
            assert all(a is not None and a.ack_inbox.startswith(OURS) for a in acks)
            batch = await client.publish_many(
                [Message(stream=stream_name, value=str(i)) for i in range(25, 50)]
            )
            assert not any(a.ack_inbox.startswith(OURS) for a in batch)  # a batch goes through the brokers
            await client.pause_stream(stream_name)  # this client knows at once: the brokers take the next
            resumed = await client.publish(Message(stream=stream_name, value="resumes it"))
            assert resumed is not None and not resumed.ack_inbox.startswith(OURS) and resumed.offset == 50
            with pytest.raises(TypeError, match="publish_many takes a list of Message; item 1 is str"):
                await client.publish_many([Message(stream=stream_name, value="unsent"), "x"])  # type: ignore[list-item]
            big = Message(stream=stream_name, value=b"x" * (5 * 1024 * 1024))
            with pytest.raises(ErrMessageTooLarge, match="refused before sending"):
                await client.publish(big)
            with pytest.raises(ErrMessageTooLarge, match="refused before sending"):
                await (await client.publish_async(big))
            with pytest.raises(ValueError, match="ack_timeout"):
                await client.publish_async(big, ack_timeout=math.inf)
        with Lift(local_server.address) as reader:
            stored = [m.value for m in _read_all(reader, stream_name)]
            assert stored == [str(i).encode() for i in range(50)] + [b"resumes it"]

    asyncio.run(main())


def _run_cell(kernel: BlockingKernelClient, code: str) -> str:
    """Execute one cell in a Jupyter kernel (bounded); its stdout, or a failure with its traceback."""
    out: list[str] = []
    errors: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "stream" and content["name"] == "stdout":
            out.append(content["text"])
        elif msg["msg_type"] == "error":
            errors.append("\n".join(content["traceback"]))

    reply = kernel.execute_interactive(code, timeout=120, output_hook=hook)
    assert reply["content"]["status"] == "ok", errors or reply["content"]
    return "".join(out)


def test_publish_async_with_top_level_await_in_a_jupyter_kernel(
    server_address: str, stream_name: str
) -> None:
    # A real ipykernel runs the cells on its own event loop, as JupyterLab's kernel does: 200
    # publish_async started at once from a cell's top-level await all get their ack, each stored once.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this tree's liftbridge_nb
    manager, kernel = start_new_kernel(startup_timeout=120, kernel_name="python3", cwd=str(ROOT), env=env)
    try:
        where = _run_cell(
            kernel,
            f"""
import asyncio, json
import liftbridge_nb
from liftbridge_nb import Ack, Message, Stream
from liftbridge_nb.aio import AsyncLift

client = AsyncLift({server_address!r}, timeout=10)
await client.create_stream(Stream(subject={stream_name!r}, name={stream_name!r}))
print(liftbridge_nb.__file__)
""",
        )
        assert Path(where.strip()).is_relative_to(ROOT)
        printed = _run_cell(
            kernel,
            f"""
messages = [Message(stream={stream_name!r}, value=str(i)) for i in range(200)]
sent = await asyncio.wait_for(
    asyncio.gather(*(client.publish_async(m) for m in messages), return_exceptions=True), 60
)

async def outcome(s):
    return await s if isinstance(s, asyncio.Future) else s

results = await asyncio.wait_for(asyncio.gather(*map(outcome, sent), return_exceptions=True), 60)
await client.close()
print(json.dumps([r.offset if isinstance(r, Ack) else repr(r) for r in results]))
""",
        )
    finally:
        kernel.stop_channels()
        manager.shutdown_kernel(now=True)
    offsets = json.loads(printed)
    assert all(isinstance(o, int) for o in offsets), [o for o in offsets if not isinstance(o, int)][:3]
    assert sorted(offsets) == list(range(200))
    with Lift(server_address) as reader:
        stored = {m.offset: m.value for m in _read_all(reader, stream_name)}
    assert len(stored) == 200
    assert all(stored[o] == str(i).encode() for i, o in enumerate(offsets))
