"""liftbridge-nb: explore Liftbridge streams from Jupyter.

The client::

    from liftbridge_nb import Lift, Message, Stream

    client = Lift(ip_address="localhost:9292", timeout=5)
    client.create_stream(Stream(subject="foo", name="foo-stream"))
    client.publish(Message(stream="foo-stream", value="hello"))
    for message in client.subscribe(Stream(subject="foo", name="foo-stream").start_at_earliest_received()):
        print(message.offset, message.value)

Real servers for tests and notebooks live in :mod:`liftbridge_nb.server`.
"""

from typing import TYPE_CHECKING

from . import _logs  # noqa: F401  (first: it quiets gRPC's C core, which reads GRPC_VERBOSITY at import)
from .activity import ActivityEvent, decode_activity
from .aio import AsyncLift, AsyncSubscription
from .client import Consumer, Lift, Subscription
from .config import Backoff, ClientOptions, TLSConfig
from .errors import (
    ApiError,
    ErrAckTimeout,
    ErrAckUncertain,
    ErrClientClosed,
    ErrConnection,
    ErrCursorsDisabled,
    ErrDeadlineExceeded,
    ErrDecode,
    ErrEncryptionFailed,
    ErrEndOfReadonlyPartition,
    ErrIncorrectOffset,
    ErrInvalidArgument,
    ErrMessageTooLarge,
    ErrNoCheckpoint,
    ErrNoSuchPartition,
    ErrNoSuchStream,
    ErrNotLeader,
    ErrOutOfRange,
    ErrPartitionPaused,
    ErrPermissionDenied,
    ErrReadonlyPartition,
    ErrStopPositionReached,
    ErrStreamDeleted,
    ErrStreamExists,
    LiftbridgeError,
    ReadInterrupted,
    ServerBuildError,
    ServerError,
    ServerNotInstalledError,
    ServerStartError,
)
from .models import (
    Ack,
    AckPolicy,
    BrokerInfo,
    EventTimes,
    GroupInfo,
    Message,
    Metadata,
    PartitionInfo,
    Start,
    Stop,
    Stream,
    StreamInfo,
)

if TYPE_CHECKING:
    from .analysis import publish_dataframe
    from .frames import read_stream

__version__ = "0.1.0"

__all__ = [
    "Ack",
    "AckPolicy",
    "ActivityEvent",
    "ApiError",
    "AsyncLift",
    "AsyncSubscription",
    "Backoff",
    "BrokerInfo",
    "ClientOptions",
    "Consumer",
    "ErrAckTimeout",
    "ErrAckUncertain",
    "ErrClientClosed",
    "ErrConnection",
    "ErrCursorsDisabled",
    "ErrDeadlineExceeded",
    "ErrDecode",
    "ErrEncryptionFailed",
    "ErrEndOfReadonlyPartition",
    "ErrIncorrectOffset",
    "ErrInvalidArgument",
    "ErrMessageTooLarge",
    "ErrNoCheckpoint",
    "ErrNoSuchPartition",
    "ErrNoSuchStream",
    "ErrNotLeader",
    "ErrOutOfRange",
    "ErrPartitionPaused",
    "ErrPermissionDenied",
    "ErrReadonlyPartition",
    "ErrStopPositionReached",
    "ErrStreamDeleted",
    "ErrStreamExists",
    "EventTimes",
    "GroupInfo",
    "Lift",
    "LiftbridgeError",
    "Message",
    "Metadata",
    "PartitionInfo",
    "ReadInterrupted",
    "ServerBuildError",
    "ServerError",
    "ServerNotInstalledError",
    "ServerStartError",
    "Start",
    "Stop",
    "Stream",
    "StreamInfo",
    "Subscription",
    "TLSConfig",
    "__version__",
    "decode_activity",
    "publish_dataframe",
    "read_stream",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext liftbridge_nb``: register the %lift_* magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext liftbridge_nb``: close connections and remove the magics."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)


def __getattr__(name: str) -> object:
    # pandas-based helpers load on first use: `import liftbridge_nb` stays quick.
    if name == "read_stream":
        from .frames import read_stream

        return read_stream
    if name == "publish_dataframe":
        from .analysis import publish_dataframe

        return publish_dataframe
    raise AttributeError(f"module 'liftbridge_nb' has no attribute {name!r}")
