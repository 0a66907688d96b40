"""Bad input, one row each: the client, AsyncLift, read_stream, the magics and the widgets.

Every row names the error class it must raise (exactly that class) and words its
message must contain: what went wrong and what to do. Widget rows read the error
the widget shows instead of raising. After every row nothing is half done (no
stream created, no message published, the paused, readonly and optimistic
concurrency partitions as they were) and the client and the shell still work.
One real server serves the module, with one set of prepared streams.
"""

from __future__ import annotations

import asyncio
import functools
import html
import os
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from liftbridge_nb import (
    AsyncLift,
    Backoff,
    ClientOptions,
    ErrConnection,
    ErrCursorsDisabled,
    ErrDecode,
    ErrIncorrectOffset,
    ErrInvalidArgument,
    ErrMessageTooLarge,
    ErrNoSuchPartition,
    ErrNoSuchStream,
    ErrOutOfRange,
    ErrPartitionPaused,
    ErrReadonlyPartition,
    ErrStreamExists,
    Lift,
    LiftbridgeError,
    Message,
    Start,
    Stop,
    Stream,
)
from liftbridge_nb.frames import read_stream
from liftbridge_nb.magics import MagicError
from liftbridge_nb.server import LocalServer
from liftbridge_nb.widgets import ClusterView, LiveTail, PublishForm, StreamBrowser

BIG = b"x" * (1024 * 1024 + 1)  # over the server's (NATS') 1 MiB max_payload
UNREACHABLE = "127.0.0.1:1"


@dataclass
class Env:
    """The module's server, client and shell, and the names of the prepared streams."""

    address: str
    client: Lift
    shell: InteractiveShell
    good: str  # 2 partitions: 0 holds a JSON object, text and non-UTF-8 bytes; 1 holds a JSON object
    paused: str
    readonly: str
    occ: str  # optimistic concurrency control
    missing: str  # never created (close to ``good``, for "did you mean")
    pid: int | None = None  # the server's process

    @property
    def prepared(self) -> tuple[str, ...]:
        return (self.good, self.paused, self.readonly, self.occ)

    def magic(self, name: str, line: str = "", cell: str | None = None) -> Any:
        """Run a magic as a notebook cell would (output captured)."""
        with capture_output():
            if cell is not None:
                run_cell_magic: Any = self.shell.run_cell_magic
                return run_cell_magic(name, line, cell)
            return self.shell.run_line_magic(name, line)

    def aio(self, fn: Callable[[AsyncLift], Awaitable[Any]]) -> Any:
        """Run ``fn`` with a fresh AsyncLift of the module's server, in a fresh event loop."""

        async def main() -> Any:
            async with AsyncLift(self.address) as client:
                return await fn(client)

        return asyncio.run(main())

    def read(self, stream: str, **kwargs: Any) -> pd.DataFrame:
        frame: pd.DataFrame = read_stream(stream, client=self.client, progress=False, **kwargs)
        return frame


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    u = uuid.uuid4().hex[:8]
    names = {kind: f"bad-{kind}-{u}" for kind in ("good", "paused", "readonly", "occ")}
    cwd = Path.cwd()
    os.chdir(tmp_path_factory.mktemp("bad-input"))  # no pyproject.toml settings leak into the magics
    with LocalServer() as server, Lift(server.address) as client:
        good = names["good"]
        client.create_stream(Stream(subject=good, name=good, partitions=2))
        for value in (b'{"n": 1}', b"plain text", b"\xff\xfe binary"):
            client.publish(Message(stream=good, value=value, partition=0))
        client.publish(Message(stream=good, value=b'{"n": 2}', partition=1))
        for kind in ("paused", "readonly"):
            client.create_stream(Stream(subject=names[kind], name=names[kind]))
            client.publish(Message(stream=names[kind], value=kind))
        occ = names["occ"]
        client.create_stream(Stream(subject=occ, name=occ, optimistic_concurrency_control=True))
        client.publish(Message(stream=occ, value="first", expected_offset=0))
        client.pause_stream(names["paused"])
        client.set_stream_readonly(names["readonly"])
        InteractiveShell.clear_instance()  # a shell of its own, not one another test module left
        shell = InteractiveShell.instance()
        shell.run_line_magic("load_ext", "liftbridge_nb")
        try:
            with capture_output():
                shell.run_line_magic("lift_connect", f"{server.address} --alias main")
            yield Env(server.address, client, shell, missing=f"{good}x", pid=server.pid, **names)
        finally:
            shell.run_line_magic("unload_ext", "liftbridge_nb")
            InteractiveShell.clear_instance()
            os.chdir(cwd)


# -- actions that need more than a line ------------------------------------------------------------


def unreachable(e: Env) -> None:
    with Lift(UNREACHABLE, timeout=1) as client:
        client.fetch_metadata()


def magic_too_large(e: Env) -> None:
    e.shell.user_ns["big"] = BIG.decode()
    try:
        e.magic("lift_publish", e.good, "{{ big }}")
    finally:
        del e.shell.user_ns["big"]


def browser(e: Env, stream: str | None = None, **settings: Any) -> str:
    """A StreamBrowser of ``stream`` with widget ``settings``, read again; the status it shows."""
    b = StreamBrowser(e.client, stream)
    for name, value in settings.items():
        getattr(b, name).value = value
    b.go_button.click()
    return str(b.status.value)


def browser_of_missing(e: Env) -> str:
    b = StreamBrowser(e.client, e.missing)
    assert b.stream.value is None and b.to_dataframe().empty, "no other stream shown in its place"
    return str(b.status.value)


def tail(e: Env, stream: str, **kwargs: Any) -> str:
    t = LiveTail(e.client, stream, **kwargs)
    try:
        assert not t.running
        return str(t.status.value)
    finally:
        t.stop()


def form(e: Env, stream: str, value: str | bytes = "v", headers: str = "") -> str:
    f = PublishForm(e.client, stream)
    f.value.value = value.decode() if isinstance(value, bytes) else value
    f.headers.value = headers
    f.publish()
    assert f.acks == []
    return str(f.result.value)


def publish_many_readonly(e: Env) -> None:
    e.client.publish_many([Message(stream=e.readonly, value=str(i)) for i in range(3)])


