"""Types of the native data plane (the Rust crate in native/, built by maturin)."""

from collections.abc import Callable
from typing import Any

def shutdown() -> None:
    """End every native call of the process (at the interpreter's exit)."""

def waiting() -> int:
    """How many threads wait in a native call, the GIL released."""

class RpcFailure(Exception):
    """A call failed: ``args`` are (the gRPC status code as an int, the status message)."""

class Batch:
    """Messages of one partition as Arrow columns; ``pyarrow.record_batch(batch)`` takes it without a copy.

    Columns: offset, timestamp (ns, UTC), key (null when empty), value, headers (a map of the
    publisher's own), subject, reply.
    """

    def __len__(self) -> int: ...
    @property
    def first_offset(self) -> int: ...
    @property
    def last_offset(self) -> int: ...
    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]: ...
    def rows(
        self,
    ) -> list[tuple[int, int, bytes | None, bytes, dict[str, bytes], str, str]]: ...

class Call:
    """One Subscribe call read in the native runtime."""

    def handshake(self, timeout: float) -> None: ...
    def next_batch(self, timeout: float | None = None) -> Batch | None: ...
    def next_batch_then(self, done: Callable[[Batch | None, BaseException | None], None]) -> None:
        """``next_batch()``'s awaitable form: ``done(batch, error)`` is called from a native thread."""
    def cancel(self) -> None: ...

class Connections:
    """The native channels of one client, by broker address."""

    def __init__(
        self,
        *,
        tls: bool = False,
        ca: bytes | None = None,
        cert: bytes | None = None,
        key: bytes | None = None,
        server_name: str | None = None,
        connect_timeout: float = 5.0,
        keepalive: float = 360.0,
        max_message_bytes: int = ...,
        pool: int = 2,
    ) -> None: ...
    def subscribe(
        self,
        address: str,
        request: bytes,
        *,
        after: int = -1,
        rows: int = 65536,
        bytes: int = ...,
        linger: float = 0.0,
        buffer: int = 4,
    ) -> Call: ...
    def publish(self, address: str, *, ack_type: type, policies: list[Any]) -> PublishCall: ...
    def publish_batch(
        self,
        address: str,
        messages: list[Any],
        partitions: list[int],
        *,
        ack_type: type,
        policies: list[Any],
        id_prefix: str,
        window: int = 1024,
        ack_timeout: float = 5.0,
        max_request_bytes: int = ...,
    ) -> BatchCall: ...
    def close(self) -> None: ...

class PublishCall:
    """One PublishAsync call: encoded requests in, encoded responses out."""

    def send(self, request: bytes) -> None: ...
    def publish(
        self, message: Any, partition: int, id: str, timeout: float, max_request_bytes: int
    ) -> Any: ...  # the Ack, (code, text) of a refusal, the size of a request too large (unsent), or None
    def responses(self, timeout: float | None = None) -> list[bytes] | None: ...
    def close(self) -> None: ...
    def cancel(self) -> None: ...

class BatchCall:
    """A batch published in the native runtime: acks and refusals as they come, then what broke the stream.

    ``answers`` puts each ack into ``results`` at its message's position (an ``Ack``) and returns
    those positions, and the refusals: (position, ``PublishAsyncError`` code, text).
    """

    @property
    def too_large(self) -> list[tuple[int, int]]: ...
    def answers(
        self, timeout: float, results: list[Any]
    ) -> tuple[list[int], list[tuple[int, int, str]]] | None: ...
    def failure(self) -> tuple[int, str] | None: ...
    def cancel(self) -> None: ...