def create(e: Env, **fields: Any) -> None:
    """Create the (never created) ``missing`` stream with ``fields`` changed."""
    e.client.create_stream(Stream(**{"subject": e.missing, "name": e.missing, **fields}))


# Stream names that made Liftbridge v1.9.0 panic (exit 2, again at every restart: seen by hand
# on a throwaway server, never sent to this one), and what check_name says of each.
CRASHING_NAMES = {
    "dot": (".", "empty dot-separated part"),
    "dot-dot": ("..", "empty dot-separated part"),
    "double-dot": ("a..b", "empty dot-separated part"),
    "trailing-dot": ("a.", "empty dot-separated part"),
    "nul": ("a\x00b", "without whitespace or control characters"),
    "256-bytes": ("x" * 256, "is 256 bytes, over 255"),
    "256-bytes-of-utf8": ("é" * 128, "is 256 bytes, over 255"),
    "up-and-out": ("../x", "'../x' has an empty dot-separated part"),
}


def aio_publish_async_too_large(c: AsyncLift, e: Env) -> Awaitable[Any]:
    async def go() -> Any:
        return await (await c.publish_async(Message(stream=e.good, value=BIG)))

    return go()


# -- the table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One bad input: what to do, the error it must raise (or show), and words of its message."""

    id: str
    action: Callable[[Env], Any]
    error: type[BaseException]
    words: tuple[str, ...]
    shown: bool = False  # a widget row: the action returns the widget's error display


def row(
    id: str, action: Callable[[Env], Any], error: type[BaseException], *words: str, shown: bool = False
) -> Any:
    return pytest.param(Row(id, action, error, words, shown), id=id)


def now() -> datetime:
    return datetime.now(UTC)


ROWS = [
    # -- Lift: names and subjects
    row("create-empty-name", lambda e: e.client.create_stream(Stream(subject="s", name="")),
        ValueError, "stream name must be non-empty"),
    row("create-name-with-space", lambda e: e.client.create_stream(Stream(subject="s", name="a b")),
        ValueError, "without whitespace", "'a b'"),
    row("create-reserved-cursors", lambda e: e.client.create_stream(Stream(subject="c", name="__cursors")),
        ValueError, "'__cursors' is reserved"),
    row("create-reserved-activity", lambda e: e.client.create_stream(Stream(subject="a", name="__activity")),
        ValueError, "'__activity' is reserved"),
    row("create-empty-subject", lambda e: e.client.create_stream(Stream(subject="", name=e.missing)),
        ValueError, "stream subject must be non-empty", "dot-separated non-empty tokens"),
    row("create-subject-with-space", lambda e: e.client.create_stream(Stream(subject="a b", name=e.missing)),
        ValueError, "without whitespace", "'a b'"),
    row("create-subject-empty-token",
        lambda e: e.client.create_stream(Stream(subject="a..b", name=e.missing)),
        ValueError, "non-empty tokens", "'a..b'"),
    row("create-existing", lambda e: e.client.create_stream(Stream(subject=e.good, name=e.good)),
        ErrStreamExists, "already exists", "choose another name"),
    row("publish-no-stream", lambda e: e.client.publish(Message(value="x")),
        ValueError, "names no stream", "Message(stream=...)"),
    row("publish-reserved", lambda e: e.client.publish(Message(stream="__cursors", value="x")),
        ValueError, "'__cursors' is reserved", "your own streams"),
    row("publish-name-with-space", lambda e: e.client.publish(Message(stream="a b", value="x")),
        ValueError, "without whitespace"),
    row("publish-to-empty-subject", lambda e: e.client.publish_to_subject(Message(value="x"), ""),
        ValueError, "subject must be"),
    row("publish-to-wildcard-subject", lambda e: e.client.publish_to_subject(Message(value="x"), "a.*"),
        ValueError, "'a.*' is a wildcard subject", "name one subject"),
    row("subscribe-empty-name", lambda e: e.client.subscribe(""),
        ValueError, "stream name must be non-empty"),
    # -- Lift: unknown streams and partitions
    row("publish-unknown-stream", lambda e: e.client.publish(Message(stream=e.missing, value="x")),
        ErrNoSuchStream, "no such stream", "create it first"),
    row("publish-by-key-unknown-stream",
        lambda e: e.client.publish(Message(stream=e.missing, value="x", key="k", partitioner="key")),
        ErrNoSuchStream, "no stream named", "check the name"),
    row("publish-async-unknown-stream",
        lambda e: e.client.publish_async(Message(stream=e.missing, value="x")).result(10),
        ErrNoSuchStream, "no such stream", "create it first"),
    row("subscribe-unknown-stream", lambda e: e.client.subscribe(e.missing, start=Start.earliest()),
        ErrNoSuchStream, "no stream named", "create it first"),
    row("partition-metadata-unknown-stream", lambda e: e.client.fetch_partition_metadata(e.missing),
        ErrNoSuchStream, "no stream named", "check the name"),
    row("pause-unknown-stream", lambda e: e.client.pause_stream(e.missing),
        ErrNoSuchStream, "stream not found", "create it first"),
    row("readonly-unknown-stream", lambda e: e.client.set_stream_readonly(e.missing),
        ErrNoSuchStream, "stream not found"),
    row("delete-unknown-stream", lambda e: e.client.delete_stream(e.missing),
        ErrNoSuchStream, "does not exist", "check the name"),
    row("publish-unknown-partition",
        lambda e: e.client.publish(Message(stream=e.good, value="x", partition=9)),
        ErrNoSuchPartition, "no such partition: 9"),
    row("subscribe-unknown-partition", lambda e: e.client.subscribe(e.good, 9, start=Start.earliest()),
        ErrNoSuchPartition, "no partition 9", "partitions 0 to 1"),
    row("partition-metadata-unknown-partition", lambda e: e.client.fetch_partition_metadata(e.good, 5),
        ErrNoSuchPartition, "no partition 5", "partitions 0 to 1"),
    row("pause-unknown-partition", lambda e: e.client.pause_stream(e.good, [9]),
        ErrNoSuchPartition, "partition does not exist"),
    row("readonly-unknown-partition", lambda e: e.client.set_stream_readonly(e.good, [9]),
        ErrNoSuchPartition, "partition does not exist"),
    # -- Lift: offsets, positions, times, values
    row("subscribe-negative-partition", lambda e: e.client.subscribe(e.good, -1),
        ValueError, "partition must be an int >= 0"),
    row("negative-start-offset", lambda e: e.client.subscribe(e.good, start=Start.at_offset(-1)),
        ValueError, "offset must be >= 0"),
    row("stop-before-start",
        lambda e: e.client.subscribe(e.good, start=Start.at_offset(5), stop=Stop.at_offset(2)),
        ValueError, "stop offset 2 is before start offset 5"),
    row("stop-time-naive-before-aware-start",
        lambda e: e.client.subscribe(
            e.good, start=Start.at_time(now()), stop=Stop.at_time(datetime.now() - timedelta(hours=1))
        ),
        ValueError, "is before start time", "naive datetimes are local time"),
    row("start-time-not-a-datetime", lambda e: Start.at_time("yesterday"),  # type: ignore[arg-type]
        TypeError, "expected a datetime"),
    row("message-negative-partition", lambda e: Message(stream=e.good, value="x", partition=-1),
        ValueError, "partition must be an int >= 0"),
    row("message-expected-offset-below-minus-one", lambda e: Message(stream=e.occ, expected_offset=-2),
        ValueError, "expected_offset must be an int >= -1"),
    row("message-value-not-bytes", lambda e: Message(5, stream=e.good),  # type: ignore[arg-type]
        TypeError, "value must be str or bytes"),
    row("set-cursor-negative-offset", lambda e: e.client.set_cursor("c", e.good, 0, -5),
        ValueError, "offset must be an int >= -1"),
    # -- Lift: what the server refuses
    row("publish-readonly", lambda e: e.client.publish(Message(stream=e.readonly, value="x")),
        ErrReadonlyPartition, "readonly partition", "readonly=False"),
    row("publish-async-readonly",
        lambda e: e.client.publish_async(Message(stream=e.readonly, value="x")).result(10),
        ErrReadonlyPartition, "READONLY", "readonly=False"),
    row("publish-many-readonly", publish_many_readonly, ErrReadonlyPartition, "readonly=False"),
    row("subscribe-paused", lambda e: e.client.subscribe(e.paused, start=Start.earliest()),
        ErrPartitionPaused, "paused", "resume=True"),
    row("occ-wrong-expected-offset",
        lambda e: e.client.publish(Message(stream=e.occ, value="x", expected_offset=7)),
        ErrIncorrectOffset, "incorrect expected offset", "newest_offset + 1"),
    row("occ-wrong-expected-offset-async",
        lambda e: e.client.publish_async(Message(stream=e.occ, value="x", expected_offset=0)).result(10),
        ErrIncorrectOffset, "INCORRECT_OFFSET", "newest_offset + 1"),
    row("occ-ack-policy-none",
        lambda e: e.client.publish(Message(stream=e.occ, value="x", ack_policy="none")),
        ErrInvalidArgument, "concurrency control", "ack policy leader or all"),
    row("too-large", lambda e: e.client.publish(Message(stream=e.good, value=BIG)),
        ErrMessageTooLarge, "maximum payload exceeded", "1 MiB", "send less"),
    row("too-large-async", lambda e: e.client.publish_async(Message(stream=e.good, value=BIG)).result(10),
        ErrMessageTooLarge, "maximum payload exceeded", "1 MiB"),
    row("fetch-cursor-disabled", lambda e: e.client.fetch_cursor("c", e.good, 0),
        ErrCursorsDisabled, "no cursors stream", "cursors_partitions"),
    row("set-cursor-disabled", lambda e: e.client.set_cursor("c", e.good, 0, 1),
        ErrCursorsDisabled, "cursors.stream.partitions > 0"),
    # -- Lift: addresses and timeouts
    row("unreachable-address", unreachable, ErrConnection, "no broker reachable", UNREACHABLE),
    row("address-bad-port", lambda e: Lift("localhost:70000"), ValueError, "port from 1 to 65535"),
    row("client-timeout-zero", lambda e: Lift(e.address, timeout=0),
        ValueError, "timeout must be > 0", "not 0"),
    row("call-timeout-zero", lambda e: e.client.fetch_metadata(timeout=0),
        ValueError, "timeout must be > 0", "not 0"),
    # -- AsyncLift
    row("aio-publish-unknown-stream",
        lambda e: e.aio(lambda c: c.publish(Message(stream=e.missing, value="x"))),
        ErrNoSuchStream, "no such stream", "create it first"),
    row("aio-subscribe-unknown-partition",
        lambda e: e.aio(lambda c: c.subscribe(e.good, 9, start=Start.earliest())),
        ErrNoSuchPartition, "no partition 9"),
    row("aio-publish-readonly", lambda e: e.aio(lambda c: c.publish(Message(stream=e.readonly, value="x"))),
        ErrReadonlyPartition, "readonly=False"),
    row("aio-occ-wrong-expected-offset",
        lambda e: e.aio(lambda c: c.publish(Message(stream=e.occ, value="x", expected_offset=3))),
        ErrIncorrectOffset, "newest_offset + 1"),
    row("aio-publish-async-too-large", lambda e: e.aio(lambda c: aio_publish_async_too_large(c, e)),
        ErrMessageTooLarge, "maximum payload exceeded", "1 MiB"),
    row("aio-timeout-zero", lambda e: AsyncLift(e.address, timeout=0),
        ValueError, "timeout must be > 0"),
    # -- read_stream
    row("read-unknown-stream", lambda e: e.read(e.missing),
        ErrNoSuchStream, "no stream named", "check the name"),
    row("read-unknown-partition", lambda e: e.read(e.good, partitions=[9]),
        ErrNoSuchPartition, "no partition 9", "partitions 0 to 1"),
    row("read-negative-partition", lambda e: e.read(e.good, partitions=[-1]),
        ValueError, "partition must be an int >= 0"),
    row("read-partitions-not-a-list", lambda e: e.read(e.good, partitions=0),
        TypeError, "partitions=[0]"),
    row("read-negative-start", lambda e: e.read(e.good, start=-1), ValueError, "start offset must be >= 0"),
    row("read-start-past-the-end", lambda e: e.read(e.good, start=100),
        ErrOutOfRange, "start offset 100 is past the end", "0: 3, 1: 1", "'earliest'"),
    row("read-start-after-end", lambda e: e.read(e.good, start=5, end=2),
        ErrOutOfRange, "start offset 5 is after end offset 2", "start <= end"),
    row("read-naive-start-after-aware-end",
        lambda e: e.read(e.good, start=datetime.now(), end=now() - timedelta(hours=1)),
        ErrOutOfRange, "is after end", "UTC", "naive times are local time"),
    row("read-not-a-position", lambda e: e.read(e.good, start="yesterday"),
        ValueError, "not a position: 'yesterday'", "'earliest'"),
    row("read-float-start", lambda e: e.read(e.good, start=1.5), TypeError, "start takes an offset"),
    row("read-utf8-of-binary", lambda e: e.read(e.good, value="utf8"),
        ErrDecode, "partition 0 offset 2", "not UTF-8", "errors='coerce'"),
    row("read-json-of-text", lambda e: e.read(e.good, value="json"),
        ErrDecode, "partition 0 offset 1", "not JSON", "errors='coerce'"),
    row("read-unknown-decoder", lambda e: e.read(e.good, value="yaml"),
        ValueError, "value must be one of auto, json, utf8, bytes"),
    row("read-paused", lambda e: e.read(e.paused),
        ErrPartitionPaused, "is paused", "does not resume it", "resume=True"),
    row("read-zero-max-messages", lambda e: e.read(e.good, max_messages=0),
        ValueError, "max_messages must be a positive int"),
    row("read-unknown-engine", lambda e: e.read(e.good, engine="excel"), ValueError, "engine must be"),
    # -- magics
    row("magic-create-reserved", lambda e: e.magic("lift_create", "__cursors"),
        MagicError, "%lift_create", "'__cursors' is reserved"),
    row("magic-create-empty-name", lambda e: e.magic("lift_create", "''"),
        MagicError, "%lift_create", "non-empty"),
    row("magic-create-no-name", lambda e: e.magic("lift_create", ""),
        MagicError, "the following arguments are required: name"),
    row("magic-create-misspelt-flag", lambda e: e.magic("lift_create", f"{e.missing} --partitoins 3"),
        MagicError, "unrecognized arguments", "did you mean --partitions"),
    row("magic-create-not-an-int", lambda e: e.magic("lift_create", f"{e.missing} --partitions many"),
        MagicError, "invalid int value: 'many'"),
    row("magic-create-zero-partitions", lambda e: e.magic("lift_create", f"{e.missing} --partitions 0"),
        MagicError, "partitions must be from 1 to 10000"),
    row("magic-create-bad-duration",
        lambda e: e.magic("lift_create", f"{e.missing} --retention-max-age 7dayz"),
        MagicError, "not a duration", "7d"),
    row("magic-create-unbalanced-quote", lambda e: e.magic("lift_create", f"'{e.missing}"),
        MagicError, "cannot parse the line"),
    row("magic-create-bad-subject", lambda e: e.magic("lift_create", f"{e.missing} --subject a..b"),
        MagicError, "stream subject 'a..b' has an empty token"),
    row("magic-create-existing", lambda e: e.magic("lift_create", e.good),
        ErrStreamExists, "already exists", "choose another name"),
    row("magic-publish-unknown-stream", lambda e: e.magic("lift_publish", f"{e.missing} hello"),
        ErrNoSuchStream, "no such stream", "did you mean 'bad-good-"),
    row("magic-publish-unknown-partition", lambda e: e.magic("lift_publish", f"{e.good} --partition 9 x"),
        ErrNoSuchPartition, "no such partition: 9"),
    row("magic-publish-negative-partition", lambda e: e.magic("lift_publish", f"{e.good} --partition -1 x"),
        MagicError, "%lift_publish", "partition must be an int >= 0"),
    row("magic-publish-readonly", lambda e: e.magic("lift_publish", f"{e.readonly} x"),
        ErrReadonlyPartition, "--off"),
    row("magic-publish-not-json", lambda e: e.magic("lift_publish", f"{e.good} --json", "{oops"),
        MagicError, "not JSON", "nothing was published"),
    row("magic-publish-unknown-variable", lambda e: e.magic("lift_publish", e.good, "{{ no_such_variable }}"),
        MagicError, "no variable 'no_such_variable'"),
    row("magic-publish-too-large", magic_too_large, ErrMessageTooLarge, "maximum payload exceeded", "1 MiB"),
    row("magic-publish-occ-ack-none", lambda e: e.magic("lift_publish", f"{e.occ} --ack none x"),
        ErrInvalidArgument, "ack policy leader or all"),
    row("magic-publish-bad-ack", lambda e: e.magic("lift_publish", f"{e.good} --ack some x"),
        MagicError, "invalid choice: 'some'"),
    row("magic-read-start-after-end", lambda e: e.magic("lift_read", f"{e.good} --from 5 --to 2"),
        ErrOutOfRange, "start offset 5 is after end offset 2"),
    row("magic-read-not-a-position", lambda e: e.magic("lift_read", f"{e.good} --from yesterday"),
        MagicError, "%lift_read", "not a position"),
    row("magic-read-past-the-end", lambda e: e.magic("lift_read", f"{e.good} --from 100 --no-progress"),
        ErrOutOfRange, "past the end"),
    row("magic-read-unknown-partition", lambda e: e.magic("lift_read", f"{e.good} --partition 9"),
        ErrNoSuchPartition, "no partition 9", "partitions 0 to 1"),
    row("magic-read-unknown-decoder", lambda e: e.magic("lift_read", f"{e.good} --decode yaml"),
        MagicError, "invalid choice: 'yaml'"),
    row("magic-read-utf8-of-binary", lambda e: e.magic("lift_read", f"{e.good} --decode utf8 --no-progress"),
        ErrDecode, "not UTF-8", "--errors coerce"),
    row("magic-read-paused", lambda e: e.magic("lift_read", f"{e.paused} --no-progress"),
        ErrPartitionPaused, "does not resume it"),
    row("magic-tail-zero-window", lambda e: e.magic("lift_tail", f"{e.good} --window 0"),
        MagicError, "%lift_tail", "window must be positive"),
    row("magic-tail-negative-seconds", lambda e: e.magic("lift_tail", f"{e.good} --seconds -1"),
        MagicError, "max_seconds must be positive"),
    row("magic-tail-zero-messages", lambda e: e.magic("lift_tail", f"{e.good} --messages 0"),
        MagicError, "max_messages must be positive"),
    row("magic-tail-unknown-stream", lambda e: e.magic("lift_tail", e.missing),
        ErrNoSuchStream, "no stream named", "did you mean 'bad-good-"),
    row("magic-browse-unknown-stream", lambda e: e.magic("lift_browse", e.missing),
        ErrNoSuchStream, "no stream named", "did you mean 'bad-good-"),
    row("magic-browse-zero-page-size", lambda e: e.magic("lift_browse", f"{e.good} --page-size 0"),
        MagicError, "%lift_browse", "page_size must be an int from 1"),
    row("magic-cluster-zero-refresh", lambda e: e.magic("lift_cluster", "--auto-refresh 0"),
        MagicError, "%lift_cluster", "auto_refresh must be seconds from 0.5"),
    row("magic-pause-unknown-stream", lambda e: e.magic("lift_pause", e.missing),
        ErrNoSuchStream, "stream not found", "did you mean 'bad-good-"),
    row("magic-readonly-unknown-partition", lambda e: e.magic("lift_readonly", f"{e.good} --partitions 9"),
        ErrNoSuchPartition, "partition does not exist"),
    row("magic-delete-unknown-stream", lambda e: e.magic("lift_delete", e.missing),
        ErrNoSuchStream, "does not exist", "did you mean 'bad-good-"),
    row("magic-streams-extra-argument", lambda e: e.magic("lift_streams", "a b"),
        MagicError, "unrecognized arguments: b"),
    row("magic-connect-timeout-zero",
        lambda e: e.magic("lift_connect", f"{e.address} --alias t0 --timeout 0"),
        MagicError, "--timeout must be a positive number of seconds"),
    row("magic-connect-unreachable",
        lambda e: e.magic("lift_connect", f"{UNREACHABLE} --alias far --timeout 1"),
        ErrConnection, "no broker reachable", UNREACHABLE),
    row("magic-connect-zero-nodes", lambda e: e.magic("lift_connect", "--local --nodes 0"),
        MagicError, "--nodes must be at least 1"),
    row("magic-connect-bad-address", lambda e: e.magic("lift_connect", "localhost:70000 --alias port"),
        MagicError, "%lift_connect", "port from 1 to 65535"),
    row("magic-connect-close-unknown", lambda e: e.magic("lift_connect", "--close nowhere"),
        MagicError, "no connection named 'nowhere'", "main"),
    # -- widgets
    row("browser-not-a-client", lambda e: StreamBrowser(e.address),  # type: ignore[arg-type]
        TypeError, "takes a Lift client", "not str"),
    row("browser-zero-page-size", lambda e: StreamBrowser(e.client, e.good, page_size=0),
        ValueError, "page_size must be an int from 1 to 10000"),
    row("browser-unknown-stream", browser_of_missing,
        ErrNoSuchStream, "no stream named", "did you mean 'bad-good-", shown=True),
    row("browser-offset-past-the-end", lambda e: browser(e, e.good, mode="offset", start_offset=100),
        ErrOutOfRange, "past the end", shown=True),
    row("browser-negative-offset", lambda e: browser(e, e.good, mode="offset", start_offset=-5),
        ValueError, "must be >= 0", shown=True),
    row("browser-not-a-time", lambda e: browser(e, e.good, mode="time", start_time="around noon"),
        ValueError, "not a time: 'around noon'", "2026-11-30T08:00", shown=True),
    row("browser-paused", lambda e: browser(e, e.paused), ErrPartitionPaused, "is paused", shown=True),
    row("tail-not-a-client", lambda e: LiveTail(None, e.good),  # type: ignore[arg-type]
        TypeError, "LiveTail takes a Lift client"),
    row("tail-zero-window", lambda e: LiveTail(e.client, e.good, window=0),
        ValueError, "window must be positive"),
    row("tail-zero-seconds", lambda e: LiveTail(e.client, e.good, max_seconds=0),
        ValueError, "max_seconds must be positive"),
    row("tail-unknown-stream", lambda e: tail(e, e.missing),
        ErrNoSuchStream, "no stream named", "check the name", shown=True),
    row("tail-unknown-partition", lambda e: tail(e, e.good, partitions=[9]),
        ErrNoSuchPartition, "no partition 9", shown=True),
    row("cluster-zero-refresh", lambda e: ClusterView(e.client, auto_refresh=0),
        ValueError, "auto_refresh must be seconds from 0.5 to 3600"),
    row("form-not-a-client", lambda e: PublishForm("localhost:9292"),  # type: ignore[arg-type]
        TypeError, "PublishForm takes a Lift client"),
    row("form-header-without-equals", lambda e: form(e, e.good, headers="oops"),
        ValueError, "a header line is key=value", shown=True),
    row("form-no-stream", lambda e: form(e, ""), ValueError, "names no stream", shown=True),
    row("form-unknown-stream", lambda e: form(e, e.missing), ErrNoSuchStream, "create it first", shown=True),
    row("form-readonly", lambda e: form(e, e.readonly), ErrReadonlyPartition, "readonly=False", shown=True),
    row("form-too-large", lambda e: form(e, e.good, BIG), ErrMessageTooLarge, "1 MiB", shown=True),
    # -- names, subjects and ids the server cannot hold: refused before anything is sent
    *[
        row(f"create-name-{kind}", functools.partial(create, name=name),
            ValueError, "stream name", words, "1 to 255 bytes")
        for kind, (name, words) in CRASHING_NAMES.items()
    ],
    row("publish-name-double-dot", lambda e: e.client.publish(Message(stream="a..b", value="x")),
        ValueError, "stream name 'a..b' has an empty dot-separated part"),
    row("subscribe-name-nul", lambda e: e.client.subscribe("a\x00b"),
        ValueError, "stream name 'a\\x00b' must be without whitespace or control characters"),
    row("delete-name-dot-dot", lambda e: e.client.delete_stream(".."), ValueError, "stream name '..'"),
    row("pause-name-over-255", lambda e: e.client.pause_stream("p" * 300), ValueError, "is 300 bytes"),
    row("read-name-up-and-out", lambda e: e.read("../x"),
        ValueError, "stream name '../x' has an empty dot-separated part"),
    row("read-name-nul", lambda e: e.read("a\x00"), ValueError, "must be without whitespace or control"),
    row("create-name-slash", lambda e: e.client.create_stream(Stream(subject="s", name="a/b")),
        ValueError, "'a/b' must be without '/'"),
    row("create-name-wildcard", lambda e: e.client.create_stream(Stream(subject="s", name="*")),
        ValueError, "stream name '*' has a wildcard part"),
    row("create-name-lone-surrogate", lambda e: e.client.create_stream(Stream(subject="s", name="a\udc80")),
        ValueError, "is not valid UTF-8"),
    row("create-name-not-a-str", lambda e: Stream(subject="s", name=b"s"),  # type: ignore[arg-type]
        TypeError, "stream name must be a str, not bytes"),
    row("create-subject-nul", lambda e: create(e, subject="a\x00"),
        ValueError, "stream subject 'a\\x00' must be without whitespace or control characters"),
    row("create-subject-over-1024-bytes", lambda e: create(e, subject="s" * 1025),
        ValueError, "is 1025 bytes, over 1024"),
    row("create-subject-trailing-dot", lambda e: create(e, subject="a."),
        ValueError, "stream subject 'a.' has an empty token"),
    row("create-group-with-space", lambda e: create(e, group="g 1"),
        ValueError, "group 'g 1' must be without whitespace"),
    row("create-group-not-a-str", lambda e: create(e, group=7), TypeError, "group must be a str"),
    row("consumer-group-id-with-tab", lambda e: e.client.consumer("g\t1", [e.good]),
        ValueError, "group id 'g\\t1' must be without whitespace"),
    row("consumer-empty-group-id", lambda e: e.client.consumer("", [e.good]),
        ValueError, "group id must be non-empty"),
    row("cursor-id-with-newline", lambda e: e.client.set_cursor("c\n", e.good, 0, 1),
        ValueError, "cursor id 'c\\n' must be without whitespace"),
    row("metadata-group-id-empty", lambda e: e.client.fetch_metadata(groups=[""]),
        ValueError, "group id must be non-empty"),
    row("metadata-one-stream-bare", lambda e: e.client.fetch_metadata(e.good),
        TypeError, "streams takes a list of names"),
    row("metadata-one-group-bare", lambda e: e.client.fetch_metadata(groups="g"),
        TypeError, "groups takes a list of names"),
    row("consumer-checkpoint-string",
        lambda e: e.client.consumer("g", [e.good], checkpoint_interval="5"),  # type: ignore[arg-type]
        TypeError, "checkpoint_interval takes a number of seconds, not str"),
    # -- subjects that answer for other streams, a minimum ISR no partition can reach
    row("create-wildcard-subject", lambda e: create(e, subject="*"),
        ValueError, "'*' is a wildcard subject", "messages published to other streams"),
    row("create-wildcard-tail-subject", lambda e: create(e, subject="orders.>"),
        ValueError, "'orders.>' is a wildcard subject"),
    row("create-min-isr-above-replication", lambda e: create(e, min_isr=2),
        ValueError, "min_isr 2 is above replication_factor 1", "min_isr <= replication_factor"),
    # -- the server's own headers
    row("publish-header-subject",
        lambda e: e.client.publish(Message(stream=e.good, headers={"subject": "x"})),
        ValueError, "header 'subject' is the server's own", "name it otherwise"),
    row("magic-publish-header-subject", lambda e: e.magic("lift_publish", f"{e.good} --header subject=me x"),
        MagicError, "%lift_publish", "header 'subject' is the server's own"),
    row("form-header-reply", lambda e: form(e, e.good, headers="reply=me"),
        ValueError, "header 'reply' is the server's own", shown=True),
    row("publish-header-reply", lambda e: Message(stream=e.good, headers={"reply": b"x"}),
        ValueError, "header 'reply' is the server's own"),
    row("publish-headers-not-a-dict", lambda e: Message(stream=e.good, headers=[("a", "b")]),  # type: ignore[arg-type]
        TypeError, "headers must be a dict"),
    # -- read_stream arguments that said nothing
    row("read-partition-twice", lambda e: e.read(e.good, partitions=[0, 0]),
        ValueError, "partitions lists partition 0 more than once"),
    row("read-client-and-address",
        lambda e: read_stream(e.good, client=e.client, address=UNREACHABLE, progress=False),
        ValueError, "give client= or address=, not both"),
    row("read-negative-timedelta", lambda e: e.read(e.good, start=timedelta(hours=-1)),
        ValueError, "start=datetime.timedelta(days=-1, seconds=82800) is a time to come"),
    row("read-start-nat", lambda e: e.read(e.good, start=pd.NaT),
        ValueError, "start: expected a datetime, not NaT"),
    row("read-end-year-1", lambda e: e.read(e.good, end=datetime(1, 1, 1, tzinfo=UTC)),
        ValueError, "end: time 0001-01-01 00:00:00+00:00 is out of range", "1677-09-2"),
    row("read-partition-bool", lambda e: e.read(e.good, partitions=[True]),
        ValueError, "partition must be an int >= 0"),
    row("read-max-messages-bool", lambda e: e.read(e.good, max_messages=True),
        ValueError, "max_messages must be a positive int"),
    # -- positions, times and waits
    row("start-time-delta-negative", lambda e: Start.at_time_delta(timedelta(hours=-1)),
        ValueError, "how long ago, so >= 0"),
    row("stream-start-time-delta-negative",
        lambda e: Stream(subject="s", name="s").start_at_time_delta(timedelta(seconds=-1)),
        ValueError, "how long ago, so >= 0"),
    row("subscribe-negative-resubscribe-wait",
        lambda e: e.client.subscribe(e.good, start=Start.earliest(), resubscribe_wait=-5),
        ValueError, "resubscribe_wait must be >= 0", "not -5"),
    row("aio-subscribe-negative-resubscribe-wait",
        lambda e: e.aio(lambda c: c.subscribe(e.good, start=Start.earliest(), resubscribe_wait=-5)),
        ValueError, "resubscribe_wait must be >= 0"),
    row("subscribe-resubscribe-wait-string",
        lambda e: e.client.subscribe(e.good, resubscribe_wait="5"),  # type: ignore[arg-type]
        TypeError, "resubscribe_wait takes a number of seconds, not str"),
    row("start-offset-2**64", lambda e: Start.at_offset(2**64), ValueError, "at most 2**63 - 1"),
    row("stop-offset-2**63", lambda e: Stop.at_offset(2**63), ValueError, "at most 2**63 - 1"),
    row("start-time-year-1", lambda e: Start.at_time(datetime(1, 1, 1)), ValueError, "is out of range"),
    row("start-time-year-9999", lambda e: Start.at_time(datetime(9999, 12, 31, tzinfo=UTC)),
        ValueError, "out of range", "2262-04-11"),
    row("stop-time-nat", lambda e: Stop.at_time(pd.NaT),  # type: ignore[arg-type]
        ValueError, "not NaT"),
    # -- numbers and types taken raw before
    row("client-timeout-true", lambda e: Lift(e.address, timeout=True),
        TypeError, "timeout takes a number of seconds, not bool True"),
    row("client-timeout-string", lambda e: Lift(e.address, timeout="5"),  # type: ignore[arg-type]
        TypeError, "timeout takes a number of seconds, not str '5'"),
    row("call-timeout-string", lambda e: e.client.fetch_metadata(timeout="5"),  # type: ignore[arg-type]
        TypeError, "timeout takes a number of seconds, not str"),
    row("call-timeout-nan", lambda e: e.client.publish(Message(stream=e.good), timeout=float("nan")),
        ValueError, "timeout must be > 0", "not nan"),
    row("aio-timeout-string", lambda e: AsyncLift(e.address, timeout="5"),  # type: ignore[arg-type]
        TypeError, "timeout takes a number of seconds"),
    row("options-keepalive-negative", lambda e: ClientOptions(keepalive=-1),
        ValueError, "keepalive must be > 0"),
    row("options-keepalive-zero", lambda e: Lift(e.address, options=ClientOptions(keepalive=0)),
        ValueError, "keepalive must be > 0"),
    row("options-keepalive-tiny", lambda e: ClientOptions(keepalive=0.01),
        ValueError, "keepalive must be at least 1 second"),
    row("options-retries-float", lambda e: ClientOptions(retries=2.5),  # type: ignore[arg-type]
        TypeError, "retries takes an int, not float 2.5"),
    row("options-max-message-bytes-zero", lambda e: ClientOptions(max_message_bytes=0),
        ValueError, "max_message_bytes must be from 1048576"),
    row("options-backoff-not-a-backoff", lambda e: ClientOptions(backoff=0.1),  # type: ignore[arg-type]
        TypeError, "backoff takes a Backoff, not float"),
    row("options-not-options", lambda e: Lift(e.address, options={"timeout": 1}),  # type: ignore[arg-type]
        TypeError, "options takes a ClientOptions"),
    row("backoff-negative-initial", lambda e: Backoff(initial=-1), ValueError, "Backoff initial must be > 0"),
    row("backoff-maximum-below-initial", lambda e: Backoff(initial=2, maximum=1),
        ValueError, "Backoff maximum must be >= initial"),
    row("backoff-jitter-over-one", lambda e: Backoff(jitter=2),
        ValueError, "Backoff jitter must be from 0 to 1"),
    row("message-expected-offset-true", lambda e: Message(stream=e.occ, expected_offset=True),
        ValueError, "expected_offset must be an int >= -1", "not True"),
    row("message-expected-offset-2**63", lambda e: Message(stream=e.occ, expected_offset=2**63),
        ValueError, "below 2**63"),
    row("stream-partitions-float", lambda e: create(e, partitions=2.5),
        TypeError, "partitions must be an int, not float 2.5"),
    row("stream-partitions-2**31", lambda e: create(e, partitions=2**31),
        ValueError, "partitions must be from 1 to 10000"),
    row("stream-partitions-true", lambda e: create(e, partitions=True),
        TypeError, "partitions must be an int, not bool"),
    row("stream-replication-factor-string", lambda e: create(e, replication_factor="3"),
        TypeError, "replication_factor must be an int, not str"),
    row("stream-retention-bytes-float", lambda e: create(e, retention_max_bytes=1.5),
        TypeError, "retention_max_bytes must be an int"),
    row("stream-compact-enabled-string", lambda e: create(e, compact_enabled="no"),
        TypeError, "compact_enabled must be True or False, not 'no'"),
    row("message-partition-2**40", lambda e: Message(stream=e.good, partition=2**40),
        ValueError, "partition must be an int >= 0 (and below 2**31)"),
    row("subscribe-partition-2**40", lambda e: e.client.subscribe(e.good, 2**40),
        ValueError, "below 2**31", str(2**40)),
    row("message-ack-policy-5", lambda e: Message(stream=e.good, ack_policy=5),  # type: ignore[arg-type]
        ValueError, "ack_policy must be 'leader', 'all' or 'none'", "not 5"),
    row("message-ack-policy-none", lambda e: Message(stream=e.good, ack_policy=None),  # type: ignore[arg-type]
        ValueError, "ack_policy must be", "not None"),
    row("message-ack-policy-true", lambda e: Message(stream=e.good, ack_policy=True),  # type: ignore[arg-type]
        ValueError, "ack_policy must be", "not True"),
    row("message-correlation-id-int", lambda e: Message(stream=e.good, correlation_id=123),  # type: ignore[arg-type]
        TypeError, "correlation_id must be a str, not int 123"),
    row("message-stream-not-a-str", lambda e: Message(stream=5),  # type: ignore[arg-type]
        TypeError, "stream must be a str, not int"),
    row("publish-many-none", lambda e: e.client.publish_many(None),  # type: ignore[arg-type]
        TypeError, "publish_many takes a list of Message, not NoneType"),
    row("publish-many-a-message", lambda e: e.client.publish_many(Message(stream=e.good)),  # type: ignore[arg-type]
        TypeError, "publish_many takes a list of Message, not Message"),
    row("publish-many-a-str-among-them",
        lambda e: e.client.publish_many([Message(stream=e.good, value="x"), "y"]),  # type: ignore[list-item]
        TypeError, "item 1 is str 'y'"),
    row("publish-async-ack-timeout-string",
        lambda e: e.client.publish_async(Message(stream=e.good, value="x"), ack_timeout="5"),  # type: ignore[arg-type]
        TypeError, "ack_timeout takes a number of seconds, not str '5'"),
    row("publish-many-ack-timeout-zero",
        lambda e: e.client.publish_many([Message(stream=e.good, value="x")], ack_timeout=0),
        ValueError, "ack_timeout must be > 0"),
    row("aio-publish-async-ack-timeout-nan",
        lambda e: e.aio(lambda c: c.publish_async(Message(stream=e.good), ack_timeout=float("nan"))),
        ValueError, "ack_timeout must be > 0", "not nan"),
    row("pause-partitions-float", lambda e: e.client.pause_stream(e.good, 2.5),  # type: ignore[arg-type]
        TypeError, "partitions takes a list of partition numbers"),
    row("readonly-partition-2**31", lambda e: e.client.set_stream_readonly(e.good, [2**31]),
        ValueError, "below 2**31"),
    row("aio-publish-many-none", lambda e: e.aio(lambda c: c.publish_many(None)),  # type: ignore[arg-type]
        TypeError, "publish_many takes a list of Message"),
]  # fmt: skip


# -- the checks --------------------------------------------------------------------------------------


def state(e: Env) -> dict[str, Any]:
    """What no failed command may change: the streams, every prepared partition's offsets and flags."""
    meta = e.client.fetch_metadata()
    partitions = {
        (p.stream, p.id): (p.high_watermark, p.newest_offset, p.readonly, p.paused)
        for p in meta.partitions()
        if p.stream in e.prepared
    }
    return {"streams": sorted(meta.streams), "partitions": partitions}


def assert_nothing_half_done(e: Env, before: dict[str, Any]) -> None:
    after = state(e)
    assert after == before
    assert e.missing not in after["streams"]
    # Still paused (metadata keeps saying paused after a resume in v1.9.0, so ask the partition itself).
    with pytest.raises(ErrPartitionPaused):
        e.client.subscribe(e.paused, start=Start.earliest())
    with pytest.raises(ErrReadonlyPartition):
        e.client.publish(Message(stream=e.readonly, value="still readonly?"))
    with pytest.raises(ErrIncorrectOffset):  # offset 0 is taken: still checked
        e.client.publish(Message(stream=e.occ, value="still checked?", expected_offset=0))


def assert_still_usable(e: Env) -> None:
    got = list(e.client.subscribe(e.good, 1, start=Start.earliest(), stop=Stop.latest()))
    assert [m.value for m in got] == [b'{"n": 2}']
    magics = e.shell.magics_manager.registry["LiftMagics"]
    assert magics.connections.current == "main" and list(magics.connections.connections) == ["main"]
    streams = e.magic("lift_streams")
    assert isinstance(streams, pd.DataFrame) and set(e.prepared) <= set(streams["stream"])


def calls_naming(name: str) -> dict[str, Callable[[Lift], Any]]:
    """Every call of Lift that sends a stream name, with ``name``."""
    return {
        "create_stream": lambda c: c.create_stream(Stream(subject="s", name=name)),
        "delete_stream": lambda c: c.delete_stream(name),
        "pause_stream": lambda c: c.pause_stream(name),
        "set_stream_readonly": lambda c: c.set_stream_readonly(name),
        "fetch_metadata": lambda c: c.fetch_metadata([name]),
        "fetch_partition_metadata": lambda c: c.fetch_partition_metadata(name),
        "partition_count": lambda c: c.partition_count(name),
        "publish": lambda c: c.publish(Message(stream=name, value="x")),
        "publish_async": lambda c: c.publish_async(Message(stream=name, value="x")),
        "publish_many": lambda c: c.publish_many([Message(stream=name, value="x")]),
        "subscribe": lambda c: c.subscribe(name, start=Start.earliest()),
        "set_cursor": lambda c: c.set_cursor("c", name, 0, 1),
        "fetch_cursor": lambda c: c.fetch_cursor("c", name, 0),
        "consumer": lambda c: c.consumer("g", [name]),
        "read_stream": lambda c: read_stream(name, client=c, progress=False),
    }


@pytest.mark.parametrize("kind", CRASHING_NAMES)
def test_names_the_server_cannot_hold_never_reach_it(env: Env, kind: str) -> None:
    """Each name that made v1.9.0 panic is refused by every call that sends a stream name, before any I/O.

    A client of an unreachable address raises the same ValueError (not ErrConnection): nothing
    was sent. The module's server is still up afterwards and still creates, fills and deletes streams.
    """
    name, words = CRASHING_NAMES[kind]
    with Lift(UNREACHABLE, timeout=1) as nowhere:
        for client in (nowhere, env.client):
            for call, action in calls_naming(name).items():
                with pytest.raises(ValueError, match=re.escape(words)) as info:
                    action(client)
                assert "1 to 255 bytes" in str(info.value), call

    async def aio(c: AsyncLift) -> None:
        for action in (
            lambda: c.create_stream(Stream(subject="s", name=name)),
            lambda: c.publish(Message(stream=name, value="x")),
            lambda: c.subscribe(name, start=Start.earliest()),
            lambda: c.delete_stream(name),
        ):
            with pytest.raises(ValueError, match=re.escape(words)):
                await action()

    env.aio(aio)
    assert env.pid is not None
    os.kill(env.pid, 0)  # alive
    control = f"{env.missing}-{kind}"
    env.client.create_stream(Stream(subject=control, name=control))
    ack = env.client.publish(Message(stream=control, value="still here"))
    assert ack is not None and ack.offset == 0
    env.client.delete_stream(control)


def test_enough_rows() -> None:
    assert len(ROWS) >= 45


@pytest.mark.parametrize("bad", ROWS)
def test_bad_input(env: Env, bad: Row) -> None:
    before = state(env)
    if bad.shown:
        shown = bad.action(env)
        assert 'class="lift-error"' in shown, f"no error shown: {shown!r}"
        prefix = f">{bad.error.__name__}: "
        assert prefix in shown, f"expected {prefix!r}... shown, not {shown!r}"
        message = html.unescape(shown.split(prefix, 1)[1].split("</span>", 1)[0])
    else:
        with pytest.raises(bad.error) as info:
            bad.action(env)
        error = info.value
        assert type(error) is bad.error, f"{type(error).__name__}: {error}"
        message = str(error)
        if isinstance(error, LiftbridgeError):
            assert error._render_traceback_() == [f"{type(error).__name__}: {message}"]
    assert "\n" not in message, "one line"
    for word in bad.words:
        assert word.lower() in message.lower(), f"{word!r} not in {message!r}"
    assert_nothing_half_done(env, before)
    assert_still_usable(env)
